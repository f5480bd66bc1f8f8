/**
 * What the lobby publishes for gateways, and what gateways read without asking it: the Redis keys of
 * sessions and of the ban mirror, and the two change notices (`evt.session.revoked`,
 * `evt.ban.changed`). The lobby writes them; gateways read them. JSON on NATS (these events predate
 * the MessagePack service codecs; docs/protocol.md documents both).
 *
 * @module
 */

/** What a ban targets. */
export const BanKind = { Account: "account", Ip: "ip", Cidr: "cidr" } as const;
export type BanKind = (typeof BanKind)[keyof typeof BanKind];

// ---- sessions ----

/** Event topic of the revocation notice: published on `subjects.event(SESSION_REVOKED_TOPIC)`. */
export const SESSION_REVOKED_TOPIC = "session.revoked";

/** Why sessions were revoked; travels in the notice and in the Redis revocation marker. */
export const RevocationReason = {
  /** The player logged out. */
  Logout: "logout",
  /** The password was changed; every other session ends. */
  PasswordChange: "password-change",
  /** The password was reset through recovery. */
  PasswordReset: "password-reset",
  /** The account was banned. */
  Ban: "ban",
  /** A rotated refresh token was presented again (likely stolen): the chain is revoked. */
  RefreshReuse: "refresh-reuse",
  /** An operator revoked it. */
  Admin: "admin",
} as const;
export type RevocationReason = (typeof RevocationReason)[keyof typeof RevocationReason];

const REASONS: ReadonlySet<string> = new Set(Object.values(RevocationReason));

/** Whether `value` is a {@link RevocationReason}. */
export function isRevocationReason(value: unknown): value is RevocationReason {
  return typeof value === "string" && REASONS.has(value);
}

/**
 * The revocation notice, JSON on `<prefix>.evt.session.revoked`. A gateway closes every connection
 * whose session (chain) is listed. Published after Postgres and the Redis marker are written, so a
 * gateway that re-validates on receipt sees the revocation. Notices are idempotent: the same chain
 * may be announced more than once (a retried revocation).
 */
export interface SessionRevokedNotice {
  /** `accounts.id`, a decimal string. */
  readonly accountId: string;
  /** The revoked chains (session ids) of that account; never empty. */
  readonly chainIds: readonly string[];
  readonly reason: RevocationReason;
}

/** The Redis keys of sessions under one key prefix. */
export interface SessionKeys {
  /**
   * `<prefix>access:<sha256 hex of the access token>` → JSON {@link AccessRecord}, expiring with the
   * token (Redis TTL = the access TTL).
   */
  access(tokenHash: string): string;
  /**
   * `<prefix>revoked:<chainId>` → the {@link RevocationReason}. Set on revocation with a TTL longer
   * than the access TTL, so it outlives every access token of the chain: a gateway that finds it
   * rejects the token.
   */
  revoked(chainId: string): string;
}

/** The value under {@link SessionKeys.access}. */
export interface AccessRecord {
  readonly accountId: string;
  readonly chainId: string;
  /** Expiry, milliseconds since the epoch (Redis expires the key too; this is the authority). */
  readonly expiresAt: number;
}

/** Session keys under `prefix` (e.g. the testkit's `mt:<runId>:`, or `meridian:lobby:`). */
export function sessionKeys(prefix: string): SessionKeys {
  return Object.freeze({
    access: (tokenHash: string) => `${prefix}access:${tokenHash}`,
    revoked: (chainId: string) => `${prefix}revoked:${chainId}`,
  });
}

// ---- bans ----

/** Event topic of the change notice: published on `subjects.event(BAN_CHANGED_TOPIC)`. */
export const BAN_CHANGED_TOPIC = "ban.changed";

/** What a notice reports. */
export const BanNoticeOp = {
  /** A ban was written. */
  Add: "add",
  /** A ban was lifted (by an operator or by expiry). */
  Lift: "lift",
  /** The whole mirror was rewritten ({@link BanService.rebuildMirror}): reload it with a snapshot. */
  Resync: "resync",
} as const;
export type BanNoticeOp = (typeof BanNoticeOp)[keyof typeof BanNoticeOp];

/**
 * The change notice, JSON on `<prefix>.evt.ban.changed`, published after the mirror is written.
 *
 * A gateway applies an `add` or `lift` to its in-memory mirror by `listed`, not by `op`: `listed`
 * says whether the target is in the mirror after the change (a lifted ban whose target another live
 * ban still covers leaves it listed). `version` is the mirror's version after the change; notices of
 * one target arrive in order, notices of different targets may not, so a gateway that sees a version
 * it did not expect (a gap) may reload a snapshot: a needless reload is harmless. A `resync` carries
 * only `version`.
 */
export interface BanChangedNotice {
  readonly version: number;
  readonly op: BanNoticeOp;
  /** The ban that changed (`bans.id`, decimal string); absent on `resync`. */
  readonly banId?: string;
  readonly kind?: BanKind;
  /** For `ip`/`cidr`: the mirror entry, Postgres's canonical `cidr` text (`10.0.0.0/8`, `2001:db8::1/128`). */
  readonly target?: string;
  /** For `account`: `accounts.id`, decimal string. */
  readonly accountId?: string;
  /** The entry's expiry in the mirror after the change, ms since the epoch; null = permanent or unlisted. */
  readonly expiresAt?: number | null;
  /** Whether the target is banned (in the mirror) after this change. */
  readonly listed?: boolean;
}

/** The Redis keys of the ban mirror under one key prefix. */
export interface BanKeys {
  /** Hash: address entry (`cidr` text) → expiry in ms since the epoch, `0` for permanent. */
  readonly addresses: string;
  /** Hash: account id → expiry in ms since the epoch, `0` for permanent. */
  readonly accounts: string;
  /** Integer, `INCR`ed in the same `MULTI` as every mirror change. */
  readonly version: string;
}

/** Ban mirror keys under `prefix` (e.g. the testkit's `mt:<runId>:`, or `meridian:lobby:`). */
export function banKeys(prefix: string): BanKeys {
  return Object.freeze({
    addresses: `${prefix}bans:addr`,
    accounts: `${prefix}bans:account`,
    version: `${prefix}bans:version`,
  });
}
