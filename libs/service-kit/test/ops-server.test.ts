import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { METRICS_OFF_BODY, type OpsServer, OpsServerError, startOpsServer } from "@meridian/service-kit";

const servers: OpsServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(options: Parameters<typeof startOpsServer>[0]): Promise<string> {
  const server = await startOpsServer({ host: "127.0.0.1", ...options });
  servers.push(server);
  return `http://127.0.0.1:${server.port}`;
}

describe("ops server", () => {
  it("healthz - 200 ok", async () => {
    const base = await start({ port: 0 });
    const reply = await fetch(`${base}/healthz`);
    assert.equal(reply.status, 200);
    assert.deepEqual(await reply.json(), { status: "ok" });
  });

  it("readyz - 200 with every check ok", async () => {
    const base = await start({
      port: 0,
      checks: { started: () => true, nats: async () => 12, redis: () => Promise.resolve("PONG") },
    });
    const reply = await fetch(`${base}/readyz`);
    assert.equal(reply.status, 200);
    assert.deepEqual(await reply.json(), {
      status: "ready",
      checks: { started: "ok", nats: "ok", redis: "ok" },
    });
  });

  it("readyz - 503 naming the failing checks (false, a rejection, no answer in time)", async () => {
    const base = await start({
      port: 0,
      checkTimeoutMs: 50,
      checks: {
        started: () => false,
        nats: () => Promise.reject(new Error("disconnected")),
        redis: () => new Promise(() => undefined),
        clock: () => true,
      },
    });
    const reply = await fetch(`${base}/readyz`);
    assert.equal(reply.status, 503);
    const body = (await reply.json()) as {
      failed: string[];
      reasons: Record<string, string>;
      checks: object;
    };
    assert.deepEqual(body.failed, ["started", "nats", "redis"]);
    assert.equal(body.reasons.nats, "disconnected");
    assert.match(body.reasons.redis ?? "", /no answer within 50 ms/);
    assert.deepEqual(body.checks, { started: "fail", nats: "fail", redis: "fail", clock: "ok" });
  });

  it("metrics - the source's text when telemetry is on", async () => {
    const base = await start({ port: 0, metrics: async () => "# TYPE up gauge\nup 1\n" });
    const reply = await fetch(`${base}/metrics`);
    assert.equal(reply.status, 200);
    assert.match(reply.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    assert.equal(await reply.text(), "# TYPE up gauge\nup 1\n");
  });

  it("metrics - 503 with a clear body when telemetry is off (or no source)", async () => {
    for (const base of [await start({ port: 0, metrics: async () => undefined }), await start({ port: 0 })]) {
      const reply = await fetch(`${base}/metrics`);
      assert.equal(reply.status, 503);
      assert.equal(await reply.text(), METRICS_OFF_BODY);
    }
  });

  it("methods - 405 with Allow for other methods, HEAD answered without a body, 404 elsewhere", async () => {
    const base = await start({ port: 0 });
    for (const path of ["/healthz", "/readyz", "/metrics"]) {
      const reply = await fetch(`${base}${path}`, { method: "POST", body: "x" });
      assert.equal(reply.status, 405, path);
      assert.equal(reply.headers.get("allow"), "GET, HEAD");
      await reply.arrayBuffer();
    }
    const head = await fetch(`${base}/healthz`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal((await head.text()).length, 0);
    const missing = await fetch(`${base}/admin`);
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
  });

  it("options - bad options and a taken port are OpsServerError", async () => {
    await assert.rejects(startOpsServer({ port: 70_000 }), OpsServerError);
    await assert.rejects(startOpsServer({ port: 0, checkTimeoutMs: 0 }), OpsServerError);
    const taken = servers[0]?.port ?? 1;
    await assert.rejects(startOpsServer({ port: taken, host: "127.0.0.1" }), OpsServerError);
  });

  it("close - idempotent, the port is released", async () => {
    const server = await startOpsServer({ port: 0, host: "127.0.0.1" });
    await server.close();
    await server.close();
    await assert.rejects(fetch(`http://127.0.0.1:${server.port}/healthz`));
  });
});
