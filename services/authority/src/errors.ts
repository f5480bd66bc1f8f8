/**
 * Errors of the authority. Every error carries a stable `code` from {@link AuthorityErrorCode};
 * callers and tests branch on the code, never on the message.
 *
 * The `WORLD_*` codes of {@link WorldCode} travel on the wire in `world_error.code` (to zone servers
 * and gateways); the `AUTHORITY_*` codes stay in the process and its logs.
 */

/**
 * The `world_error` codes the authority sends. `libs/protocol` names them in JSDoc but has no
 * catalogue yet (docs/protocol.md "Still to be added"); this is the authority's list until it moves
 * there.
 */
export const WorldCode = {
  /** `zone_register`/`zone_heartbeat`: the credential is unknown, revoked, or the server is quarantined. */
  Unauthorized: "WORLD_UNAUTHORIZED",
  /** `zone_register`: the credential (or the request) is for another world. */
  Unknown: "WORLD_UNKNOWN",
  /** `zone_heartbeat`: this leader does not know the server (lease expired, or a new leader): register again. */
  ZoneUnknown: "WORLD_ZONE_UNKNOWN",
  /** `player_attach`: no zone server owns the player's cell, or it did not install the player. */
  Unavailable: "WORLD_UNAVAILABLE",
  /** `player_install` (from a zone server): the cell is not, or no longer, the server's. */
  NotOwner: "WORLD_NOT_OWNER",
  /** Any request that failed to decode or came on the wrong subject. */
  BadRequest: "WORLD_BAD_REQUEST",
} as const;
export type WorldCode = (typeof WorldCode)[keyof typeof WorldCode];

export const AuthorityErrorCode = {
  /** The environment failed validation. `problems` lists every bad variable. */
  Config: "AUTHORITY_CONFIG",
  /** A fenced Redis write was refused: this instance no longer holds the leader key. */
  NotLeader: "AUTHORITY_NOT_LEADER",
  /** The lobby did not answer `server_verify` in time, or answered something unreadable. */
  LobbyUnavailable: "AUTHORITY_LOBBY_UNAVAILABLE",
} as const;
export type AuthorityErrorCode = (typeof AuthorityErrorCode)[keyof typeof AuthorityErrorCode];

/** Base class of every error the authority raises. */
export class AuthorityError extends Error {
  override readonly name: string = "AuthorityError";
  readonly code: AuthorityErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: AuthorityErrorCode,
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
  /** The variable's name, e.g. `AUTHORITY_LEASE_MS`. */
  readonly variable: string;
  /** What is wrong with it and what is expected. */
  readonly message: string;
}

/** The environment failed validation: every bad variable is listed, each with its own message. */
export class ConfigError extends AuthorityError {
  override readonly name: string = "ConfigError";
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(
      AuthorityErrorCode.Config,
      `invalid authority configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join("\n")}`,
      { context: { variables: problems.map((p) => p.variable) } },
    );
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}
