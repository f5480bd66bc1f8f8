/**
 * The per-IP account-creation limit: at most `maxPerWindow` accounts created from one IP (IPv6: one
 * /64, see {@link ipThrottleKey}) per window (default 5 per hour). Consulted only when a login would
 * create an account, before the new password is hashed; logins to existing accounts never touch it.
 *
 * A fixed window starting at the IP's first creation: `<prefix>create:<ipKey>` is a hash `{ n, exp }`
 * whose Redis TTL (ms, `PEXPIRE`) ends with the window. Taking a slot is one Lua script (check and
 * count together), so concurrent creations never exceed the limit. The clock is injectable; expiry is
 * decided on it, Redis's TTL only collects the garbage.
 */
import { LobbyError, LobbyErrorCode } from "../errors.js";
import { ipThrottleKey } from "./ip-key.js";
import type { ThrottleRedis } from "./login-throttle.js";

/** Default accounts one IP may create per window: 5 (config `LOBBY_MAX_ACCOUNTS_PER_IP_PER_HOUR`). */
export const DEFAULT_MAX_ACCOUNTS_PER_IP = 5;
/** Default creation window: 1 hour. */
export const DEFAULT_CREATION_WINDOW_MS = 60 * 60_000;

/** Options of {@link CreationLimit}; all optional, validated at construction. */
export interface CreationLimitOptions {
  /** Accounts one IP may create per window. Default {@link DEFAULT_MAX_ACCOUNTS_PER_IP} (5). */
  readonly maxPerWindow?: number;
  /** The window, ms, from the IP's first creation in it. Default {@link DEFAULT_CREATION_WINDOW_MS} (1 h). */
  readonly windowMs?: number;
  /** The clock, ms since the epoch (tests inject it). Default `Date.now`. */
  readonly now?: () => number;
}

// KEYS[1] the counter; ARGV now, max, window. Returns { 1, count } when taken, { 0, ms left } when full.
const ACQUIRE = `
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'n', 'exp')
local n = 0
local exp = tonumber(v[2] or '0') or 0
if exp > now then n = tonumber(v[1] or '0') or 0 else exp = now + tonumber(ARGV[3]) end
if n >= max then return { 0, exp - now } end
n = n + 1
redis.call('HSET', KEYS[1], 'n', n, 'exp', exp)
redis.call('PEXPIRE', KEYS[1], exp - now)
return { 1, n }
`;

// KEYS[1] the counter; ARGV now. Gives back one slot of the current window.
const RELEASE = `
local v = redis.call('HMGET', KEYS[1], 'n', 'exp')
if (tonumber(v[2] or '0') or 0) > tonumber(ARGV[1]) and (tonumber(v[1] or '0') or 0) > 0 then
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
return 0
`;

/** Counts account creations per IP in Redis under `prefix`. */
export class CreationLimit {
  readonly #redis: ThrottleRedis;
  readonly #prefix: string;
  readonly #max: number;
  readonly #windowMs: number;
  readonly #now: () => number;

  /** @throws LobbyError `LOBBY_INVALID_OPTIONS` for an option out of range. */
  constructor(redis: ThrottleRedis, prefix: string, options: CreationLimitOptions = {}) {
    const max = options.maxPerWindow ?? DEFAULT_MAX_ACCOUNTS_PER_IP;
    const windowMs = options.windowMs ?? DEFAULT_CREATION_WINDOW_MS;
    for (const [name, value] of [
      ["maxPerWindow", max],
      ["windowMs", windowMs],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new LobbyError(LobbyErrorCode.InvalidOptions, `${name} must be an integer ≥ 1, got ${value}`, {
          context: { [name]: value },
        });
      }
    }
    this.#redis = redis;
    this.#prefix = prefix;
    this.#max = max;
    this.#windowMs = windowMs;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Takes one creation slot for `ip`; give it back with {@link release} if no account was created
   * after all (another login created the name first).
   * @throws LobbyError `LOBBY_CREATION_LIMITED` with `context.retryAfterMs` when the IP used them all.
   */
  async acquire(ip: string): Promise<void> {
    const reply = (await this.#redis.eval(
      ACQUIRE,
      1,
      this.#key(ip),
      this.#now(),
      this.#max,
      this.#windowMs,
    )) as [number, number];
    if (Number(reply[0]) !== 1) {
      throw new LobbyError(
        LobbyErrorCode.CreationLimited,
        "too many accounts created from this address; try later",
        {
          context: { retryAfterMs: Number(reply[1]), max: this.#max },
        },
      );
    }
  }

  /** Gives back a slot taken by {@link acquire} in the current window. */
  async release(ip: string): Promise<void> {
    await this.#redis.eval(RELEASE, 1, this.#key(ip), this.#now());
  }

  #key(ip: string): string {
    return `${this.#prefix}create:${ipThrottleKey(ip)}`;
  }
}
