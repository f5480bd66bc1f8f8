/**
 * The lobby over NATS, end to end: requests encoded with libs/protocol's codecs go through a real
 * NATS to a real Lobby (Postgres, Redis), and the replies are decoded the way a gateway would.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  createSubjects,
  encodeMessage,
  LOBBY_MAX_MESSAGE_BYTES,
  type LobbyErrorReply,
  type LobbyReplyOf,
  type LobbyVerb,
  LobbyVerbs,
  lobbyReplyCodec,
  lobbyRequestCodec,
  lobbySubject,
  makeLoginNonce,
  presenceKey,
  presenceWriteCommands,
  type Subjects,
} from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { PasswordHasher } from "../src/accounts/index.js";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { Lobby, type LobbyOptions } from "../src/lobby.js";
import { MemoryMailer } from "../src/mail/index.js";
import { SESSION_REVOKED_TOPIC, type SessionRevokedNotice } from "../src/sessions/index.js";
import { CHEAP_ARGON2 } from "./helpers/lobby-test-kit.js";

const ADMIN = "test-admin-token-0123456789abcdef";
/** The spec: gateways learn of a revocation within 1 s. */
const NOTICE_DEADLINE_MS = 1_000;

let ctx: TestContext;
let db: Kysely<Database>;
let redis: Redis;
let lobbyNc: NatsConnection;
/** The caller's connection, as a gateway or a zone server would have. */
let nc: NatsConnection;
let subjects: Subjects;
let mailer: MemoryMailer;
let lobby: Lobby;
let names = 0;

function baseOptions(): LobbyOptions {
  return {
    autoCreateAccounts: true,
    requireTls: false,
    adminToken: ADMIN,
    loginThrottle: {
      freeAttempts: 3,
      ipFreeAttempts: 1_000,
      baseDelayMs: 60_000,
      maxDelayMs: 60_000,
      windowMs: 60_000,
    },
    recovery: { maxGuesses: 3 },
    nonces: {},
  };
}

function makeLobby(prefix: Subjects, options: LobbyOptions, database: Kysely<Database> = db): Lobby {
  return new Lobby(
    {
      db: database,
      redis,
      nc: lobbyNc,
      subjects: prefix,
      redisPrefix: ctx.redis.prefix,
      hasher: new PasswordHasher(CHEAP_ARGON2, { allowWeakParameters: true }),
      mailer,
    },
    options,
  );
}

before(async () => {
  ctx = await createTestContext();
  db = createDatabase({ url: ctx.postgres.url, poolSize: 20 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
  redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  ctx.defer(() => redis.quit());
  lobbyNc = await connect({ servers: ctx.nats.url, name: "lobby-server-test-lobby" });
  ctx.defer(() => lobbyNc.close());
  nc = await connect({ servers: ctx.nats.url, name: "lobby-server-test-caller" });
  ctx.defer(() => nc.close());
  subjects = createSubjects({ prefix: ctx.nats.prefix });
  mailer = new MemoryMailer();
  lobby = makeLobby(subjects, baseOptions());
  await lobby.start();
  ctx.defer(() => lobby.stop());
});
after(() => ctx.cleanup());

type Reply<V extends LobbyVerb> = LobbyReplyOf<V> | LobbyErrorReply;
type Body<V extends LobbyVerb> = Omit<Parameters<ReturnType<typeof lobbyRequestCodec<V>>["encode"]>[0], "t">;

/** Sends raw bytes to a verb's subject and decodes the reply. */
async function callRaw<V extends LobbyVerb>(
  verb: V,
  bytes: Uint8Array,
  on: Subjects = subjects,
): Promise<Reply<V>> {
  const msg = await nc.request(lobbySubject(on, verb), bytes, { timeout: 10_000 });
  const decoded = lobbyReplyCodec(verb).decode(msg.data);
  assert.ok(decoded.ok, `reply of ${verb} did not decode: ${decoded.ok ? "" : decoded.error.message}`);
  return decoded.message as Reply<V>;
}

/** A typed request: the body is checked against the verb's schema at compile time. */
function call<V extends LobbyVerb>(verb: V, body: Body<V>, on: Subjects = subjects): Promise<Reply<V>> {
  const message = { t: LobbyVerbs[verb].request.type, ...body } as Parameters<
    ReturnType<typeof lobbyRequestCodec<V>>["encode"]
  >[0];
  return callRaw(verb, lobbyRequestCodec(verb).encode(message), on);
}

function ok<V extends LobbyVerb>(reply: Reply<V>): LobbyReplyOf<V> {
  if (reply.t === "lobby_error") {
    const error = reply as LobbyErrorReply;
    assert.fail(`expected success, got ${error.code}: ${error.message}`);
  }
  return reply as LobbyReplyOf<V>;
}

function failed<V extends LobbyVerb>(reply: Reply<V>, code: string): LobbyErrorReply {
  assert.equal(reply.t, "lobby_error", `expected ${code}, got a success: ${JSON.stringify(reply)}`);
  const error = reply as LobbyErrorReply;
  assert.equal(error.code, code, error.message);
  return error;
}

function newName(): string {
  names++;
  return `srv_player${names}`;
}

/** A login as a gateway sends it: a fresh connection nonce, echoed by the client. */
function loginBody(username: string, password: string, extra: Partial<Body<"login">> = {}): Body<"login"> {
  const nonce = makeLoginNonce();
  return {
    username,
    password,
    nonce,
    connectionNonce: nonce,
    ip: "198.51.100.7",
    tls: true,
    gateway: "gw-test",
    ...extra,
  };
}

async function login(username: string, password = "correct horse"): Promise<LobbyReplyOf<"login">> {
  return ok(await call("login", loginBody(username, password)));
}

/** Resolves with the first revocation notice for `accountId`, or rejects after the deadline. */
function nextNotice(accountId: string): Promise<SessionRevokedNotice> {
  const subscription = nc.subscribe(subjects.event(SESSION_REVOKED_TOPIC));
  return new Promise<SessionRevokedNotice>((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      reject(new Error(`no revocation notice for ${accountId} within ${NOTICE_DEADLINE_MS} ms`));
    }, NOTICE_DEADLINE_MS);
    void (async () => {
      for await (const msg of subscription) {
        const notice = msg.json<SessionRevokedNotice>();
        if (notice.accountId === accountId) {
          clearTimeout(timer);
          subscription.unsubscribe();
          resolve(notice);
          return;
        }
      }
    })();
  });
}

describe("lobby server - login", () => {
  it("lobby server - first login creates the account, the next logs in; tokens identify the player", async () => {
    const name = newName();
    const first = await login(name);
    assert.equal(first.created, true);
    assert.equal(first.username, name);
    const second = await login(name.toUpperCase());
    assert.equal(second.created, false);
    assert.equal(second.accountId, first.accountId);
    assert.notEqual(second.sessionId, first.sessionId);
    const who = ok(await call("validate", { accessToken: second.accessToken }));
    assert.deepEqual(who, { t: "identity", accountId: first.accountId, sessionId: second.sessionId });
  });

  it("lobby server - a wrong password is LOBBY_BAD_CREDENTIALS, and a fresh nonce is needed for each attempt", async () => {
    const name = newName();
    await login(name);
    failed(await call("login", loginBody(name, "wrong password")), "LOBBY_BAD_CREDENTIALS");
    ok(await call("login", loginBody(name, "correct horse")));
  });

  it("lobby server - failed logins are throttled with a retry time", async () => {
    const name = newName();
    await login(name);
    // Three free failures, then the fourth starts a lockout.
    for (let i = 0; i < 4; i++) {
      failed(await call("login", loginBody(name, "nope")), "LOBBY_BAD_CREDENTIALS");
    }
    const throttled = failed(await call("login", loginBody(name, "correct horse")), "LOBBY_THROTTLED");
    assert.ok((throttled.retryAfterMs ?? 0) > 0);
  });

  it("lobby server - a captured login replayed is refused: again on its connection, or on another", async () => {
    const name = newName();
    const captured = lobbyRequestCodec("login").encode({ t: "login", ...loginBody(name, "correct horse") });
    ok(await callRaw("login", captured));
    // The same bytes again (the same connection's nonce): spent.
    failed(await callRaw("login", captured), "LOBBY_LOGIN_REPLAYED");
    // Replayed on another connection: that connection has its own nonce, which the capture lacks.
    const stolen = lobbyRequestCodec("login").decode(captured);
    assert.ok(stolen.ok);
    const onOtherConnection = { ...stolen.message, connectionNonce: makeLoginNonce() };
    failed(await callRaw("login", encodeMessage(onOtherConnection)), "LOBBY_LOGIN_NONCE_INVALID");
    // Even a wrong-password attempt spends its nonce: it cannot be retried with the same one.
    const body = loginBody(name, "wrong");
    failed(await call("login", body), "LOBBY_BAD_CREDENTIALS");
    failed(await call("login", { ...body, password: "correct horse" }), "LOBBY_LOGIN_REPLAYED");
  });

  it("lobby server - stale, future and malformed nonces are refused before any password check", async () => {
    const name = newName();
    const old = makeLoginNonce(Date.now() - 120_000);
    failed(
      await call("login", loginBody(name, "x", { nonce: old, connectionNonce: old })),
      "LOBBY_LOGIN_NONCE_INVALID",
    );
    const future = makeLoginNonce(Date.now() + 120_000);
    failed(
      await call("login", loginBody(name, "x", { nonce: future, connectionNonce: future })),
      "LOBBY_LOGIN_NONCE_INVALID",
    );
    failed(
      await call("login", loginBody(name, "x", { nonce: "abc", connectionNonce: "abc" })),
      "LOBBY_LOGIN_NONCE_INVALID",
    );
    // None of them created the account.
    const row = await db
      .selectFrom("accounts")
      .select("id")
      .where("username_key", "=", name)
      .executeTakeFirst();
    assert.equal(row, undefined);
  });

  it("lobby server - with LOBBY_REQUIRE_TLS a login from a plain connection is refused", async () => {
    const tlsSubjects = createSubjects({ prefix: `${ctx.nats.prefix}.tls` });
    const strict = makeLobby(tlsSubjects, { ...baseOptions(), requireTls: true });
    await strict.start();
    try {
      const name = newName();
      failed(
        await call("login", loginBody(name, "pw", { tls: false }), tlsSubjects),
        "LOBBY_INSECURE_TRANSPORT",
      );
      const session = ok(await call("login", loginBody(name, "pw", { tls: true }), tlsSubjects));
      // Every verb that carries a secret the player holds is refused over a plain connection too.
      const plain = { tls: false } as const;
      failed(
        await call("refresh", { ...plain, refreshToken: session.refreshToken }, tlsSubjects),
        "LOBBY_INSECURE_TRANSPORT",
      );
      failed(
        await call("recover", { ...plain, username: name, answer: "a", newPassword: "b" }, tlsSubjects),
        "LOBBY_INSECURE_TRANSPORT",
      );
      failed(
        await call("reset", { ...plain, token: "x".repeat(43), newPassword: "b" }, tlsSubjects),
        "LOBBY_INSECURE_TRANSPORT",
      );
      failed(
        await call(
          "change_password",
          { ...plain, sessionId: session.sessionId, oldPassword: "pw", newPassword: "b" },
          tlsSubjects,
        ),
        "LOBBY_INSECURE_TRANSPORT",
      );
      failed(
        await call(
          "set_recovery",
          { ...plain, accessToken: session.accessToken, question: "q", answer: "a" },
          tlsSubjects,
        ),
        "LOBBY_INSECURE_TRANSPORT",
      );
      // The refresh token was not spent by the refused attempt.
      ok(await call("refresh", { tls: true, refreshToken: session.refreshToken }, tlsSubjects));
    } finally {
      await strict.stop();
    }
  });

  it("lobby server - a banned account is refused with the ban's reason, only after its password is checked", async () => {
    const name = newName();
    const { accountId } = await login(name);
    const banned = ok(
      await call("ban", { adminToken: ADMIN, kind: "account", accountId, reason: "botting", issuer: "test" }),
    );
    failed(await call("login", loginBody(name, "wrong")), "LOBBY_BAD_CREDENTIALS");
    const refusal = failed(await call("login", loginBody(name, "correct horse")), "LOBBY_ACCOUNT_BANNED");
    assert.equal(refusal.reason, "botting");
    assert.equal(refusal.expiresAt, undefined);
    ok(await call("unban", { adminToken: ADMIN, banId: banned.ban.id, issuer: "test" }));
    ok(await call("login", loginBody(name, "correct horse")));
  });

  it("lobby server - logins are counted in the player's stats", async () => {
    const name = newName();
    const { accountId } = await login(name);
    await login(name);
    // Login bookkeeping is written behind (batched once a second); flush it to read it now.
    await lobby.services.loginRecorder.flush();
    const stats = ok(await call("stats_get", { accountId }));
    assert.equal(stats.stats.logins, 2);
    const row = await db
      .selectFrom("accounts")
      .select("last_login_at")
      .where("id", "=", accountId)
      .executeTakeFirst();
    assert.ok(row?.last_login_at instanceof Date);
  });
});

describe("lobby server - sessions", () => {
  it("lobby server - refresh rotates; the old refresh token reused revokes the whole session", async () => {
    const session = await login(newName());
    const next = ok(await call("refresh", { tls: true, refreshToken: session.refreshToken }));
    assert.equal(next.sessionId, session.sessionId);
    assert.notEqual(next.refreshToken, session.refreshToken);
    failed(await call("refresh", { tls: true, refreshToken: session.refreshToken }), "LOBBY_TOKEN_REUSED");
    failed(await call("refresh", { tls: true, refreshToken: next.refreshToken }), "LOBBY_TOKEN_REVOKED");
    failed(await call("validate", { accessToken: next.accessToken }), "LOBBY_TOKEN_REVOKED");
  });

  it("lobby server - refresh tells the player's name; a gateway acts by session id once the access token is stale", async () => {
    const name = newName();
    const session = await login(name);
    const next = ok(await call("refresh", { tls: true, refreshToken: session.refreshToken }));
    assert.equal(next.username, name);
    assert.equal(next.accountId, session.accountId);
    failed(await call("logout", {}), "LOBBY_BAD_REQUEST");
    failed(
      await call("logout", { accessToken: next.accessToken, sessionId: next.sessionId }),
      "LOBBY_BAD_REQUEST",
    );
    failed(
      await call("logout", { sessionId: "00000000-0000-4000-8000-000000000000" }),
      "LOBBY_TOKEN_INVALID",
    );
    ok(await call("logout", { sessionId: next.sessionId }));
    failed(await call("logout", { sessionId: next.sessionId }), "LOBBY_TOKEN_REVOKED");
    failed(await call("validate", { accessToken: next.accessToken }), "LOBBY_TOKEN_REVOKED");
  });

  it("lobby server - logout revokes the session and tells every gateway within 1 s", async () => {
    const session = await login(newName());
    const notice = nextNotice(session.accountId);
    ok(await call("logout", { accessToken: session.accessToken }));
    const received = await notice;
    assert.deepEqual(received.chainIds, [session.sessionId]);
    assert.equal(received.reason, "logout");
    failed(await call("validate", { accessToken: session.accessToken }), "LOBBY_TOKEN_REVOKED");
  });

  it("lobby server - an account ban revokes the player's sessions within 1 s", async () => {
    const session = await login(newName());
    const notice = nextNotice(session.accountId);
    ok(
      await call("ban", {
        adminToken: ADMIN,
        kind: "account",
        accountId: session.accountId,
        reason: "cheating",
        issuer: "test",
        expiresAt: Date.now() + 3_600_000,
      }),
    );
    assert.equal((await notice).reason, "ban");
  });

  it("lobby server - change_password ends every session of the account", async () => {
    const name = newName();
    const a = await login(name);
    const b = await login(name);
    failed(
      await call("change_password", {
        tls: true,
        accessToken: a.accessToken,
        oldPassword: "nope",
        newPassword: "new pw",
      }),
      "LOBBY_BAD_CREDENTIALS",
    );
    ok(
      await call("change_password", {
        tls: true,
        accessToken: a.accessToken,
        oldPassword: "correct horse",
        newPassword: "new pw",
      }),
    );
    failed(await call("validate", { accessToken: b.accessToken }), "LOBBY_TOKEN_REVOKED");
    failed(await call("login", loginBody(name, "correct horse")), "LOBBY_BAD_CREDENTIALS");
    ok(await call("login", loginBody(name, "new pw")));
  });
});

describe("lobby server - recovery", () => {
  it("lobby server - by secret question: wrong answers count down, the right one gives a new session", async () => {
    const name = newName();
    const session = await login(name);
    ok(
      await call("set_recovery", {
        tls: true,
        accessToken: session.accessToken,
        question: "First pet?",
        answer: "Rex the Dog",
      }),
    );
    assert.deepEqual(ok(await call("recovery_question", { username: name })), {
      t: "recovery_question_is",
      question: "First pet?",
    });
    const wrong = failed(
      await call("recover", { tls: true, username: name, answer: "cat", newPassword: "recovered" }),
      "LOBBY_WRONG_ANSWER",
    );
    assert.equal(wrong.attemptsLeft, 2);
    const recovered = ok(
      await call("recover", {
        tls: true,
        username: name,
        answer: "  rex THE dog ",
        newPassword: "recovered",
      }),
    );
    assert.equal(recovered.accountId, session.accountId);
    assert.equal(recovered.username, name);
    failed(await call("validate", { accessToken: session.accessToken }), "LOBBY_TOKEN_REVOKED");
    ok(await call("validate", { accessToken: recovered.accessToken }));
    ok(await call("login", loginBody(name, "recovered")));
  });

  it("lobby server - set_recovery with a bad email changes nothing", async () => {
    const name = newName();
    const session = await login(name);
    ok(
      await call("set_recovery", {
        tls: true,
        accessToken: session.accessToken,
        question: "Old?",
        answer: "a",
      }),
    );
    const bad = failed(
      await call("set_recovery", {
        tls: true,
        accessToken: session.accessToken,
        question: "New?",
        answer: "b",
        email: "not an email",
      }),
      "LOBBY_INVALID_RECOVERY",
    );
    assert.equal(bad.field, "email");
    assert.equal(ok(await call("recovery_question", { username: name })).question, "Old?");
  });

  it("lobby server - the question locks after the allowed wrong answers", async () => {
    const name = newName();
    const session = await login(name);
    ok(
      await call("set_recovery", {
        tls: true,
        accessToken: session.accessToken,
        question: "Q?",
        answer: "a",
      }),
    );
    for (let left = 2; left >= 0; left--) {
      const wrong = failed(
        await call("recover", { tls: true, username: name, answer: "b", newPassword: "x" }),
        "LOBBY_WRONG_ANSWER",
      );
      assert.equal(wrong.attemptsLeft, left);
    }
    const locked = failed(
      await call("recover", { tls: true, username: name, answer: "a", newPassword: "x" }),
      "LOBBY_RECOVERY_LOCKED",
    );
    assert.ok((locked.retryAfterMs ?? 0) > 0);
  });

  it("lobby server - by mailed reset token, single use; an unknown name gets the same answer and no mail", async () => {
    const name = newName();
    const email = `${name}@example.test`;
    const session = await login(name);
    ok(
      await call("set_recovery", {
        tls: true,
        accessToken: session.accessToken,
        question: "Q?",
        answer: "a",
        email,
      }),
    );
    ok(await call("reset_request", { username: name }));
    ok(await call("reset_request", { username: `${name}_nobody` }));
    await lobby.services.recoveryService.drain();
    const mails = mailer.sentTo(email);
    assert.equal(mails.length, 1);
    const token = /[A-Za-z0-9_-]{43}/.exec(mails[0]?.text ?? "")?.[0];
    assert.ok(token, "the mail carries the token");
    ok(await call("reset", { tls: true, token, newPassword: "from the mail" }));
    failed(await call("reset", { tls: true, token, newPassword: "again" }), "LOBBY_RESET_TOKEN_INVALID");
    failed(await call("validate", { accessToken: session.accessToken }), "LOBBY_TOKEN_REVOKED");
    ok(await call("login", loginBody(name, "from the mail")));
  });
});

describe("lobby server - recovery limits", () => {
  it("lobby server - reset mails are capped per name, for unknown names alike (no oracle, no inbox flood)", async () => {
    for (const name of [newName(), `${newName()}_nobody`]) {
      for (let i = 0; i < 3; i++) ok(await call("reset_request", { username: name }));
      const limited = failed(
        await call("reset_request", { username: name.toUpperCase() }),
        "LOBBY_THROTTLED",
      );
      assert.ok((limited.retryAfterMs ?? 0) > 0);
    }
  });

  it("lobby server - recovery by question lifts the failed-login lock of the account", async () => {
    const name = newName();
    const session = await login(name);
    ok(
      await call("set_recovery", {
        tls: true,
        accessToken: session.accessToken,
        question: "Q?",
        answer: "a",
      }),
    );
    for (let i = 0; i < 4; i++)
      failed(await call("login", loginBody(name, "guess")), "LOBBY_BAD_CREDENTIALS");
    failed(await call("login", loginBody(name, "correct horse")), "LOBBY_THROTTLED");
    ok(await call("recover", { tls: true, username: name, answer: "a", newPassword: "fresh start" }));
    ok(await call("login", loginBody(name, "fresh start")));
  });
});

describe("lobby server - locator, stats, servers", () => {
  it("lobby server - locate: offline, then online from Redis presence, by id and by name", async () => {
    const name = newName();
    const { accountId } = await login(name);
    assert.deepEqual(ok(await call("locate", { accountId })), {
      t: "location",
      accountId,
      username: name,
      online: false,
    });
    const since = Date.now();
    const record = {
      accountId,
      username: name,
      world: "main",
      zone: "z-1-1",
      server: "zone-a",
      gateway: "gw-1",
      since,
      updatedAt: since,
    };
    const pipeline = redis.multi();
    for (const [command, ...args] of presenceWriteCommands(ctx.redis.prefix, record, 30_000)) {
      pipeline.call(command, ...args);
    }
    await pipeline.exec();
    assert.ok((await redis.exists(presenceKey(ctx.redis.prefix, accountId))) === 1);
    const online = ok(await call("locate", { username: name.toUpperCase() }));
    assert.equal(online.online, true);
    assert.equal(online.world, "main");
    assert.equal(online.zone, "z-1-1");
    assert.equal(online.server, "zone-a");
    assert.equal(online.gateway, "gw-1");
    assert.equal(online.since, since);
    failed(await call("locate", { accountId: "999999999" }), "LOBBY_PLAYER_UNKNOWN");
    failed(await call("locate", {}), "LOBBY_BAD_REQUEST");
  });

  it("lobby server - stats reported by a credentialed server, read back, and ranked", async () => {
    const server = await lobby.services.registry.issueCredential({ name: "Stats Zone", world: "main" });
    const a = (await login(newName())).accountId;
    const b = (await login(newName())).accountId;
    const stat = `kills_${names}`;
    failed(
      await call("stats_report", {
        credential: "x".repeat(43),
        entries: [{ accountId: a, increments: { [stat]: 1 } }],
      }),
      "LOBBY_SERVER_UNKNOWN",
    );
    const applied = ok(
      await call("stats_report", {
        credential: server.credential,
        entries: [
          { accountId: a, increments: { [stat]: 5, playtime_s: 60 } },
          { accountId: b, increments: { [stat]: 9 } },
        ],
      }),
    );
    assert.equal(applied.entries, 2);
    assert.equal(ok(await call("stats_get", { accountId: a })).stats[stat], 5);
    const board = ok(await call("leaderboard", { stat, limit: 10 }));
    assert.deepEqual(
      board.rows.map((r) => [r.rank, r.accountId, r.value]),
      [
        [1, b, 9],
        [2, a, 5],
      ],
    );
    failed(await call("leaderboard", { stat: "Bad Name" } as Body<"leaderboard">), "LOBBY_BAD_REQUEST");
  });

  it("lobby server - server browser: advertise, heartbeat, list, revoke (admin only)", async () => {
    const { serverId, credential } = await lobby.services.registry.issueCredential({
      name: "Zone A",
      world: "nats",
    });
    const entry = ok(
      await call("server_advertise", {
        credential,
        address: "203.0.113.5",
        port: 7000,
        capacity: 100,
        players: 3,
        version: "1.0.0",
        tags: ["eu"],
      }),
    );
    assert.equal(entry.server.id, serverId);
    assert.equal(ok(await call("server_heartbeat", { credential, players: 7 })).server.players, 7);
    const page = ok(await call("server_list", { world: "nats" }));
    assert.deepEqual(
      page.servers.map((s) => s.id),
      [serverId],
    );
    assert.deepEqual(ok(await call("server_verify", { credential })), {
      t: "server_verified",
      serverId,
      name: "Zone A",
      world: "nats",
    });
    failed(await call("server_verify", { credential: "x".repeat(43) }), "LOBBY_SERVER_UNKNOWN");
    failed(
      await call("server_revoke", { adminToken: "wrong", serverId, reason: "hacked" }),
      "LOBBY_UNAUTHORIZED",
    );
    ok(await call("server_revoke", { adminToken: ADMIN, serverId, reason: "hacked" }));
    assert.deepEqual(ok(await call("server_list", { world: "nats" })).servers, []);
    failed(await call("server_heartbeat", { credential, players: 1 }), "LOBBY_SERVER_REVOKED");
    failed(await call("server_verify", { credential }), "LOBBY_SERVER_REVOKED");
  });

  it("lobby server - ban snapshot lists live address bans for gateways", async () => {
    ok(
      await call("ban", {
        adminToken: ADMIN,
        kind: "cidr",
        target: "192.0.2.0/24",
        reason: "abuse",
        issuer: "t",
      }),
    );
    ok(
      await call("ban", {
        adminToken: ADMIN,
        kind: "ip",
        target: "192.0.2.200",
        reason: "abuse",
        issuer: "t",
      }),
    );
    const snapshot = ok(await call("ban_snapshot", {}));
    assert.ok(snapshot.addresses.includes("192.0.2.0/24"));
    assert.equal(snapshot.more, false);
    // Paged: one entry per list per page, until `more` is false; the pages add up to the whole.
    const paged: string[] = [];
    for (let offset = 0; ; offset++) {
      const page = ok(await call("ban_snapshot", { offset, limit: 1 }));
      assert.equal(page.version, snapshot.version);
      paged.push(...page.addresses);
      if (!page.more) break;
    }
    assert.deepEqual(paged, snapshot.addresses);
    failed(
      await call("ban", { adminToken: ADMIN, kind: "cidr", target: "not-a-range", reason: "r", issuer: "t" }),
      "LOBBY_INVALID_BAN",
    );
    failed(
      await call("ban", {
        adminToken: `${ADMIN}x`,
        kind: "ip",
        target: "192.0.2.9",
        reason: "r",
        issuer: "t",
      }),
      "LOBBY_UNAUTHORIZED",
    );
  });
});

describe("lobby server - bad input", () => {
  it("lobby server - garbage, a wrong type, a missing field and an oversize request each get LOBBY_BAD_REQUEST", async () => {
    const garbage = failed(await callRaw("login", new Uint8Array([0x92, 0xc1, 0xff])), "LOBBY_BAD_REQUEST");
    assert.ok(garbage.protocolCode?.startsWith("PROTO_"));
    failed(await callRaw("login", encodeMessage({ t: "logout", accessToken: "x" })), "LOBBY_BAD_REQUEST");
    const missing = failed(
      await callRaw("login", encodeMessage({ t: "login", username: "someone", password: "pw" })),
      "LOBBY_BAD_REQUEST",
    );
    assert.equal(missing.field, "nonce");
    failed(await callRaw("stats_get", new Uint8Array(LOBBY_MAX_MESSAGE_BYTES + 1)), "LOBBY_BAD_REQUEST");
    const badIp = failed(
      await call("login", loginBody(newName(), "pw", { ip: "not an ip" })),
      "LOBBY_BAD_REQUEST",
    );
    assert.equal(badIp.field, "ip");
    failed(await call("validate", { accessToken: "not-a-token" }), "LOBBY_TOKEN_INVALID");
    failed(
      await call("reset", { tls: true, token: "short", newPassword: "pw" }),
      "LOBBY_RESET_TOKEN_INVALID",
    );
    failed(await call("login", loginBody("a", "pw")), "LOBBY_INVALID_USERNAME");
    // The lobby still serves after all that.
    ok(await call("login", loginBody(newName(), "pw")));
  });

  it("lobby server - a dead database is LOBBY_UNAVAILABLE, never a crash or a silent drop", async () => {
    const url = new URL(ctx.postgres.url);
    url.port = "1"; // nothing listens there
    const deadDb = createDatabase({ url: url.href, poolSize: 2 });
    const deadSubjects = createSubjects({ prefix: `${ctx.nats.prefix}.dead` });
    const broken = makeLobby(deadSubjects, baseOptions(), deadDb);
    // Only the NATS server: start() would rebuild the ban mirror from the dead database.
    await broken.server.start();
    try {
      const reply = failed(await call("stats_get", { accountId: "1" }, deadSubjects), "LOBBY_UNAVAILABLE");
      assert.doesNotMatch(reply.message, /ECONNREFUSED|127\.0\.0\.1/);
      assert.equal(broken.server.counters().stats_get?.errors.LOBBY_UNAVAILABLE, 1);
    } finally {
      await broken.server.stop();
      await deadDb.destroy();
    }
  });

  it("lobby server - stop answers the requests in flight before it resolves", async () => {
    const stopSubjects = createSubjects({ prefix: `${ctx.nats.prefix}.stop` });
    const stopping = makeLobby(stopSubjects, baseOptions());
    await stopping.start();
    const pending = Array.from({ length: 10 }, () => call("login", loginBody(newName(), "pw"), stopSubjects));
    // Let the requests reach the lobby, then stop it while their hashes run.
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await stopping.stop();
    const replies = await Promise.all(pending);
    for (const reply of replies) ok(reply);
  });
});
