/**
 * Errors of the protocol package. Every error carries a stable `code` from {@link ProtocolErrorCode};
 * callers and tests branch on the code, never on the message. The `PROTO_*` codes of messages that a
 * peer sent are the ones that travel on the wire (in an `error` message, see {@link toWire}); the
 * others are local programming or configuration errors and never leave the process.
 */
export const ProtocolErrorCode = {
  /** The bytes are not one valid MessagePack value (truncated, trailing bytes, reserved byte…). */
  Malformed: "PROTO_MALFORMED",
  /** The encoded message is larger than the limit; checked before any decoding. */
  TooLarge: "PROTO_TOO_LARGE",
  /** Decoded, but not a map, no string `t`, or a field fails its schema. `context.path` says where. */
  InvalidMessage: "PROTO_INVALID_MESSAGE",
  /** The message's `t` names no message known to the receiver (in this direction). */
  UnknownType: "PROTO_UNKNOWN_TYPE",
  /** The client's `hello.v` is not a version the server speaks. `context.supported` lists them. */
  VersionMismatch: "PROTO_VERSION_MISMATCH",
  /** The first message on a connection was not `hello`. */
  HelloRequired: "PROTO_HELLO_REQUIRED",
  /** The server failed while handling a message; the details stay in the server's logs. */
  Internal: "PROTO_INTERNAL",
  /** Local: a NATS subject prefix or token is not valid. Never sent on the wire. */
  InvalidSubject: "PROTO_INVALID_SUBJECT",
  /** Local: an options object failed validation. Never sent on the wire. */
  InvalidOptions: "PROTO_INVALID_OPTIONS",
  /** Local: a message definition or registry is not valid (e.g. two definitions of one type). */
  InvalidDefinition: "PROTO_INVALID_DEFINITION",
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

/** The codes {@link MessageCodec.decode} can return: decoding never produces any other. */
export const DECODE_ERROR_CODES: readonly ProtocolErrorCode[] = Object.freeze([
  ProtocolErrorCode.TooLarge,
  ProtocolErrorCode.Malformed,
  ProtocolErrorCode.InvalidMessage,
  ProtocolErrorCode.UnknownType,
]);

/** Base class of every error the protocol package raises or returns. */
export class ProtocolError extends Error {
  override readonly name: string = "ProtocolError";
  readonly code: ProtocolErrorCode;
  /** Structured context (sizes, paths, versions) for logs and for the receiver's decisions. */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: ProtocolErrorCode,
    message: string,
    options: { cause?: unknown; context?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = Object.freeze({ ...(options.context ?? {}) });
  }
}
