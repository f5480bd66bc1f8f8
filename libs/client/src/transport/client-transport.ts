import { ClientError, ClientErrorCode } from "../errors.js";

/**
 * How a client transport closed. `code` is the WebSocket close code when there was one; TCP has
 * none (the gateway sends a `bye` with the code before closing, and the client reads it there).
 */
export interface TransportCloseInfo {
  /** WebSocket close code; absent on TCP and for connections that broke without a close frame. */
  readonly code?: number;
  /** Free text for logs; never parse it. */
  readonly reason: string;
  /** The error behind an abnormal close, when the transport has one. */
  readonly error?: Error;
}

/** What a transport tells its client. Called at most once for `onClose`, never after it. */
export interface TransportEvents {
  /** One complete message's bytes (one WebSocket binary message, or one TCP frame's payload). */
  onMessage(bytes: Uint8Array): void;
  /** The transport closed, for any reason, including a local `close()`. */
  onClose(info: TransportCloseInfo): void;
  /**
   * The peer sent something that cannot be a message at the transport level (a WebSocket text
   * message, a frame above the limit). The transport closes itself after reporting it.
   */
  onViolation?(error: Error): void;
}

/**
 * One open connection to a gateway, carrying whole messages: a small interface with named
 * implementations (`WebSocketTransport`, and `TcpTransport` in `@meridian/client/node`).
 */
export interface ClientTransport {
  /** `ws` (WebSocket, ws:// or wss://) or `tcp` (length-prefixed frames, tcp:// or tls://). */
  readonly kind: "ws" | "tcp";
  /** Sends the bytes of one message. Returns false when the transport is no longer open. */
  send(bytes: Uint8Array): boolean;
  /** Closes the connection (WebSocket: with this close code and reason). Idempotent. */
  close(code?: number, reason?: string): void;
}

/** What a {@link TransportConnector} needs to open a transport. */
export interface TransportConnectOptions {
  /** Give up connecting after this long, ms. */
  readonly connectTimeoutMs: number;
  /** Largest message the transport accepts from the server, bytes (checked before buffering where it can). */
  readonly maxReceiveBytes: number;
}

/**
 * Opens transports to gateway URLs. `@meridian/client` ships one for WebSocket
 * (`WebSocketConnector`); `@meridian/client/node` adds TCP/TLS and the `ws` WebSocket
 * (`NodeConnector`).
 * @throws ClientError `CLIENT_CONNECT_FAILED` (the cause is the transport's error), or
 *   `CLIENT_INVALID_OPTIONS` for a URL scheme it does not speak.
 */
export interface TransportConnector {
  connect(
    url: GatewayUrl,
    events: TransportEvents,
    options: TransportConnectOptions,
  ): Promise<ClientTransport>;
}

/** A parsed gateway URL. */
export interface GatewayUrl {
  /** The URL as given. */
  readonly href: string;
  /** `ws:`, `wss:`, `tcp:` or `tls:`. */
  readonly scheme: "ws" | "wss" | "tcp" | "tls";
  readonly host: string;
  /** The port (for ws/wss without one: 80/443). */
  readonly port: number;
}

const SCHEMES = new Set(["ws", "wss", "tcp", "tls"]);

/**
 * Parses and checks a gateway URL: `ws://`, `wss://`, `tcp://` or `tls://` (TCP needs a port).
 * @throws ClientError `CLIENT_INVALID_OPTIONS`.
 */
export function parseGatewayUrl(href: string): GatewayUrl {
  let url: URL;
  try {
    url = new URL(href);
  } catch (cause) {
    throw new ClientError(ClientErrorCode.InvalidOptions, `not a URL: ${JSON.stringify(href)}`, { cause });
  }
  const scheme = url.protocol.slice(0, -1);
  if (!SCHEMES.has(scheme)) {
    throw new ClientError(
      ClientErrorCode.InvalidOptions,
      `gateway URL ${JSON.stringify(href)}: scheme must be ws://, wss://, tcp:// or tls://`,
    );
  }
  const typed = scheme as GatewayUrl["scheme"];
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (host === "") {
    throw new ClientError(ClientErrorCode.InvalidOptions, `gateway URL ${JSON.stringify(href)} has no host`);
  }
  let port = url.port === "" ? undefined : Number(url.port);
  if (port === undefined) {
    if (typed === "tcp" || typed === "tls") {
      throw new ClientError(
        ClientErrorCode.InvalidOptions,
        `gateway URL ${JSON.stringify(href)}: tcp:// and tls:// need a port`,
      );
    }
    port = typed === "wss" ? 443 : 80;
  }
  return Object.freeze({ href, scheme: typed, host, port });
}
