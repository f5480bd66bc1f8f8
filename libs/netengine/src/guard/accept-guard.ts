/**
 * The accept guard: the decision, on each accepted socket and before any byte is read, whether the
 * connection may stay. Pure logic; the listener owns the sockets.
 *
 * @module
 */
import { OptionsError } from "../errors.js";
import {
  AdaptiveTolerance,
  type AdaptiveToleranceOptions,
  type ToleranceState,
} from "./adaptive-tolerance.js";
import type { AddressListSource } from "./address-list.js";
import { type ParsedIp, tryParseIp } from "./ip-address.js";
import { DEFAULT_IPV6_LIMIT_PREFIX, PerIpTracker, TrackerVerdict } from "./per-ip-tracker.js";

/** Default {@link AcceptGuardOptions.maxConnectionsPerIp}. */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 32;
/** Default {@link AcceptGuardOptions.maxNewConnectionsPerIpPerSecond}. */
export const DEFAULT_MAX_NEW_CONNECTIONS_PER_IP_PER_SECOND = 16;
/** Default {@link AcceptGuardOptions.preAuthDeadlineMs}. */
export const DEFAULT_PRE_AUTH_DEADLINE_MS = 5000;
/** Default {@link AcceptGuardOptions.ipv6LimitPrefix}. */
export { DEFAULT_IPV6_LIMIT_PREFIX };

/** Why the guard refused a connection. The listener closes the socket without reading from it. */
export const RejectReason = {
  /** No remote address (the socket was already gone) or one that does not parse. */
  InvalidAddress: "invalid_address",
  /** The address is in the deny list. */
  Denied: "denied",
  /** An allow list is set and the address is not in it. */
  NotAllowed: "not_allowed",
  /** The address already has the maximum of open connections. */
  TooManyConnections: "too_many_connections",
  /** The address opened too many connections in the last second. */
  RateLimited: "rate_limited",
} as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

/** What became of a connection that was let in, reported by {@link AcceptGuard.recordPreAuth}. */
export const PreAuthOutcome = {
  /** Closed for not sending a complete valid frame before the pre-auth deadline. */
  Pruned: "pruned",
  /** Sent its first valid frame in time. */
  Established: "established",
} as const;
export type PreAuthOutcome = (typeof PreAuthOutcome)[keyof typeof PreAuthOutcome];

/**
 * The guard's answer for one socket. When `ok`, the connection is counted as open for `ip` until
 * {@link AcceptGuard.release}. When refused, `ip` is present unless the address did not parse.
 */
export type AcceptVerdict =
  | { readonly ok: true; readonly ip: ParsedIp }
  | { readonly ok: false; readonly reason: RejectReason; readonly ip?: ParsedIp };

/** Counter names of {@link AcceptGuard.counters}. */
export type GuardCounterName = RejectReason | "accepted" | "preauth_pruned" | "preauth_established";

/** Totals since the guard was created: every refusal by reason, admissions, pre-auth outcomes. */
export type GuardCounters = Readonly<Record<GuardCounterName, number>>;

/** Options of {@link AcceptGuard}. Validated and frozen by the constructor. */
export interface AcceptGuardOptions {
  /** Addresses refused outright, checked first (e.g. a ban list mirrored from Redis). @default none */
  deny?: AddressListSource;
  /** When set, only addresses in it are let in (checked after `deny`). @default none (all allowed) */
  allow?: AddressListSource;
  /**
   * Addresses counted but never limited per IP: a load balancer or proxy, the machine's own bots.
   * Still subject to `deny` and `allow`. @default none
   */
  exempt?: AddressListSource;
  /**
   * Most connections open at once from one IP (one IPv6 /`ipv6LimitPrefix` network); a positive
   * integer or `Infinity`. Tightened by the adaptive tolerance. @default 32
   */
  maxConnectionsPerIp?: number;
  /**
   * Most new connections let in per second from one IP (sliding one-second window); a positive
   * integer or `Infinity`. Tightened by the adaptive tolerance. @default 16
   */
  maxNewConnectionsPerIpPerSecond?: number;
  /**
   * Time, in ms, a new connection has to send one complete valid frame before it is closed
   * (enforced by the listener with {@link AcceptGuard.preAuthDeadlineMs}). Shortened by the
   * adaptive tolerance. @default 5000
   */
  preAuthDeadlineMs?: number;
  /**
   * IPv6 addresses share their per-IP limits by this prefix length (0–128; 128 for per address).
   * @default 64
   */
  ipv6LimitPrefix?: number;
  /**
   * Adaptive tolerance ("tolerance to pain") settings, or `false` to keep the configured deadline
   * and limits fixed. Its clock defaults to the guard's `now`. @default {} (enabled, its defaults)
   */
  tolerance?: AdaptiveToleranceOptions | false;
  /** Monotonic clock in milliseconds. @default performance.now */
  now?: () => number;
}

/** {@link AcceptGuardOptions} after defaults, as {@link AcceptGuard.options} returns them. */
export interface ResolvedAcceptGuardOptions {
  readonly deny: AddressListSource | undefined;
  readonly allow: AddressListSource | undefined;
  readonly exempt: AddressListSource | undefined;
  readonly maxConnectionsPerIp: number;
  readonly maxNewConnectionsPerIpPerSecond: number;
  readonly preAuthDeadlineMs: number;
  readonly ipv6LimitPrefix: number;
  readonly tolerance: Readonly<AdaptiveToleranceOptions> | false;
  readonly now: () => number;
}

/** The tolerance level and what it currently means for the guard. */
export interface GuardToleranceState extends ToleranceState {
  /** `false` when the guard was created with `tolerance: false` (level stays 0). */
  readonly enabled: boolean;
  /** The pre-auth deadline now in force, ms. */
  readonly preAuthDeadlineMs: number;
  /** The per-IP open-connection limit now in force. */
  readonly maxConnectionsPerIp: number;
  /** The per-IP new-connection rate limit now in force. */
  readonly maxNewConnectionsPerIpPerSecond: number;
}

const INVALID_ADDRESS: AcceptVerdict = Object.freeze({ ok: false, reason: RejectReason.InvalidAddress });

/**
 * Decides, for each accepted socket, whether it may stay, and keeps the per-IP counts that the
 * decision needs.
 *
 * The listener calls {@link AcceptGuard.admit} with `socket.remoteAddress` before reading any byte,
 * destroys the socket when refused, and otherwise calls {@link AcceptGuard.release} with the
 * verdict's `ip` exactly once when the socket closes. It closes a connection that has not sent a
 * valid frame within {@link AcceptGuard.preAuthDeadlineMs} and reports each such connection, and
 * each that made it, with {@link AcceptGuard.recordPreAuth}; that drives the adaptive tolerance.
 *
 * Checks, in order: address parses (`invalid_address`), not in `deny` (`denied`), in `allow` when
 * set (`not_allowed`), open connections of the IP below the limit (`too_many_connections`), new
 * connections of the IP in the last second below the limit (`rate_limited`). The first failing
 * check is the reason. The hot path allocates only the parsed address and the verdict.
 */
export class AcceptGuard {
  readonly #options: ResolvedAcceptGuardOptions;
  readonly #tracker: PerIpTracker;
  readonly #tolerance: AdaptiveTolerance | undefined;
  // Limits and deadline per tolerance level, computed once.
  readonly #maxOpen: readonly number[];
  readonly #maxRate: readonly number[];
  readonly #deadline: readonly number[];
  readonly #counters: Record<GuardCounterName, number> = {
    accepted: 0,
    invalid_address: 0,
    denied: 0,
    not_allowed: 0,
    too_many_connections: 0,
    rate_limited: 0,
    preauth_pruned: 0,
    preauth_established: 0,
  };

  /** @throws OptionsError `NE_INVALID_OPTIONS` for an invalid option. */
  constructor(options: AcceptGuardOptions = {}) {
    this.#options = resolveOptions(options);
    const o = this.#options;
    this.#tracker = new PerIpTracker({ ipv6Prefix: o.ipv6LimitPrefix, now: o.now });
    this.#tolerance =
      o.tolerance === false
        ? undefined
        : new AdaptiveTolerance({ ...o.tolerance, now: o.tolerance.now ?? o.now });
    const tolerance = this.#tolerance;
    const levels = (tolerance?.maxLevel ?? 0) + 1;
    const at = (f: (t: AdaptiveTolerance, level: number) => number, base: number): number[] =>
      Array.from({ length: levels }, (_, level) => (tolerance === undefined ? base : f(tolerance, level)));
    this.#maxOpen = at((t, l) => t.limitAt(l, o.maxConnectionsPerIp), o.maxConnectionsPerIp);
    this.#maxRate = at(
      (t, l) => t.limitAt(l, o.maxNewConnectionsPerIpPerSecond),
      o.maxNewConnectionsPerIpPerSecond,
    );
    this.#deadline = at((t, l) => t.deadlineAt(l, o.preAuthDeadlineMs), o.preAuthDeadlineMs);
  }

  /** The options in force, defaults applied, frozen. */
  get options(): ResolvedAcceptGuardOptions {
    return this.#options;
  }

  /**
   * Decides whether a just-accepted socket may stay. On `ok` the connection counts as open for its
   * IP until {@link AcceptGuard.release}.
   * @param remoteAddress `socket.remoteAddress` (undefined when the peer is already gone).
   */
  admit(remoteAddress: string | undefined): AcceptVerdict {
    const ip = tryParseIp(remoteAddress);
    const counters = this.#counters;
    if (ip === undefined) {
      counters.invalid_address++;
      return INVALID_ADDRESS;
    }
    const { deny, allow, exempt } = this.#options;
    if (deny?.has(ip)) return this.#reject(RejectReason.Denied, ip);
    if (allow !== undefined && !allow.has(ip)) return this.#reject(RejectReason.NotAllowed, ip);
    let maxOpen = Number.POSITIVE_INFINITY;
    let maxRate = Number.POSITIVE_INFINITY;
    if (exempt === undefined || !exempt.has(ip)) {
      const level = this.#tolerance?.level ?? 0;
      maxOpen = this.#maxOpen[level] ?? this.#options.maxConnectionsPerIp;
      maxRate = this.#maxRate[level] ?? this.#options.maxNewConnectionsPerIpPerSecond;
    }
    const verdict = this.#tracker.tryOpen(ip, maxOpen, maxRate);
    if (verdict !== TrackerVerdict.Ok) return this.#reject(verdict, ip);
    counters.accepted++;
    return { ok: true, ip };
  }

  /**
   * Counts a connection let in by {@link AcceptGuard.admit} as closed. Call it once per admitted
   * connection (the listener makes that so); extra calls never take a count below zero.
   */
  release(ip: ParsedIp): void {
    this.#tracker.release(ip);
  }

  /** The pre-auth deadline in force now, in ms: the configured one, shortened by the tolerance level. */
  preAuthDeadlineMs(): number {
    return this.#deadline[this.#tolerance?.level ?? 0] ?? this.#options.preAuthDeadlineMs;
  }

  /** Reports how a connection let in ended its pre-auth phase; drives the adaptive tolerance. */
  recordPreAuth(outcome: PreAuthOutcome): void {
    if (outcome === PreAuthOutcome.Pruned) {
      this.#counters.preauth_pruned++;
      this.#tolerance?.recordPruned();
    } else {
      this.#counters.preauth_established++;
      this.#tolerance?.recordEstablished();
    }
  }

  /** A frozen snapshot of the counters. */
  counters(): GuardCounters {
    return Object.freeze({ ...this.#counters });
  }

  /** The tolerance level and the deadline and limits it puts in force now. */
  get tolerance(): GuardToleranceState {
    const state = this.#tolerance?.state() ?? { level: 0, maxLevel: 0, share: 0, samples: 0 };
    return {
      ...state,
      enabled: this.#tolerance !== undefined,
      preAuthDeadlineMs: this.#deadline[state.level] ?? this.#options.preAuthDeadlineMs,
      maxConnectionsPerIp: this.#maxOpen[state.level] ?? this.#options.maxConnectionsPerIp,
      maxNewConnectionsPerIpPerSecond:
        this.#maxRate[state.level] ?? this.#options.maxNewConnectionsPerIpPerSecond,
    };
  }

  /** Connections of `ip` (of its IPv6 network, see `ipv6LimitPrefix`) counted as open. */
  openConnections(ip: ParsedIp): number {
    return this.#tracker.openCount(ip);
  }

  /** IPs (IPv6 networks) with an entry in the per-IP table; idle ones are pruned as it goes. */
  get trackedAddresses(): number {
    return this.#tracker.size;
  }

  #reject(reason: RejectReason, ip: ParsedIp): AcceptVerdict {
    this.#counters[reason]++;
    return { ok: false, reason, ip };
  }
}

function resolveOptions(options: AcceptGuardOptions): ResolvedAcceptGuardOptions {
  if (typeof options !== "object" || options === null) throw new OptionsError("options must be an object");
  const tolerance = options.tolerance ?? {};
  if (tolerance !== false && (typeof tolerance !== "object" || tolerance === null)) {
    throw new OptionsError("tolerance must be an options object or false");
  }
  const ipv6LimitPrefix = options.ipv6LimitPrefix ?? DEFAULT_IPV6_LIMIT_PREFIX;
  if (!Number.isInteger(ipv6LimitPrefix) || ipv6LimitPrefix < 0 || ipv6LimitPrefix > 128) {
    throw new OptionsError("ipv6LimitPrefix must be an integer from 0 to 128", { ipv6LimitPrefix });
  }
  const preAuthDeadlineMs = options.preAuthDeadlineMs ?? DEFAULT_PRE_AUTH_DEADLINE_MS;
  if (
    !(typeof preAuthDeadlineMs === "number" && Number.isFinite(preAuthDeadlineMs) && preAuthDeadlineMs > 0)
  ) {
    throw new OptionsError("preAuthDeadlineMs must be a positive finite number", { preAuthDeadlineMs });
  }
  if (options.now !== undefined && typeof options.now !== "function") {
    throw new OptionsError("now must be a function returning milliseconds");
  }
  return Object.freeze({
    deny: listOption("deny", options.deny),
    allow: listOption("allow", options.allow),
    exempt: listOption("exempt", options.exempt),
    maxConnectionsPerIp: limitOption(
      "maxConnectionsPerIp",
      options.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP,
    ),
    maxNewConnectionsPerIpPerSecond: limitOption(
      "maxNewConnectionsPerIpPerSecond",
      options.maxNewConnectionsPerIpPerSecond ?? DEFAULT_MAX_NEW_CONNECTIONS_PER_IP_PER_SECOND,
    ),
    preAuthDeadlineMs,
    ipv6LimitPrefix,
    tolerance: tolerance === false ? false : Object.freeze({ ...tolerance }),
    now: options.now ?? (() => performance.now()),
  });
}

function listOption(name: string, list: AddressListSource | undefined): AddressListSource | undefined {
  if (list === undefined) return undefined;
  if (typeof list !== "object" || list === null || typeof list.has !== "function") {
    throw new OptionsError(`${name} must be an AddressListSource (an object with has(ip))`);
  }
  return list;
}

function limitOption(name: string, value: number): number {
  if (
    !(
      typeof value === "number" &&
      (Number.isInteger(value) || value === Number.POSITIVE_INFINITY) &&
      value >= 1
    )
  ) {
    throw new OptionsError(`${name} must be a positive integer or Infinity`, { [name]: value });
  }
  return value;
}
