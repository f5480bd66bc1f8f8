import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { createSubjects, type Subjects } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { type Kysely, sql } from "kysely";
import { pino } from "pino";
import { AccountStore, MAX_PASSWORD_BYTES } from "../src/accounts/index.js";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { LobbyErrorCode } from "../src/errors.js";
import { LogMailer, type Mailer, type MailMessage, MemoryMailer } from "../src/mail/index.js";
import {
  DEFAULT_RESET_TOKEN_TTL_MS,
  MIN_LOCK_MS,
  normaliseAnswer,
  RecoveryService,
  type RecoveryServiceOptions,
} from "../src/recovery/index.js";
import {
  hashToken,
  isWellFormedToken,
  RevocationReason,
  type SessionRevokedNotice,
  SessionService,
  type SessionTokens,
  TOKEN_BYTES,
} from "../src/sessions/index.js";
import { CHEAP_ARGON2, CountingHasher, codeOf, insertAccount } from "./helpers/lobby-test-kit.js";

let ctx: TestContext;
let db: Kysely<Database>;
let redis: Redis;
let nc: NatsConnection;
/** A second connection, as a gateway would have: revocation notices are received here. */
let gateway: NatsConnection;
let subjects: Subjects;
let sessions: SessionService;
let accounts: AccountStore;
let mailer: MemoryMailer;
let recovery: RecoveryService;
const hasher = new CountingHasher(CHEAP_ARGON2, { allowWeakParameters: true });

/** The spec: gateways learn of a revocation within 1 s. */
const NOTICE_DEADLINE_MS = 1_000;
const PASSWORD = "old password";
const QUESTION = "Name of your first pet?";
const ANSWER = "Mr. Whiskers";
const TOKEN_IN_MAIL = /^[A-Za-z0-9_-]{43}$/m;

before(async () => {
  ctx = await createTestContext();
  db = createDatabase({ url: ctx.postgres.url, poolSize: 25 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
  redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  ctx.defer(() => redis.quit());
  nc = await connect({ servers: ctx.nats.url, name: "lobby-recovery-test" });
  ctx.defer(() => nc.close());
  gateway = await connect({ servers: ctx.nats.url, name: "lobby-recovery-test-gateway" });
  ctx.defer(() => gateway.close());
  subjects = createSubjects({ prefix: ctx.nats.prefix });
  sessions = new SessionService(db, redis, nc, subjects, ctx.redis.prefix);
  accounts = new AccountStore(db, hasher);
  mailer = new MemoryMailer();
  recovery = service();
  ctx.defer(() => recovery.drain());
});
after(() => ctx.cleanup());

function service(options: RecoveryServiceOptions = {}, mail: Mailer = mailer): RecoveryService {
  return new RecoveryService(db, hasher, accounts, sessions, mail, options);
}

let players = 0;

/** A player with a password (and an email and a question when given); returns its id and name. */
async function newPlayer(
  setup: { email?: string; question?: boolean } = {},
): Promise<{ accountId: string; username: string }> {
  players++;
  const username = `Rec${players}`;
  const { account } = await accounts.loginOrCreate(username, PASSWORD, { autoCreate: true });
  if (setup.email !== undefined) await accounts.setEmail(account.id, setup.email);
  if (setup.question !== false) await recovery.setSecretQuestion(account.id, QUESTION, ANSWER);
  return { accountId: account.id, username };
}

async function loginWorks(username: string, password: string): Promise<boolean> {
  const code = await codeOf(accounts.loginOrCreate(username, password, { autoCreate: false }));
  if (code === "resolved") return true;
  assert.equal(code, LobbyErrorCode.BadCredentials);
  return false;
}

async function questionRow(accountId: string) {
  return db
    .selectFrom("secret_questions")
    .select([
      "failed_attempts",
      "locked_until",
      sql<number>`extract(epoch from (locked_until - now())) * 1000`.as("lockLeftMs"),
    ])
    .where("account_id", "=", accountId)
    .executeTakeFirstOrThrow();
}

/** Requests a reset for `username`, waits for the mail and returns the token it carries. */
async function mailedToken(username: string, email: string): Promise<string> {
  const before = mailer.sentTo(email).length;
  await recovery.requestReset(username);
  await recovery.drain();
  const mails = mailer.sentTo(email);
  assert.equal(mails.length, before + 1, "one mail per request");
  const token = TOKEN_IN_MAIL.exec((mails.at(-1) as MailMessage).text)?.[0];
  assert.ok(token !== undefined && isWellFormedToken(token), "the mail carries a well-formed token");
  return token;
}

/**
 * Subscribes (as a gateway) to the revocation notices, runs `action`, and resolves with the first
 * notice for `accountId` and the action's outcome; rejects past the 1 s deadline.
 */
async function noticeAfter<T>(
  accountId: string,
  action: () => Promise<T>,
): Promise<{ notice: SessionRevokedNotice; value: T }> {
  const sub = gateway.subscribe(sessions.noticeSubject);
  await gateway.flush();
  let timer: NodeJS.Timeout | undefined;
  try {
    const received = (async () => {
      for await (const message of sub) {
        const notice = message.json<SessionRevokedNotice>();
        if (notice.accountId === accountId) return notice;
      }
      throw new Error("subscription closed");
    })();
    const value = await action();
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no notice within 1 s")), NOTICE_DEADLINE_MS);
    });
    return { notice: await Promise.race([received, deadline]), value };
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
}

/** Asserts every session in `logins` is dead for gateways and for refresh. */
async function assertRevoked(logins: readonly SessionTokens[]): Promise<void> {
  for (const tokens of logins) {
    assert.equal(await codeOf(sessions.validateAccess(tokens.accessToken)), LobbyErrorCode.TokenRevoked);
    assert.equal(await codeOf(sessions.refresh(tokens.refreshToken)), LobbyErrorCode.TokenRevoked);
  }
}

async function errorOf(
  promise: Promise<unknown>,
): Promise<{ code: string; context: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    const { code, context } = error as { code: string; context: Record<string, unknown> };
    return { code, context };
  }
  assert.fail("expected a rejection");
}

describe("recovery", () => {
  it("recovery - options are validated at construction", () => {
    for (const options of [
      { maxGuesses: 2 },
      { maxGuesses: 6 },
      { maxGuesses: 3.5 },
      { lockMs: MIN_LOCK_MS - 1 },
      { lockMs: 0, allowShortLock: true },
      { lockMs: Number.NaN },
      { resetTokenTtlMs: 59_999 },
      { resetTokenTtlMs: 20 * 60_000 + 1 },
      { maxLiveResetTokens: 0 },
      { maxLiveResetTokens: 6 },
    ]) {
      assert.throws(() => service(options), { code: LobbyErrorCode.InvalidOptions }, JSON.stringify(options));
    }
    assert.deepEqual(service().options, {
      maxGuesses: 5,
      lockMs: 15 * 60_000,
      resetTokenTtlMs: 15 * 60_000,
      maxLiveResetTokens: 3,
    });
    assert.equal(service({ maxGuesses: 3, lockMs: 50, allowShortLock: true }).options.lockMs, 50);
    assert.equal(service({ resetTokenTtlMs: 20 * 60_000 }).options.resetTokenTtlMs, 20 * 60_000);
  });

  it("recovery - answers are normalised: case, spacing and Unicode variants are one answer", () => {
    const same = [
      "Mr. Whiskers",
      "  mr.   WHISKERS \n",
      "mr.\u00a0whiskers",
      "ｍｒ．　ｗｈｉｓｋｅｒｓ",
      "\tMR.\u2003Whiskers",
    ];
    for (const variant of same)
      assert.equal(normaliseAnswer(variant), "mr. whiskers", JSON.stringify(variant));
    assert.equal(normaliseAnswer("Straße"), normaliseAnswer("STRASSE"));
    assert.equal(normaliseAnswer("ΟΔΥΣΣΕΥΣ"), normaliseAnswer("οδυσσευς"));
    assert.equal(normaliseAnswer("ﬁsh"), "fish");
    assert.notEqual(normaliseAnswer("mr whiskers"), normaliseAnswer("mr. whiskers"));
  });

  it("recovery - set a question, then recover by any variant of its answer", async () => {
    const { accountId, username } = await newPlayer();
    assert.equal(await recovery.questionFor(username.toUpperCase()), QUESTION);
    const row = await db
      .selectFrom("secret_questions")
      .selectAll()
      .where("account_id", "=", accountId)
      .executeTakeFirstOrThrow();
    assert.match(row.answer_hash, /^\$argon2id\$/);
    assert.ok(!row.answer_hash.toLowerCase().includes("whiskers"));

    let password = PASSWORD;
    for (const [i, variant] of [
      "Mr. Whiskers",
      "  MR.  whiskers ",
      "mr.\u00a0whiskers",
      "ｍｒ．　ｗｈｉｓｋｅｒｓ",
    ].entries()) {
      const next = `new password ${i}`;
      assert.deepEqual(await recovery.recoverByQuestion(username, variant, next), { accountId });
      assert.equal(await loginWorks(username, password), false, "the old password is gone");
      assert.equal(await loginWorks(username, next), true);
      password = next;
    }
  });

  it("recovery - unknown name or no question: RECOVERY_UNAVAILABLE, without hashing", async () => {
    const { username } = await newPlayer({ question: false });
    const before = hasher.calls;
    for (const name of [username, "nobody-here"]) {
      assert.equal(await codeOf(recovery.questionFor(name)), LobbyErrorCode.RecoveryUnavailable);
      assert.equal(
        await codeOf(recovery.recoverByQuestion(name, ANSWER, "new")),
        LobbyErrorCode.RecoveryUnavailable,
      );
    }
    assert.equal(hasher.calls, before);
    assert.equal(await codeOf(recovery.questionFor("x")), LobbyErrorCode.InvalidUsername);
  });

  it("recovery - wrong answers count down attemptsLeft, the last one locks for lockMs, and locked guesses do no hashing", async () => {
    const { accountId, username } = await newPlayer();
    for (const left of [4, 3, 2, 1]) {
      const error = await errorOf(recovery.recoverByQuestion(username, "Mrs. Whiskers", "new"));
      assert.deepEqual(error, { code: LobbyErrorCode.WrongAnswer, context: { attemptsLeft: left } });
    }
    const last = await errorOf(recovery.recoverByQuestion(username, "Mrs. Whiskers", "new"));
    assert.deepEqual(last, {
      code: LobbyErrorCode.WrongAnswer,
      context: { attemptsLeft: 0, retryAfterMs: MIN_LOCK_MS },
    });
    const row = await questionRow(accountId);
    assert.equal(row.failed_attempts, 0, "the lock resets the count");
    assert.ok(row.lockLeftMs > MIN_LOCK_MS - 60_000 && row.lockLeftMs <= MIN_LOCK_MS, `${row.lockLeftMs}`);

    const before = hasher.calls;
    for (const answer of [ANSWER, "wrong"]) {
      const error = await errorOf(recovery.recoverByQuestion(username, answer, "new"));
      assert.equal(error.code, LobbyErrorCode.RecoveryLocked);
      const retryAfterMs = error.context.retryAfterMs as number;
      assert.ok(retryAfterMs > 0 && retryAfterMs <= MIN_LOCK_MS, `retryAfterMs ${retryAfterMs}`);
    }
    assert.equal(hasher.calls, before, "a locked question costs no hashing");
    assert.equal(await loginWorks(username, PASSWORD), true, "the password is untouched");
    // The question is still shown while locked.
    assert.equal(await recovery.questionFor(username), QUESTION);
  });

  it("recovery - a correct answer clears the count, even when it took the last attempt", async () => {
    const strict = service({ maxGuesses: 3 });
    const { accountId, username } = await newPlayer();
    await strict.recoverByQuestion(username, "no", "p").catch(() => undefined);
    await strict.recoverByQuestion(username, "no", "p").catch(() => undefined);
    assert.equal((await questionRow(accountId)).failed_attempts, 2);
    await strict.recoverByQuestion(username, ANSWER, "after last attempt");
    const row = await questionRow(accountId);
    assert.equal(row.failed_attempts, 0);
    assert.equal(row.locked_until, null);
    const error = await errorOf(strict.recoverByQuestion(username, "no", "p"));
    assert.deepEqual(error.context, { attemptsLeft: 2 });
  });

  it("recovery - the lock expires after lockMs", async () => {
    const lockMs = 300;
    const quick = service({ maxGuesses: 3, lockMs, allowShortLock: true });
    const { accountId, username } = await newPlayer();
    for (let i = 0; i < 3; i++) {
      assert.equal(await codeOf(quick.recoverByQuestion(username, "no", "p")), LobbyErrorCode.WrongAnswer);
    }
    assert.equal(await codeOf(quick.recoverByQuestion(username, ANSWER, "p")), LobbyErrorCode.RecoveryLocked);
    // Poll until the lock has run out (the loop bound only keeps a broken lock from hanging the test).
    let code = LobbyErrorCode.RecoveryLocked as string;
    for (let i = 0; i < 200 && code === LobbyErrorCode.RecoveryLocked; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      code = await codeOf(quick.recoverByQuestion(username, ANSWER, "after the lock"));
    }
    assert.equal(code, "resolved");
    assert.equal(await loginWorks(username, "after the lock"), true);
    assert.equal((await questionRow(accountId)).locked_until, null);
  });

  it("recovery - 20 concurrent wrong answers: at most maxGuesses are verified, the rest are refused as locked", async () => {
    const { accountId, username } = await newPlayer();
    const before = hasher.calls;
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => recovery.recoverByQuestion(username, "guess", "new")),
    );
    const verifications = hasher.calls - before;
    const errors = results.map((r) => {
      assert.equal(r.status, "rejected");
      return (r as PromiseRejectedResult).reason as { code: string; context: { attemptsLeft?: number } };
    });
    const wrong = errors.filter((e) => e.code === LobbyErrorCode.WrongAnswer);
    const lockedOut = errors.filter((e) => e.code === LobbyErrorCode.RecoveryLocked);
    assert.equal(wrong.length + lockedOut.length, 20);
    assert.ok(verifications <= 5, `${verifications} verifications`);
    assert.equal(wrong.length, verifications, "every verified guess was a counted wrong answer");
    assert.deepEqual(
      wrong.map((e) => e.context.attemptsLeft).sort(),
      [0, 1, 2, 3, 4],
      "each attempt was taken exactly once",
    );
    const row = await questionRow(accountId);
    assert.ok(row.locked_until instanceof Date, "the question is locked");
    assert.equal(row.failed_attempts, 0);
    assert.equal(
      await codeOf(recovery.recoverByQuestion(username, ANSWER, "new")),
      LobbyErrorCode.RecoveryLocked,
    );
  });

  it("recovery - recovery by question ends every session; gateways hear of it within 1 s", async () => {
    const { accountId, username } = await newPlayer();
    const logins = [await sessions.issue(accountId), await sessions.issue(accountId)];
    const { notice, value } = await noticeAfter(accountId, () =>
      recovery.recoverByQuestion(username, ANSWER, "fresh password"),
    );
    assert.deepEqual(value, { accountId });
    assert.deepEqual(notice, {
      accountId,
      chainIds: logins.map((t) => t.sessionId).sort(),
      reason: RevocationReason.PasswordReset,
    });
    await assertRevoked(logins);
  });

  it("recovery - a too-long new password is refused first: no attempt counted, no token used up", async () => {
    const email = "long@example.test";
    const { accountId, username } = await newPlayer({ email });
    const tooLong = "x".repeat(MAX_PASSWORD_BYTES + 1);
    const before = hasher.calls;
    assert.equal(
      await codeOf(recovery.recoverByQuestion(username, "wrong", tooLong)),
      LobbyErrorCode.PasswordTooLong,
    );
    assert.equal((await questionRow(accountId)).failed_attempts, 0);
    const token = await mailedToken(username, email);
    const afterMail = hasher.calls;
    assert.equal(await codeOf(recovery.resetWithToken(token, tooLong)), LobbyErrorCode.PasswordTooLong);
    assert.equal(hasher.calls, afterMail);
    assert.equal(before, afterMail, "requesting a reset does no hashing");
    assert.deepEqual(await recovery.resetWithToken(token, "short enough"), { accountId });
    assert.equal(await loginWorks(username, "short enough"), true);
  });

  it("recovery - a reset token is mailed, stored only hashed, works once and ends every session", async () => {
    const email = "hero@example.test";
    const { accountId, username } = await newPlayer({ email });
    const logins = [await sessions.issue(accountId), await sessions.issue(accountId)];
    const token = await mailedToken(username, email);
    assert.equal(Buffer.from(token, "base64url").length * 8, TOKEN_BYTES * 8);
    assert.ok(TOKEN_BYTES * 8 >= 128);
    const mail = mailer.sentTo(email).at(-1) as MailMessage;
    assert.ok(mail.subject.length > 0);
    assert.match(mail.text, /15 minutes/);
    assert.ok(mail.text.includes(username));

    const rows = await db
      .selectFrom("reset_tokens")
      .selectAll()
      .select(sql<number>`extract(epoch from (expires_at - now())) * 1000`.as("ttlLeftMs"))
      .where("account_id", "=", accountId)
      .execute();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.token_hash, hashToken(token));
    assert.ok(!JSON.stringify(rows).includes(token), "the raw token is not stored");
    const ttlLeftMs = rows[0]?.ttlLeftMs ?? 0;
    assert.ok(ttlLeftMs > 0 && ttlLeftMs <= DEFAULT_RESET_TOKEN_TTL_MS, `${ttlLeftMs}`);

    const { notice, value } = await noticeAfter(accountId, () => recovery.resetWithToken(token, "reset pw"));
    assert.deepEqual(value, { accountId });
    assert.deepEqual(notice, {
      accountId,
      chainIds: logins.map((t) => t.sessionId).sort(),
      reason: RevocationReason.PasswordReset,
    });
    await assertRevoked(logins);
    assert.equal(await loginWorks(username, PASSWORD), false);
    assert.equal(await loginWorks(username, "reset pw"), true);
    assert.equal(
      await codeOf(recovery.resetWithToken(token, "again")),
      LobbyErrorCode.ResetTokenInvalid,
      "single use",
    );
    assert.equal(await loginWorks(username, "reset pw"), true);
  });

  it("recovery - expired and malformed reset tokens are refused", async () => {
    const email = "late@example.test";
    const { accountId, username } = await newPlayer({ email });
    const token = await mailedToken(username, email);
    await db
      .updateTable("reset_tokens")
      .set({ expires_at: sql`now() - interval '1 second'` })
      .where("account_id", "=", accountId)
      .execute();
    assert.equal(await codeOf(recovery.resetWithToken(token, "new")), LobbyErrorCode.ResetTokenInvalid);
    assert.equal(await loginWorks(username, PASSWORD), true);

    const wellFormed = Buffer.alloc(TOKEN_BYTES, 9).toString("base64url");
    for (const bad of [
      "",
      "short",
      `${token}A`,
      `${token.slice(0, 42)}=`,
      "x".repeat(10_000),
      undefined,
      null,
      42,
      wellFormed, // well-formed but unknown
    ]) {
      assert.equal(
        await codeOf(recovery.resetWithToken(bad as string, "new")),
        LobbyErrorCode.ResetTokenInvalid,
        JSON.stringify(bad),
      );
    }
  });

  it("recovery - 10 concurrent uses of one reset token: exactly one succeeds", async () => {
    const email = "race@example.test";
    const { accountId, username } = await newPlayer({ email });
    const token = await mailedToken(username, email);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => recovery.resetWithToken(token, `racer ${i}`)),
    );
    const winners = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
    const codes = results.flatMap((r) => (r.status === "rejected" ? [r.reason?.code] : []));
    assert.equal(winners.length, 1);
    assert.deepEqual(codes, Array(9).fill(LobbyErrorCode.ResetTokenInvalid));
    assert.deepEqual((results[winners[0] as number] as PromiseFulfilledResult<unknown>).value, { accountId });
    assert.equal(await loginWorks(username, `racer ${winners[0]}`), true);
  });

  it("recovery - unknown names and accounts without email get no mail and no error", async () => {
    const { accountId, username } = await newPlayer();
    const sent = mailer.messages.length;
    assert.equal(await recovery.requestReset(username), undefined);
    assert.equal(await recovery.requestReset("nobody-at-all"), undefined);
    await recovery.drain();
    assert.equal(mailer.messages.length, sent);
    const tokens = await db
      .selectFrom("reset_tokens")
      .select("token_hash")
      .where("account_id", "=", accountId)
      .execute();
    assert.deepEqual(tokens, []);
    assert.equal(await codeOf(recovery.requestReset("?")), LobbyErrorCode.InvalidUsername);
  });

  it("recovery - an account keeps at most 3 live reset tokens: a new request expires the oldest", async () => {
    const email = "many@example.test";
    const { username } = await newPlayer({ email });
    const tokens: string[] = [];
    for (let i = 0; i < 4; i++) tokens.push(await mailedToken(username, email));
    assert.equal(new Set(tokens).size, 4);
    const [oldest, second, third, newest] = tokens as [string, string, string, string];
    assert.equal(await codeOf(recovery.resetWithToken(oldest, "one")), LobbyErrorCode.ResetTokenInvalid);
    await recovery.resetWithToken(second, "two");
    // A reset expires the account's other tokens.
    for (const token of [third, newest]) {
      assert.equal(await codeOf(recovery.resetWithToken(token, "three")), LobbyErrorCode.ResetTokenInvalid);
    }
    assert.equal(await loginWorks(username, "two"), true);
  });

  it("recovery - concurrent reset requests never leave more than 3 live tokens", async () => {
    const email = "burst@example.test";
    const { accountId, username } = await newPlayer({ email });
    await Promise.all(Array.from({ length: 10 }, () => recovery.requestReset(username)));
    await recovery.drain();
    assert.equal(mailer.sentTo(email).length, 10);
    const live = await db
      .selectFrom("reset_tokens")
      .select("token_hash")
      .where("account_id", "=", accountId)
      .where("used_at", "is", null)
      .where("expires_at", ">", sql<Date>`now()`)
      .execute();
    assert.equal(live.length, 3);
  });

  it("recovery - a failed mail is logged and its token expired; the caller sees no difference", async () => {
    const lines: string[] = [];
    const logger = pino(
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const broken: Mailer = {
      async send() {
        throw new Error("smtp down");
      },
    };
    const failing = service({ logger }, broken);
    const email = "broken@example.test";
    const { accountId, username } = await newPlayer({ email });
    assert.equal(await failing.requestReset(username), undefined);
    await failing.drain();
    const logged = lines.map((line) => JSON.parse(line) as { msg: string; accountId?: string });
    assert.ok(
      logged.some((l) => l.msg === "mailing a password-reset token failed" && l.accountId === accountId),
    );
    const live = await db
      .selectFrom("reset_tokens")
      .select("token_hash")
      .where("account_id", "=", accountId)
      .where("expires_at", ">", sql<Date>`now()`)
      .execute();
    assert.deepEqual(live, []);
  });

  it("recovery - a reset by token clears the question lock", async () => {
    const email = "unlock@example.test";
    const strict = service({ maxGuesses: 3 });
    const { accountId, username } = await newPlayer({ email });
    for (let i = 0; i < 3; i++) await strict.recoverByQuestion(username, "no", "p").catch(() => undefined);
    assert.ok((await questionRow(accountId)).locked_until instanceof Date);
    await recovery.resetWithToken(await mailedToken(username, email), "via mail");
    assert.equal((await questionRow(accountId)).locked_until, null);
    await strict.recoverByQuestion(username, ANSWER, "via question");
    assert.equal(await loginWorks(username, "via question"), true);
  });

  it("recovery - a reset by question expires pending reset tokens", async () => {
    const email = "pending@example.test";
    const { username } = await newPlayer({ email });
    const token = await mailedToken(username, email);
    await recovery.recoverByQuestion(username, ANSWER, "by question");
    assert.equal(await codeOf(recovery.resetWithToken(token, "by token")), LobbyErrorCode.ResetTokenInvalid);
    assert.equal(await loginWorks(username, "by question"), true);
  });

  it("recovery - changePassword: a wrong current password changes nothing; the right one ends every session", async () => {
    const email = "change@example.test";
    const { accountId, username } = await newPlayer({ email });
    const logins = [await sessions.issue(accountId), await sessions.issue(accountId)];
    const token = await mailedToken(username, email);

    assert.equal(
      await codeOf(recovery.changePassword(accountId, "not it", "new password")),
      LobbyErrorCode.BadCredentials,
    );
    for (const tokens of logins) await sessions.validateAccess(tokens.accessToken);
    assert.equal(await loginWorks(username, PASSWORD), true);

    const { notice } = await noticeAfter(accountId, () =>
      recovery.changePassword(accountId, PASSWORD, "new password"),
    );
    assert.deepEqual(notice, {
      accountId,
      chainIds: logins.map((t) => t.sessionId).sort(),
      reason: RevocationReason.PasswordChange,
    });
    await assertRevoked(logins);
    assert.equal(await loginWorks(username, PASSWORD), false);
    assert.equal(await loginWorks(username, "new password"), true);
    assert.equal(await codeOf(recovery.resetWithToken(token, "x")), LobbyErrorCode.ResetTokenInvalid);
    assert.equal(
      await codeOf(recovery.changePassword(accountId, "new password", "x".repeat(MAX_PASSWORD_BYTES + 1))),
      LobbyErrorCode.PasswordTooLong,
    );
    assert.equal(await codeOf(recovery.changePassword("999999999", "a", "b")), LobbyErrorCode.PlayerUnknown);
  });

  it("recovery - invalid questions and answers are refused with the field, before any hashing", async () => {
    const { accountId, username } = await newPlayer({ question: false });
    const before = hasher.calls;
    const badQuestions: unknown[] = ["", "   ", "q".repeat(201), "line\nbreak", "x".repeat(5_000), 7, null];
    for (const question of badQuestions) {
      const error = await errorOf(recovery.setSecretQuestion(accountId, question as string, ANSWER));
      assert.equal(error.code, LobbyErrorCode.InvalidRecovery, JSON.stringify(question));
      assert.equal(error.context.field, "question");
    }
    const badAnswers: unknown[] = ["", " \t\n ", "\u3000", "a".repeat(257), "a".repeat(5_000), 7, undefined];
    for (const answer of badAnswers) {
      const error = await errorOf(recovery.setSecretQuestion(accountId, QUESTION, answer as string));
      assert.equal(error.code, LobbyErrorCode.InvalidRecovery, JSON.stringify(answer));
      assert.equal(error.context.field, "answer");
    }
    assert.equal(hasher.calls, before);
    // The limits themselves are accepted.
    await recovery.setSecretQuestion(accountId, "q".repeat(200), ` ${"é".repeat(256)} `);
    assert.equal(await recovery.questionFor(username), "q".repeat(200));
    // An invalid answer to recover with counts no attempt.
    const error = await errorOf(recovery.recoverByQuestion(username, "   ", "new"));
    assert.deepEqual(error.context, { field: "answer", length: 3 });
    assert.equal((await questionRow(accountId)).failed_attempts, 0);
  });

  it("recovery - setSecretQuestion replaces the question and clears the count and lock; unknown accounts are refused", async () => {
    const strict = service({ maxGuesses: 3 });
    const { accountId, username } = await newPlayer();
    for (let i = 0; i < 3; i++) await strict.recoverByQuestion(username, "no", "p").catch(() => undefined);
    assert.ok((await questionRow(accountId)).locked_until instanceof Date);
    await recovery.setSecretQuestion(accountId, "Favourite colour?", "Blue");
    assert.deepEqual(
      { ...(await questionRow(accountId)), lockLeftMs: null },
      { failed_attempts: 0, locked_until: null, lockLeftMs: null },
    );
    assert.equal(await recovery.questionFor(username), "Favourite colour?");
    assert.equal(await codeOf(strict.recoverByQuestion(username, ANSWER, "p")), LobbyErrorCode.WrongAnswer);
    await strict.recoverByQuestion(username, "  BLUE ", "blue pw");
    for (const unknown of ["999999999", "0", "abc", "99999999999999999999"]) {
      assert.equal(
        await codeOf(recovery.setSecretQuestion(unknown, QUESTION, ANSWER)),
        LobbyErrorCode.PlayerUnknown,
        unknown,
      );
    }
    // An account with no password at all (a bare row) recovers to one.
    const bare = await insertAccount(db, "bare");
    await recovery.setSecretQuestion(bare, QUESTION, ANSWER);
    const bareName = (
      await db.selectFrom("accounts").select("username_key").where("id", "=", bare).executeTakeFirstOrThrow()
    ).username_key;
    await recovery.recoverByQuestion(bareName, ANSWER, "first password");
    assert.equal(await loginWorks(bareName, "first password"), true);
  });
});

describe("mail", () => {
  it("mail - MemoryMailer keeps frozen copies in order; clear forgets them", async () => {
    const memory = new MemoryMailer();
    const message = { to: "a@example.test", subject: "s", text: "t" };
    await memory.send(message);
    await memory.send({ ...message, to: "b@example.test" });
    message.text = "changed";
    assert.deepEqual(memory.messages, [
      { to: "a@example.test", subject: "s", text: "t" },
      { to: "b@example.test", subject: "s", text: "t" },
    ]);
    assert.ok(Object.isFrozen(memory.messages[0]));
    assert.deepEqual(memory.sentTo("b@example.test").length, 1);
    memory.clear();
    assert.deepEqual(memory.messages, []);
  });

  it("mail - LogMailer logs the whole message through its logger", async () => {
    const lines: string[] = [];
    const logger = pino(
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    await new LogMailer(logger).send({ to: "dev@example.test", subject: "Hi", text: "code: 123" });
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0] as string) as Record<string, unknown>;
    assert.equal(entry.subsystem, "mail");
    assert.equal(entry.to, "dev@example.test");
    assert.equal(entry.subject, "Hi");
    assert.equal(entry.text, "code: 123");
  });
});
