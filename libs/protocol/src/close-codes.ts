import { ProtocolErrorCode } from "./errors.js";

/**
 * Close codes of a client connection. On WebSocket they are the close frame's code; on TCP, which
 * has no close code, the closing side sends a `bye` message carrying the same number just before it
 * closes. Numbers below 4000 are RFC 6455's; 4001–4003 are sent by the network engine itself
 * (`@meridian/netengine`'s `WebSocketCloseCode`: keep the two in step); 4100–4199 are protocol
 * errors (`PROTO_TOO_LARGE` reuses 1009); 4200–4299 are the gateway's. `docs/protocol.md` is the
 * normative list.
 */
export const CloseCode = {
  /** RFC 6455: normal closure (a `bye`, a logout). */
  Normal: 1000,
  /** RFC 6455: the server is shutting down or the client is leaving. */
  GoingAway: 1001,
  /** RFC 6455: the peer sent a frame that cannot be a message (e.g. a text WebSocket message). */
  UnsupportedData: 1003,
  /** RFC 6455: a frame larger than the maximum; also `PROTO_TOO_LARGE` (a message above `maxMessageBytes`). */
  MessageTooBig: 1009,
  /** RFC 6455: the server hit an unexpected condition. */
  InternalError: 1011,
  /** Engine: no valid message arrived within the pre-auth deadline (default 5 s). */
  PreAuthTimeout: 4001,
  /** Engine: nothing arrived for the idle timeout (heartbeats count). */
  IdleTimeout: 4002,
  /** Engine: the peer did not read fast enough; its queued writes passed the limit. */
  SlowConsumer: 4003,
  /** `PROTO_VERSION_MISMATCH`: the client's `hello.v` is not supported. */
  VersionMismatch: 4100,
  /** `PROTO_HELLO_REQUIRED`: the first message was not `hello`. */
  HelloRequired: 4101,
  /** `PROTO_MALFORMED`: a message was not valid MessagePack. */
  Malformed: 4102,
  /** `PROTO_INVALID_MESSAGE`: a message failed its schema. */
  InvalidMessage: 4103,
  /** `PROTO_UNKNOWN_TYPE`: a message of a type the receiver does not know. */
  UnknownType: 4104,
  /** Gateway: the session sent more messages or bytes per second than its limits allow. */
  RateLimited: 4200,
  /** Gateway: the session was revoked (logout elsewhere, password change or reset, reuse, operator). */
  SessionRevoked: 4201,
  /** Gateway: the account or the address is banned (the `bye` reason says why). */
  Banned: 4202,
  /**
   * Gateway: this gateway is shutting down; reconnect (to any gateway) and `resume` with the refresh
   * token. The session and the player's entity are kept for the resume grace period.
   */
  GatewayShutdown: 4203,
  /** Gateway: too many invalid or unknown messages; the session is closed. */
  TooManyViolations: 4204,
  /** Gateway: the session was resumed on another connection; this one is closed. */
  ResumedElsewhere: 4205,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

const CLOSE_CODE_BY_ERROR: Readonly<Partial<Record<ProtocolErrorCode, CloseCode>>> = Object.freeze({
  [ProtocolErrorCode.VersionMismatch]: CloseCode.VersionMismatch,
  [ProtocolErrorCode.HelloRequired]: CloseCode.HelloRequired,
  [ProtocolErrorCode.Malformed]: CloseCode.Malformed,
  [ProtocolErrorCode.InvalidMessage]: CloseCode.InvalidMessage,
  [ProtocolErrorCode.UnknownType]: CloseCode.UnknownType,
  [ProtocolErrorCode.TooLarge]: CloseCode.MessageTooBig,
  [ProtocolErrorCode.Internal]: CloseCode.InternalError,
});

/** The close code that goes with a protocol error code; `InternalError` (1011) for any other code. */
export function closeCodeFor(code: string): CloseCode {
  return CLOSE_CODE_BY_ERROR[code as ProtocolErrorCode] ?? CloseCode.InternalError;
}
