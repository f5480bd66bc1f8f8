/**
 * What gateways read to validate a session without Postgres: the Redis keys and the revocation
 * notice. These are contracts between the lobby and the gateways; they live here until the gateway
 * slice moves them to `@meridian/protocol` (a service never imports another service).
 */

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
