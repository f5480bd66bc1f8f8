import {
  Connector,
  type DisconnectInfo,
  DisconnectReason,
  LengthPrefixFramer,
  type ProtocolHandler,
  type Session,
} from "@meridian/netengine";
import { ClientError, ClientErrorCode } from "../errors.js";
import type {
  ClientTransport,
  GatewayUrl,
  TransportCloseInfo,
  TransportConnectOptions,
  TransportConnector,
  TransportEvents,
} from "./client-transport.js";

/** How long a closing TCP transport lets queued bytes (a `bye`) drain before destroying the socket. */
export const TCP_CLOSE_LINGER_MS = 1000;

/**
 * A client transport over one TCP (or TLS) connection: each message is one frame with a 4-byte
 * big-endian length prefix (docs/protocol.md §1), framed by netengine's `LengthPrefixFramer`.
 * TCP has no close code: the gateway sends `bye { code }` before it closes, which the client reads.
 */
export class TcpTransport implements ClientTransport {
  readonly kind = "tcp";
  readonly #session: Session<TcpTransport>;
  readonly #events: TransportEvents;
  #closed = false;

  /** Wraps an open netengine session; see {@link TcpConnector} to open one. */
  constructor(session: Session<TcpTransport>, events: TransportEvents) {
    this.#session = session;
    this.#events = events;
  }

  send(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    try {
      return this.#session.send(bytes);
    } catch {
      // A FrameError (above the framer's maximum): the client checks sizes first, so this is a bug.
      return false;
    }
  }

  close(_code?: number, reason = "local close"): void {
    if (this.#closed) return;
    // A graceful goodbye flushes what is queued (the client's `bye`), half-closes, lingers briefly.
    void this.#session.goodbye({ lingerMs: TCP_CLOSE_LINGER_MS });
    this.#finish({ reason });
  }

  /** Internal: the engine reports a frame or the end of the session. */
  frame(frame: Uint8Array): void {
    if (!this.#closed) this.#events.onMessage(frame);
  }

  /** Internal. */
  disconnected(info: DisconnectInfo): void {
    if (this.#closed) return;
    if (info.reason === DisconnectReason.FrameTooLarge || info.reason === DisconnectReason.FrameMalformed) {
      this.#events.onViolation?.(
        new ClientError(ClientErrorCode.Protocol, `the server sent a bad frame (${info.reason})`, {
          cause: info.error,
        }),
      );
    }
    this.#finish({
      reason: info.detail === undefined ? info.reason : `${info.reason}: ${info.detail}`,
      ...(info.error === undefined ? {} : { error: info.error }),
    });
  }

  #finish(info: TransportCloseInfo): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#events.onClose(info);
  }
}

/** Options of {@link TcpConnector}. */
export interface TcpConnectorOptions {
  /**
   * TLS client options for `tls://` URLs (CA, client certificate…). Default: Node's defaults, which
   * verify the server's certificate against the system CAs and the URL's host name.
   */
  readonly tls?: import("node:tls").ConnectionOptions;
}

const tcpHandler: ProtocolHandler<TcpTransport> = {
  onFrame(session, frame) {
    transports.get(session)?.frame(frame);
  },
  onDisconnected(session, info) {
    const transport = transports.get(session);
    transports.delete(session);
    transport?.disconnected(info);
  },
};

const transports = new WeakMap<Session<TcpTransport>, TcpTransport>();

/**
 * Opens {@link TcpTransport}s to `tcp://` and `tls://` URLs with `@meridian/netengine`. One
 * connector's connections share a netengine `Connector` per scheme (and so its counters): give a
 * swarm of clients one connector.
 */
export class TcpConnector implements TransportConnector {
  readonly #tls: import("node:tls").ConnectionOptions | true;
  readonly #connectors = new Map<string, Connector<TcpTransport>>();

  constructor(options: TcpConnectorOptions = {}) {
    this.#tls = options.tls ?? true;
  }

  async connect(
    url: GatewayUrl,
    events: TransportEvents,
    options: TransportConnectOptions,
  ): Promise<ClientTransport> {
    if (url.scheme !== "tcp" && url.scheme !== "tls") {
      throw new ClientError(
        ClientErrorCode.InvalidOptions,
        `${url.href}: TcpConnector speaks tcp:// and tls://`,
      );
    }
    const connector = this.#connector(url.scheme, options);
    let session: Session<TcpTransport>;
    try {
      session = await connector.connect({ host: url.host, port: url.port });
    } catch (cause) {
      throw new ClientError(ClientErrorCode.ConnectFailed, `cannot connect to ${url.href}`, { cause });
    }
    const transport = new TcpTransport(session, events);
    transports.set(session, transport);
    return transport;
  }

  /** Closes every connection opened by this connector. */
  async close(): Promise<void> {
    await Promise.all([...this.#connectors.values()].map((c) => c.close({ goodbye: false })));
    this.#connectors.clear();
  }

  #connector(scheme: "tcp" | "tls", options: TransportConnectOptions): Connector<TcpTransport> {
    const key = `${scheme}/${options.maxReceiveBytes}/${options.connectTimeoutMs}`;
    let connector = this.#connectors.get(key);
    if (connector === undefined) {
      connector = new Connector<TcpTransport>({
        transport: "tcp",
        handler: tcpHandler,
        framer: new LengthPrefixFramer({ maxFrameBytes: options.maxReceiveBytes }),
        connectTimeoutMs: options.connectTimeoutMs,
        ...(scheme === "tls" ? { tls: this.#tls } : {}),
      });
      this.#connectors.set(key, connector);
    }
    return connector;
  }
}
