import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Connector, type Session, sumStats } from "../src/index.js";

const fixture = fileURLToPath(new URL("./fixtures/cluster-echo.ts", import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe("cluster", () => {
  it("cluster - workers share one port and their counters are aggregated", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ["--conditions=meridian-source", "--import", "tsx", fixture], {
      env: { ...process.env, CLUSTER_ECHO_PORT: String(port) },
      stdio: ["pipe", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.setEncoding("utf8");
    const waitLine = (prefix: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${prefix} line; output: ${out}`)), 30_000);
        const check = (): void => {
          const line = out.split("\n").find((l) => l.startsWith(prefix));
          if (line === undefined) return;
          clearTimeout(timer);
          child.stdout.off("data", onData);
          resolve(line);
        };
        const onData = (d: string): void => {
          out += d;
          check();
        };
        child.stdout.on("data", onData);
        check();
      });
    try {
      const ready = await waitLine("READY");
      assert.equal(ready, `READY ${port} 2`);

      const clients = 20;
      let echoed = 0;
      const connector = new Connector({
        transport: "tcp",
        host: "127.0.0.1",
        port,
        handler: { onFrame: () => void echoed++ },
      });
      const sessions: Session[] = [];
      for (let i = 0; i < clients; i++) sessions.push(await connector.connect());
      for (const s of sessions) for (let i = 0; i < 10; i++) s.send(Buffer.from(`frame ${i}`));
      const deadline = Date.now() + 15_000;
      while (echoed < clients * 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(echoed, clients * 10);

      child.stdin.write("stats\n");
      const stats = JSON.parse((await waitLine("STATS")).slice("STATS ".length)) as Record<string, unknown>;
      assert.equal(stats.workers, 2);
      assert.equal(stats.workerProcesses, 2);
      assert.equal(stats.accepted, clients);
      assert.deepEqual(
        Object.values(stats.rejected as Record<string, number>).filter((n) => n > 0),
        [],
        "no connection refused by a guard",
      );
      assert.equal(stats.framesIn, clients * 10);
      assert.equal(stats.framesOut, clients * 10);
      assert.equal(stats.activeSessions, clients);
      await connector.close();
    } finally {
      child.kill("SIGTERM");
      await waitLine("CLOSED").catch(() => child.kill("SIGKILL"));
    }
  });

  it("cluster - a worker that cannot start fails the runner and leaves no worker behind", async () => {
    const child = spawn(process.execPath, ["--conditions=meridian-source", "--import", "tsx", fixture], {
      env: { ...process.env, CLUSTER_ECHO_PORT: String(await freePort()), CLUSTER_ECHO_FAIL: "1" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      out += d;
    });
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      child.once("exit", (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, out);
    assert.match(out, /^FAILED NE_LISTEN_FAILED 0$/m);
  });

  it("cluster - sumStats adds numbers field by field, recursively", () => {
    assert.deepEqual(
      sumStats([
        { a: 1, b: { c: 2 } },
        { a: 2, b: { c: 3, d: 1 }, s: "x" },
      ]),
      {
        a: 3,
        b: { c: 5, d: 1 },
      },
    );
  });
});
