import WebSocket from "ws";
import { ClientError, ClientErrorCode } from "../errors.js";
import type {
  ClientTransport,
  GatewayUrl,
  TransportConnectOptions,
  TransportConnector,
  TransportEvents,
} from "./client-transport.js";
import { TcpConnector, type TcpConnectorOptions } from "./tcp-transport.js";
import { WebSocketConnector, type WebSocketLike } from "./websocket-transport.js";

/** Options of {@link NodeConnector}. */
export interface NodeConnectorOptions extends TcpConnectorOptions {
  /**
   * Extra options for `ws`'s WebSocket (`ca`, `headers`, `rejectUnauthorized`…). `maxPayload` and
   * `handshakeTimeout` are set from the client's options. Default none.
   */
  readonly webSocket?: WebSocket.ClientOptions;
}

/**
 * The Node transports: `tcp://` and `tls://` through `@meridian/netengine` (length-prefixed frames),
 * `ws://` and `wss://` through the `ws` package (Node 20 has no global WebSocket). Share one between
 * many clients (a bot swarm) to share the engine's counters.
 */
export class NodeConnector implements TransportConnector {
  readonly #tcp: TcpConnector;
  readonly #ws: WebSocketConnector;

  constructor(options: NodeConnectorOptions = {}) {
    this.#tcp = new TcpConnector(options.tls === undefined ? {} : { tls: options.tls });
    this.#ws = new WebSocketConnector(
      (url, connect) =>
        // `ws` implements the WHATWG `on*` properties and `binaryType = "arraybuffer"` the transport
        // uses; its declared handler types are its own event classes, hence the structural cast.
        new WebSocket(url, {
          ...options.webSocket,
          maxPayload: connect.maxReceiveBytes,
          handshakeTimeout: connect.connectTimeoutMs,
        }) as unknown as WebSocketLike,
    );
  }

  connect(
    url: GatewayUrl,
    events: TransportEvents,
    options: TransportConnectOptions,
  ): Promise<ClientTransport> {
    switch (url.scheme) {
      case "tcp":
      case "tls":
        return this.#tcp.connect(url, events, options);
      case "ws":
      case "wss":
        return this.#ws.connect(url, events, options);
      default:
        return Promise.reject(new ClientError(ClientErrorCode.InvalidOptions, `unsupported URL ${url.href}`));
    }
  }

  /** Closes the TCP connections opened by this connector. */
  close(): Promise<void> {
    return this.#tcp.close();
  }
}
