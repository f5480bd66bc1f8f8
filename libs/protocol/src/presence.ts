/**
 * Player presence in Redis: the contract between the gateways (which write it) and the lobby (whose
 * locator reads it). Pure: this module names the key, encodes and decodes the record and builds the
 * commands; it talks to no Redis (no ioredis dependency here), so a writer in any language can follow it.
 *
 * **Layout.** One Redis hash per online player at `<keyPrefix>presence:<accountId>` (see
 * {@link presenceKey}), holding every field of {@link PresenceField} as a string (see
 * {@link encodePresence}): `v` (the layout version, `"1"`), `accountId`, `username`, `world`, `zone`,
 * `server`, `gateway`, `since`, `updatedAt`. A null `zone` or `server` is stored as the empty string,
 * so every write sets every field and a plain `HSET` replaces a whole record with no `DEL`.
 *
 * **Lifetime.** The key always has a TTL ({@link DEFAULT_PRESENCE_TTL_MS}, 30 s). The gateway writes
 * the whole record with {@link presenceWriteCommands} (`HSET` + `PEXPIRE` in one `MULTI`) at login, on
 * every route change (zone or server), and as a refresh every TTL / {@link PRESENCE_REFRESH_DIVISOR}
 * (10 s), with `updatedAt` = now. It never writes a partial record (a lone `HSET updatedAt` on a key
 * that just expired would leave a hash without the other fields; readers treat that as corrupt, i.e.
 * offline). On logout, or when the resume grace period ends, it runs {@link PRESENCE_CLEAR_SCRIPT}
 * (deletes the key only if it still holds the record this gateway wrote: a player who already
 * reconnected through another gateway stays online). A crashed gateway's records expire within a TTL.
 *
 * **Reading.** Redis's TTL is the authority on "online": a reader treats a present key whose hash
 * decodes as online, and anything else (no key, a hash that fails {@link decodePresence}) as offline.
 * Readers ignore fields they do not know, so later writers may add fields without bumping `v`; a
 * change that readers must understand bumps {@link PRESENCE_LAYOUT_VERSION}.
 */
import { ProtocolError, ProtocolErrorCode } from "./errors.js";

/** Default lifetime of a presence key, ms: 30 s. */
export const DEFAULT_PRESENCE_TTL_MS = 30_000;
/** A gateway refreshes each presence key every TTL / this (10 s with the default TTL): two refreshes may fail. */
export const PRESENCE_REFRESH_DIVISOR = 3;
/** The layout version written in field `v`; a reader refuses (treats as offline) any other. */
export const PRESENCE_LAYOUT_VERSION = 1;
/** Longest text field (`username`, `world`, `zone`, `server`, `gateway`), in UTF-16 code units. */
export const MAX_PRESENCE_TEXT_LENGTH = 128;

/** Where a player is right now, as a gateway recorded it. */
export interface PresenceRecord {
  /** `accounts.id`, a positive decimal string (Postgres `bigint`). Equals the id in the key. */
  readonly accountId: string;
  /** The player's display name (as the lobby returned it at login). */
  readonly username: string;
  /** The world the player is in. */
  readonly world: string;
  /** The zone the player is in; null while not yet placed (e.g. between login and the first route). */
  readonly zone: string | null;
  /** The id of the zone server simulating the player; null while not yet placed. */
  readonly server: string | null;
  /** The id of the gateway holding the player's connection. */
  readonly gateway: string;
  /** When this presence began (login or resume), ms since the epoch. */
  readonly since: number;
  /** When the gateway last wrote the record, ms since the epoch; `since` ≤ `updatedAt`. */
  readonly updatedAt: number;
}

/** The hash fields of a presence key, in the order they are written. */
export const PresenceField = {
  Version: "v",
  AccountId: "accountId",
  Username: "username",
  World: "world",
  Zone: "zone",
  Server: "server",
  Gateway: "gateway",
  Since: "since",
  UpdatedAt: "updatedAt",
} as const;
export type PresenceField = (typeof PresenceField)[keyof typeof PresenceField];

/** A Redis command as an array `[name, ...args]`, the form ioredis's `multi([...])` takes. */
export type PresenceCommand = [command: string, ...args: (string | number)[]];

/**
 * Deletes a presence key only if it still holds the record a gateway wrote: `KEYS[1]` the presence
 * key, `ARGV[1]` the gateway id, `ARGV[2]` the record's `since` (decimal). Returns 1 when it deleted,
 * 0 otherwise. Run with `EVAL`/`EVALSHA`, e.g. `redis.eval(PRESENCE_CLEAR_SCRIPT, 1, key, gateway, since)`.
 */
export const PRESENCE_CLEAR_SCRIPT = `local v = redis.call('HMGET', KEYS[1], 'gateway', 'since')
if v[1] == ARGV[1] and v[2] == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0`;

// A positive Postgres bigint: no sign, no leading zero, at most 19 digits (range checked below).
const ACCOUNT_ID = /^[1-9][0-9]{0,18}$/;
const MAX_BIGINT = 9_223_372_036_854_775_807n;
// A canonical non-negative decimal integer: no sign, no leading zero, no exponent.
const DECIMAL = /^(?:0|[1-9][0-9]{0,15})$/;
// Control characters (C0, DEL, C1) have no place in names or ids.
const CONTROL = /\p{Cc}/u;

/** Whether `value` is an account id a presence key may carry: a positive decimal `bigint`. */
export function isPresenceAccountId(value: unknown): value is string {
  return typeof value === "string" && ACCOUNT_ID.test(value) && BigInt(value) <= MAX_BIGINT;
}

function isText(value: unknown): value is string {
  return (
    typeof value === "string" &&
    value.length > 0 &&
    value.length <= MAX_PRESENCE_TEXT_LENGTH &&
    !CONTROL.test(value)
  );
}

function isTime(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function invalid(path: string, value: unknown): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.InvalidMessage, `invalid presence ${path}`, {
    context: { path, type: typeof value },
  });
}

/**
 * The presence key of `accountId` under `keyPrefix` (the writer's and the reader's shared Redis
 * prefix, e.g. `meridian:` or the testkit's `mt:<runId>:`): `<keyPrefix>presence:<accountId>`.
 * @throws ProtocolError `PROTO_INVALID_MESSAGE` (`context.path` `"accountId"`) when `accountId` is not
 * a positive decimal bigint, or `"keyPrefix"` when the prefix is not a string.
 */
export function presenceKey(keyPrefix: string, accountId: string): string {
  if (typeof keyPrefix !== "string") throw invalid("keyPrefix", keyPrefix);
  if (!isPresenceAccountId(accountId)) throw invalid("accountId", accountId);
  return `${keyPrefix}presence:${accountId}`;
}

/** The first field of `record` that breaks the contract, or undefined when it is valid. */
function firstInvalidField(record: PresenceRecord): string | undefined {
  if (typeof record !== "object" || record === null) return "record";
  if (!isPresenceAccountId(record.accountId)) return PresenceField.AccountId;
  if (!isText(record.username)) return PresenceField.Username;
  if (!isText(record.world)) return PresenceField.World;
  if (record.zone !== null && !isText(record.zone)) return PresenceField.Zone;
  if (record.server !== null && !isText(record.server)) return PresenceField.Server;
  if (!isText(record.gateway)) return PresenceField.Gateway;
  if (!isTime(record.since)) return PresenceField.Since;
  if (!isTime(record.updatedAt) || record.updatedAt < record.since) return PresenceField.UpdatedAt;
  return undefined;
}

/**
 * The hash fields of `record` (every field of {@link PresenceField}, null as `""`), for `HSET`.
 * @throws ProtocolError `PROTO_INVALID_MESSAGE` with `context.path` naming the first bad field: text
 * fields must be 1–{@link MAX_PRESENCE_TEXT_LENGTH} characters without control characters, times
 * non-negative safe integers with `since` ≤ `updatedAt`. What encodes, {@link decodePresence} decodes
 * back to an equal record.
 */
export function encodePresence(record: PresenceRecord): Record<string, string> {
  const bad = firstInvalidField(record);
  if (bad !== undefined) throw invalid(bad, (record as unknown as Record<string, unknown> | null)?.[bad]);
  return {
    [PresenceField.Version]: String(PRESENCE_LAYOUT_VERSION),
    [PresenceField.AccountId]: record.accountId,
    [PresenceField.Username]: record.username,
    [PresenceField.World]: record.world,
    [PresenceField.Zone]: record.zone ?? "",
    [PresenceField.Server]: record.server ?? "",
    [PresenceField.Gateway]: record.gateway,
    [PresenceField.Since]: String(record.since),
    [PresenceField.UpdatedAt]: String(record.updatedAt),
  };
}

function own(hash: Readonly<Record<string, unknown>>, field: string): unknown {
  return Object.hasOwn(hash, field) ? hash[field] : undefined;
}

function decodeTime(value: unknown): number | undefined {
  return typeof value === "string" && DECIMAL.test(value) && Number.isSafeInteger(Number(value))
    ? Number(value)
    : undefined;
}

/**
 * The record in a presence hash (as `HGETALL` returns it), or undefined when the hash is not a
 * valid record of layout version {@link PRESENCE_LAYOUT_VERSION}: empty (no key), a field missing
 * or malformed, another version. Never throws, whatever it is given. Unknown fields are ignored.
 */
export function decodePresence(
  hash: Readonly<Record<string, string>> | null | undefined,
): PresenceRecord | undefined {
  if (typeof hash !== "object" || hash === null) return undefined;
  if (own(hash, PresenceField.Version) !== String(PRESENCE_LAYOUT_VERSION)) return undefined;
  const zone = own(hash, PresenceField.Zone);
  const server = own(hash, PresenceField.Server);
  if (typeof zone !== "string" || typeof server !== "string") return undefined;
  const record: PresenceRecord = {
    accountId: own(hash, PresenceField.AccountId) as string,
    username: own(hash, PresenceField.Username) as string,
    world: own(hash, PresenceField.World) as string,
    zone: zone === "" ? null : zone,
    server: server === "" ? null : server,
    gateway: own(hash, PresenceField.Gateway) as string,
    since: decodeTime(own(hash, PresenceField.Since)) as number,
    updatedAt: decodeTime(own(hash, PresenceField.UpdatedAt)) as number,
  };
  return firstInvalidField(record) === undefined ? Object.freeze(record) : undefined;
}

/**
 * The commands that write (or refresh) `record` with a TTL, to run in one `MULTI`:
 * `HSET <key> <field> <value>…` then `PEXPIRE <key> <ttlMs>`. With ioredis:
 * `await redis.multi(presenceWriteCommands(prefix, record)).exec()`.
 * @param ttlMs the key's lifetime, ms (a positive safe integer). Default {@link DEFAULT_PRESENCE_TTL_MS}.
 * @throws ProtocolError `PROTO_INVALID_MESSAGE` for an invalid record (see {@link encodePresence}) or
 * `ttlMs` (`context.path` `"ttlMs"`).
 */
export function presenceWriteCommands(
  keyPrefix: string,
  record: PresenceRecord,
  ttlMs: number = DEFAULT_PRESENCE_TTL_MS,
): PresenceCommand[] {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw invalid("ttlMs", ttlMs);
  const fields = encodePresence(record);
  const key = presenceKey(keyPrefix, record.accountId);
  // Fresh mutable arrays on every call (nothing shared to protect): the shape `multi()` takes.
  return [
    ["hset", key, ...Object.entries(fields).flat()],
    ["pexpire", key, ttlMs],
  ];
}
