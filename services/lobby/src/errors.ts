/**
 * Errors of the lobby. Every error carries a stable `code` from {@link LobbyErrorCode}; callers and
 * tests branch on the code, never on the message. Codes that a player may see (bad credentials, an
 * invalid username, a password too long) will travel over NATS as a code plus a message; the others
 * are operator or programming errors that stay in the logs.
 */
export const LobbyErrorCode = {
  /** The environment failed validation. `context.problems` lists every bad variable. */
  Config: "LOBBY_CONFIG",
  /** A username is not 3–32 letters, digits, `_` or `-` after normalisation. */
  InvalidUsername: "LOBBY_INVALID_USERNAME",
  /** A password is longer than the 1 KiB cap (checked before any hashing). */
  PasswordTooLong: "LOBBY_PASSWORD_TOO_LONG",
  /** Wrong password, or an unknown username when auto-create is off: one code for both. */
  BadCredentials: "LOBBY_BAD_CREDENTIALS",
  /** A migration failed; `cause` holds the database error. */
  Migration: "LOBBY_MIGRATION",
  /** Local: an options object failed validation (e.g. argon2 parameters out of range). */
  InvalidOptions: "LOBBY_INVALID_OPTIONS",
  /** A session token is malformed, unknown or expired (one code for all three: no oracle). */
  TokenInvalid: "LOBBY_TOKEN_INVALID",
  /** A session token belongs to a revoked chain (logout, password change, ban, detected reuse). */
  TokenRevoked: "LOBBY_TOKEN_REVOKED",
  /** An already-rotated refresh token was presented again: its whole chain is now revoked. */
  TokenReused: "LOBBY_TOKEN_REUSED",
  /**
   * Too many failed logins for this account or from this IP: password login is refused, before any
   * hashing, for `context.retryAfterMs` more milliseconds. Recovery is not affected.
   */
  Throttled: "LOBBY_THROTTLED",
  /**
   * This IP created its allowance of accounts for the window; an unknown name is not created for
   * `context.retryAfterMs` more milliseconds. Logins to existing accounts are not affected.
   */
  CreationLimited: "LOBBY_CREATION_LIMITED",
  /** Writing a session revocation to Redis failed after Postgres recorded it; retry the revocation. */
  Revocation: "LOBBY_REVOCATION",
  /**
   * A ban request is invalid: an address or CIDR range that does not parse, an `ip` ban given a
   * range, an account ban without an (existing) account, an empty reason or issuer, an expiry in the
   * past. `context.field` names the bad input.
   */
  InvalidBan: "LOBBY_INVALID_BAN",
  /** No ban has this id. */
  BanNotFound: "LOBBY_BAN_NOT_FOUND",
  /** A server credential (or server id) the registry does not know. */
  ServerUnknown: "LOBBY_SERVER_UNKNOWN",
  /** The server's credential was revoked: it can never advertise or heartbeat again. */
  ServerRevoked: "LOBBY_SERVER_REVOKED",
  /**
   * A heartbeat from a server that has no current advertisement (never advertised, or its
   * advertisement was pruned as stale): the server must advertise again.
   */
  ServerNotAdvertised: "LOBBY_SERVER_NOT_ADVERTISED",
  /**
   * A server's name or world, an advertisement, a heartbeat or a listing query is invalid;
   * `context.field` names the bad input (`address`, `port`, `players`, `tags`, `limit`…).
   */
  InvalidServer: "LOBBY_INVALID_SERVER",
  /** A server-list cursor is malformed (not one this lobby issued, or tampered with). */
  InvalidCursor: "LOBBY_INVALID_CURSOR",
  /**
   * Recovery by secret question is not possible for this account: it has no question set (or the
   * account does not exist: same code, no oracle).
   */
  RecoveryUnavailable: "LOBBY_RECOVERY_UNAVAILABLE",
  /** Too many wrong answers: the secret question is locked for `context.retryAfterMs` more ms. */
  RecoveryLocked: "LOBBY_RECOVERY_LOCKED",
  /** A wrong answer to the secret question; `context.attemptsLeft` before the lock. */
  WrongAnswer: "LOBBY_WRONG_ANSWER",
  /** A password-reset token is malformed, unknown, expired or already used (one code: no oracle). */
  ResetTokenInvalid: "LOBBY_RESET_TOKEN_INVALID",
  /** A secret question, answer or email is empty, too long or malformed; `context.field` names it. */
  InvalidRecovery: "LOBBY_INVALID_RECOVERY",
  /** No account has this id or name (locator, stats, admin lookups). */
  PlayerUnknown: "LOBBY_PLAYER_UNKNOWN",
  /** A stat name, delta or leaderboard query is invalid; `context.field` names the bad input. */
  InvalidStat: "LOBBY_INVALID_STAT",
  /** The login's connection nonce was already used: a captured login replayed. */
  LoginReplayed: "LOBBY_LOGIN_REPLAYED",
  /** The login's connection nonce is malformed or too old. */
  LoginNonceInvalid: "LOBBY_LOGIN_NONCE_INVALID",
  /** A password login arrived over a connection that is not TLS while the lobby requires TLS. */
  InsecureTransport: "LOBBY_INSECURE_TRANSPORT",
  /** The account is banned; `context.reason` and `context.expiresAt` say why and until when. */
  AccountBanned: "LOBBY_ACCOUNT_BANNED",
  /** A request failed its schema or is of an unknown type; `context.issues` lists the problems. */
  BadRequest: "LOBBY_BAD_REQUEST",
  /** The caller's credential (admin or server) is missing or wrong for this operation. */
  Unauthorized: "LOBBY_UNAUTHORIZED",
  /** A dependency (Postgres, Redis) failed while serving the request; retry later. */
  Unavailable: "LOBBY_UNAVAILABLE",
} as const;
export type LobbyErrorCode = (typeof LobbyErrorCode)[keyof typeof LobbyErrorCode];

/** Base class of every error the lobby raises. */
export class LobbyError extends Error {
  override readonly name: string = "LobbyError";
  readonly code: LobbyErrorCode;
  /** Structured context for logs and for the caller's decisions. */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: LobbyErrorCode,
    message: string,
    options: { cause?: unknown; context?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = Object.freeze({ ...(options.context ?? {}) });
  }
}

/** One bad environment variable. */
export interface ConfigProblem {
  /** The variable's name, e.g. `LOBBY_ARGON2_MEMORY_KIB`. */
  readonly variable: string;
  /** What is wrong with it and what is expected. */
  readonly message: string;
}

/** The environment failed validation: {@link ConfigError.problems} lists every bad variable at once. */
export class ConfigError extends LobbyError {
  override readonly name: string = "ConfigError";
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(
      LobbyErrorCode.Config,
      `invalid lobby configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join("\n")}`,
      { context: { variables: problems.map((p) => p.variable) } },
    );
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}
