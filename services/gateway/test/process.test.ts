/**
 * Real processes: a lobby and gateway processes (src/main.ts) on ephemeral ports. Resume on another
 * gateway process, SIGTERM, configuration errors.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CloseCode, decodePresence, presenceKey } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { Redis } from "ioredis";
import { eventually, gatewayDir, node, startGatewayProcess, startLobby } from "./helpers/cluster.js";
import { RawClient } from "./helpers/raw-client.js";

let ctx: TestContext;
let redis: Redis;

before(async () => {
  ctx = await createTestContext();
  redis = new Redis(ctx.redis.url);
  ctx.defer(() => redis.disconnect());
  await startLobby(ctx);
});
after(() => ctx.cleanup());

async function client(port: number, transport: "tcp" | "ws" = "tcp") {
  const c = await RawClient.connect({ port, transport });
  ctx.defer(() => c.destroy());
  return c;
}

const presence = async (accountId: string) =>
  decodePresence(await redis.hgetall(presenceKey(ctx.redis.prefix, accountId)));

describe("gateway process", () => {
  it("process - a dropped session resumes on another gateway process; the first does not clear it", async () => {
    const a = await startGatewayProcess(ctx, { GATEWAY_ID: "gw-a", GATEWAY_RESUME_GRACE_MS: "1500" });
    const b = await startGatewayProcess(ctx, { GATEWAY_ID: "gw-b" });
    const first = await client(a.tcpPort);
    const ok = await first.loginOk(`proc_${ctx.runId.slice(0, 6)}_1`);
    assert.equal((await eventually(() => presence(ok.accountId))).gateway, "gw-a");
    first.destroy();
    const second = await client(b.wsPort, "ws");
    const resumed = await second.resume(ok.refreshToken);
    assert.ok(resumed.t === "resume_ok", JSON.stringify(resumed));
    assert.equal(resumed.t === "resume_ok" && resumed.sessionId, ok.sessionId);
    assert.equal((await eventually(() => presence(ok.accountId))).gateway, "gw-b");
    // gw-a's grace runs out: its guarded clear must leave gw-b's record alone.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    assert.equal((await presence(ok.accountId))?.gateway, "gw-b");
    second.send({ t: "ping", n: 1 });
    assert.deepEqual(await second.next(), { t: "pong", n: 1 });
  });

  it("process - SIGTERM: every client gets bye 4203 and the process exits 0 in bounded time", async () => {
    const gw = await startGatewayProcess(ctx, { GATEWAY_SHUTDOWN_MS: "3000" });
    const player = await client(gw.tcpPort);
    const ok = await player.loginOk(`proc_${ctx.runId.slice(0, 6)}_2`);
    const idle = await client(gw.wsPort, "ws");
    assert.equal((await idle.hello()).t, "hello_ok");
    const started = Date.now();
    const exit = gw.proc.stop("SIGTERM");
    for (const c of [player, idle]) {
      const bye = await c.expect("bye", 3_000);
      assert.equal(bye.code, CloseCode.GatewayShutdown);
      assert.match(bye.reason, /resume/);
    }
    assert.deepEqual(await exit, { code: 0, signal: null }, gw.proc.output());
    assert.ok(Date.now() - started < 3_000);
    // The player was not detached: the refresh token still resumes the session elsewhere.
    const other = await startGatewayProcess(ctx);
    const again = await client(other.tcpPort);
    const resumed = await again.resume(ok.refreshToken);
    assert.ok(resumed.t === "resume_ok", JSON.stringify(resumed));
  });

  it("process - a bad variable is named on stderr with a non-zero exit", async () => {
    const gw = await ctx.spawnProcess({
      ...node("src/main.ts", gatewayDir),
      env: { GATEWAY_TCP_PORT: "seventy", GATEWAY_TLS_CERT: "/nonexistent.pem" },
    });
    const exit = await gw.exited;
    assert.notEqual(exit.code, 0);
    assert.match(gw.output(), /gateway: invalid gateway configuration:/);
    assert.match(gw.output(), /GATEWAY_TCP_PORT:/);
    assert.match(gw.output(), /GATEWAY_TLS_KEY:/);
  });

  it("process - exits non-zero with a clear message when NATS is unreachable", async () => {
    const gw = await ctx.spawnProcess({
      ...node("src/main.ts", gatewayDir),
      env: {
        MERIDIAN_REDIS_URL: ctx.redis.url,
        MERIDIAN_NATS_URL: "nats://127.0.0.1:1",
        GATEWAY_TCP_PORT: "0",
        GATEWAY_WS_PORT: "0",
      },
    });
    const exit = await gw.exited;
    assert.notEqual(exit.code, 0);
    assert.match(gw.output(), /gateway: cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});
