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
 */
import { randomBytes } from "node:crypto";
import { type Kysely, sql } from "kysely";
import type { AccountRow, Database } from "../db/database.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";
import type { CreationLimit, LoginThrottle } from "../throttle/index.js";
import { type NormalisedUsername, normaliseUsername } from "./normalise-username.js";
import { MAX_PASSWORD_BYTES, type PasswordHasher } from "./password-hasher.js";

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

function badCredentials(): LobbyError {
  return new LobbyError(LobbyErrorCode.BadCredentials, "wrong username or password");
}

/** Logs players in, creating accounts on first login when allowed. */
export class AccountStore {
  readonly #db: Kysely<Database>;
  readonly #hasher: PasswordHasher;
  #dummyHash: Promise<string> | undefined;

  constructor(db: Kysely<Database>, hasher: PasswordHasher) {
    this.#db = db;
    this.#hasher = hasher;
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
    await throttle.assertAllowed(name.key, ip);
    let result: LoginResult;
    try {
      result = await this.#loginOrCreate(name, password, options);
    } catch (error) {
      if (error instanceof LobbyError && error.code === LobbyErrorCode.BadCredentials) {
        await throttle.recordFailure(name.key, ip);
      }
      throw error;
    }
    await throttle.recordSuccess(name.key);
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
    if (created) return { account: toAccount(created), created: true };

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
    const updated = await this.#db
      .updateTable("accounts")
      .set({ last_login_at: sql`now()` })
      .where("id", "=", row.id)
      .returningAll()
      .executeTakeFirst();
    return toAccount(updated ?? row);
  }
}
