/**
 * Accounts in Postgres: login by username and password, creating the account on first login when
 * allowed (the seed's behaviour).
 *
 * Exactly one account per normalised name, whatever the race: creation is one transaction that
 * inserts the account with `ON CONFLICT (username_key) DO NOTHING RETURNING` and its credentials. A
 * concurrent loser's insert waits for the winner's transaction and returns no row; the loser then
 * verifies its password against the winner's committed hash, so every racer with the same password
 * logs in and one with another password gets `LOBBY_BAD_CREDENTIALS`.
 *
 * Throttling and the creation limit are optional collaborators passed per call (see
 * {@link LoginOptions}): the throttle is consulted after the cheap input checks and before anything
 * else (no Postgres read, no hashing for a throttled caller); the creation limit only when the name is
 * unknown and would be created, before the new password is hashed.
 *
 * Recovery's credential primitives live here too ({@link AccountStore.findByUsername},
 * {@link AccountStore.setPassword}, {@link AccountStore.replacePassword}, {@link AccountStore.setEmail}).
 * None of them ends a session: `RecoveryService` composes them with the session revocation.
 */
import { randomBytes } from "node:crypto";
import { type Kysely, sql } from "kysely";
import type { AccountRow, Database } from "../db/database.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";
import type { CreationLimit, LoginThrottle } from "../throttle/index.js";
import type { LoginRecorder } from "./login-recorder.js";
import { type NormalisedUsername, normaliseUsername } from "./normalise-username.js";
import { MAX_PASSWORD_BYTES, type PasswordHasher } from "./password-hasher.js";

/** Longest email address accepted, in UTF-16 units (RFC 5321's path limit less the brackets). */
export const MAX_EMAIL_LENGTH = 254;

// One `@`, a non-empty local part and domain, no whitespace or control characters (so an address can
// never carry a mail header). Deliverability is the mailer's business, not a pattern's.
const EMAIL_PATTERN = /^[^\s@\p{Cc}]{1,64}@[^\s@\p{Cc}]{1,253}$/u;
const ACCOUNT_ID_PATTERN = /^[1-9][0-9]{0,18}$/;
const MAX_INT8 = 2n ** 63n - 1n;

/** Whether `value` can be an `accounts.id`: a decimal string of a positive `bigint`. */
export function isAccountId(value: unknown): value is string {
  return typeof value === "string" && ACCOUNT_ID_PATTERN.test(value) && BigInt(value) <= MAX_INT8;
}

/** An account as the lobby's features see it. */
export interface Account {
  /** `accounts.id`, a decimal string (bigint). */
  readonly id: string;
  /** The name as shown (trimmed, NFKC, case kept), as first registered. */
  readonly username: string;
  /** The normalised unique name. */
  readonly usernameKey: string;
  readonly email: string | null;
  readonly createdAt: Date;
  readonly lastLoginAt: Date | null;
}

/** Options of {@link AccountStore.loginOrCreate}. */
export interface LoginOptions {
  /** Create the account when the name is unknown (config `LOBBY_AUTO_CREATE_ACCOUNTS`). */
  readonly autoCreate: boolean;
  /**
   * The caller's IP address (from the gateway): counted by `throttle` and by `creationLimit`. Without
   * it only the account is throttled and creations are not limited.
   */
  readonly ip?: string;
  /**
   * Failed-login throttle: checked first (`LOBBY_THROTTLED`, before any hashing); a wrong password or
   * an unknown name (auto-create off) counts a failure for the account and the IP, a success clears
   * the account's counter. Default: none.
   */
  readonly throttle?: LoginThrottle;
  /**
   * Per-IP creation limit, consulted (with `ip`) only when this login would create the account
   * (`LOBBY_CREATION_LIMITED`, before hashing). Default: none.
   */
  readonly creationLimit?: CreationLimit;
}

/** A successful login. */
export interface LoginResult {
  readonly account: Account;
  /** True when this login created the account (the player is told so). */
  readonly created: boolean;
}

interface AccountWithHash extends AccountRow {
  password_hash: string | null;
}

function toAccount(row: AccountRow): Account {
  return Object.freeze({
    id: row.id,
    username: row.username_display,
    usernameKey: row.username_key,
    email: row.email,
    createdAt: row.created_at,
    lastLoginAt: row.last_login_at,
  });
}

function playerUnknown(accountId: unknown): LobbyError {
  return new LobbyError(LobbyErrorCode.PlayerUnknown, "no such account", {
    context: { accountId: typeof accountId === "string" ? accountId.slice(0, 32) : undefined },
  });
}

/** Refuses a password over the 1 KiB cap (or not a string), before any hashing. */
function assertPasswordLength(password: unknown): asserts password is string {
  if (typeof password !== "string" || Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) {
    throw new LobbyError(LobbyErrorCode.PasswordTooLong, `password longer than ${MAX_PASSWORD_BYTES} bytes`, {
      context: { max: MAX_PASSWORD_BYTES },
    });
  }
}

function badCredentials(): LobbyError {
  return new LobbyError(LobbyErrorCode.BadCredentials, "wrong username or password");
}

/** Logs players in, creating accounts on first login when allowed. */
export class AccountStore {
  readonly #db: Kysely<Database>;
  readonly #hasher: PasswordHasher;
  readonly #recorder: LoginRecorder | undefined;
  #dummyHash: Promise<string> | undefined;

  /**
   * @param options.loginRecorder batches `last_login_at` and the `logins` counter of every successful
   * login (write-behind, see {@link LoginRecorder}); without it `last_login_at` is updated in place
   * and logins are not counted.
   */
  constructor(db: Kysely<Database>, hasher: PasswordHasher, options: { loginRecorder?: LoginRecorder } = {}) {
    this.#db = db;
    this.#hasher = hasher;
    this.#recorder = options.loginRecorder;
  }

  /**
   * Logs in `username` with `password`, creating the account when it does not exist and
   * `options.autoCreate` is on. Updates `last_login_at`, and re-hashes the password when the stored
   * hash was made with weaker parameters than the hasher's.
   * @throws LobbyError `LOBBY_INVALID_USERNAME`, `LOBBY_PASSWORD_TOO_LONG` (before any hashing),
   * `LOBBY_THROTTLED` (with `options.throttle`, before any hashing), `LOBBY_CREATION_LIMITED` (with
   * `options.creationLimit` and `options.ip`, before hashing), or `LOBBY_BAD_CREDENTIALS` for a wrong
   * password and, with auto-create off, an unknown name (same code, same throttle count, and about the
   * same time: an unknown name is verified against a dummy hash).
   */
  async loginOrCreate(username: string, password: string, options: LoginOptions): Promise<LoginResult> {
    const name = normaliseUsername(username);
    if (typeof password !== "string" || Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) {
      throw new LobbyError(
        LobbyErrorCode.PasswordTooLong,
        `password longer than ${MAX_PASSWORD_BYTES} bytes`,
      );
    }
    const { throttle, ip } = options;
    if (!throttle) return this.#loginOrCreate(name, password, options);
    const before = await throttle.assertAllowed(name.key, ip);
    let result: LoginResult;
    try {
      result = await this.#loginOrCreate(name, password, options);
    } catch (error) {
      if (error instanceof LobbyError && error.code === LobbyErrorCode.BadCredentials) {
        await throttle.recordFailure(name.key, ip);
      }
      throw error;
    }
    // Nothing to forget when the account had no failures: saves a Redis round trip per login.
    if (before.account.failures > 0) await throttle.recordSuccess(name.key);
    return result;
  }

  async #loginOrCreate(
    name: NormalisedUsername,
    password: string,
    options: LoginOptions,
  ): Promise<LoginResult> {
    const existing = await this.#find(name.key);
    if (existing) return { account: await this.#login(existing, password), created: false };
    if (!options.autoCreate) {
      this.#dummyHash ??= this.#hasher.hash(randomBytes(32).toString("base64"));
      await this.#hasher.verify(await this.#dummyHash, password);
      throw badCredentials();
    }

    const { ip, creationLimit } = options;
    const limited = ip !== undefined && creationLimit !== undefined;
    if (limited) await creationLimit.acquire(ip);
    let created: AccountRow | undefined;
    try {
      created = await this.#create(name, password);
    } finally {
      // Lost the race (or failed): no account was created from this IP, so the slot goes back.
      if (limited && !created) await creationLimit.release(ip);
    }
    if (created) {
      // The insert set last_login_at; the recorder only counts the login.
      this.#recorder?.record(created.id);
      return { account: toAccount(created), created: true };
    }

    // Another login created it first (its transaction has committed: ours waited for it).
    const winner = await this.#find(name.key);
    if (!winner) throw badCredentials();
    return { account: await this.#login(winner, password), created: false };
  }

  async #create(name: NormalisedUsername, password: string): Promise<AccountRow | undefined> {
    const passwordHash = await this.#hasher.hash(password);
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto("accounts")
        .values({ username_display: name.display, username_key: name.key, last_login_at: sql`now()` })
        .onConflict((oc) => oc.column("username_key").doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!row) return undefined;
      await trx
        .insertInto("credentials")
        .values({ account_id: row.id, password_hash: passwordHash, params: this.#hasher.paramsText })
        .execute();
      return row;
    });
  }

  async #find(key: string): Promise<AccountWithHash | undefined> {
    return this.#db
      .selectFrom("accounts")
      .leftJoin("credentials", "credentials.account_id", "accounts.id")
      .selectAll("accounts")
      .select("credentials.password_hash")
      .where("accounts.username_key", "=", key)
      .executeTakeFirst();
  }

  async #login(row: AccountWithHash, password: string): Promise<Account> {
    if (row.password_hash === null || !(await this.#hasher.verify(row.password_hash, password))) {
      throw badCredentials();
    }
    if (this.#hasher.needsRehash(row.password_hash)) {
      const upgraded = await this.#hasher.hash(password);
      // Only replaces the hash that was verified: a concurrent password change wins.
      await this.#db
        .updateTable("credentials")
        .set({ password_hash: upgraded, params: this.#hasher.paramsText, updated_at: sql`now()` })
        .where("account_id", "=", row.id)
        .where("password_hash", "=", row.password_hash)
        .execute();
    }
    if (this.#recorder !== undefined) {
      this.#recorder.record(row.id);
      return toAccount({ ...row, last_login_at: new Date() });
    }
    const updated = await this.#db
      .updateTable("accounts")
      .set({ last_login_at: sql`now()` })
      .where("id", "=", row.id)
      .returningAll()
      .executeTakeFirst();
    return toAccount(updated ?? row);
  }

  /**
   * The account named `username` (any case or Unicode variant of it), or `undefined` when there is
   * none.
   * @throws LobbyError `LOBBY_INVALID_USERNAME` when `username` cannot be a name (no lookup is made).
   */
  async findByUsername(username: string): Promise<Account | undefined> {
    const name = normaliseUsername(username);
    const row = await this.#db
      .selectFrom("accounts")
      .selectAll()
      .where("username_key", "=", name.key)
      .executeTakeFirst();
    return row === undefined ? undefined : toAccount(row);
  }

  /**
   * Sets the account's password, whatever it was (recovery; an account without credentials gets
   * them). Hashes with the store's hasher, off the event loop. Ends no session: callers that must end
   * them (password reset, password change) revoke them after this returns.
   * @throws LobbyError `LOBBY_PASSWORD_TOO_LONG` over 1 KiB (before hashing), `LOBBY_PLAYER_UNKNOWN`
   * when no account has this id.
   */
  async setPassword(accountId: string, newPassword: string): Promise<void> {
    assertPasswordLength(newPassword);
    if (!isAccountId(accountId)) throw playerUnknown(accountId);
    const passwordHash = await this.#hasher.hash(newPassword);
    const params = this.#hasher.paramsText;
    // Insert-from-select: no row is written (and none returned) when the account does not exist.
    const row = await this.#db
      .insertInto("credentials")
      .columns(["account_id", "password_hash", "params"])
      .expression((eb) =>
        eb
          .selectFrom("accounts")
          .select([
            "accounts.id",
            sql<string>`${passwordHash}::text`.as("password_hash"),
            sql<string>`${params}::text`.as("params"),
          ])
          .where("accounts.id", "=", accountId),
      )
      .onConflict((oc) =>
        oc.column("account_id").doUpdateSet({ password_hash: passwordHash, params, updated_at: sql`now()` }),
      )
      .returning("account_id")
      .executeTakeFirst();
    if (row === undefined) throw playerUnknown(accountId);
  }

  /**
   * Replaces the password after verifying the current one: the credential half of a password change
   * (`RecoveryService.changePassword` also ends the account's sessions; this ends none). Of two
   * concurrent changes from the same old password one wins; the other finds the password no longer
   * matches and gets `LOBBY_BAD_CREDENTIALS`.
   * @throws LobbyError `LOBBY_PASSWORD_TOO_LONG` for either password over 1 KiB (before any hashing),
   * `LOBBY_PLAYER_UNKNOWN` when no account has this id, `LOBBY_BAD_CREDENTIALS` when `oldPassword`
   * is wrong (or the account has no password).
   */
  async replacePassword(accountId: string, oldPassword: string, newPassword: string): Promise<void> {
    assertPasswordLength(oldPassword);
    assertPasswordLength(newPassword);
    if (!isAccountId(accountId)) throw playerUnknown(accountId);
    const row = await this.#db
      .selectFrom("accounts")
      .leftJoin("credentials", "credentials.account_id", "accounts.id")
      .select(["accounts.id", "credentials.password_hash"])
      .where("accounts.id", "=", accountId)
      .executeTakeFirst();
    if (row === undefined) throw playerUnknown(accountId);
    const current = row.password_hash;
    if (current === null || !(await this.#hasher.verify(current, oldPassword))) throw badCredentials();
    const passwordHash = await this.#hasher.hash(newPassword);
    // Only replaces the hash that was verified: a concurrent change that landed first wins.
    const result = await this.#db
      .updateTable("credentials")
      .set({ password_hash: passwordHash, params: this.#hasher.paramsText, updated_at: sql`now()` })
      .where("account_id", "=", accountId)
      .where("password_hash", "=", current)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw badCredentials();
  }

  /**
   * Sets (trimmed) or removes (`null`) the account's email address, used for password-reset mail.
   * Email is optional: an account without one can still recover by its secret question.
   * @throws LobbyError `LOBBY_INVALID_RECOVERY` (`context.field` = `email`) for an address that is
   * empty, longer than {@link MAX_EMAIL_LENGTH} or not `local@domain` without whitespace;
   * `LOBBY_PLAYER_UNKNOWN` when no account has this id.
   */
  async setEmail(accountId: string, email: string | null): Promise<void> {
    const address = email === null ? null : normaliseEmail(email);
    if (!isAccountId(accountId)) throw playerUnknown(accountId);
    const row = await this.#db
      .updateTable("accounts")
      .set({ email: address })
      .where("id", "=", accountId)
      .returning("id")
      .executeTakeFirst();
    if (row === undefined) throw playerUnknown(accountId);
  }
}

function normaliseEmail(raw: unknown): string {
  const address = typeof raw === "string" ? raw.trim() : "";
  if (address.length === 0 || address.length > MAX_EMAIL_LENGTH || !EMAIL_PATTERN.test(address)) {
    throw new LobbyError(LobbyErrorCode.InvalidRecovery, "invalid email address", {
      context: { field: "email", length: typeof raw === "string" ? raw.length : undefined },
    });
  }
  return address;
}
