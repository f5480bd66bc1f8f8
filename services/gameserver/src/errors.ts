/**
 * Errors of the zone server. Every error carries a stable `code` from {@link GameServerErrorCode};
 * callers and tests branch on the code, never on the message. The `WORLD_*` codes travel in
 * `world_error.code` and `handoff_accept.reason` (libs/protocol has no catalogue of them yet: see
 * the README's "Contract notes").
 */
export const GameServerErrorCode = {
  /** The environment failed validation. `problems` lists every bad variable. */
  Config: "GAMESERVER_CONFIG",
  /** Local: an options object failed validation. */
  InvalidOptions: "GAMESERVER_INVALID_OPTIONS",
  /**
   * Local: persisting player state to the lobby (Postgres) failed: no lobby answered, or it answered
   * `lobby_error` (`context.lobbyCode`). Logged and counted, never thrown into the tick.
   */
  PersistFailed: "GAMESERVER_PERSIST_FAILED",
  /** The authority refused the server's credential: the server drops everything and stops. */
  Unauthorized: "WORLD_UNAUTHORIZED",
  /** The authority does not know the server (it restarted, or the registration lapsed): register again. */
  ZoneUnknown: "WORLD_ZONE_UNKNOWN",
  /** The authority serves another world. */
  UnknownWorld: "WORLD_UNKNOWN",
  /** An install or handoff for a cell this server does not hold under that epoch. */
  NotOwner: "WORLD_NOT_OWNER",
  /** A write or offer carrying an epoch below the current one. */
  StaleEpoch: "WORLD_STALE_EPOCH",
  /** The server holds its capacity of players. */
  Full: "WORLD_FULL",
  /** A message that decoded but cannot be acted on (a handoff state that is not a player snapshot). */
  BadRequest: "WORLD_BAD_REQUEST",
  /** An install the server cannot do safely now (the player's saved state could not be read); retryable. */
  Unavailable: "WORLD_UNAVAILABLE",
} as const;
export type GameServerErrorCode = (typeof GameServerErrorCode)[keyof typeof GameServerErrorCode];

/** Base class of every error the zone server raises. */
export class GameServerError extends Error {
  override readonly name: string = "GameServerError";
  readonly code: GameServerErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: GameServerErrorCode,
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
  /** The variable's name, e.g. `ZONE_CAPACITY`. */
  readonly variable: string;
  /** What is wrong with it and what is expected. */
  readonly message: string;
}

/** The environment failed validation: every bad variable is listed, each with its own message. */
export class ConfigError extends GameServerError {
  override readonly name: string = "ConfigError";
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(
      GameServerErrorCode.Config,
      `invalid gameserver configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join("\n")}`,
      { context: { variables: problems.map((p) => p.variable) } },
    );
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}
