/**
 * The gateway's edge checks against a real gateway PROCESS (src/main.ts) and a real lobby process,
 * over real Redis, NATS and Postgres: the multi-process list. gateway.test.ts covers the same
 * ground in more depth against an in-process gateway (where its counters can be read).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CloseCode, decodePresence, encodeMessage, presenceKey } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { eventually, lobbyBan, startGatewayProcess, startLobby } from "./helpers/cluster.js";
import { RawClient } from "./helpers/raw-client.js";

let ctx: TestContext;
let nc: NatsConnection;
let redis: Redis;
let gw: { tcpPort: number; wsPort: number };
let n = 0;
const name = () => `gwp_${ctx.runId.slice(0, 6)}_${++n}`;

before(async () => {
  ctx = await createTestContext();
  nc = await connect({ servers: ctx.nats.url });
  redis = new Redis(ctx.redis.url);
  ctx.defer(async () => {
    await nc.close();
    redis.disconnect();
  });
  await startLobby(ctx);
  gw = await startGatewayProcess(ctx, {
    GATEWAY_ID: "gw-edge",
    GATEWAY_RESUME_GRACE_MS: "1000",
    GATEWAY_RATE_MSGS_PER_S: "20",
  });
});
after(() => ctx.cleanup());

async function client(transport: "tcp" | "ws" = "tcp", localAddress?: string): Promise<RawClient> {
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

describe("gateway process - edge", () => {
  for (const transport of ["tcp", "ws"] as const) {
    it(`process edge - login over ${transport}; presence appears, and goes on logout`, async () => {
      const c = await client(transport);
      const ok = await c.loginOk(name());
      const record = await eventually(() => presence(ok.accountId));
      assert.equal(record.gateway, "gw-edge");
      c.send({ t: "logout", ref: 2 });
      const bye = await c.expect("bye");
      assert.equal(bye.code, CloseCode.Normal);
      await eventually(async () => ((await presence(ok.accountId)) === undefined ? true : undefined));
    });
  }

  it("process edge - a wrong version: PROTO_VERSION_MISMATCH, then 4100 (in the bye and the WebSocket close)", async () => {
    const c = await client("ws");
    const reply = await c.hello(999);
    assert.ok(reply.t === "error" && reply.code === "PROTO_VERSION_MISMATCH", JSON.stringify(reply));
    assert.equal((await c.expect("bye")).code, CloseCode.VersionMismatch);
    assert.equal((await c.ended).closeCode, CloseCode.VersionMismatch);
  });

  it("process edge - a banned IP and a banned CIDR are refused before any byte is read", async () => {
    await lobbyBan(ctx, nc, { kind: "ip", target: "127.0.0.21" });
    await lobbyBan(ctx, nc, { kind: "cidr", target: "127.0.22.0/24" });
    for (const address of ["127.0.0.21", "127.0.22.9"]) {
      // The mirror learns of the ban within 1 s (a NATS notice); retry until refused.
      await eventually(async () => {
        const c = await client("tcp", address);
        c.hello().catch(() => undefined);
        const end = await Promise.race([
          c.ended,
          new Promise<undefined>((r) => setTimeout(() => r(undefined), 300)),
        ]);
        c.destroy();
        return end !== undefined && end.bytes === 0 ? true : undefined;
      }, 2_000);
    }
    const fine = await client("tcp", "127.0.0.23");
    assert.equal((await fine.hello()).t, "hello_ok");
  });

  it("process edge - a ban written while connected kicks the player within 1 s", async () => {
    const c = await client("tcp", "127.0.0.24");
    const ok = await c.loginOk(name());
    await eventually(() => presence(ok.accountId));
    const started = Date.now();
    await lobbyBan(ctx, nc, { kind: "ip", target: "127.0.0.24" });
    const bye = await c.expect("bye", 1_000);
    assert.equal(bye.code, CloseCode.Banned);
    assert.ok(Date.now() - started < 1_000, `kicked after ${Date.now() - started} ms`);
  });

  it("process edge - more messages than the rate allows: GATEWAY_RATE_LIMITED and 4200", async () => {
    const c = await client("ws");
    await c.loginOk(name());
    for (let i = 0; i < 200; i++) c.send({ t: "ping", n: i });
    const error = await c.expect("error");
    assert.equal(error.code, "GATEWAY_RATE_LIMITED");
    assert.equal((await c.expect("bye")).code, CloseCode.RateLimited);
    assert.equal((await c.ended).closeCode, CloseCode.RateLimited);
  });

  it("process edge - malformed frames: before hello closes with 4102; after, errors then 4204", async () => {
    const early = await client("tcp");
    early.sendRaw(new Uint8Array([0x85, 0xa1, 0x74]));
    const malformed = await early.next();
    assert.ok(malformed.t === "error" && malformed.code === "PROTO_MALFORMED", JSON.stringify(malformed));
    assert.equal((await early.expect("bye")).code, CloseCode.Malformed);

    const late = await client("tcp");
    assert.equal((await late.hello()).t, "hello_ok");
    for (let i = 0; i < 6; i++) late.sendRaw(encodeMessage({ t: "no_such_message" }));
    const codes: string[] = [];
    for (;;) {
      const m = await late.next();
      if (m.t === "error") codes.push(m.code);
      if (m.t === "bye") {
        assert.equal(m.code, CloseCode.TooManyViolations);
        break;
      }
    }
    assert.ok(codes.includes("PROTO_UNKNOWN_TYPE"), codes.join(","));
  });

  it("process edge - a dropped connection keeps presence for the grace, then it goes", async () => {
    const c = await client("tcp");
    const ok = await c.loginOk(name());
    await eventually(() => presence(ok.accountId));
    c.destroy();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(await presence(ok.accountId), "kept during the grace");
    await eventually(async () => ((await presence(ok.accountId)) === undefined ? true : undefined), 5_000);
  });
});
