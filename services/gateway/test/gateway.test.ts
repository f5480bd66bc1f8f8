/**
 * The gateway in-process (src/gateway.ts, the code main.ts runs) against a real lobby process, real
 * Redis and NATS: handshake, login over TCP and WebSocket, errors and violations, rate limits,
 * presence, bans at accept, kicks, a dead lobby.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CloseCode, decodePresence, presenceKey } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { eventually, lobbyBan, sleep, startGateway, startLobby } from "./helpers/cluster.js";
import { RawClient } from "./helpers/raw-client.js";

let ctx: TestContext;
let nc: NatsConnection;
let redis: Redis;
let gw: Awaited<ReturnType<typeof startGateway>>;
let n = 0;
const name = () => `gwt_${ctx.runId.slice(0, 6)}_${++n}`;

before(async () => {
  ctx = await createTestContext();
  await startLobby(ctx);
  nc = await connect({ servers: ctx.nats.url });
  redis = new Redis(ctx.redis.url);
  ctx.defer(async () => {
    await nc.close();
    redis.disconnect();
  });
  gw = await startGateway(ctx, { resumeGraceMs: 800, rateMsgsPerS: 20, maxViolations: 3 });
});
after(() => ctx.cleanup());

async function client(transport: "tcp" | "ws" = "tcp", localAddress?: string) {
  const c = await RawClient.connect({
    port: transport === "tcp" ? gw.tcpPort : gw.wsPort,
    transport,
    ...(localAddress === undefined ? {} : { localAddress }),
  });
  ctx.defer(() => c.destroy());
  return c;
}

const presence = async (accountId: string) =>
  decodePresence(await redis.hgetall(presenceKey(ctx.redis.prefix, accountId)));

describe("gateway", () => {
  for (const transport of ["tcp", "ws"] as const) {
    it(`gateway - login over ${transport}: hello_ok with a nonce, login_ok, presence written`, async () => {
      const c = await client(transport);
      const hello = await c.hello();
      assert.equal(hello.t, "hello_ok");
      assert.ok(hello.t === "hello_ok" && /^[0-9a-z]+\.[A-Za-z0-9_-]{22}$/.test(hello.nonce));
      assert.ok(hello.t === "hello_ok" && hello.maxMessageBytes === 16_384 && hello.heartbeatMs === 15_000);
      if (hello.t !== "hello_ok") return;
      c.send({ t: "login", ref: 9, username: name(), password: "correct horse battery", nonce: hello.nonce });
      const ok = await c.next(15_000);
      assert.equal(ok.t, "login_ok", JSON.stringify(ok));
      if (ok.t !== "login_ok") return;
      assert.equal(ok.ref, 9);
      assert.equal(ok.created, true);
      const record = await eventually(() => presence(ok.accountId));
      assert.equal(record.gateway, gw.gateway.id);
      assert.equal(record.world, "main");
      assert.equal(record.zone, null);
      c.send({ t: "ping", n: 5 });
      assert.deepEqual(await c.next(), { t: "pong", n: 5 });
    });
  }

  it("gateway - a wrong version gets PROTO_VERSION_MISMATCH and bye 4100", async () => {
    const c = await client();
    const error = await c.hello(99);
    assert.equal(error.t, "error");
    assert.ok(error.t === "error" && error.code === "PROTO_VERSION_MISMATCH");
    const bye = await c.next();
    assert.ok(bye.t === "bye" && bye.code === CloseCode.VersionMismatch);
    await c.ended;
  });

  it("gateway - a first message other than hello gets PROTO_HELLO_REQUIRED and 4101", async () => {
    const c = await client("ws");
    c.send({ t: "ping", n: 1 });
    const error = await c.next();
    assert.ok(error.t === "error" && error.code === "PROTO_HELLO_REQUIRED");
    assert.ok((await c.next()).t === "bye");
    const end = await c.ended;
    assert.equal(end.closeCode, 4101, "the WebSocket close frame carries the same code as the bye");
  });

  it("gateway - malformed bytes before hello: PROTO_MALFORMED and bye 4102", async () => {
    const c = await client();
    c.sendRaw(Uint8Array.of(0x82, 0xa1, 0x74)); // a map of 2 entries, cut short
    const error = await c.next();
    assert.ok(error.t === "error" && error.code === "PROTO_MALFORMED", JSON.stringify(error));
    const bye = await c.next();
    assert.ok(bye.t === "bye" && bye.code === CloseCode.Malformed);
    await c.ended;
  });

  it("gateway - a zero-length TCP frame closes the connection (engine: frame_malformed)", async () => {
    const c = await client();
    c.writeTcp(Uint8Array.of(0, 0, 0, 0));
    const end = await c.ended;
    assert.equal(end.bytes, 0);
  });

  it("gateway - a message over maxMessageBytes closes the connection (WebSocket 1009)", async () => {
    const c = await client("ws");
    await c.hello();
    c.sendRaw(new Uint8Array(16_385));
    const end = await c.ended;
    assert.equal(end.closeCode, 1009);
  });

  it("gateway - after hello, invalid and unknown messages get errors; past the max, bye 4204", async () => {
    const c = await client();
    await c.hello();
    c.send({ t: "teleport" });
    const unknown = await c.next();
    assert.ok(unknown.t === "error" && unknown.code === "PROTO_UNKNOWN_TYPE");
    c.send({ t: "login", ref: "x" });
    const invalid = await c.next();
    assert.ok(invalid.t === "error" && invalid.code === "PROTO_INVALID_MESSAGE");
    c.sendRaw(Uint8Array.of(0x82, 0xa1));
    const malformed = await c.next();
    assert.ok(malformed.t === "error" && malformed.code === "PROTO_MALFORMED");
    c.send({ t: "input", seq: 1, data: 1 });
    const error = await c.next();
    assert.ok(error.t === "error" && error.code === "GATEWAY_TOO_MANY_VIOLATIONS", JSON.stringify(error));
    const bye = await c.next();
    assert.ok(bye.t === "bye" && bye.code === CloseCode.TooManyViolations);
    await c.ended;
    assert.ok((gw.gateway.stats().violations.PROTO_UNKNOWN_TYPE ?? 0) >= 1);
  });

  it("gateway - more messages than the rate allows: GATEWAY_RATE_LIMITED and bye 4200", async () => {
    const c = await client();
    await c.hello();
    for (let i = 0; i < 60; i++) c.send({ t: "ping", n: i });
    const error = await c.expect("error");
    assert.equal(error.code, "GATEWAY_RATE_LIMITED");
    const bye = await c.next();
    assert.ok(bye.t === "bye" && bye.code === CloseCode.RateLimited);
    await c.ended;
    assert.ok(gw.gateway.stats().rateLimitCloses >= 1);
  });

  it("gateway - a failed login relays the lobby's code with a fresh nonce; the retry succeeds", async () => {
    const username = name();
    const first = await client();
    await first.loginOk(username);
    first.destroy();
    const c = await client();
    const hello = await c.hello();
    if (hello.t !== "hello_ok") throw new Error("no hello_ok");
    c.send({ t: "login", ref: 1, username, password: "wrong password!", nonce: hello.nonce });
    const error = await c.next(15_000);
    assert.ok(error.t === "error" && error.code === "LOBBY_BAD_CREDENTIALS" && error.ref === 1);
    assert.ok(error.t === "error" && error.nonce !== undefined && error.nonce !== hello.nonce);
    if (error.t !== "error" || error.nonce === undefined) return;
    // Replaying the old nonce fails; the fresh one works.
    c.send({ t: "login", ref: 2, username, password: "correct horse battery", nonce: hello.nonce });
    const replay = await c.next(15_000);
    assert.ok(replay.t === "error" && replay.code === "LOBBY_LOGIN_NONCE_INVALID", JSON.stringify(replay));
    if (replay.t !== "error" || replay.nonce === undefined) return;
    c.send({ t: "login", ref: 3, username, password: "correct horse battery", nonce: replay.nonce });
    const ok = await c.next(15_000);
    assert.ok(ok.t === "login_ok" && ok.ref === 3, JSON.stringify(ok));
    assert.ok((gw.gateway.stats().loginsFailed.LOBBY_BAD_CREDENTIALS ?? 0) >= 1);
  });

  it("gateway - logout: bye 1000, presence removed, refresh token revoked", async () => {
    const c = await client();
    const ok = await c.loginOk(name());
    await eventually(() => presence(ok.accountId));
    c.send({ t: "logout", ref: 4 });
    const bye = await c.next(10_000);
    assert.ok(bye.t === "bye" && bye.code === CloseCode.Normal, JSON.stringify(bye));
    await c.ended;
    await eventually(async () => ((await presence(ok.accountId)) === undefined ? true : undefined));
    const again = await client();
    const error = await again.resume(ok.refreshToken);
    assert.ok(error.t === "error" && error.code === "LOBBY_TOKEN_REVOKED", JSON.stringify(error));
  });

  it("gateway - a dropped connection keeps presence for the grace, then clears it", async () => {
    const c = await client();
    const ok = await c.loginOk(name());
    await eventually(() => presence(ok.accountId));
    c.destroy();
    await eventually(() => (gw.gateway.stats().graceSessions > 0 ? true : undefined));
    assert.ok(await presence(ok.accountId), "presence stays during the grace");
    await eventually(async () => ((await presence(ok.accountId)) === undefined ? true : undefined), 3_000);
  });

  it("gateway - resume within the grace continues the session; the old connection gets 4205", async () => {
    const first = await client();
    const ok = await first.loginOk(name());
    const second = await client("ws");
    const resumed = await second.resume(ok.refreshToken);
    assert.ok(resumed.t === "resume_ok", JSON.stringify(resumed));
    if (resumed.t !== "resume_ok") return;
    assert.equal(resumed.sessionId, ok.sessionId);
    assert.notEqual(resumed.refreshToken, ok.refreshToken);
    assert.equal(resumed.ack, 0);
    const bye = await first.expect("bye");
    assert.equal(bye.code, CloseCode.ResumedElsewhere);
    await sleep(1_000); // longer than the grace: nothing may clear the live session's presence
    const record = await presence(ok.accountId);
    assert.equal(record?.gateway, gw.gateway.id);
  });

  it("gateway - a banned IP is refused before any byte is read; a banned CIDR too", async () => {
    await lobbyBan(ctx, nc, { kind: "ip", target: "127.0.0.7" });
    await lobbyBan(ctx, nc, { kind: "cidr", target: "127.0.8.0/24" });
    await eventually(() => (gw.gateway.bans.size >= 2 ? true : undefined), 1_000);
    const before = gw.gateway.stats().rejected.denied ?? 0;
    for (const address of ["127.0.0.7", "127.0.8.200"]) {
      const c = await client("tcp", address);
      c.hello().catch(() => undefined);
      const end = await c.ended;
      assert.equal(end.bytes, 0, "not even an error: nothing is read or written");
    }
    assert.equal((gw.gateway.stats().rejected.denied ?? 0) - before, 2);
    const fine = await client("tcp", "127.0.0.9");
    assert.equal((await fine.hello()).t, "hello_ok");
  });

  it("gateway - an address banned while connected is kicked within 1 s with 4202", async () => {
    const c = await client("tcp", "127.0.0.11");
    const ok = await c.loginOk(name());
    await eventually(() => presence(ok.accountId));
    const started = Date.now();
    await lobbyBan(ctx, nc, { kind: "ip", target: "127.0.0.11" });
    const bye = await c.expect("bye", 1_000);
    assert.equal(bye.code, CloseCode.Banned);
    assert.ok(Date.now() - started < 1_000);
    await c.ended;
    await eventually(async () => ((await presence(ok.accountId)) === undefined ? true : undefined));
  });

  it("gateway - an account ban kicks the player's session within 1 s with 4202; login then gets the reason", async () => {
    const username = name();
    const c = await client();
    const ok = await c.loginOk(username);
    const started = Date.now();
    await lobbyBan(ctx, nc, { kind: "account", accountId: ok.accountId, reason: "cheating" });
    const bye = await c.expect("bye", 1_000);
    assert.equal(bye.code, CloseCode.Banned);
    assert.ok(Date.now() - started < 1_000);
    const again = await client();
    const refused = await again.login(username, "correct horse battery");
    assert.ok(
      refused.t === "error" && refused.code === "LOBBY_ACCOUNT_BANNED" && refused.reason === "cheating",
    );
    assert.ok((gw.gateway.stats().kicks[String(CloseCode.Banned)] ?? 0) >= 2);
  });

  it("gateway - input before login is out of order (GATEWAY_OUT_OF_ORDER), the connection stays", async () => {
    const c = await client();
    await c.hello();
    c.send({ t: "input", seq: 1, data: { move: 1 } });
    const error = await c.next();
    assert.ok(error.t === "error" && error.code === "GATEWAY_OUT_OF_ORDER");
    c.send({ t: "ping", n: 8 });
    assert.deepEqual(await c.next(), { t: "pong", n: 8 });
  });

  it("gateway - a connection silent past the pre-auth deadline is closed", async () => {
    const strict = await startGateway(ctx, { preAuthMs: 300 });
    const c = await RawClient.connect({ port: strict.tcpPort });
    ctx.defer(() => c.destroy());
    const end = await c.ended;
    assert.equal(end.bytes, 0);
    assert.equal(strict.gateway.stats().preAuthPruned, 1);
  });

  it("gateway - a reused refresh token revokes the session: the live connection gets 4201 within 1 s", async () => {
    const first = await client();
    const ok = await first.loginOk(name());
    const second = await client();
    const resumed = await second.resume(ok.refreshToken);
    assert.ok(resumed.t === "resume_ok");
    assert.equal((await first.expect("bye")).code, CloseCode.ResumedElsewhere);
    const thief = await client();
    const started = Date.now();
    const reused = await thief.resume(ok.refreshToken);
    assert.ok(reused.t === "error" && reused.code === "LOBBY_TOKEN_REUSED", JSON.stringify(reused));
    const bye = await second.expect("bye", 1_000);
    assert.equal(bye.code, CloseCode.SessionRevoked);
    assert.ok(Date.now() - started < 1_000);
    await eventually(async () => ((await presence(ok.accountId)) === undefined ? true : undefined));
  });

  it("gateway - with no lobby answering, login gets LOBBY_UNAVAILABLE and the connection stays usable", async () => {
    const lonely = await startGateway(ctx, {
      subjectPrefix: `${ctx.nats.prefix}.nolobby`,
      lobbyTimeoutMs: 500,
    });
    const c = await RawClient.connect({ port: lonely.tcpPort });
    ctx.defer(() => c.destroy());
    const error = await c.login(name(), "correct horse battery", 7);
    assert.ok(
      error.t === "error" && error.code === "LOBBY_UNAVAILABLE" && error.ref === 7,
      JSON.stringify(error),
    );
    assert.ok(error.t === "error" && error.nonce !== undefined);
    c.send({ t: "ping", n: 3 });
    assert.deepEqual(await c.next(), { t: "pong", n: 3 });
    assert.equal(lonely.gateway.stats().loginsFailed.LOBBY_UNAVAILABLE, 1);
  });
});
