/**
 * The session code against a recording PlayerRouter (the world's routing is another package's: a
 * stand-in records what the session code asks of the port), and TLS, with a real lobby that requires
 * TLS for password logins.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type DetachReason, decodePresence, presenceKey, type Update } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { Redis } from "ioredis";
import { GatewayError, GatewayErrorCode } from "../src/errors.js";
import type { PlayerIdentity, PlayerPlace, PlayerRouter, PlayerSink } from "../src/router-port.js";
import { eventually, selfSignedCert, startGateway, startLobby } from "./helpers/cluster.js";
import { RawClient } from "./helpers/raw-client.js";

/** Records every call; places players in zone z1 of world w1, or refuses when `down`. */
class RecordingRouter implements PlayerRouter {
  readonly calls: string[] = [];
  readonly sinks = new Map<string, PlayerSink>();
  readonly inputs: [string, number, unknown][] = [];
  down = false;
  ack = 0;
  async attach(player: PlayerIdentity, sink: PlayerSink): Promise<PlayerPlace> {
    this.calls.push(`attach ${player.accountId} ${player.resumed ? "resumed" : "fresh"}`);
    if (this.down) throw new GatewayError(GatewayErrorCode.WorldUnavailable, "no world answered");
    this.sinks.set(player.accountId, sink);
    return { world: "w1", zone: "z1", server: "s1", ack: this.ack };
  }
  input(accountId: string, seq: number, data: unknown): boolean {
    this.inputs.push([accountId, seq, data]);
    return true;
  }
  detach(accountId: string, _sessionId: string, reason: DetachReason): void {
    this.calls.push(`detach ${accountId} ${reason}`);
  }
  suspend(accountId: string): void {
    this.calls.push(`suspend ${accountId}`);
  }
}

let ctx: TestContext;
let redis: Redis;
let pem: { cert: Buffer; key: Buffer };
let n = 0;
const name = () => `ses_${ctx.runId.slice(0, 6)}_${++n}`;
const presence = async (accountId: string) =>
  decodePresence(await redis.hgetall(presenceKey(ctx.redis.prefix, accountId)));

before(async () => {
  ctx = await createTestContext();
  redis = new Redis(ctx.redis.url);
  ctx.defer(() => redis.disconnect());
  [pem] = await Promise.all([selfSignedCert(ctx), startLobby(ctx, { LOBBY_REQUIRE_TLS: "true" })]);
});
after(() => ctx.cleanup());

async function tlsClient(port: number, transport: "tcp" | "ws" = "tcp") {
  const c = await RawClient.connect({ port, transport, tls: { ca: pem.cert } });
  ctx.defer(() => c.destroy());
  return c;
}

describe("sessions", () => {
  it("sessions - a plain connection's password login is refused by a TLS-requiring lobby", async () => {
    const gw = await startGateway(ctx);
    const c = await RawClient.connect({ port: gw.tcpPort });
    ctx.defer(() => c.destroy());
    const error = await c.login(name(), "correct horse battery");
    assert.ok(error.t === "error" && error.code === "LOBBY_INSECURE_TRANSPORT", JSON.stringify(error));
  });

  it("sessions - behind a trusted TLS proxy, a plain connection counts as TLS", async () => {
    const gw = await startGateway(ctx, { trustProxyTls: true });
    const c = await RawClient.connect({ port: gw.tcpPort });
    ctx.defer(() => c.destroy());
    await c.loginOk(name());
  });

  for (const transport of ["tcp", "ws"] as const) {
    it(`sessions - login over ${transport === "tcp" ? "TLS" : "wss"} with a PEM certificate`, async () => {
      const gw = await startGateway(ctx, { tls: pem });
      const c = await tlsClient(transport === "tcp" ? gw.tcpPort : gw.wsPort, transport);
      await c.loginOk(name());
    });
  }

  it("sessions - attach, inputs, updates, moves, logout detach through the router port", async () => {
    const router = new RecordingRouter();
    const gw = await startGateway(ctx, { tls: pem }, router);
    const c = await tlsClient(gw.tcpPort);
    const ok = await c.loginOk(name());
    await eventually(() => (router.sinks.has(ok.accountId) ? true : undefined));
    const record = await eventually(async () => {
      const r = await presence(ok.accountId);
      return r?.zone === "z1" ? r : undefined;
    });
    assert.equal(record.world, "w1");
    assert.equal(record.server, "s1");
    c.send({ t: "input", seq: 1, data: { move: [1, 0] } });
    await eventually(() => (router.inputs.length > 0 ? true : undefined));
    assert.deepEqual(router.inputs[0], [ok.accountId, 1, { move: [1, 0] }]);
    const update: Update = { t: "update", tick: 7, ack: 1, data: { x: 3 } };
    router.sinks.get(ok.accountId)?.update(update);
    assert.deepEqual(await c.expect("update"), update);
    router.sinks.get(ok.accountId)?.moved({ world: "w1", zone: "z2", server: "s2", ack: 1 });
    const moved = await eventually(async () => {
      const r = await presence(ok.accountId);
      return r?.zone === "z2" ? r : undefined;
    });
    assert.equal(moved.since, record.since);
    c.send({ t: "logout", ref: 1 });
    assert.equal((await c.expect("bye", 10_000)).code, 1000);
    assert.deepEqual(router.calls, [`attach ${ok.accountId} fresh`, `detach ${ok.accountId} logout`]);
  });

  it("sessions - a drop suspends; grace expiry detaches; a resume within the grace re-attaches with ack", async () => {
    const router = new RecordingRouter();
    router.ack = 41;
    const gw = await startGateway(ctx, { tls: pem, resumeGraceMs: 600 }, router);
    const first = await tlsClient(gw.tcpPort);
    const ok = await first.loginOk(name());
    first.destroy();
    await eventually(() => (router.calls.includes(`suspend ${ok.accountId}`) ? true : undefined));
    const second = await tlsClient(gw.wsPort, "ws");
    const resumed = await second.resume(ok.refreshToken);
    assert.ok(resumed.t === "resume_ok" && resumed.ack === 41, JSON.stringify(resumed));
    second.destroy();
    await eventually(
      () => (router.calls.includes(`detach ${ok.accountId} grace_expired`) ? true : undefined),
      3_000,
    );
    assert.deepEqual(router.calls, [
      `attach ${ok.accountId} fresh`,
      `suspend ${ok.accountId}`,
      `attach ${ok.accountId} resumed`,
      `suspend ${ok.accountId}`,
      `detach ${ok.accountId} grace_expired`,
    ]);
    assert.equal(await presence(ok.accountId), undefined);
  });

  it("sessions - no world answering leaves the player logged in, presence without a zone", async () => {
    const router = new RecordingRouter();
    router.down = true;
    const gw = await startGateway(ctx, { tls: pem, world: "fallback" }, router);
    const c = await tlsClient(gw.tcpPort);
    const ok = await c.loginOk(name());
    const record = await eventually(() => presence(ok.accountId));
    assert.equal(record.world, "fallback");
    assert.equal(record.zone, null);
    c.send({ t: "ping", n: 2 });
    assert.deepEqual(await c.expect("pong"), { t: "pong", n: 2 });
  });

  it("sessions - a second login of the account here closes the first connection (4205) and detaches it", async () => {
    const router = new RecordingRouter();
    const gw = await startGateway(ctx, { tls: pem }, router);
    const username = name();
    const first = await tlsClient(gw.tcpPort);
    const ok = await first.loginOk(username);
    const second = await tlsClient(gw.tcpPort);
    await second.loginOk(username);
    assert.equal((await first.expect("bye")).code, 4205);
    assert.ok(router.calls.includes(`detach ${ok.accountId} kicked`));
  });
});
