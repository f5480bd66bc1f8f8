/**
 * Why a session ended. Every disconnect carries exactly one reason; it is delivered once to
 * `onDisconnected` and resolves `session.closed`.
 */
export const DisconnectReason = {
  /** The application called `session.close()`. */
  LocalClose: "local_close",
  /** The application's `session.goodbye()` finished: queued data was flushed before the close. */
  Goodbye: "goodbye",
  /** The peer closed the connection (EOF, or a WebSocket close frame). */
  PeerClosed: "peer_closed",
  /** A socket error (reset, TLS failure…); `error` holds it. */
  Error: "error",
  /** No complete frame accepted by the protocol handler arrived within the pre-auth deadline. */
  PreAuthTimeout: "preauth_timeout",
  /** Nothing was received within the idle timeout (heartbeats included). */
  IdleTimeout: "idle_timeout",
  /** The peer sent a frame larger than the framer's maximum. */
  FrameTooLarge: "frame_too_large",
  /** The peer sent bytes that cannot be a frame (or a text message where binary is required). */
  FrameMalformed: "frame_malformed",
  /** The peer does not read fast enough: queued writes passed the high-water mark. */
  SlowConsumer: "slow_consumer",
  /** A protocol handler or event sink threw. */
  HandlerError: "handler_error",
  /** The listener is shutting down. */
  Shutdown: "shutdown",
} as const;
export type DisconnectReason = (typeof DisconnectReason)[keyof typeof DisconnectReason];

/** What `onDisconnected` and `session.closed` report. */
export interface DisconnectInfo {
  readonly reason: DisconnectReason;
  /** Free text for logs; never parse it. */
  readonly detail?: string;
  /** The error behind `error`, `handler_error` and framing reasons. */
  readonly error?: Error;
  /** For WebSocket sessions: the close code sent or received, when there was one. */
  readonly closeCode?: number;
}

/**
 * WebSocket close codes the engine sends for each reason (RFC 6455 codes, and the private-use
 * range 4000–4999 for reasons the RFC has no code for). TCP has no close code: the reason is local.
 */
export const WebSocketCloseCode: Readonly<Record<DisconnectReason, number>> = Object.freeze({
  local_close: 1000,
  goodbye: 1000,
  peer_closed: 1000,
  error: 1011,
  preauth_timeout: 4001,
  idle_timeout: 4002,
  frame_too_large: 1009,
  frame_malformed: 1003,
  slow_consumer: 4003,
  handler_error: 1011,
  shutdown: 1001,
});
