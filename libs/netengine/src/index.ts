/**
 * @meridian/netengine — a network engine for Node servers, after the seed's IOCP NetEngine:
 * sessions over TCP/TLS and WebSocket, framers, protocol handlers with chained event sinks, user
 * events, an accept guard run before any byte is read (lists, per-IP limits, pre-auth deadline,
 * adaptive tolerance), write batching per event-loop turn, backpressure, graceful goodbye,
 * heartbeats, a reconnecting client and a multi-core runner.
 *
 * Every public name is listed here by name.
 * @module
 */
export {
  type ClusterOptions,
  type ClusterPrimary,
  type ClusterWorker,
  runClustered,
  sumStats,
} from "./cluster/cluster.js";
export { Connector, connect, DEFAULT_CONNECT_TIMEOUT_MS, listen } from "./engine.js";
export { FrameError, NetEngineError, NetEngineErrorCode, OptionsError } from "./errors.js";
export {
  type EchoClientApplication,
  EchoClientProtocol,
  EchoServerProtocol,
} from "./examples/echo-protocol.js";
export {
  DEFAULT_DELIMITER,
  DelimiterFramer,
  type DelimiterFramerOptions,
} from "./framing/delimiter-framer.js";
export type { FrameDecoder, Framer } from "./framing/framer.js";
export {
  DEFAULT_MAX_FRAME_BYTES,
  LENGTH_PREFIX_HEADER_BYTES,
  LengthPrefixFramer,
  type LengthPrefixFramerOptions,
} from "./framing/length-prefix-framer.js";
export {
  AcceptGuard,
  type AcceptGuardOptions,
  type AcceptVerdict,
  AdaptiveTolerance,
  type AdaptiveToleranceOptions,
  AddressList,
  type AddressListSource,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_NEW_CONNECTIONS_PER_IP_PER_SECOND,
  DEFAULT_PRE_AUTH_DEADLINE_MS,
  type GuardCounters,
  type GuardToleranceState,
  type ParsedCidr,
  type ParsedIp,
  PreAuthOutcome,
  parseCidr,
  parseIp,
  RejectReason,
  tryParseIp,
} from "./guard/index.js";
export type { EventSink, ProtocolHandler, SessionEvent } from "./handler.js";
export type { EngineStats } from "./hub.js";
export { HANDSHAKE_TIMEOUT_MS, type Listener, type ListenerStats } from "./listener.js";
export {
  type ConnectOptions,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  type ListenOptions,
  type SessionOptions,
} from "./options.js";
export { type DisconnectInfo, DisconnectReason, WebSocketCloseCode } from "./reasons.js";
export {
  DEFAULT_RECONNECT_FACTOR,
  DEFAULT_RECONNECT_INITIAL_DELAY_MS,
  DEFAULT_RECONNECT_MAX_ATTEMPTS,
  DEFAULT_RECONNECT_MAX_DELAY_MS,
  DEFAULT_RECONNECT_STABLE_AFTER_MS,
  ReconnectingClient,
  type ReconnectingClientOptions,
} from "./reconnect/reconnecting-client.js";
export {
  DEFAULT_HIGH_WATER_MARK_BYTES,
  DEFAULT_LINGER_MS,
  Session,
  SessionState,
  type SessionStats,
  TransportKind,
} from "./session/session.js";
