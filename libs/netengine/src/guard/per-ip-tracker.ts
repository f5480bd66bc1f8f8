/**
 * Per-address bookkeeping of the accept guard: open connections and the rate of new ones.
 *
 * @module
 */
import { OptionsError } from "../errors.js";
import type { ParsedIp } from "./ip-address.js";

/** Default {@link PerIpTrackerOptions.ipv6Prefix}: a /64 is what one IPv6 subscriber gets. */
export const DEFAULT_IPV6_LIMIT_PREFIX = 64;
/** Default {@link PerIpTrackerOptions.sweepEvery}. */
export const DEFAULT_SWEEP_EVERY = 1024;
/** The rate window: limits are new connections per second. */
export const RATE_WINDOW_MS = 1000;

/** Options of {@link PerIpTracker}. */
export interface PerIpTrackerOptions {
  /**
   * IPv6 addresses are counted together by this prefix length (0–128). An IPv6 host usually owns a
   * whole /64, so a per-address limit would let one attacker open 2^64 times the limit; the default
   * counts a /64 as one "IP". 128 counts each address alone. IPv4 addresses are always counted alone.
   * @default 64 ({@link DEFAULT_IPV6_LIMIT_PREFIX})
   */
  ipv6Prefix?: number;
  /**
   * Idle entries are swept after at least this many {@link PerIpTracker.tryOpen} calls, and at least
   * as many calls as there are entries, so a sweep costs O(1) amortised per call.
   * @default 1024 ({@link DEFAULT_SWEEP_EVERY})
   */
  sweepEvery?: number;
  /** Monotonic clock in milliseconds. @default performance.now */
  now?: () => number;
}

/** Outcome of {@link PerIpTracker.tryOpen}. */
export const TrackerVerdict = {
  Ok: "ok",
  TooManyConnections: "too_many_connections",
  RateLimited: "rate_limited",
} as const;
export type TrackerVerdict = (typeof TrackerVerdict)[keyof typeof TrackerVerdict];

// One class so every entry has the same hidden class; mutated in place on the hot path.
class IpEntry {
  open = 0;
  /** Start of the current rate window. */
  windowStart: number;
  /** Connections opened in the current window. */
  current = 0;
  /** Connections opened in the window before it. */
  previous = 0;
  constructor(now: number) {
    this.windowStart = now;
  }
}

/**
 * Counts, per IP, the open connections and the new connections per second, and refuses a new one
 * above either limit.
 *
 * The rate is a sliding one-second window, estimated from two fixed windows (the current and the
 * previous second, the latter weighted by how much of it still overlaps the last second): it does
 * not let a client burst twice the limit across a window boundary as a fixed window would, and
 * costs four numbers per IP instead of a timestamp per connection. Only connections let in count.
 *
 * Memory stays bounded without timers: an entry whose IP has no open connection and no connection
 * in the last two windows is dropped when it is released, or by an amortised sweep (see
 * {@link PerIpTrackerOptions.sweepEvery}). The table holds at most about twice the IPs seen in the
 * last two seconds plus `sweepEvery`, plus those with open connections.
 */
export class PerIpTracker {
  readonly #entries = new Map<number | bigint, IpEntry>();
  readonly #now: () => number;
  readonly #v6Shift: bigint;
  readonly #sweepEvery: number;
  #opsSinceSweep = 0;

  /** @throws OptionsError `NE_INVALID_OPTIONS` for an out-of-range option. */
  constructor(options: PerIpTrackerOptions = {}) {
    const prefix = options.ipv6Prefix ?? DEFAULT_IPV6_LIMIT_PREFIX;
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 128) {
      throw new OptionsError("ipv6Prefix must be an integer from 0 to 128", { ipv6Prefix: prefix });
    }
    const sweepEvery = options.sweepEvery ?? DEFAULT_SWEEP_EVERY;
    if (!Number.isInteger(sweepEvery) || sweepEvery < 1) {
      throw new OptionsError("sweepEvery must be a positive integer", { sweepEvery });
    }
    if (options.now !== undefined && typeof options.now !== "function") {
      throw new OptionsError("now must be a function returning milliseconds");
    }
    this.#v6Shift = BigInt(128 - prefix);
    this.#sweepEvery = sweepEvery;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The number of IPs (IPv6 networks) currently tracked. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Lets a new connection from `ip` in when it has fewer than `maxOpen` open connections and fewer
   * than `maxPerSecond` new ones in the last second; counts it as open and as new when let in.
   * Pass `Infinity` to count without limiting.
   */
  tryOpen(ip: ParsedIp, maxOpen: number, maxPerSecond: number): TrackerVerdict {
    const now = this.#now();
    if (++this.#opsSinceSweep >= this.#sweepEvery && this.#opsSinceSweep >= this.#entries.size) {
      this.sweep(now);
    }
    const key = this.#key(ip);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = new IpEntry(now);
      this.#entries.set(key, entry);
    } else {
      roll(entry, now);
    }
    if (entry.open >= maxOpen) return TrackerVerdict.TooManyConnections;
    const overlap = (RATE_WINDOW_MS - (now - entry.windowStart)) / RATE_WINDOW_MS;
    if (entry.previous * overlap + entry.current + 1 > maxPerSecond) return TrackerVerdict.RateLimited;
    entry.open++;
    entry.current++;
    return TrackerVerdict.Ok;
  }

  /** Counts one connection of `ip` as closed. Never goes below zero; unknown IPs are ignored. */
  release(ip: ParsedIp): void {
    const key = this.#key(ip);
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.open === 0) return;
    entry.open--;
    if (entry.open === 0 && isIdle(entry, this.#now())) this.#entries.delete(key);
  }

  /** The connections of `ip` (of its IPv6 network) currently counted as open. */
  openCount(ip: ParsedIp): number {
    return this.#entries.get(this.#key(ip))?.open ?? 0;
  }

  /** Drops every idle entry now. Runs by itself, amortised; exposed for shutdown and tests. */
  sweep(now = this.#now()): void {
    this.#opsSinceSweep = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.open === 0 && isIdle(entry, now)) this.#entries.delete(key);
    }
  }

  #key(ip: ParsedIp): number | bigint {
    return ip.family === 4 ? Number(ip.value) : ip.value >> this.#v6Shift;
  }
}

function roll(entry: IpEntry, now: number): void {
  const elapsed = now - entry.windowStart;
  if (elapsed < RATE_WINDOW_MS) return; // also a clock that went backwards: keep the window
  if (elapsed < 2 * RATE_WINDOW_MS) {
    entry.previous = entry.current;
    entry.windowStart += RATE_WINDOW_MS;
  } else {
    entry.previous = 0;
    entry.windowStart = now;
  }
  entry.current = 0;
}

/** No connection counted in the current or previous window: the rate estimate would be zero. */
function isIdle(entry: IpEntry, now: number): boolean {
  const elapsed = now - entry.windowStart;
  if (elapsed >= 2 * RATE_WINDOW_MS) return true;
  return entry.current === 0 && (entry.previous === 0 || elapsed >= RATE_WINDOW_MS);
}
