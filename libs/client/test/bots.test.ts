import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { botPassword, ClientErrorCode, runBots } from "@meridian/client/node";
import { createRunId } from "@meridian/testkit";
import { fixtures, TRANSPORTS } from "./helpers/client-fixtures.js";

for (const transport of TRANSPORTS) {
  describe(`bots (${transport})`, () => {
    const f = fixtures(transport);

    test("bots - five players log in, walk, get updates and acks, and log out at the end", async () => {
      const peer = await f.peer();
      const prefix = `b${createRunId().slice(0, 6)}`;
      const progress: number[] = [];
      const summary = await runBots({
        url: peer.url,
        players: 5,
        prefix,
        durationMs: 600,
        inputsPerSecond: 20,
        loginsPerSecond: 100,
        progressIntervalMs: 200,
        onProgress: (p) => progress.push(p.logins),
      });
      assert.equal(summary.players, 5);
      assert.equal(summary.logins, 5);
      assert.equal(summary.created, 5);
      assert.equal(summary.online, 5);
      assert.deepEqual(summary.loginFailures, {});
      assert.deepEqual(summary.errors, {});
      assert.ok(summary.inputsSent > 10, `inputs ${summary.inputsSent}`);
      assert.ok(summary.updatesReceived > 10, `updates ${summary.updatesReceived}`);
      assert.ok(summary.acks > 10, `acks ${summary.acks}`);
      assert.ok(progress.length >= 1);
      assert.deepEqual(
        [...peer.accounts.keys()].sort(),
        [1, 2, 3, 4, 5].map((n) => `${prefix}${n}`),
      );
      assert.equal(peer.accounts.get(`${prefix}1`)?.password, botPassword("meridian-bot", `${prefix}1`));
      const input = peer.connections[0]?.messages.find((m) => m.t === "input");
      assert.ok(input?.t === "input");
      const data = input.data as { move: { dx: number; dy: number } };
      assert.ok(Math.abs(data.move.dx) <= 1 && Math.abs(data.move.dy) <= 1);
      // Everyone logged out.
      assert.ok(peer.connections.every((c) => c.messages.some((m) => m.t === "logout")));
    });
  });
}

describe("bots - failures", () => {
  const f = fixtures("tcp");

  test("bots - login failures are counted by code; a permanent one stops the bot", async () => {
    const peer = await f.peer();
    peer.accounts.set("taken1", { password: "not-the-bot's", accountId: "9" });
    const summary = await runBots({ url: peer.url, players: 2, prefix: "taken", durationMs: 300 });
    assert.equal(summary.logins, 1);
    assert.deepEqual(summary.loginFailures, { LOBBY_BAD_CREDENTIALS: 1 });
    assert.equal(summary.gaveUp, 1);
  });

  test("bots - dropped players are resumed and counted as reconnects", async () => {
    const peer = await f.peer();
    const controller = new AbortController();
    const run = runBots({
      url: peer.url,
      players: 3,
      inputsPerSecond: 20,
      signal: controller.signal,
      client: { reconnect: { initialDelayMs: 10, maxDelayMs: 20 } },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    peer.dropAll();
    await new Promise((resolve) => setTimeout(resolve, 400));
    controller.abort();
    const summary = await run;
    assert.equal(summary.logins, 3);
    assert.equal(summary.reconnects, 3);
    assert.equal(summary.sessionsLost, 0);
  });

  test("bots - bad options are CLIENT_INVALID_OPTIONS", async () => {
    await assert.rejects(runBots({ url: "tcp://127.0.0.1:1", players: 0 }), {
      code: ClientErrorCode.InvalidOptions,
    });
  });

  test("bot command - runs against a gateway and prints a final JSON summary line", async () => {
    const peer = await f.peer();
    const cli = fileURLToPath(new URL("../src/bot/cli.ts", import.meta.url));
    const child = spawn(
      process.execPath,
      [
        "--conditions=meridian-source",
        "--import",
        "tsx",
        cli,
        "--url",
        peer.url,
        "--players",
        "2",
        "--duration",
        "500ms",
        "--progress",
        "200ms",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0, stdout);
    const lines = stdout.trim().split("\n");
    assert.ok(lines.some((l) => l.startsWith("bots ")));
    const summary = JSON.parse(lines.at(-1) ?? "{}") as { logins: number; players: number };
    assert.equal(summary.players, 2);
    assert.equal(summary.logins, 2);
  });

  test("bot command - SIGINT logs every player out and still prints the summary", async () => {
    const peer = await f.peer();
    const cli = fileURLToPath(new URL("../src/bot/cli.ts", import.meta.url));
    const child = spawn(
      process.execPath,
      ["--conditions=meridian-source", "--import", "tsx", cli, "--url", peer.url, "--players", "3"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const deadline = Date.now() + 10_000;
    while (peer.open.filter((c) => c.player !== undefined).length < 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill("SIGINT");
    assert.equal(await exited, 0, stdout);
    const summary = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as { logins: number };
    assert.equal(summary.logins, 3);
    assert.equal(peer.connections.filter((c) => c.messages.some((m) => m.t === "logout")).length, 3);
  });
});
