import type { ErrorMessage } from "@meridian/protocol";

/**
 * The client's own error codes. Codes a server sends (`PROTO_*`, `LOBBY_*`, any later prefix) pass
 * through unchanged in {@link ClientError.code}; these are the ones the client raises itself.
 * Branch on the code, never on the message.
 */
export const ClientErrorCode = {
  /** The call needs an open connection (or, for inputs, a session) and there is none. */
  NotConnected: "CLIENT_NOT_CONNECTED",
  /** The server did not answer a request (hello, login, resume, logout) within `requestTimeoutMs`. */
  Timeout: "CLIENT_TIMEOUT",
  /** The connection closed (or the client was closed) while the call was waiting. `closeCode` says why. */
  Closed: "CLIENT_CLOSED",
  /** The server sent bytes that are not a valid message for this direction; the connection is closed. */
  Protocol: "CLIENT_PROTOCOL",
  /** The transport could not connect (refused, DNS, TLS, timeout); `cause` holds the transport's error. */
  ConnectFailed: "CLIENT_CONNECT_FAILED",
  /** Automatic reconnection gave up after `reconnect.maxAttempts` attempts; `cause` is the last failure. */
  ReconnectFailed: "CLIENT_RECONNECT_FAILED",
  /** The call is not valid now: a second login while one is unanswered, a login once logged in, … */
  InvalidState: "CLIENT_INVALID_STATE",
  /** An options object or URL failed validation. */
  InvalidOptions: "CLIENT_INVALID_OPTIONS",
  /** An input encodes to more than the connection's `maxMessageBytes`. */
  TooLarge: "CLIENT_TOO_LARGE",
  /** More unacknowledged inputs are buffered than `maxUnackedInputs`; the input was not sent. */
  InputOverflow: "CLIENT_INPUT_OVERFLOW",
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** The lobby codes that mean "this session is over: log in with the password again". */
export const SESSION_LOST_CODES: readonly string[] = Object.freeze([
  "LOBBY_TOKEN_INVALID",
  "LOBBY_TOKEN_REVOKED",
  "LOBBY_TOKEN_REUSED",
]);

/** The lobby code a client retries once with the fresh nonce (docs/protocol.md §4). */
export const LOGIN_NONCE_INVALID = "LOBBY_LOGIN_NONCE_INVALID";

/** Options of a {@link ClientError}. */
export interface ClientErrorOptions {
  readonly cause?: unknown;
  /** `error.retryAfterMs` from the server. */
  readonly retryAfterMs?: number;
  /** `error.reason` from the server (a ban's reason). */
  readonly reason?: string;
  /** `error.expiresAt` from the server (when a ban ends, ms since the epoch). */
  readonly expiresAt?: number;
  /** The close code of the connection, for `CLIENT_CLOSED` and close-driven errors. */
  readonly closeCode?: number;
  /** True when the code came from the server (an `error` message), false when the client raised it. */
  readonly fromServer?: boolean;
}

/**
 * Every error the client rejects with or emits. `code` is a server code passed through (for example
 * `LOBBY_BAD_CREDENTIALS`, `PROTO_VERSION_MISMATCH`) or one of {@link ClientErrorCode}.
 */
export class ClientError extends Error {
  override readonly name: string = "ClientError";
  /** A stable code: a server's code, or a `CLIENT_*` code. */
  readonly code: string;
  /** Server: do not try again for this many milliseconds (`LOBBY_THROTTLED`, …). */
  readonly retryAfterMs: number | undefined;
  /** Server: the reason to show the player (`LOBBY_ACCOUNT_BANNED`). */
  readonly reason: string | undefined;
  /** Server: when a ban ends, ms since the epoch; absent for a permanent ban. */
  readonly expiresAt: number | undefined;
  /** The connection's close code, when the error comes from a close. */
  readonly closeCode: number | undefined;
  /** True when the server sent this code in an `error` message. */
  readonly fromServer: boolean;

  constructor(code: string, message: string, options: ClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfterMs = options.retryAfterMs;
    this.reason = options.reason;
    this.expiresAt = options.expiresAt;
    this.closeCode = options.closeCode;
    this.fromServer = options.fromServer ?? false;
  }

  /** The error for a server's `error` message: its code and extra fields, verbatim. */
  static fromServer(message: ErrorMessage): ClientError {
    return new ClientError(message.code, message.message, {
      fromServer: true,
      ...(message.retryAfterMs === undefined ? {} : { retryAfterMs: message.retryAfterMs }),
      ...(message.reason === undefined ? {} : { reason: message.reason }),
      ...(message.expiresAt === undefined ? {} : { expiresAt: message.expiresAt }),
    });
  }
}

/** Normalises any throwable into a {@link ClientError} with `code`, keeping the original as `cause`. */
export function toClientError(error: unknown, code: string, message: string): ClientError {
  if (error instanceof ClientError) return error;
  return new ClientError(code, error instanceof Error ? `${message}: ${error.message}` : message, {
    cause: error,
  });
}
