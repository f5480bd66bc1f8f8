/**
 * A login traced across the gateway and the lobby, read from an in-memory span exporter: the
 * gateway's `gateway.login` span → its `lobby.login` client span → NATS headers → the lobby's
 * `lobby.login` handler span, one trace. The lobby (`Lobby`, on a fresh Postgres database) and the
 * gateway (`Gateway`) run in this process against the real Postgres, Redis and NATS, each with its
 * own connections; a raw TCP client logs in. In infra (system-level tests) because it runs two
 * services' code together, which a service's own tests never do.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createSubjects } from "@meridian/protocol";
import { type InMemoryTelemetry, SpanAttr, startInMemoryTelemetry } from "@meridian/telemetry";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Gateway } from "../../services/gateway/src/gateway.js";
import { RawClient } from "../../services/gateway/test/helpers/raw-client.js";
import { PasswordHasher } from "../../services/lobby/src/accounts/index.js";
import { createDatabase, migrateToLatest } from "../../services/lobby/src/db/index.js";
import { Lobby } from "../../services/lobby/src/lobby.js";
import { MemoryMailer } from "../../services/lobby/src/mail/index.js";

const silent = pino({ level: "silent" });
const GATEWAY_ID = "gw-login-trace";

let mem: InMemoryTelemetry;
let ctx: TestContext;
let gateway: Gateway;

before(async () => {
  mem = await startInMemoryTelemetry({ serviceName: "meridian-login-test" });
  ctx = await createTestContext();
  const db = createDatabase({ url: ctx.postgres.url, poolSize: 4 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);

  const lobbyRedis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  ctx.defer(() => lobbyRedis.quit());
  const lobbyNc = await connect({ servers: ctx.nats.url, name: "lobby" });
  ctx.defer(() => lobbyNc.close());
  const lobby = new Lobby(
    {
      db,
      redis: lobbyRedis,
      nc: lobbyNc,
      subjects: createSubjects({ prefix: ctx.nats.prefix }),
      redisPrefix: ctx.redis.prefix,
      hasher: new PasswordHasher(
        { memoryKib: 1024, timeCost: 1, parallelism: 1 },
        { allowWeakParameters: true },
      ),
      mailer: new MemoryMailer(),
      logger: silent,
    },
    { autoCreateAccounts: true, requireTls: false, adminToken: "login-trace-admin-token-0123456789abcd" },
  );
  await lobby.start();
  ctx.defer(() => lobby.stop());

  const gwRedis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 2 });
  const gwNc = await connect({ servers: ctx.nats.url, name: GATEWAY_ID });
  gateway = new Gateway(
    { redis: gwRedis, nc: gwNc, logger: silent },
    {
      id: GATEWAY_ID,
      redisPrefix: ctx.redis.prefix,
      subjectPrefix: ctx.nats.prefix,
      host: "127.0.0.1",
      tcpPort: 0,
      wsPort: null,
    },
  );
  ctx.defer(async () => {
    await gateway.stop();
    await gwNc.close();
    gwRedis.disconnect();
  });
  await gateway.start();
});

after(async () => {
  await ctx?.cleanup();
  await mem?.shutdown();
});

describe("telemetry - login trace", () => {
  it("trace - a login is one trace: gateway span → NATS request with headers → lobby handler span", async () => {
    const client = await RawClient.connect({ port: gateway.ports.tcp ?? 0, transport: "tcp" });
    ctx.defer(() => client.destroy());
    const ok = await client.loginOk("tracedplayer");
    assert.equal(ok.t, "login_ok");
    const deadline = Date.now() + 5_000;
    while (!mem.spans().some((s) => s.name === "gateway.login") && Date.now() < deadline) await sleep(5);

    const root = mem.spans().find((s) => s.name === "gateway.login");
    assert.ok(root, "the gateway's login span ended");
    assert.equal(root.attributes[SpanAttr.Instance], GATEWAY_ID);
    const trace = mem.spans().filter((s) => s.spanContext().traceId === root.spanContext().traceId);
    const client_ = trace.find(
      (s) => s.name === "lobby.login" && s.attributes[SpanAttr.Service] === "gateway",
    );
    const handler = trace.find((s) => s.name === "lobby.login" && s.attributes[SpanAttr.Service] === "lobby");
    assert.ok(client_ && handler, `spans of the trace: ${trace.map((s) => s.name).join(", ")}`);
    assert.equal(client_.parentSpanContext?.spanId, root.spanContext().spanId, "request under the login");
    assert.equal(
      handler.parentSpanContext?.spanId,
      client_.spanContext().spanId,
      "handler under the request",
    );
  });
});
