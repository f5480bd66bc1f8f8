/**
 * The admin HTTP API end to end: a real Lobby on real Postgres, Redis and NATS, the API on a real
 * HTTP server on port 0, requests with global fetch (raw `node:http` where fetch cannot say it: a
 * streamed body with no length).
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import { createSubjects, presenceWriteCommands } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { pino } from "pino";
import { PasswordHasher } from "../src/accounts/index.js";
import { AdminHttpServer, type AdminHttpServerOptions } from "../src/admin/index.js";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { LobbyErrorCode } from "../src/errors.js";
import { Lobby } from "../src/lobby.js";
import { MemoryMailer } from "../src/mail/index.js";
import { CHEAP_ARGON2, codeOf } from "./helpers/lobby-test-kit.js";

const ADMIN = "test-admin-token-0123456789abcdef";

let ctx: TestContext;
let db: Kysely<Database>;
let redis: Redis;
let nc: NatsConnection;
let lobby: Lobby;
let base: string;
let names = 0;

function makeLobby(database: Kysely<Database>): Lobby {
  return new Lobby(
    {
      db: database,
      redis,
      nc,
      subjects: createSubjects({ prefix: ctx.nats.prefix }),
      redisPrefix: ctx.redis.prefix,
      hasher: new PasswordHasher(CHEAP_ARGON2, { allowWeakParameters: true }),
      mailer: new MemoryMailer(),
    },
    { autoCreateAccounts: true, requireTls: false, adminToken: ADMIN },
  );
}

/** Starts an admin server on port 0 for `on`; stopped by the context's cleanup. */
async function startAdmin(
  on: Lobby,
  options: Partial<AdminHttpServerOptions> = {},
): Promise<{ server: AdminHttpServer; base: string }> {
  const server = new AdminHttpServer(on, { host: "127.0.0.1", port: 0, ...options });
  const address = await server.start();
  ctx.defer(() => server.stop());
  return { server, base: `http://127.0.0.1:${address.port}` };
}

before(async () => {
  ctx = await createTestContext();
  db = createDatabase({ url: ctx.postgres.url, poolSize: 10 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
  redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  ctx.defer(() => redis.quit());
  nc = await connect({ servers: ctx.nats.url, name: "admin-http-test" });
  ctx.defer(() => nc.close());
  lobby = makeLobby(db);
  await lobby.start();
  ctx.defer(() => lobby.stop());
  base = (await startAdmin(lobby)).base;
});
after(() => ctx.cleanup());

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies are asserted field by field
  readonly body: any;
}

/** An authenticated JSON request (`token: null` for none). */
async function api(
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; token?: string | null; on?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? ADMIN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = options.raw;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${options.on ?? base}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text === "" ? undefined : JSON.parse(text),
  };
}

function uniqueName(prefix: string): string {
  names++;
  return `${prefix}${names}`;
}

/** A real account, created the way a first login creates it. */
async function account(prefix = "Admined"): Promise<{ id: string; username: string }> {
  const username = uniqueName(prefix);
  const { account: created } = await lobby.services.accountStore.loginOrCreate(username, "correct horse", {
    autoCreate: true,
  });
  return { id: created.id, username };
}

describe("admin http - auth", () => {
  it("refuses a request without credentials with 401 and a Bearer challenge", async () => {
    const reply = await api("GET", "/admin/bans", { token: null });
    assert.equal(reply.status, 401);
    assert.equal(reply.body.code, LobbyErrorCode.Unauthorized);
    assert.match(reply.headers.get("www-authenticate") ?? "", /^Bearer/);
  });

  it("refuses a wrong token, and another scheme carrying the right one", async () => {
    assert.equal((await api("GET", "/admin/bans", { token: `${ADMIN}x` })).status, 401);
    const basic = await fetch(`${base}/admin/bans`, { headers: { authorization: `Basic ${ADMIN}` } });
    assert.equal(basic.status, 401);
    assert.equal(((await basic.json()) as { code: string }).code, LobbyErrorCode.Unauthorized);
  });

  it("answers 401 for unknown admin paths too, so routes cannot be probed without the token", async () => {
    const reply = await api("GET", "/admin/no-such-thing", { token: null });
    assert.equal(reply.status, 401);
  });

  it("serves a request with the right token", async () => {
    const reply = await api("GET", "/admin/bans");
    assert.equal(reply.status, 200);
    assert.ok(Array.isArray(reply.body.bans));
    assert.equal(reply.headers.get("cache-control"), "no-store");
  });
});

describe("admin http - health and readiness", () => {
  it("answers /healthz without auth", async () => {
    const reply = await api("GET", "/healthz", { token: null });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.status, "ok");
  });

  it("answers /readyz 200 when the lobby, Postgres and Redis are ready", async () => {
    const reply = await api("GET", "/readyz", { token: null });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body.checks, { lobby: "ok", postgres: "ok", redis: "ok" });
  });

  it("answers /readyz 503 naming the lobby when ready() says no (or throws)", async () => {
    const notReady = await startAdmin(lobby, { ready: () => false });
    const reply = await api("GET", "/readyz", { token: null, on: notReady.base });
    assert.equal(reply.status, 503);
    assert.equal(reply.body.code, LobbyErrorCode.Unavailable);
    assert.deepEqual(reply.body.failed, ["lobby"]);
    const throwing = await startAdmin(lobby, {
      ready: async () => {
        throw new Error("boom");
      },
    });
    assert.equal((await api("GET", "/readyz", { token: null, on: throwing.base })).status, 503);
  });

  it("refuses other methods on the probes with 405 and Allow", async () => {
    const reply = await api("POST", "/healthz", { token: null });
    assert.equal(reply.status, 405);
    assert.match(reply.headers.get("allow") ?? "", /GET/);
    assert.equal((await api("POST", "/metrics", { token: null })).status, 405);
  });

  it("answers /metrics without auth: 503 with a clear body while telemetry is off, else the text", async () => {
    const off = await fetch(`${base}/metrics`);
    assert.equal(off.status, 503);
    assert.match(await off.text(), /MERIDIAN_TELEMETRY=on/);
    const on = await startAdmin(lobby, { metrics: async () => "# TYPE up gauge\nup 1\n" });
    const reply = await fetch(`${on.base}/metrics`);
    assert.equal(reply.status, 200);
    assert.match(reply.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    assert.equal(await reply.text(), "# TYPE up gauge\nup 1\n");
  });
});

describe("admin http - a lobby whose Postgres is down", () => {
  it("answers 503 LOBBY_UNAVAILABLE without details, and /readyz names postgres", async () => {
    // A port nothing listens on: connections are refused.
    const deadDb = createDatabase({ url: "postgres://nobody@127.0.0.1:1/none", poolSize: 1 });
    ctx.defer(() => deadDb.destroy());
    const dead = await startAdmin(makeLobby(deadDb));
    const reply = await api("GET", "/admin/bans", { on: dead.base });
    assert.equal(reply.status, 503);
    assert.deepEqual(Object.keys(reply.body).sort(), ["code", "message"]);
    assert.equal(reply.body.code, LobbyErrorCode.Unavailable);
    assert.doesNotMatch(reply.body.message, /ECONNREFUSED|127\.0\.0\.1/);
    const ready = await api("GET", "/readyz", { token: null, on: dead.base });
    assert.equal(ready.status, 503);
    assert.deepEqual(ready.body.failed, ["postgres"]);
    assert.deepEqual(ready.body.checks, { lobby: "ok", postgres: "fail", redis: "ok" });
  });
});

describe("admin http - accounts", () => {
  it("GET /admin/accounts/:id shows the account with no ban", async () => {
    const { id, username } = await account();
    const reply = await api("GET", `/admin/accounts/${id}`);
    assert.equal(reply.status, 200);
    assert.equal(reply.body.id, id);
    assert.equal(reply.body.username, username);
    assert.equal(reply.body.email, null);
    assert.ok(!Number.isNaN(Date.parse(reply.body.createdAt)));
    assert.ok(!Number.isNaN(Date.parse(reply.body.lastLoginAt)));
    assert.equal(reply.body.banned, null);
  });

  it("GET /admin/accounts?username= finds the account by any case of its name", async () => {
    const { id, username } = await account("CaseName");
    const reply = await api("GET", `/admin/accounts?username=${encodeURIComponent(username.toUpperCase())}`);
    assert.equal(reply.status, 200);
    assert.equal(reply.body.id, id);
    assert.equal(reply.body.username, username);
  });

  it("answers 404 LOBBY_PLAYER_UNKNOWN for an unknown or malformed id and an unknown name", async () => {
    for (const path of [
      "/admin/accounts/999999999999",
      "/admin/accounts/abc",
      "/admin/accounts/99999999999999999999",
      "/admin/accounts?username=nobody_here_at_all",
    ]) {
      const reply = await api("GET", path);
      assert.equal(reply.status, 404, path);
      assert.equal(reply.body.code, LobbyErrorCode.PlayerUnknown, path);
    }
  });

  it("answers 400 naming the field for a bad or missing username and an unknown parameter", async () => {
    const bad = await api("GET", "/admin/accounts?username=no%20spaces!");
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, LobbyErrorCode.InvalidUsername);
    assert.equal(bad.body.field, "username");
    const missing = await api("GET", "/admin/accounts");
    assert.equal(missing.status, 400);
    assert.equal(missing.body.code, LobbyErrorCode.BadRequest);
    assert.equal(missing.body.field, "username");
    const unknown = await api("GET", "/admin/accounts?user=x");
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.field, "user");
  });

  it("POST /admin/accounts/:id/revoke-sessions revokes every session of the account", async () => {
    const { id } = await account();
    const first = await lobby.services.sessions.issue(id);
    const second = await lobby.services.sessions.issue(id);
    const reply = await api("POST", `/admin/accounts/${id}/revoke-sessions`, {
      body: { reason: "support ticket" },
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.accountId, id);
    assert.deepEqual([...reply.body.revoked].sort(), [first.sessionId, second.sessionId].sort());
    assert.equal(
      await codeOf(lobby.services.sessions.validateAccess(first.accessToken)),
      LobbyErrorCode.TokenRevoked,
    );
    // No body is fine too; nothing left to revoke.
    const again = await api("POST", `/admin/accounts/${id}/revoke-sessions`);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.revoked, []);
  });

  it("revoke-sessions: 404 for an unknown account, 400 for a bad reason", async () => {
    const unknown = await api("POST", "/admin/accounts/999999999999/revoke-sessions", { body: {} });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, LobbyErrorCode.PlayerUnknown);
    const { id } = await account();
    const long = await api("POST", `/admin/accounts/${id}/revoke-sessions`, {
      body: { reason: "x".repeat(501) },
    });
    assert.equal(long.status, 400);
    assert.equal(long.body.field, "reason");
    const typed = await api("POST", `/admin/accounts/${id}/revoke-sessions`, { body: { reason: 5 } });
    assert.equal(typed.status, 400);
    assert.equal(typed.body.field, "reason");
  });

  it("GET /admin/accounts/:id/location answers offline, then where presence says", async () => {
    const { id, username } = await account("Located");
    const offline = await api("GET", `/admin/accounts/${id}/location`);
    assert.equal(offline.status, 200);
    assert.deepEqual(offline.body, { online: false, accountId: id, username });
    const since = Date.UTC(2030, 0, 1);
    const results = await redis
      .multi(
        presenceWriteCommands(ctx.redis.prefix, {
          accountId: id,
          username,
          world: "aurora",
          zone: "harbour",
          server: "zone-7",
          gateway: "gw-1",
          since,
          updatedAt: since + 1_000,
        }),
      )
      .exec();
    for (const [error] of results ?? []) assert.equal(error, null);
    const online = await api("GET", `/admin/accounts/${id}/location`);
    assert.equal(online.status, 200);
    assert.equal(online.body.online, true);
    assert.equal(online.body.world, "aurora");
    assert.equal(online.body.zone, "harbour");
    assert.equal(online.body.since, new Date(since).toISOString());
    assert.equal(
      (await api("GET", "/admin/accounts/999999999999/location")).body.code,
      LobbyErrorCode.PlayerUnknown,
    );
  });

  it("GET /admin/accounts/:id/stats and /admin/leaderboard/:stat", async () => {
    const top = await account("Top");
    const next = await account("Next");
    const stat = `admin_kills_${names}`;
    await lobby.services.statsService.increment(top.id, stat, 9);
    await lobby.services.statsService.increment(next.id, stat, 4);
    const stats = await api("GET", `/admin/accounts/${top.id}/stats`);
    assert.equal(stats.status, 200);
    assert.equal(stats.body.accountId, top.id);
    assert.equal(stats.body.stats[stat], 9);
    const board = await api("GET", `/admin/leaderboard/${stat}?limit=1&offset=1`);
    assert.equal(board.status, 200);
    assert.equal(board.body.stat, stat);
    assert.deepEqual(board.body.rows, [{ rank: 2, accountId: next.id, username: next.username, value: 4 }]);
    assert.equal((await api("GET", "/admin/accounts/999999999999/stats")).status, 404);
  });

  it("leaderboard: 400 LOBBY_INVALID_STAT naming the field", async () => {
    for (const [path, field] of [
      ["/admin/leaderboard/kills?limit=abc", "limit"],
      ["/admin/leaderboard/kills?limit=1000", "limit"],
      ["/admin/leaderboard/kills?offset=-1", "offset"],
      ["/admin/leaderboard/Not-A-Stat", "stat"],
    ] as const) {
      const reply = await api("GET", path);
      assert.equal(reply.status, 400, path);
      assert.equal(reply.body.code, LobbyErrorCode.InvalidStat, path);
      assert.equal(reply.body.field, field, path);
    }
  });
});

describe("admin http - bans", () => {
  it("an account ban made over HTTP is mirrored to Redis, revokes the sessions, and shows on the account", async () => {
    const { id } = await account("Banned");
    const tokens = await lobby.services.sessions.issue(id);
    const reply = await api("POST", "/admin/bans", {
      body: { kind: "account", accountId: id, reason: "cheating", issuer: "gm-alice" },
    });
    assert.equal(reply.status, 201);
    assert.equal(reply.body.kind, "account");
    assert.equal(reply.body.accountId, id);
    assert.equal(reply.body.issuer, "gm-alice");
    assert.equal(reply.body.expiresAt, null);
    assert.ok(!Number.isNaN(Date.parse(reply.body.createdAt)));
    assert.ok((await lobby.services.bans.snapshot()).accounts.includes(id));
    assert.equal(
      await codeOf(lobby.services.sessions.validateAccess(tokens.accessToken)),
      LobbyErrorCode.TokenRevoked,
    );
    const shown = await api("GET", `/admin/accounts/${id}`);
    assert.equal(shown.body.banned.id, reply.body.id);
    assert.equal(shown.body.banned.reason, "cheating");
    const got = await api("GET", `/admin/bans/${reply.body.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, reply.body);
  });

  it("DELETE /admin/bans/:id lifts the ban everywhere", async () => {
    const { id } = await account("Lifted");
    const made = await api("POST", "/admin/bans", {
      body: { kind: "account", accountId: id, reason: "oops" },
    });
    assert.equal(made.body.issuer, "admin");
    const lifted = await api("DELETE", `/admin/bans/${made.body.id}?issuer=gm-bob`);
    assert.equal(lifted.status, 200);
    assert.equal(lifted.body.liftedBy, "gm-bob");
    assert.ok(!Number.isNaN(Date.parse(lifted.body.liftedAt)));
    assert.ok(!(await lobby.services.bans.snapshot()).accounts.includes(id));
    assert.equal((await api("GET", `/admin/accounts/${id}`)).body.banned, null);
    const live = await api("GET", `/admin/bans?accountId=${id}`);
    assert.deepEqual(live.body.bans, []);
    const all = await api("GET", `/admin/bans?accountId=${id}&live=false`);
    assert.deepEqual(
      all.body.bans.map((b: { id: string }) => b.id),
      [made.body.id],
    );
  });

  it("an address ban with an ISO expiry is normalised and mirrored; lists filter and page", async () => {
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const made = await api("POST", "/admin/bans", {
      body: { kind: "ip", target: "::ffff:10.77.0.1", reason: "spam", expiresAt },
    });
    assert.equal(made.status, 201);
    assert.equal(made.body.target, "10.77.0.1/32");
    assert.equal(made.body.expiresAt, expiresAt);
    assert.ok((await lobby.services.bans.snapshot()).addresses.includes("10.77.0.1/32"));
    const second = await api("POST", "/admin/bans", {
      body: { kind: "cidr", target: "10.78.0.0/16", reason: "spam" },
    });
    assert.equal(second.status, 201);
    const byTarget = await api("GET", "/admin/bans?target=10.77.0.1");
    assert.deepEqual(
      byTarget.body.bans.map((b: { id: string }) => b.id),
      [made.body.id],
    );
    // Newest first, one per page.
    const page1 = await api("GET", "/admin/bans?kind=cidr&limit=1");
    assert.equal(page1.body.bans[0].id, second.body.id);
    const first = await api("GET", "/admin/bans?limit=1");
    assert.equal(first.body.bans.length, 1);
    assert.equal(typeof first.body.nextCursor, "string");
    const next = await api("GET", `/admin/bans?limit=1&cursor=${first.body.nextCursor}`);
    assert.equal(next.status, 200);
    assert.ok(BigInt(next.body.bans[0].id) < BigInt(first.body.bans[0].id));
  });

  it("POST /admin/bans: 400 LOBBY_INVALID_BAN naming the field", async () => {
    const { id } = await account();
    const past = new Date(Date.now() - 60_000).toISOString();
    for (const [body, field] of [
      [{ kind: "account", accountId: id }, "reason"],
      [{ kind: "account", accountId: id, reason: "" }, "reason"],
      [{ accountId: id, reason: "x" }, "kind"],
      [{ kind: "nope", reason: "x" }, "kind"],
      [{ kind: "ip", target: "not-an-ip", reason: "x" }, "target"],
      [{ kind: "ip", target: "10.0.0.0/8", reason: "x" }, "target"],
      [{ kind: "account", accountId: "999999999999", reason: "x" }, "accountId"],
      [{ kind: "account", accountId: id, reason: "x", expiresAt: "tomorrow" }, "expiresAt"],
      [{ kind: "account", accountId: id, reason: "x", expiresAt: past }, "expiresAt"],
      [{ kind: "account", accountId: id, reason: "x", issuer: 7 }, "issuer"],
    ] as const) {
      const reply = await api("POST", "/admin/bans", { body });
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(reply.body.code, LobbyErrorCode.InvalidBan, JSON.stringify(body));
      assert.equal(reply.body.field, field, JSON.stringify(body));
    }
    const unknownField = await api("POST", "/admin/bans", {
      body: { kind: "account", accountId: id, reason: "x", expires_at: "2030-01-01T00:00:00Z" },
    });
    assert.equal(unknownField.status, 400);
    assert.equal(unknownField.body.code, LobbyErrorCode.BadRequest);
    assert.equal(unknownField.body.field, "expires_at");
  });

  it("ban lookups: 404 LOBBY_BAN_NOT_FOUND; bad list filters are 400", async () => {
    for (const [method, path] of [
      ["GET", "/admin/bans/999999999999"],
      ["GET", "/admin/bans/abc"],
      ["DELETE", "/admin/bans/999999999999"],
      ["DELETE", "/admin/bans/abc"],
    ] as const) {
      const reply = await api(method, path);
      assert.equal(reply.status, 404, path);
      assert.equal(reply.body.code, LobbyErrorCode.BanNotFound, path);
    }
    for (const [query, field] of [
      ["live=maybe", "live"],
      ["kind=nope", "kind"],
      ["accountId=abc", "accountId"],
      ["target=nope", "target"],
      ["limit=0", "limit"],
      ["limit=x", "limit"],
      ["cursor=zz", "cursor"],
    ] as const) {
      const reply = await api("GET", `/admin/bans?${query}`);
      assert.equal(reply.status, 400, query);
      assert.equal(reply.body.code, LobbyErrorCode.InvalidBan, query);
      assert.equal(reply.body.field, field, query);
    }
  });
});

describe("admin http - servers", () => {
  const advertisement = { address: "10.0.0.5", port: 7777, capacity: 100, players: 3, version: "1.4.2" };

  it("a credential issued over HTTP advertises; revoking over HTTP takes the server off the list", async () => {
    const world = `w${names++}`;
    const issued = await api("POST", "/admin/servers", { body: { name: "Aurora 1", world } });
    assert.equal(issued.status, 201);
    assert.equal(typeof issued.body.serverId, "string");
    assert.equal(typeof issued.body.credential, "string");
    const entry = await lobby.services.registry.advertise(issued.body.credential, {
      ...advertisement,
      tags: ["pvp"],
    });
    assert.equal(entry.id, issued.body.serverId);
    const listed = await api("GET", `/admin/servers?world=${world}&tag=pvp&hasRoom=true&versionPrefix=1.4`);
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.servers.map((s: { id: string }) => s.id),
      [issued.body.serverId],
    );
    assert.equal(listed.body.servers[0].name, "Aurora 1");
    assert.ok(!Number.isNaN(Date.parse(listed.body.servers[0].lastHeartbeatAt)));
    assert.equal(listed.body.nextCursor, null);
    const revoked = await api("POST", `/admin/servers/${issued.body.serverId}/revoke`, {
      body: { reason: "compromised" },
    });
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.serverId, issued.body.serverId);
    assert.equal(revoked.body.reason, "compromised");
    assert.ok(!Number.isNaN(Date.parse(revoked.body.revokedAt)));
    assert.deepEqual((await api("GET", `/admin/servers?world=${world}`)).body.servers, []);
    assert.equal(
      await codeOf(lobby.services.registry.advertise(issued.body.credential, advertisement)),
      LobbyErrorCode.ServerRevoked,
    );
  });

  it("pages the list with the registry's cursor", async () => {
    const world = `w${names++}`;
    for (const name of ["P1", "P2"]) {
      const issued = await api("POST", "/admin/servers", { body: { name, world } });
      await lobby.services.registry.advertise(issued.body.credential, advertisement);
    }
    const first = await api("GET", `/admin/servers?world=${world}&limit=1`);
    assert.equal(first.body.servers.length, 1);
    assert.equal(typeof first.body.nextCursor, "string");
    const second = await api(
      "GET",
      `/admin/servers?world=${world}&limit=1&cursor=${encodeURIComponent(first.body.nextCursor)}`,
    );
    assert.equal(second.body.servers.length, 1);
    assert.notEqual(second.body.servers[0].id, first.body.servers[0].id);
  });

  it("servers: validation errors name the field; unknown ids are 404", async () => {
    for (const [body, field] of [
      [{ name: "", world: "aurora" }, "name"],
      [{ name: "Ok" }, "world"],
      [{ name: "Ok", world: "Not A World" }, "world"],
      [{ name: 5, world: "aurora" }, "name"],
    ] as const) {
      const reply = await api("POST", "/admin/servers", { body });
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(reply.body.code, LobbyErrorCode.InvalidServer, JSON.stringify(body));
      assert.equal(reply.body.field, field, JSON.stringify(body));
    }
    for (const [query, code, field] of [
      ["hasRoom=maybe", LobbyErrorCode.InvalidServer, "hasRoom"],
      ["limit=500", LobbyErrorCode.InvalidServer, "limit"],
      ["world=Bad%20World", LobbyErrorCode.InvalidServer, "world"],
      ["cursor=garbage!", LobbyErrorCode.InvalidCursor, undefined],
    ] as const) {
      const reply = await api("GET", `/admin/servers?${query}`);
      assert.equal(reply.status, 400, query);
      assert.equal(reply.body.code, code, query);
      assert.equal(reply.body.field, field, query);
    }
    const noReason = await api("POST", "/admin/servers/1/revoke", { body: {} });
    assert.equal(noReason.status, 400);
    assert.equal(noReason.body.field, "reason");
    for (const id of ["999999999999", "abc"]) {
      const reply = await api("POST", `/admin/servers/${id}/revoke`, { body: { reason: "x" } });
      assert.equal(reply.status, 404, id);
      assert.equal(reply.body.code, LobbyErrorCode.ServerUnknown, id);
    }
  });
});

describe("admin http - transport", () => {
  it("answers 404 for an unknown route and for paths outside /admin", async () => {
    for (const path of ["/admin/nothing", "/admin/bans/1/extra", "/elsewhere"]) {
      const reply = await api("GET", path);
      assert.equal(reply.status, 404, path);
      assert.equal(reply.body.code, LobbyErrorCode.BadRequest, path);
    }
  });

  it("answers 405 with Allow for a known path with the wrong method", async () => {
    const reply = await api("PUT", "/admin/bans");
    assert.equal(reply.status, 405);
    assert.equal(reply.headers.get("allow"), "GET, POST");
    const one = await api("PATCH", "/admin/bans/1");
    assert.equal(one.status, 405);
    assert.equal(one.headers.get("allow"), "DELETE, GET");
  });

  it("answers 400 LOBBY_BAD_REQUEST for malformed JSON and for a body that is not an object", async () => {
    for (const raw of ["{not json", "[1,2]", '"text"', "null"]) {
      const reply = await api("POST", "/admin/bans", { raw });
      assert.equal(reply.status, 400, raw);
      assert.equal(reply.body.code, LobbyErrorCode.BadRequest, raw);
    }
  });

  it("answers 413 for a declared body over the limit", async () => {
    const small = await startAdmin(lobby, { maxBodyBytes: 1_024 });
    const reply = await api("POST", "/admin/bans", {
      on: small.base,
      body: { kind: "ip", target: "10.0.0.1", reason: "x".repeat(2_000) },
    });
    assert.equal(reply.status, 413);
    assert.equal(reply.body.code, LobbyErrorCode.BadRequest);
    assert.equal(reply.body.max, 1_024);
  });

  it("answers 413 for a streamed body (no length) as soon as it passes the limit", async () => {
    const small = await startAdmin(lobby, { maxBodyBytes: 1_024 });
    const url = new URL("/admin/bans", small.base);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        url,
        {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          // The server stopped reading: end our side so the socket can go.
          req.destroy();
        },
      );
      req.on("error", (error) => {
        if (!req.destroyed) reject(error);
      });
      // Chunked: 2 KiB now, and the request is never ended; only the limit can answer it.
      req.write(`{"reason":"${"x".repeat(2_048)}`);
    });
    assert.equal(status, 413);
  });

  it("stop() closes keep-alive connections and resolves", async () => {
    const own = new AdminHttpServer(lobby, { host: "127.0.0.1", port: 0 });
    const { port } = await own.start();
    const reply = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(reply.status, 200);
    await reply.text();
    await own.stop();
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
  });

  it("logs each request at debug, and an audit line per change, without the credential", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });
    const logged = await startAdmin(lobby, { logger });
    await api("GET", "/admin/bans", { on: logged.base });
    await api("POST", "/admin/servers", { on: logged.base, body: { name: "Logged", world: "logged" } });
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = records.filter((r) => r.msg === "admin request");
    assert.deepEqual(
      requests.map((r) => [r.method, r.path, r.status]),
      [
        ["GET", "/admin/bans", 200],
        ["POST", "/admin/servers", 201],
      ],
    );
    assert.ok(records.some((r) => r.msg === "admin action" && r.action === "server-issue"));
    assert.ok(lines.every((line) => !line.includes(ADMIN) && !/authorization/i.test(line)));
  });

  it("refuses invalid options with LOBBY_INVALID_OPTIONS", () => {
    for (const options of [
      { host: "", port: 0 },
      { host: "127.0.0.1", port: 70_000 },
      { host: "127.0.0.1", port: 0, maxBodyBytes: 0 },
    ]) {
      assert.throws(
        () => new AdminHttpServer(lobby, options),
        (error: unknown) => (error as { code?: string }).code === LobbyErrorCode.InvalidOptions,
      );
    }
  });
});
