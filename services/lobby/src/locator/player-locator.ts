/**
 * The player locator: where is a player right now (online or not; world, zone, server, gateway).
 *
 * - **Presence is the gateways'**. They write it to Redis under the `@meridian/protocol` presence
 *   contract (`<prefix>presence:<accountId>`, a hash with a TTL they keep fresh, removed on logout or
 *   after the resume grace period). The locator only reads it: a key that decodes is "online", a
 *   missing key or one that fails `decodePresence` (corrupt, partial, another layout version, another
 *   account's record, or not a hash at all) is "offline", never an error.
 * - **By account id, online: one `HGETALL`, no Postgres.** Only when there is no presence does the
 *   locator ask Postgres, to tell an offline player (whose display name it returns) from an unknown
 *   id. A malformed id is unknown without any I/O.
 * - **By username, online: the name cache, then one `HGETALL`.** The name is normalised
 *   (`normaliseUsername`: case and Unicode variants are one name) and its key resolved to an account
 *   id through a bounded in-process LRU cache (`nameCacheSize` entries), filled from Postgres on a
 *   miss. A key's id never changes while the account exists (names are not renamed, ids not reused),
 *   so entries need no TTL. The offline answer is always confirmed in Postgres, which also repairs a
 *   stale entry (an account deleted and its name taken again) and then checks the new id's presence.
 *   Unknown names are not cached: each costs a Postgres lookup by the unique `username_key` index.
 * - Failures of Redis or Postgres propagate as they are; the request boundary maps them to
 *   `LOBBY_UNAVAILABLE`.
 */
import { decodePresence, isPresenceAccountId, type PresenceRecord, presenceKey } from "@meridian/protocol";
import type { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { normaliseUsername } from "../accounts/index.js";
import type { Database } from "../db/database.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";
import { NameCache } from "./name-cache.js";

/** Default {@link PlayerLocatorOptions.nameCacheSize}: 100,000 names (a few MB). */
export const DEFAULT_NAME_CACHE_SIZE = 100_000;
/** Largest {@link PlayerLocatorOptions.nameCacheSize}. */
export const MAX_NAME_CACHE_SIZE = 10_000_000;

/** Options of {@link PlayerLocator}; validated at construction (`LOBBY_INVALID_OPTIONS`). */
export interface PlayerLocatorOptions {
  /**
   * How many username keys the name → id LRU cache keeps (0 disables it: every lookup by name asks
   * Postgres). Default {@link DEFAULT_NAME_CACHE_SIZE} (100,000).
   */
  readonly nameCacheSize?: number;
}

/** The Redis client as the locator uses it: presence reads only. */
export type PresenceReader = Pick<Redis, "hgetall">;

/** Who to locate: by account id (`accounts.id`, decimal string) or by username (any case/Unicode variant). */
export type PlayerQuery =
  | { readonly accountId: string; readonly username?: never }
  | { readonly username: string; readonly accountId?: never };

/** A known player with no (valid) presence. */
export interface OfflinePlayer {
  readonly online: false;
  /** `accounts.id`, decimal string. */
  readonly accountId: string;
  /** The display name, from Postgres. */
  readonly username: string;
}

/** A player with a presence record: where the gateway last said they are. */
export interface OnlinePlayer extends PresenceRecord {
  readonly online: true;
}

/** What {@link PlayerLocator.locate} answers. */
export type PlayerLocation = OfflinePlayer | OnlinePlayer;

interface AccountName {
  readonly id: string;
  readonly username_display: string;
}

function unknownPlayer(context: Record<string, unknown>): LobbyError {
  return new LobbyError(LobbyErrorCode.PlayerUnknown, "no such player", { context });
}

function offline(account: AccountName): OfflinePlayer {
  return Object.freeze({ online: false, accountId: account.id, username: account.username_display });
}

/** Answers "where is player X" from Redis presence, with Postgres only to prove an offline player exists. */
export class PlayerLocator {
  readonly #db: Kysely<Database>;
  readonly #redis: PresenceReader;
  readonly #prefix: string;
  readonly #names: NameCache<string>;

  /**
   * @param db the lobby's kysely (reads `accounts`).
   * @param redis an ioredis client (only `hgetall` is used).
   * @param redisPrefix the prefix the gateways write presence under, e.g. `meridian:` (the testkit's `mt:<runId>:`).
   * @throws LobbyError `LOBBY_INVALID_OPTIONS` for a bad `nameCacheSize`.
   */
  constructor(
    db: Kysely<Database>,
    redis: PresenceReader,
    redisPrefix: string,
    options: PlayerLocatorOptions = {},
  ) {
    const size = options.nameCacheSize ?? DEFAULT_NAME_CACHE_SIZE;
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_NAME_CACHE_SIZE) {
      throw new LobbyError(
        LobbyErrorCode.InvalidOptions,
        `nameCacheSize must be an integer from 0 to ${MAX_NAME_CACHE_SIZE}, got ${size}`,
        { context: { problems: ["nameCacheSize"] } },
      );
    }
    if (typeof redisPrefix !== "string") {
      throw new LobbyError(LobbyErrorCode.InvalidOptions, "redisPrefix must be a string", {
        context: { problems: ["redisPrefix"] },
      });
    }
    this.#db = db;
    this.#redis = redis;
    this.#prefix = redisPrefix;
    this.#names = new NameCache(size);
  }

  /**
   * Where the player is. Online answers carry the presence record as the gateway wrote it; offline
   * answers the account id and display name.
   * @throws LobbyError `LOBBY_PLAYER_UNKNOWN` (no account has this id or name; a malformed id),
   * `LOBBY_INVALID_USERNAME` (the name cannot be a username; no I/O), or `LOBBY_BAD_REQUEST` when the
   * query has both or neither of `accountId` and `username`.
   */
  async locate(query: PlayerQuery): Promise<PlayerLocation> {
    const byId = typeof query === "object" && query !== null && query.accountId !== undefined;
    const byName = typeof query === "object" && query !== null && query.username !== undefined;
    if (byId === byName) {
      throw new LobbyError(LobbyErrorCode.BadRequest, "locate takes exactly one of accountId and username", {
        context: { issues: ["exactly one of accountId and username"] },
      });
    }
    return byId ? this.#locateById(query.accountId as string) : this.#locateByName(query.username as string);
  }

  async #locateById(accountId: string): Promise<PlayerLocation> {
    if (!isPresenceAccountId(accountId)) throw unknownPlayer({ accountId: String(accountId).slice(0, 32) });
    const online = await this.#presence(accountId);
    if (online !== undefined) return online;
    const account = await this.#db
      .selectFrom("accounts")
      .select(["id", "username_display"])
      .where("id", "=", accountId)
      .executeTakeFirst();
    if (account === undefined) throw unknownPlayer({ accountId });
    return offline(account);
  }

  async #locateByName(username: string): Promise<PlayerLocation> {
    const { key } = normaliseUsername(username);
    const cached = this.#names.get(key);
    if (cached !== undefined) {
      const online = await this.#presence(cached);
      if (online !== undefined) return online;
    }
    const account = await this.#db
      .selectFrom("accounts")
      .select(["id", "username_display"])
      .where("username_key", "=", key)
      .executeTakeFirst();
    if (account === undefined) {
      this.#names.delete(key);
      throw unknownPlayer({ username: key });
    }
    this.#names.set(key, account.id);
    if (account.id !== cached) {
      const online = await this.#presence(account.id);
      if (online !== undefined) return online;
    }
    return offline(account);
  }

  /** The player's presence, if a valid record of this very account is in Redis. */
  async #presence(accountId: string): Promise<OnlinePlayer | undefined> {
    let hash: Record<string, string>;
    try {
      hash = await this.#redis.hgetall(presenceKey(this.#prefix, accountId));
    } catch (error) {
      // A key of another type under the presence name is corrupt presence, like a bad hash.
      if (error instanceof Error && error.message.startsWith("WRONGTYPE")) return undefined;
      throw error;
    }
    const record = decodePresence(hash);
    if (record === undefined || record.accountId !== accountId) return undefined;
    return Object.freeze({ online: true, ...record });
  }
}
