import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createSubjects, type Subjects } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { LobbyError, LobbyErrorCode } from "../src/errors.js";
import {
  DEFAULT_ACCESS_TTL_MS,
  DEFAULT_REFRESH_TTL_MS,
  hashToken,
  RevocationReason,
  type SessionRevokedNotice,
  SessionService,
  type SessionServiceOptions,
  type SessionTokens,
  TOKEN_BYTES,
} from "../src/sessions/index.js";
import { codeOf, insertAccount } from "./helpers/lobby-test-kit.js";

let ctx: TestContext;
let db: Kysely<Database>;
let redis: Redis;
let nc: NatsConnection;
/** A second connection, as a gateway would have: notices are received here. */
let gateway: NatsConnection;
let subjects: Subjects;
let sessions: SessionService;

/** The spec: gateways learn of a revocation within 1 s. */
const NOTICE_DEADLINE_MS = 1_000;

before(async () => {
  ctx = await createTestContext();
  db = createDatabase({ url: ctx.postgres.url, poolSize: 25 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
  redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  ctx.defer(() => redis.quit());
  nc = await connect({ servers: ctx.nats.url, name: "lobby-sessions-test" });
  ctx.defer(() => nc.close());
  gateway = await connect({ servers: ctx.nats.url, name: "lobby-sessions-test-gateway" });
  ctx.defer(() => gateway.close());
  subjects = createSubjects({ prefix: ctx.nats.prefix });
  sessions = service();
});
after(() => ctx.cleanup());

function service(options: SessionServiceOptions = {}): SessionService {
  return new SessionService(db, redis, nc, subjects, ctx.redis.prefix, options);
}

function newAccount(): Promise<string> {
  return insertAccount(db, "player");
}

/**
 * Subscribes (as a gateway) to the notice subject, runs `action`, and resolves with the first notice
 * for `accountId` and the time from the start of `action` to its arrival; rejects past the 1 s deadline.
 */
async function noticeAfter(
  accountId: string,
  action: () => Promise<unknown>,
): Promise<{ notice: SessionRevokedNotice; elapsedMs: number; outcome: PromiseSettledResult<unknown> }> {
  const sub = gateway.subscribe(subjects.event("session.revoked"));
  await gateway.flush(); // the server knows the subscription before the action runs
  let timer: NodeJS.Timeout | undefined;
  try {
    const started = performance.now();
    const received = (async () => {
      for await (const message of sub) {
        const notice = message.json<SessionRevokedNotice>();
        if (notice.accountId === accountId) return { notice, elapsedMs: performance.now() - started };
      }
      throw new Error("subscription closed");
    })();
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no notice within 1 s")), NOTICE_DEADLINE_MS);
    });
    const [outcome] = await Promise.allSettled([action()]);
    const got = await Promise.race([received, deadline]);
    return { ...got, outcome: outcome as PromiseSettledResult<unknown> };
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
}

function assertRejectedWith(outcome: PromiseSettledResult<unknown>, code: string): void {
  assert.equal(outcome.status, "rejected");
  assert.equal((outcome as PromiseRejectedResult).reason?.code, code);
}

async function chainRows(chainId: string) {
  return db.selectFrom("refresh_tokens").selectAll().where("chain_id", "=", chainId).execute();
}

describe("sessions", () => {
  it("sessions - issue then validate; tokens are 256 random bits, base64url", async () => {
    const accountId = await newAccount();
    const tokens = await sessions.issue(accountId);
    for (const token of [tokens.accessToken, tokens.refreshToken]) {
      assert.match(token, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(token, "base64url").length, TOKEN_BYTES);
      assert.ok(TOKEN_BYTES * 8 >= 256);
    }
    assert.notEqual(tokens.accessToken, tokens.refreshToken);
    assert.deepEqual(await sessions.validateAccess(tokens.accessToken), {
      accountId,
      chainId: tokens.sessionId,
    });
    const now = Date.now();
    assert.ok(Math.abs(tokens.accessExpiresAt.getTime() - (now + DEFAULT_ACCESS_TTL_MS)) < 5_000);
    assert.ok(Math.abs(tokens.refreshExpiresAt.getTime() - (now + DEFAULT_REFRESH_TTL_MS)) < 5_000);
    const again = await sessions.issue(accountId);
    assert.notEqual(again.sessionId, tokens.sessionId, "each login is a new chain");
    assert.notEqual(again.accessToken, tokens.accessToken);
    const rows = await chainRows(tokens.sessionId);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.parent_hash, null);
    assert.equal(rows[0]?.account_id, accountId);
  });

  it("sessions - no raw token is stored in Postgres or Redis, only SHA-256 hashes", async () => {
    const accountId = await newAccount();
    const first = await sessions.issue(accountId);
    const second = await sessions.refresh(first.refreshToken);
    const raw = [first.accessToken, first.refreshToken, second.accessToken, second.refreshToken];

    const dbDump = JSON.stringify(await db.selectFrom("refresh_tokens").selectAll().execute());
    const redisDump: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${ctx.redis.prefix}*`, "COUNT", 500);
      cursor = next;
      for (const key of keys) {
        redisDump.push(key);
        if ((await redis.type(key)) === "string") redisDump.push((await redis.get(key)) ?? "");
      }
    } while (cursor !== "0");
    assert.ok(redisDump.length > 0);
    for (const token of raw) {
      assert.ok(!dbDump.includes(token), "a raw token is in Postgres");
      assert.ok(!redisDump.some((entry) => entry.includes(token)), "a raw token is in Redis");
    }
    // What is stored is the hash.
    assert.ok(dbDump.includes(hashToken(first.refreshToken)));
    assert.ok(dbDump.includes(hashToken(second.refreshToken)));
    assert.ok(redisDump.includes(`${ctx.redis.prefix}access:${hashToken(second.accessToken)}`));
  });

  it("sessions - refresh rotates: a new valid pair in the same chain; the old refresh token is used up", async () => {
    const accountId = await newAccount();
    const first = await sessions.issue(accountId);
    const second = await sessions.refresh(first.refreshToken);
    assert.equal(second.sessionId, first.sessionId);
    assert.notEqual(second.refreshToken, first.refreshToken);
    assert.notEqual(second.accessToken, first.accessToken);
    assert.deepEqual(await sessions.validateAccess(second.accessToken), {
      accountId,
      chainId: first.sessionId,
    });
    const third = await sessions.refresh(second.refreshToken);
    assert.equal(third.sessionId, first.sessionId);
    const rows = await chainRows(first.sessionId);
    assert.equal(rows.length, 3);
    const byHash = new Map(rows.map((r) => [r.token_hash, r]));
    assert.equal(byHash.get(hashToken(second.refreshToken))?.parent_hash, hashToken(first.refreshToken));
    assert.equal(byHash.get(hashToken(third.refreshToken))?.parent_hash, hashToken(second.refreshToken));
    // The old refresh token no longer works (presenting it is reuse: see the next test).
    assert.equal(await codeOf(sessions.refresh(first.refreshToken)), LobbyErrorCode.TokenReused);
  });

  it("sessions - reuse of a rotated refresh token revokes the whole chain and notifies gateways within 1 s", async () => {
    const accountId = await newAccount();
    const stolen = await sessions.issue(accountId);
    const legit = await sessions.refresh(stolen.refreshToken); // the thief's copy is now used
    const other = await sessions.issue(accountId); // another login of the same account

    const { notice, elapsedMs, outcome } = await noticeAfter(accountId, () =>
      sessions.refresh(stolen.refreshToken),
    );
    assertRejectedWith(outcome, LobbyErrorCode.TokenReused);
    assert.deepEqual(notice, {
      accountId,
      chainIds: [stolen.sessionId],
      reason: RevocationReason.RefreshReuse,
    });
    assert.ok(elapsedMs < NOTICE_DEADLINE_MS, `notice after ${elapsedMs} ms`);

    // The chain's newest pair is dead at once.
    assert.equal(await codeOf(sessions.validateAccess(legit.accessToken)), LobbyErrorCode.TokenRevoked);
    assert.equal(await codeOf(sessions.validateAccess(stolen.accessToken)), LobbyErrorCode.TokenRevoked);
    assert.equal(await codeOf(sessions.refresh(legit.refreshToken)), LobbyErrorCode.TokenRevoked);
    assert.equal(
      await redis.get(`${ctx.redis.prefix}revoked:${stolen.sessionId}`),
      RevocationReason.RefreshReuse,
    );
    const ttl = await redis.pttl(`${ctx.redis.prefix}revoked:${stolen.sessionId}`);
    assert.ok(ttl > DEFAULT_ACCESS_TTL_MS, `the marker outlives the access tokens (pttl ${ttl})`);
    for (const row of await chainRows(stolen.sessionId)) assert.ok(row.revoked_at instanceof Date);
    // Another chain of the same account is untouched.
    assert.deepEqual(await sessions.validateAccess(other.accessToken), {
      accountId,
      chainId: other.sessionId,
    });
    await sessions.refresh(other.refreshToken);
  });

  it("sessions - 20 concurrent refreshes of one token: exactly one succeeds, 19 are reuse, and the chain is revoked", async () => {
    const accountId = await newAccount();
    const tokens = await sessions.issue(accountId);
    const { notice, outcome } = await noticeAfter(accountId, () =>
      Promise.allSettled(Array.from({ length: 20 }, () => sessions.refresh(tokens.refreshToken))),
    );
    assert.equal(outcome.status, "fulfilled");
    const results = (outcome as PromiseFulfilledResult<PromiseSettledResult<SessionTokens>[]>).value;
    const winners = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const codes = results.flatMap((r) => (r.status === "rejected" ? [r.reason?.code] : []));
    assert.equal(winners.length, 1, "exactly one refresh succeeds");
    assert.deepEqual(codes, Array(19).fill(LobbyErrorCode.TokenReused));
    // Documented behaviour: the losers are reuse, so the chain, the winner's new pair included, is revoked.
    assert.deepEqual(notice.chainIds, [tokens.sessionId]);
    const winner = winners[0] as SessionTokens;
    assert.equal(await codeOf(sessions.validateAccess(winner.accessToken)), LobbyErrorCode.TokenRevoked);
    assert.equal(await codeOf(sessions.refresh(winner.refreshToken)), LobbyErrorCode.TokenRevoked);
    const rows = await chainRows(tokens.sessionId);
    assert.equal(rows.length, 2, "the chain never forked");
    for (const row of rows) assert.ok(row.revoked_at instanceof Date);
  });

  it("sessions - revokeAccount revokes every chain of the account and publishes one notice", async () => {
    const accountId = await newAccount();
    const bystander = await newAccount();
    const logins = [
      await sessions.issue(accountId),
      await sessions.issue(accountId),
      await sessions.issue(accountId),
    ];
    const rotated = await sessions.refresh((logins[2] as SessionTokens).refreshToken);
    const untouched = await sessions.issue(bystander);

    const { notice, elapsedMs, outcome } = await noticeAfter(accountId, () =>
      sessions.revokeAccount(accountId, RevocationReason.Ban),
    );
    const chainIds = logins.map((t) => t.sessionId).sort();
    assert.equal(outcome.status, "fulfilled");
    assert.deepEqual((outcome as PromiseFulfilledResult<unknown>).value, { accountId, chainIds });
    assert.deepEqual(notice, { accountId, chainIds, reason: RevocationReason.Ban });
    assert.ok(elapsedMs < NOTICE_DEADLINE_MS, `notice after ${elapsedMs} ms`);

    for (const tokens of [...logins, rotated]) {
      assert.equal(await codeOf(sessions.validateAccess(tokens.accessToken)), LobbyErrorCode.TokenRevoked);
    }
    for (const tokens of [logins[0], logins[1], rotated] as SessionTokens[]) {
      assert.equal(await codeOf(sessions.refresh(tokens.refreshToken)), LobbyErrorCode.TokenRevoked);
    }
    const live = await db
      .selectFrom("refresh_tokens")
      .select("token_hash")
      .where("account_id", "=", accountId)
      .where("revoked_at", "is", null)
      .execute();
    assert.deepEqual(live, []);
    assert.deepEqual(await sessions.validateAccess(untouched.accessToken), {
      accountId: bystander,
      chainId: untouched.sessionId,
    });
    // Nothing live is left: a second call revokes and announces nothing.
    assert.deepEqual(await sessions.revokeAccount(accountId, RevocationReason.Ban), {
      accountId,
      chainIds: [],
    });
  });

  it("sessions - revokeChain (logout) ends one session, is idempotent, and ignores unknown chains", async () => {
    const accountId = await newAccount();
    const leaving = await sessions.issue(accountId);
    const staying = await sessions.issue(accountId);
    const { notice, outcome } = await noticeAfter(accountId, () =>
      sessions.revokeChain(leaving.sessionId, RevocationReason.Logout),
    );
    assert.equal(outcome.status, "fulfilled");
    assert.deepEqual(notice, { accountId, chainIds: [leaving.sessionId], reason: RevocationReason.Logout });
    assert.equal(await codeOf(sessions.validateAccess(leaving.accessToken)), LobbyErrorCode.TokenRevoked);
    assert.equal(await codeOf(sessions.refresh(leaving.refreshToken)), LobbyErrorCode.TokenRevoked);
    await sessions.validateAccess(staying.accessToken);

    assert.deepEqual(await sessions.revokeChain(leaving.sessionId, RevocationReason.Logout), {
      accountId,
      chainIds: [leaving.sessionId],
    });
    const none = { accountId: null, chainIds: [] };
    assert.deepEqual(
      await sessions.revokeChain("5b1c7a52-4a0e-4c49-9a57-0d6f3f1f2b11", RevocationReason.Logout),
      none,
    );
    assert.deepEqual(await sessions.revokeChain("not-a-uuid", RevocationReason.Logout), none);
    await assert.rejects(sessions.revokeChain(leaving.sessionId, "bored" as RevocationReason), {
      code: LobbyErrorCode.InvalidOptions,
    });
  });

  it("sessions - expired access and refresh tokens are invalid (injected clock)", async () => {
    let clock = Date.now();
    const timed = service({ now: () => clock });
    const accountId = await newAccount();
    const tokens = await timed.issue(accountId);

    clock += DEFAULT_ACCESS_TTL_MS - 1;
    await timed.validateAccess(tokens.accessToken);
    clock += 1;
    assert.equal(await codeOf(timed.validateAccess(tokens.accessToken)), LobbyErrorCode.TokenInvalid);
    // The refresh token still works after the access token expired (that is what it is for).
    const rotated = await timed.refresh(tokens.refreshToken);
    await timed.validateAccess(rotated.accessToken);

    clock += DEFAULT_REFRESH_TTL_MS; // the rotated refresh token expires exactly now
    assert.equal(await codeOf(timed.refresh(rotated.refreshToken)), LobbyErrorCode.TokenInvalid);
    assert.equal(await codeOf(timed.validateAccess(rotated.accessToken)), LobbyErrorCode.TokenInvalid);
    // Expiry is not reuse: the chain is not revoked.
    for (const row of await chainRows(tokens.sessionId)) assert.equal(row.revoked_at, null);
  });

  it("sessions - malformed tokens are invalid without touching Postgres or Redis", async () => {
    // A service whose Postgres and Redis are unreachable: any I/O would fail with a non-lobby error.
    const deadDb = createDatabase({ url: "postgres://postgres@127.0.0.1:1/none", poolSize: 1 });
    const deadRedis = new Redis({
      host: "127.0.0.1",
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    deadRedis.on("error", () => undefined); // the refused connect is the point; the command reports it
    try {
      const dead = new SessionService(deadDb, deadRedis, nc, subjects, ctx.redis.prefix);
      const wellFormed = Buffer.alloc(TOKEN_BYTES, 7).toString("base64url");
      const malformed: unknown[] = [
        "",
        "short",
        `${wellFormed}A`, // 44 characters
        `${wellFormed.slice(0, 42)}B`, // non-canonical: the last character's unused bits are set
        `${wellFormed.slice(0, 42)}=`,
        `${wellFormed.slice(0, 42)}+`, // base64, not base64url
        `${wellFormed.slice(0, 41)}é`,
        Buffer.alloc(TOKEN_BYTES - 1).toString("base64url"),
        "x".repeat(10_000),
        undefined,
        null,
        42,
        { token: wellFormed },
      ];
      for (const token of malformed) {
        for (const call of [
          () => dead.validateAccess(token as string),
          () => dead.refresh(token as string),
          () => sessions.validateAccess(token as string),
          () => sessions.refresh(token as string),
        ]) {
          assert.equal(await codeOf(call()), LobbyErrorCode.TokenInvalid, `token ${JSON.stringify(token)}`);
        }
      }
      // The dead service does fail on a well-formed token: the checks above really did no I/O.
      for (const call of [() => dead.validateAccess(wellFormed), () => dead.refresh(wellFormed)]) {
        await assert.rejects(call(), (error) => !(error instanceof LobbyError));
      }
      // A well-formed unknown token on the real service: invalid too.
      assert.equal(await codeOf(sessions.validateAccess(wellFormed)), LobbyErrorCode.TokenInvalid);
      assert.equal(await codeOf(sessions.refresh(wellFormed)), LobbyErrorCode.TokenInvalid);
      // A refresh token is not an access token and vice versa.
      const tokens = await sessions.issue(await newAccount());
      assert.equal(await codeOf(sessions.validateAccess(tokens.refreshToken)), LobbyErrorCode.TokenInvalid);
      assert.equal(await codeOf(sessions.refresh(tokens.accessToken)), LobbyErrorCode.TokenInvalid);
    } finally {
      deadRedis.disconnect();
      await deadDb.destroy();
    }
  });

  it("sessions - bad options are refused with their code", () => {
    for (const options of [
      { accessTtlMs: 0 },
      { accessTtlMs: 1.5e3 + 0.5 },
      { refreshTtlMs: 1_000, accessTtlMs: 2_000 },
      { revocationMarginMs: -1 },
    ]) {
      assert.throws(() => service(options), { code: LobbyErrorCode.InvalidOptions });
    }
  });
});
