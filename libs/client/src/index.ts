/**
 * `@meridian/client`: the Meridian player SDK for browsers and Node (docs/protocol.md). This entry
 * is browser-safe: no `node:` imports, WebSocket transport only (the global `WebSocket`, or one you
 * pass). `@meridian/client/node` adds TCP/TLS, the `ws` WebSocket and the headless bots.
 *
 * Every public name is listed here by name.
 * @module
 */
export {
  DEFAULT_CLIENT_NAME,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_MISS_LIMIT,
  DEFAULT_MAX_RECEIVE_BYTES,
  DEFAULT_MAX_UNACKED_INPUTS,
  DEFAULT_RECONNECT_FACTOR,
  DEFAULT_RECONNECT_INITIAL_DELAY_MS,
  DEFAULT_RECONNECT_MAX_ATTEMPTS,
  DEFAULT_RECONNECT_MAX_DELAY_MS,
  DEFAULT_RECONNECT_STABLE_AFTER_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type MeridianClientOptions,
  type ReconnectOptions,
} from "./client/client-options.js";
export {
  type ClientEvents,
  ClientState,
  type ConnectedEvent,
  type DisconnectedEvent,
  type InputsAckedEvent,
  MeridianClient,
  type PongEvent,
  type ReconnectingEvent,
  type SessionInfo,
} from "./client/meridian-client.js";
export { type Listener, TypedEmitter } from "./client/typed-emitter.js";
export {
  ClientError,
  ClientErrorCode,
  type ClientErrorOptions,
  LOGIN_NONCE_INVALID,
  SESSION_LOST_CODES,
} from "./errors.js";
export {
  type ClientTransport,
  type GatewayUrl,
  parseGatewayUrl,
  type TransportCloseInfo,
  type TransportConnectOptions,
  type TransportConnector,
  type TransportEvents,
} from "./transport/client-transport.js";
export {
  WebSocketConnector,
  type WebSocketFactory,
  type WebSocketLike,
  WebSocketTransport,
} from "./transport/websocket-transport.js";
