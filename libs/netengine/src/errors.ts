/**
 * Errors raised by the network engine. Every error carries a stable `code` from
 * {@link NetEngineErrorCode}; tests and callers branch on the code, never on the message.
 */
export const NetEngineErrorCode = {
  /** A frame announced or accumulated more bytes than the framer's maximum. */
  FrameTooLarge: "NE_FRAME_TOO_LARGE",
  /** Bytes on the wire that cannot be a frame (e.g. a zero-length frame where none is allowed). */
  FrameMalformed: "NE_FRAME_MALFORMED",
  /** A payload that cannot be encoded by the framer (e.g. it contains the delimiter). */
  FrameUnencodable: "NE_FRAME_UNENCODABLE",
  /** An options object failed validation. */
  InvalidOptions: "NE_INVALID_OPTIONS",
  /** An address or CIDR range could not be parsed. */
  InvalidAddress: "NE_INVALID_ADDRESS",
  /** A connect attempt failed. */
  ConnectFailed: "NE_CONNECT_FAILED",
  /** The reconnecting client used up its attempts. */
  ReconnectGaveUp: "NE_RECONNECT_GAVE_UP",
  /** A listener could not bind or was used in the wrong state. */
  ListenFailed: "NE_LISTEN_FAILED",
  /** A protocol handler or event sink threw; the session is closed with reason `handler_error`. */
  HandlerFailed: "NE_HANDLER_FAILED",
} as const;
export type NetEngineErrorCode = (typeof NetEngineErrorCode)[keyof typeof NetEngineErrorCode];

/** Base class of every error the engine raises. */
export class NetEngineError extends Error {
  override readonly name: string = "NetEngineError";
  readonly code: NetEngineErrorCode;
  /** Structured context (sizes, addresses, attempt counts) for logs. */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: NetEngineErrorCode,
    message: string,
    options: { cause?: unknown; context?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = Object.freeze({ ...(options.context ?? {}) });
  }
}

/** A framing error: the session that produced it is closed with the matching reason. */
export class FrameError extends NetEngineError {
  override readonly name = "FrameError";
}

/** Invalid options passed to a constructor or factory. */
export class OptionsError extends NetEngineError {
  override readonly name = "OptionsError";
  constructor(message: string, context: Record<string, unknown> = {}) {
    super(NetEngineErrorCode.InvalidOptions, message, { context });
  }
}

/** Wraps an unknown throwable once, at the engine's boundary, keeping it as `cause`. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === "string" ? value : `non-error thrown: ${String(value)}`, {
    cause: value,
  });
}
