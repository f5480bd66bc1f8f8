/**
 * Password recovery: a secret question with a hashed normalised answer, a single-use reset token
 * delivered by mail, and password change. Every way of setting a new password ends the account's
 * sessions on every gateway (`SessionService.revokeAccount`, whose notice reaches them within 1 s).
 *
 * - **Secret question.** The answer is normalised ({@link normaliseAnswer}) and hashed with argon2id
 *   by the lobby's {@link PasswordHasher}. At most `maxGuesses` (3–5) wrong answers in a row; the
 *   last one locks the question for `lockMs` (at least 15 minutes). While locked, a guess is refused
 *   before any hashing.
 * - **Attempts are reserved before they are verified.** A guess first takes an attempt in one
 *   `UPDATE … RETURNING` (row-locked, so concurrent guesses are counted one after the other, each
 *   seeing the others' counts); the guess that takes the last attempt sets the lock at once, in that
 *   same statement. Only then is the answer verified. So N concurrent wrong guesses make at most
 *   `maxGuesses` verifications and the rest are refused as locked: nothing can slip past the limit
 *   between a verification and its count. A correct answer "refunds": success clears the count and
 *   the lock. The price: while the guess holding the last attempt is being verified, the question is
 *   already locked, so a concurrent correct answer from the owner is refused as locked (and a correct
 *   last guess then lifts the lock). An unexpected failure after the reservation (a corrupt hash, a
 *   lost connection) keeps the attempt counted: errors err towards the lock.
 * - **Reset tokens** are 256 random bits ({@link generateToken}), stored only as SHA-256, valid for
 *   `resetTokenTtlMs` (at most 20 minutes) and single use: consumption is one conditional
 *   `UPDATE … SET used_at = now() … RETURNING`, so of two concurrent uses exactly one wins. An account
 *   keeps at most `maxLiveResetTokens` live tokens; a new request expires the oldest beyond that.
 * - **No account oracle in {@link RecoveryService.requestReset}.** Whether the name is unknown, has
 *   no email or gets a mail, the call does the same lookup and resolves the same way; the token is
 *   stored and the mail sent in the background (failures are logged), so not even the mailer's
 *   latency tells them apart. {@link RecoveryService.drain} waits for that background work
 *   (shutdown, tests).
 * - Times (locks, expiry) are Postgres's `now()`, one clock for every lobby process.
 * - After a new password is set the order is: password → the account's other reset tokens expired,
 *   question count and lock cleared → sessions revoked. If the revocation throws
 *   (`LOBBY_REVOCATION`: Redis failed), the password is already changed; the caller reports the error
 *   and the revocation can be retried with `SessionService.revokeAccount`.
 */
import { type Kysely, sql } from "kysely";
import type { Logger } from "pino";
import {
  type AccountStore,
  isAccountId,
  MAX_PASSWORD_BYTES,
  normaliseUsername,
  type PasswordHasher,
} from "../accounts/index.js";
import type { Database } from "../db/database.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";
import type { Mailer } from "../mail/index.js";
import {
  generateToken,
  hashToken,
  isWellFormedToken,
  RevocationReason,
  type SessionService,
} from "../sessions/index.js";
import { normaliseAnswer, normaliseQuestion } from "./recovery-inputs.js";

/** Fewest wrong answers allowed before the lock. */
export const MIN_GUESSES = 3;
/** Most wrong answers allowed before the lock. */
export const MAX_GUESSES = 5;
/** Default wrong answers before the lock: 5. */
export const DEFAULT_MAX_GUESSES = 5;
/** Shortest lock (without `allowShortLock`): 15 minutes. */
export const MIN_LOCK_MS = 15 * 60_000;
/** Default lock after the last wrong answer: 15 minutes. */
export const DEFAULT_LOCK_MS = MIN_LOCK_MS;
/** Shortest reset-token lifetime: 1 minute. */
export const MIN_RESET_TOKEN_TTL_MS = 60_000;
/** Longest reset-token lifetime: 20 minutes. */
export const MAX_RESET_TOKEN_TTL_MS = 20 * 60_000;
/** Default reset-token lifetime: 15 minutes. */
export const DEFAULT_RESET_TOKEN_TTL_MS = 15 * 60_000;
/** Most live reset tokens an account may have at once. */
export const MAX_LIVE_RESET_TOKENS = 5;
/** Default live reset tokens per account: 3. */
export const DEFAULT_MAX_LIVE_RESET_TOKENS = 3;

/** Options of {@link RecoveryService}. Validated at construction. */
export interface RecoveryServiceOptions {
  /** Wrong answers in a row before the question locks, 3–5. Default {@link DEFAULT_MAX_GUESSES} (5). */
  readonly maxGuesses?: number;
  /**
   * How long the question stays locked after the last wrong answer, ms; at least
   * {@link MIN_LOCK_MS} (15 min) unless `allowShortLock`. Default {@link DEFAULT_LOCK_MS} (15 min).
   */
  readonly lockMs?: number;
  /**
   * Accept a `lockMs` below 15 minutes (down to 1 ms). For tests that watch a lock expire only; the
   * configuration never sets it. Default false.
   */
  readonly allowShortLock?: boolean;
  /**
   * Lifetime of a reset token, ms, from 1 to 20 minutes. Default {@link DEFAULT_RESET_TOKEN_TTL_MS}
   * (15 min).
   */
  readonly resetTokenTtlMs?: number;
  /**
   * Most live (unused, unexpired) reset tokens per account, 1–5; a new request expires the oldest
   * beyond it. Default {@link DEFAULT_MAX_LIVE_RESET_TOKENS} (3).
   */
  readonly maxLiveResetTokens?: number;
  /** Logger for security events (locks, resets) and background mail failures. Default: none. */
  readonly logger?: Logger;
}

/** A recovery that set a new password. */
export interface RecoveryResult {
  /** The account whose password was set (`accounts.id`, a decimal string). */
  readonly accountId: string;
}

interface ResolvedOptions {
  readonly maxGuesses: number;
  readonly lockMs: number;
  readonly resetTokenTtlMs: number;
  readonly maxLiveResetTokens: number;
}

/** What a reserved attempt carries to verification. */
interface Reservation {
  readonly accountId: string;
  readonly answerHash: string;
  /** Wrong answers still allowed if this one is wrong (0 when this one took the last attempt). */
  readonly attemptsLeft: number;
}

/** Namespace (first key) of the per-account advisory lock around reset-token issue. */
const RESET_LOCK_NAMESPACE = 0x7e5e;

function resolveOptions(options: RecoveryServiceOptions): ResolvedOptions {
  const maxGuesses = options.maxGuesses ?? DEFAULT_MAX_GUESSES;
  const lockMs = options.lockMs ?? DEFAULT_LOCK_MS;
  const resetTokenTtlMs = options.resetTokenTtlMs ?? DEFAULT_RESET_TOKEN_TTL_MS;
  const maxLiveResetTokens = options.maxLiveResetTokens ?? DEFAULT_MAX_LIVE_RESET_TOKENS;
  const shortLock = options.allowShortLock ?? false;
  const problems: string[] = [];
  if (!Number.isInteger(maxGuesses) || maxGuesses < MIN_GUESSES || maxGuesses > MAX_GUESSES) {
    problems.push(`maxGuesses must be an integer from ${MIN_GUESSES} to ${MAX_GUESSES}, got ${maxGuesses}`);
  }
  if (typeof shortLock !== "boolean") problems.push("allowShortLock must be a boolean");
  const minLock = shortLock === true ? 1 : MIN_LOCK_MS;
  if (!Number.isSafeInteger(lockMs) || lockMs < minLock) {
    problems.push(`lockMs must be an integer ≥ ${minLock}, got ${lockMs}`);
  }
  if (
    !Number.isSafeInteger(resetTokenTtlMs) ||
    resetTokenTtlMs < MIN_RESET_TOKEN_TTL_MS ||
    resetTokenTtlMs > MAX_RESET_TOKEN_TTL_MS
  ) {
    problems.push(
      `resetTokenTtlMs must be an integer from ${MIN_RESET_TOKEN_TTL_MS} to ${MAX_RESET_TOKEN_TTL_MS}, got ${resetTokenTtlMs}`,
    );
  }
  if (
    !Number.isInteger(maxLiveResetTokens) ||
    maxLiveResetTokens < 1 ||
    maxLiveResetTokens > MAX_LIVE_RESET_TOKENS
  ) {
    problems.push(
      `maxLiveResetTokens must be an integer from 1 to ${MAX_LIVE_RESET_TOKENS}, got ${maxLiveResetTokens}`,
    );
  }
  if (problems.length > 0) {
    throw new LobbyError(LobbyErrorCode.InvalidOptions, `invalid recovery options: ${problems.join("; ")}`, {
      context: { problems },
    });
  }
  return Object.freeze({ maxGuesses, lockMs, resetTokenTtlMs, maxLiveResetTokens });
}

/** `ms` milliseconds as a Postgres interval. */
function interval(ms: number) {
  return sql`(${ms}::float8 * interval '1 millisecond')`;
}

/** Milliseconds from Postgres's now until `locked_until` (0 when unlocked or past), rounded up. */
const RETRY_AFTER_MS = sql<number>`coalesce(greatest(0, ceil(extract(epoch from (secret_questions.locked_until - now())) * 1000)), 0)::float8`;

function assertPasswordLength(password: unknown): asserts password is string {
  if (typeof password !== "string" || Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) {
    throw new LobbyError(LobbyErrorCode.PasswordTooLong, `password longer than ${MAX_PASSWORD_BYTES} bytes`, {
      context: { max: MAX_PASSWORD_BYTES },
    });
  }
}

function unavailable(): LobbyError {
  return new LobbyError(LobbyErrorCode.RecoveryUnavailable, "no secret question is set for this account");
}

function locked(retryAfterMs: number): LobbyError {
  return new LobbyError(LobbyErrorCode.RecoveryLocked, "too many wrong answers: recovery is locked", {
    context: { retryAfterMs },
  });
}

function resetTokenInvalid(): LobbyError {
  return new LobbyError(LobbyErrorCode.ResetTokenInvalid, "reset token is invalid, expired or already used");
}

function playerUnknown(accountId: unknown): LobbyError {
  return new LobbyError(LobbyErrorCode.PlayerUnknown, "no such account", {
    context: { accountId: typeof accountId === "string" ? accountId.slice(0, 32) : undefined },
  });
}

/** Recovers accounts by secret question or mailed reset token, and changes passwords. */
export class RecoveryService {
  readonly #db: Kysely<Database>;
  readonly #hasher: PasswordHasher;
  readonly #accounts: AccountStore;
  readonly #sessions: SessionService;
  readonly #mailer: Mailer;
  readonly #options: ResolvedOptions;
  readonly #logger: Logger | undefined;
  readonly #pending = new Set<Promise<void>>();

  /**
   * @param db the lobby's kysely (migrated).
   * @param hasher hashes and verifies secret answers (argon2id), normally the account store's.
   * @param accounts sets the new passwords.
   * @param sessions revokes the account's sessions after a reset or change.
   * @param mailer delivers reset tokens (`LogMailer` in development).
   * @throws LobbyError `LOBBY_INVALID_OPTIONS` for bad options.
   */
  constructor(
    db: Kysely<Database>,
    hasher: PasswordHasher,
    accounts: AccountStore,
    sessions: SessionService,
    mailer: Mailer,
    options: RecoveryServiceOptions = {},
  ) {
    this.#options = resolveOptions(options);
    this.#db = db;
    this.#hasher = hasher;
    this.#accounts = accounts;
    this.#sessions = sessions;
    this.#mailer = mailer;
    this.#logger = options.logger?.child({ subsystem: "recovery" });
  }

  /** The validated options in force. */
  get options(): Readonly<Required<Omit<RecoveryServiceOptions, "logger" | "allowShortLock">>> {
    return this.#options;
  }

  /**
   * Sets (or replaces) the account's secret question and answer; the wrong-answer count and any lock
   * are cleared. The answer is stored only as an argon2id hash of its normalised form.
   * @throws LobbyError `LOBBY_INVALID_RECOVERY` (`context.field` = `question` or `answer`, before
   * any hashing), `LOBBY_PLAYER_UNKNOWN` when no account has this id.
   */
  async setSecretQuestion(accountId: string, question: string, answer: string): Promise<void> {
    const text = normaliseQuestion(question);
    const normalised = normaliseAnswer(answer);
    if (!isAccountId(accountId)) throw playerUnknown(accountId);
    const answerHash = await this.#hasher.hash(normalised);
    const row = await this.#db
      .insertInto("secret_questions")
      .columns(["account_id", "question", "answer_hash"])
      .expression((eb) =>
        eb
          .selectFrom("accounts")
          .select([
            "accounts.id",
            sql<string>`${text}::text`.as("question"),
            sql<string>`${answerHash}::text`.as("answer_hash"),
          ])
          .where("accounts.id", "=", accountId),
      )
      .onConflict((oc) =>
        oc.column("account_id").doUpdateSet({
          question: text,
          answer_hash: answerHash,
          failed_attempts: 0,
          locked_until: null,
        }),
      )
      .returning("account_id")
      .executeTakeFirst();
    if (row === undefined) throw playerUnknown(accountId);
  }

  /**
   * The secret question of the account named `username`, to show before asking the answer.
   * @throws LobbyError `LOBBY_INVALID_USERNAME`, or `LOBBY_RECOVERY_UNAVAILABLE` when the account
   * has no question or does not exist (one code for both).
   */
  async questionFor(username: string): Promise<string> {
    const { key } = normaliseUsername(username);
    const row = await this.#db
      .selectFrom("secret_questions")
      .innerJoin("accounts", "accounts.id", "secret_questions.account_id")
      .select("secret_questions.question")
      .where("accounts.username_key", "=", key)
      .executeTakeFirst();
    if (row === undefined) throw unavailable();
    return row.question;
  }

  /**
   * Sets `newPassword` on the account named `username` when `answer` matches its secret question
   * (after normalisation), then ends every session of the account (`password-reset`), expires its
   * reset tokens and clears the wrong-answer count and lock. See the module doc for how concurrent
   * guesses are counted.
   * @throws LobbyError, checked in this order: `LOBBY_PASSWORD_TOO_LONG`, `LOBBY_INVALID_RECOVERY`
   * (`context.field` = `answer`), `LOBBY_INVALID_USERNAME` (these three count no attempt);
   * `LOBBY_RECOVERY_UNAVAILABLE` (no such account, or no question); `LOBBY_RECOVERY_LOCKED`
   * (`context.retryAfterMs`; no hashing is done); `LOBBY_WRONG_ANSWER` (`context.attemptsLeft`, 0
   * when this answer locked the question, then also `context.retryAfterMs`); `LOBBY_PLAYER_UNKNOWN`
   * when the account was deleted meanwhile; `LOBBY_REVOCATION` when the sessions could not be revoked
   * (the password is already set).
   */
  async recoverByQuestion(username: string, answer: string, newPassword: string): Promise<RecoveryResult> {
    assertPasswordLength(newPassword);
    const normalised = normaliseAnswer(answer);
    const { key } = normaliseUsername(username);
    const reservation = await this.#reserveAttempt(key);
    if (!(await this.#hasher.verify(reservation.answerHash, normalised))) {
      const { attemptsLeft, accountId } = reservation;
      if (attemptsLeft === 0) {
        this.#logger?.warn({ accountId, lockMs: this.#options.lockMs }, "secret question locked");
      }
      throw new LobbyError(LobbyErrorCode.WrongAnswer, "wrong answer to the secret question", {
        context: attemptsLeft === 0 ? { attemptsLeft, retryAfterMs: this.#options.lockMs } : { attemptsLeft },
      });
    }
    const { accountId } = reservation;
    await this.#accounts.setPassword(accountId, newPassword);
    if (this.#hasher.needsRehash(reservation.answerHash)) {
      const upgraded = await this.#hasher.hash(normalised);
      await this.#db
        .updateTable("secret_questions")
        .set({ answer_hash: upgraded })
        .where("account_id", "=", accountId)
        .where("answer_hash", "=", reservation.answerHash)
        .execute();
    }
    await this.#afterPasswordSet(accountId, RevocationReason.PasswordReset);
    this.#logger?.info({ accountId }, "password reset by secret question");
    return Object.freeze({ accountId });
  }

  /**
   * Mails a reset token to the account named `username` when it exists and has an email. Resolves
   * the same way in every case (unknown name, no email, mail sent): no account oracle. The token is
   * stored and mailed in the background after this resolves; failures are logged, and a token whose
   * mail failed is expired. See {@link drain}.
   * @throws LobbyError `LOBBY_INVALID_USERNAME` when `username` cannot be a name (no lookup is made);
   * a Postgres error of the account lookup (the same for every name).
   */
  async requestReset(username: string): Promise<void> {
    const account = await this.#accounts.findByUsername(username);
    if (account === undefined || account.email === null) return;
    const delivery = this.#deliverReset(account.id, account.username, account.email);
    this.#pending.add(delivery);
    void delivery.finally(() => this.#pending.delete(delivery));
  }

  /** Resolves when every reset mail requested so far has been sent (or has failed and been logged). */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /**
   * Sets `newPassword` on the account of the mailed reset `token`, using the token up; then expires
   * the account's other reset tokens, clears its question lock and ends every session
   * (`password-reset`). Of concurrent uses of one token exactly one succeeds.
   * @throws LobbyError `LOBBY_PASSWORD_TOO_LONG` (checked first: the token is not used up),
   * `LOBBY_RESET_TOKEN_INVALID` (malformed — without any I/O —, unknown, expired or already used: one
   * code), `LOBBY_PLAYER_UNKNOWN` when the account was deleted meanwhile, `LOBBY_REVOCATION` when the
   * sessions could not be revoked (the password is already set).
   */
  async resetWithToken(token: string, newPassword: string): Promise<RecoveryResult> {
    assertPasswordLength(newPassword);
    if (!isWellFormedToken(token)) throw resetTokenInvalid();
    const row = await this.#db
      .updateTable("reset_tokens")
      .set({ used_at: sql`now()` })
      .where("token_hash", "=", hashToken(token))
      .where("used_at", "is", null)
      .where("expires_at", ">", sql<Date>`now()`)
      .returning("account_id")
      .executeTakeFirst();
    if (row === undefined) throw resetTokenInvalid();
    const accountId = row.account_id;
    // The token is used up first, so hashing is only ever done for a live token (no free argon2 work
    // for guessed tokens); the password length was checked above, so the hash cannot refuse it.
    await this.#accounts.setPassword(accountId, newPassword);
    await this.#afterPasswordSet(accountId, RevocationReason.PasswordReset);
    this.#logger?.info({ accountId }, "password reset by mailed token");
    return Object.freeze({ accountId });
  }

  /**
   * Changes the password of a logged-in player after verifying the current one, then expires the
   * account's reset tokens and ends every session of the account (`password-change`), this one
   * included: the client logs in again with the new password.
   * @throws LobbyError `LOBBY_PASSWORD_TOO_LONG` (either password, before any hashing),
   * `LOBBY_PLAYER_UNKNOWN`, `LOBBY_BAD_CREDENTIALS` (wrong current password; nothing changes),
   * `LOBBY_REVOCATION` when the sessions could not be revoked (the password is already changed).
   */
  async changePassword(accountId: string, oldPassword: string, newPassword: string): Promise<void> {
    await this.#accounts.replacePassword(accountId, oldPassword, newPassword);
    await this.#expireResetTokens(accountId);
    await this.#sessions.revokeAccount(accountId, RevocationReason.PasswordChange);
    this.#logger?.info({ accountId }, "password changed");
  }

  /**
   * Takes one attempt of the question of `key` (see the module doc), or says why none is available.
   * The statement that takes the last attempt sets the lock and resets the count.
   */
  async #reserveAttempt(key: string): Promise<Reservation> {
    const { maxGuesses, lockMs } = this.#options;
    const last = sql<boolean>`(secret_questions.failed_attempts + 1 >= ${maxGuesses}::int4)`;
    for (let tries = 1; ; tries++) {
      const reserved = await this.#db
        .updateTable("secret_questions")
        .from("accounts")
        .set({
          failed_attempts: sql<number>`case when ${last} then 0 else secret_questions.failed_attempts + 1 end`,
          locked_until: sql<Date | null>`case when ${last} then now() + ${interval(lockMs)} end`,
        })
        .whereRef("accounts.id", "=", "secret_questions.account_id")
        .where("accounts.username_key", "=", key)
        .where((eb) =>
          eb.or([
            eb("secret_questions.locked_until", "is", null),
            eb("secret_questions.locked_until", "<=", sql<Date>`now()`),
          ]),
        )
        .returning([
          "secret_questions.account_id",
          "secret_questions.answer_hash",
          "secret_questions.failed_attempts",
          sql<boolean>`secret_questions.locked_until is not null`.as("locked"),
        ])
        .executeTakeFirst();
      if (reserved !== undefined) {
        return {
          accountId: reserved.account_id,
          answerHash: reserved.answer_hash,
          attemptsLeft: reserved.locked ? 0 : maxGuesses - reserved.failed_attempts,
        };
      }
      const state = await this.#db
        .selectFrom("secret_questions")
        .innerJoin("accounts", "accounts.id", "secret_questions.account_id")
        .select(RETRY_AFTER_MS.as("retryAfterMs"))
        .where("accounts.username_key", "=", key)
        .executeTakeFirst();
      if (state === undefined) throw unavailable();
      // Zero: the lock ran out between the two statements; take an attempt again.
      if (state.retryAfterMs > 0 || tries >= 3) throw locked(Math.max(1, state.retryAfterMs));
    }
  }

  /** After any new password: other reset tokens expire, the question unlocks, sessions end. */
  async #afterPasswordSet(accountId: string, reason: RevocationReason): Promise<void> {
    await this.#expireResetTokens(accountId);
    await this.#db
      .updateTable("secret_questions")
      .set({ failed_attempts: 0, locked_until: null })
      .where("account_id", "=", accountId)
      .execute();
    await this.#sessions.revokeAccount(accountId, reason);
  }

  /** Expires every live reset token of the account, or only `tokenHash`. */
  async #expireResetTokens(accountId: string, tokenHash?: string): Promise<void> {
    let query = this.#db
      .updateTable("reset_tokens")
      .set({ expires_at: sql`now()` })
      .where("account_id", "=", accountId)
      .where("used_at", "is", null)
      .where("expires_at", ">", sql<Date>`now()`);
    if (tokenHash !== undefined) query = query.where("token_hash", "=", tokenHash);
    await query.execute();
  }

  /** Stores a fresh token (keeping at most `maxLiveResetTokens` live) and mails it. Never rejects. */
  async #deliverReset(accountId: string, username: string, email: string): Promise<void> {
    const token = generateToken();
    const tokenHash = hashToken(token);
    let expiresAt: Date;
    try {
      expiresAt = await this.#storeResetToken(accountId, tokenHash);
    } catch (error) {
      this.#logger?.error({ err: error, accountId }, "storing a password-reset token failed");
      return;
    }
    try {
      await this.#mailer.send({
        to: email,
        subject: "Meridian: reset your password",
        text: this.#resetText(username, token, expiresAt),
      });
      this.#logger?.info({ accountId }, "password-reset token mailed");
    } catch (error) {
      this.#logger?.error({ err: error, accountId }, "mailing a password-reset token failed");
      await this.#expireResetTokens(accountId, tokenHash).catch((expireError: unknown) => {
        this.#logger?.error({ err: expireError, accountId }, "expiring an unmailed reset token failed");
      });
    }
  }

  async #storeResetToken(accountId: string, tokenHash: string): Promise<Date> {
    const { resetTokenTtlMs, maxLiveResetTokens } = this.#options;
    return this.#db.transaction().execute(async (trx) => {
      // Requests of one account are serialised, so the cap holds under concurrent requests.
      await sql`select pg_advisory_xact_lock(${RESET_LOCK_NAMESPACE}::int4, hashtext(${accountId}::text))`.execute(
        trx,
      );
      const row = await trx
        .insertInto("reset_tokens")
        .values({
          token_hash: tokenHash,
          account_id: accountId,
          expires_at: sql<Date>`now() + ${interval(resetTokenTtlMs)}`,
        })
        .returning("expires_at")
        .executeTakeFirstOrThrow();
      // Keep the new token and the newest `max - 1` others. The new one is named, not found by
      // `created_at`: a transaction that waited for the lock may have an older `now()` than its
      // predecessor's.
      await trx
        .updateTable("reset_tokens")
        .set({ expires_at: sql`now()` })
        .where("account_id", "=", accountId)
        .where("used_at", "is", null)
        .where("expires_at", ">", sql<Date>`now()`)
        .where("token_hash", "<>", tokenHash)
        .where("token_hash", "not in", (eb) =>
          eb
            .selectFrom("reset_tokens")
            .select("token_hash")
            .where("account_id", "=", accountId)
            .where("used_at", "is", null)
            .where("expires_at", ">", sql<Date>`now()`)
            .where("token_hash", "<>", tokenHash)
            .orderBy("created_at", "desc")
            .orderBy("token_hash", "desc")
            .limit(maxLiveResetTokens - 1),
        )
        .execute();
      return row.expires_at;
    });
  }

  #resetText(username: string, token: string, expiresAt: Date): string {
    const minutes = Math.floor(this.#options.resetTokenTtlMs / 60_000);
    return [
      `Hello ${username},`,
      "",
      `someone (we hope you) asked to reset the password of the Meridian account "${username}".`,
      `Your reset code, valid once and for ${minutes} minute${minutes === 1 ? "" : "s"} (until ${expiresAt.toISOString()}):`,
      "",
      token,
      "",
      "Setting a new password with it signs the account out everywhere.",
      "If you did not ask for this, ignore this message: your password stays as it is.",
      "",
    ].join("\n");
  }
}
