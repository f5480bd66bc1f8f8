/**
 * Login throttling in Redis: failed password logins are counted per account (the normalised username)
 * and per IP, and past a number of free attempts each further failure locks the account (or the IP)
 * out for a growing delay.
 *
 * - **Growth.** The `n`-th failure within the window, for `n > freeAttempts`, locks for
 *   `min(baseDelayMs · 2^(n − freeAttempts − 1), maxDelayMs)`: 1 s, 2 s, 4 s, … 15 min with the
 *   defaults. The IP counter grows the same way after `ipFreeAttempts` (looser, default 20), so one IP
 *   guessing many accounts is slowed too.
 * - **Window.** A counter is forgotten `windowMs` after its last failure or after its lockout ends,
 *   whichever is later (the key's Redis TTL is set to that, in ms with `PEXPIRE`, so memory stays
 *   bounded). An attacker who keeps guessing therefore stays at the longest delay instead of getting
 *   fresh free attempts after each lockout. The clock is injectable: expiry is decided on it (an
 *   `exp` field of the key), Redis's TTL only collects the garbage.
 * - **Atomicity.** Every update is one Lua script on one key: concurrent failures never lose a count.
 *   Scripts touch a single key each, so the layout also works on a Redis Cluster.
 * - **Scope.** This throttles password login only. Recovery (secret question, reset token) has its
 *   own limits and is not blocked by it, so the owner of a locked-out account can still get in.
 *   A success clears the account's counter, not the IP's (an IP that guessed many accounts stays slow).
 * - **What it does not bound:** logins already in flight. A check lets every caller through until a
 *   failure is recorded, so N concurrent guesses all reach the hasher; their failures are all counted
 *   (and lock the account for longer), and argon2's cost bounds their rate.
 *
 * Keys (under the injected prefix): `<prefix>throttle:acct:<usernameKey>` and
 * `<prefix>throttle:ip:<ipKey>` (see {@link ipThrottleKey}), each a hash `{ n, until, exp }`.
 */
import type { Redis } from "ioredis";
import { LobbyError, LobbyErrorCode } from "../errors.js";
import { ipThrottleKey } from "./ip-key.js";

/** Default failures per account allowed in the window before lockouts start: 5. */
export const DEFAULT_FREE_ATTEMPTS = 5;
/** Default failures per IP allowed in the window before lockouts start: 20. */
export const DEFAULT_IP_FREE_ATTEMPTS = 20;
/** Default first lockout: 1 second. */
export const DEFAULT_BASE_DELAY_MS = 1_000;
/** Default longest lockout: 15 minutes. */
export const DEFAULT_MAX_DELAY_MS = 15 * 60_000;
/** Default window (how long a quiet counter is remembered): 15 minutes. */
export const DEFAULT_THROTTLE_WINDOW_MS = 15 * 60_000;

/** The Redis commands the throttle and the creation limit use (ioredis's `Redis` has them). */
export type ThrottleRedis = Pick<Redis, "eval" | "del">;

/** Options of {@link LoginThrottle}; all optional, validated at construction. */
export interface LoginThrottleOptions {
  /** Failures per account in the window before lockouts start. Default {@link DEFAULT_FREE_ATTEMPTS} (5). */
  readonly freeAttempts?: number;
  /** Failures per IP in the window before lockouts start. Default {@link DEFAULT_IP_FREE_ATTEMPTS} (20). */
  readonly ipFreeAttempts?: number;
  /** First lockout, ms; each further failure doubles it. Default {@link DEFAULT_BASE_DELAY_MS} (1 s). */
  readonly baseDelayMs?: number;
  /** Longest lockout, ms (≥ `baseDelayMs`). Default {@link DEFAULT_MAX_DELAY_MS} (15 min). */
  readonly maxDelayMs?: number;
  /**
   * How long a counter is remembered after its last failure or the end of its lockout, ms.
   * Default {@link DEFAULT_THROTTLE_WINDOW_MS} (15 min).
   */
  readonly windowMs?: number;
  /** The clock, ms since the epoch (tests inject it). Default `Date.now`. */
  readonly now?: () => number;
}

/** The answer of {@link LoginThrottle.check}. */
export type ThrottleDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterMs: number };

/** One counter (an account's or an IP's). */
export interface FailureCount {
  /** Failures in the window (after {@link LoginThrottle.recordFailure}: this one included). */
  readonly failures: number;
  /** Lockout left from now, ms; 0 when not locked. */
  readonly lockedForMs: number;
}

/** The account's and the IP's counters. */
export interface FailureRecord {
  readonly account: FailureCount;
  /** Undefined when no IP was given. */
  readonly ip: FailureCount | undefined;
}

interface Limits {
  readonly freeAttempts: number;
  readonly ipFreeAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly windowMs: number;
}

// KEYS[1] the counter; ARGV now. Returns { failures, lockout left in ms (0: allowed) }.
const PEEK = `
local v = redis.call('HMGET', KEYS[1], 'n', 'until', 'exp')
local now = tonumber(ARGV[1])
if (tonumber(v[3] or '0') or 0) <= now then return { 0, 0 } end
local untilMs = tonumber(v[2] or '0') or 0
return { tonumber(v[1] or '0') or 0, math.max(untilMs - now, 0) }
`;

// KEYS[1] the counter; ARGV now, free attempts, base delay, max delay, window.
// Returns { failures, lockout left in ms }.
const RECORD_FAILURE = `
local now = tonumber(ARGV[1])
local free = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local max = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'n', 'until', 'exp')
local n = 0
local untilMs = 0
if (tonumber(v[3] or '0') or 0) > now then
  n = tonumber(v[1] or '0') or 0
  untilMs = tonumber(v[2] or '0') or 0
end
n = n + 1
if n > free then
  local delay = max
  local excess = n - free - 1
  if excess < 60 then delay = math.min(base * (2 ^ excess), max) end
  untilMs = math.max(untilMs, now + delay)
end
local exp = math.max(now, untilMs) + window
redis.call('HSET', KEYS[1], 'n', n, 'until', untilMs, 'exp', exp)
redis.call('PEXPIRE', KEYS[1], exp - now)
return { n, math.max(untilMs - now, 0) }
`;

function positiveInt(name: string, value: number, problems: string[]): void {
  if (!Number.isSafeInteger(value) || value < 1)
    problems.push(`${name} must be an integer ≥ 1, got ${value}`);
}

/**
 * Failed-login counters per account and per IP, in Redis under `prefix`. Call {@link check} before
 * verifying a password (a throttled caller costs no hashing), {@link recordFailure} after a wrong
 * password (or an unknown name), {@link recordSuccess} after a good one.
 */
export class LoginThrottle {
  readonly #redis: ThrottleRedis;
  readonly #prefix: string;
  readonly #limits: Limits;
  readonly #now: () => number;

  /** @throws LobbyError `LOBBY_INVALID_OPTIONS` for an option out of range. */
  constructor(redis: ThrottleRedis, prefix: string, options: LoginThrottleOptions = {}) {
    const limits: Limits = Object.freeze({
      freeAttempts: options.freeAttempts ?? DEFAULT_FREE_ATTEMPTS,
      ipFreeAttempts: options.ipFreeAttempts ?? DEFAULT_IP_FREE_ATTEMPTS,
      baseDelayMs: options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS,
      maxDelayMs: options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS,
      windowMs: options.windowMs ?? DEFAULT_THROTTLE_WINDOW_MS,
    });
    const problems: string[] = [];
    for (const [name, value] of Object.entries(limits)) positiveInt(name, value, problems);
    if (limits.maxDelayMs < limits.baseDelayMs) {
      problems.push(`maxDelayMs (${limits.maxDelayMs}) must be ≥ baseDelayMs (${limits.baseDelayMs})`);
    }
    if (problems.length > 0) {
      throw new LobbyError(
        LobbyErrorCode.InvalidOptions,
        `login throttle options refused: ${problems.join("; ")}`,
        {
          context: { problems },
        },
      );
    }
    this.#redis = redis;
    this.#prefix = prefix;
    this.#limits = limits;
    this.#now = options.now ?? Date.now;
  }

  /** The resolved limits. */
  get limits(): Readonly<Limits> {
    return this.#limits;
  }

  /**
   * Whether a password login for `accountKey` (the normalised username) from `ip` may be attempted
   * now; when not, the longer of the two lockouts left.
   */
  async check(accountKey: string, ip?: string): Promise<ThrottleDecision> {
    const { account, ip: byIp } = await this.state(accountKey, ip);
    const retryAfterMs = Math.max(account.lockedForMs, byIp?.lockedForMs ?? 0);
    return retryAfterMs > 0 ? { allowed: false, retryAfterMs } : { allowed: true };
  }

  /**
   * {@link check}, throwing when throttled; otherwise the counters it read (a caller that saw no
   * account failures need not {@link recordSuccess}).
   * @throws LobbyError `LOBBY_THROTTLED` with `context.retryAfterMs`.
   */
  async assertAllowed(accountKey: string, ip?: string): Promise<FailureRecord> {
    const state = await this.state(accountKey, ip);
    const retryAfterMs = Math.max(state.account.lockedForMs, state.ip?.lockedForMs ?? 0);
    if (retryAfterMs > 0) {
      throw new LobbyError(LobbyErrorCode.Throttled, "too many failed logins; try again later", {
        context: { retryAfterMs },
      });
    }
    return state;
  }

  /** The counters of `accountKey` and (when given) `ip` now, without changing them. */
  async state(accountKey: string, ip?: string): Promise<FailureRecord> {
    const now = this.#now();
    const peek = async (key: string): Promise<FailureCount> => {
      const reply = (await this.#redis.eval(PEEK, 1, key, now)) as [number, number];
      return Object.freeze({ failures: Number(reply[0]), lockedForMs: Number(reply[1]) });
    };
    const [account, byIp] = await Promise.all([
      peek(this.#accountKey(accountKey)),
      ip === undefined ? undefined : peek(this.#ipKey(ip)),
    ]);
    return Object.freeze({ account, ip: byIp });
  }

  /** Counts one failed login for `accountKey` and (when given) `ip`, atomically for each. */
  async recordFailure(accountKey: string, ip?: string): Promise<FailureRecord> {
    const now = this.#now();
    const { freeAttempts, ipFreeAttempts, baseDelayMs, maxDelayMs, windowMs } = this.#limits;
    const record = async (key: string, free: number): Promise<FailureCount> => {
      const reply = (await this.#redis.eval(
        RECORD_FAILURE,
        1,
        key,
        now,
        free,
        baseDelayMs,
        maxDelayMs,
        windowMs,
      )) as [number, number];
      return Object.freeze({ failures: Number(reply[0]), lockedForMs: Number(reply[1]) });
    };
    const [account, ipCount] = await Promise.all([
      record(this.#accountKey(accountKey), freeAttempts),
      ip === undefined ? undefined : record(this.#ipKey(ip), ipFreeAttempts),
    ]);
    return Object.freeze({ account, ip: ipCount });
  }

  /** A successful login: forgets the account's failures (the IP's stay). */
  async recordSuccess(accountKey: string): Promise<void> {
    await this.#redis.del(this.#accountKey(accountKey));
  }

  #accountKey(accountKey: string): string {
    return `${this.#prefix}throttle:acct:${accountKey}`;
  }

  #ipKey(ip: string): string {
    return `${this.#prefix}throttle:ip:${ipThrottleKey(ip)}`;
  }
}
