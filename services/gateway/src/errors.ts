/**
 * Errors of the gateway. Every error carries a stable `code` from {@link GatewayErrorCode}; callers
 * and tests branch on the code, never on the message. The codes a player may see travel in the
 * client protocol's `error.code` (see the README's table); the others stay in the logs.
 */
export const GatewayErrorCode = {
  /** The environment failed validation. `problems` lists every bad variable. */
  Config: "GATEWAY_CONFIG",
  /** Local: an options object failed validation. Never sent on the wire. */
  InvalidOptions: "GATEWAY_INVALID_OPTIONS",
  /** The connection sent more messages or bytes per second than allowed; closed with 4200. */
  RateLimited: "GATEWAY_RATE_LIMITED",
  /** Too many invalid, unknown or out-of-order messages; closed with 4204. */
  TooManyViolations: "GATEWAY_TOO_MANY_VIOLATIONS",
  /**
   * A message not allowed in the connection's state: a second `hello`, `input` or `logout` before
   * login, `login`/`resume` once logged in. Not processed; counts as a violation.
   */
  OutOfOrder: "GATEWAY_OUT_OF_ORDER",
  /** A `login`, `resume` or `logout` while another one is unanswered. Counts as a violation. */
  RequestPending: "GATEWAY_REQUEST_PENDING",
  /**
   * An `input` was not accepted: its `seq` is not the next one (a duplicate or a gap), or the player
   * already has the maximum of inputs waiting for the world's acknowledgement (256), or the player
   * has no place in the world. Not a violation: the client slows down, or resumes to resynchronise.
   */
  InputRefused: "GATEWAY_INPUT_REFUSED",
  /** The gateway is shutting down: reconnect to another one. */
  ShuttingDown: "GATEWAY_SHUTTING_DOWN",
  /** No lobby answered in time (NATS no responders, or the request timed out). */
  LobbyUnavailable: "LOBBY_UNAVAILABLE",
  /** No world answered in time: the player stays logged in without a place. */
  WorldUnavailable: "WORLD_UNAVAILABLE",
} as const;
export type GatewayErrorCode = (typeof GatewayErrorCode)[keyof typeof GatewayErrorCode];

/** Base class of every error the gateway raises. */
export class GatewayError extends Error {
  override readonly name: string = "GatewayError";
  readonly code: GatewayErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: GatewayErrorCode,
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
  /** The variable's name, e.g. `GATEWAY_TCP_PORT`. */
  readonly variable: string;
  /** What is wrong with it and what is expected. */
  readonly message: string;
}

/** The environment failed validation: every bad variable is listed, each with its own message. */
export class ConfigError extends GatewayError {
  override readonly name: string = "ConfigError";
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(
      GatewayErrorCode.Config,
      `invalid gateway configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join("\n")}`,
      { context: { variables: problems.map((p) => p.variable) } },
    );
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}
