import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { WebSocket, WebSocketServer } from "ws";
import { NetEngineError, NetEngineErrorCode } from "../errors.js";
import type { SessionHub } from "../hub.js";
import { type Admission, BaseListener } from "../listener.js";
import type { ListenOptions, ResolvedSessionOptions } from "../options.js";
import { TransportKind } from "../session/session.js";
import { WsSession } from "./ws-session.js";

/**
 * A WebSocket listener. The accept guard runs on the raw TCP socket, before the HTTP upgrade is
 * read; the pre-auth deadline starts at accept and covers the upgrade (and the TLS handshake for
 * wss). Per-message compression is off: it costs CPU and memory per connection and opens
 * decompression-bomb attacks.
 */
export class WebSocketListener<U = unknown> extends BaseListener<U> {
  readonly transport: TransportKind;
  readonly #http: HttpServer;
  readonly #wss: WebSocketServer;
  readonly #secureContext: SecureContext | undefined;
  readonly #path: string | undefined;
  readonly #admissions = new WeakMap<Socket, Admission>();

  constructor(options: ListenOptions<U>) {
    super(options);
    this.#secureContext = options.tls === undefined ? undefined : createSecureContext(options.tls);
    this.transport =
      this.#secureContext === undefined ? TransportKind.WebSocket : TransportKind.SecureWebSocket;
    this.#path = options.path;
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.options.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.#http = createHttpServer((_req, res) => {
      res.writeHead(426, { "content-type": "text/plain", connection: "close" });
      res.end("WebSocket upgrade required\n");
    });
    this.#http.on("upgrade", this.#onUpgrade);
    this.#http.on("clientError", (_error, socket: Socket) => socket.destroy());
  }

  protected adopt(raw: Socket, admission: Admission): void {
    raw.setNoDelay(this.options.noDelay);
    let socket: Socket = raw;
    if (this.#secureContext !== undefined) {
      socket = new TLSSocket(raw, { isServer: true, secureContext: this.#secureContext });
      socket.on("error", () => {});
      socket.once("close", () => raw.destroy());
    }
    this.#admissions.set(socket, admission);
    this.startRawDeadline(raw, admission);
    this.#http.emit("connection", socket);
    if (socket === raw) raw.resume();
  }

  #onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    const admission = this.#admissions.get(socket);
    if (admission === undefined) {
      socket.destroy();
      return;
    }
    if (this.#path !== undefined && requestPath(req.url) !== this.#path) {
      socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new WsSession<U>(this.hub, ws, socket, this.options.maxMessageBytes, {
        transport: this.transport,
        role: "server",
        remoteAddress: admission.socket.remoteAddress ?? "",
        remotePort: admission.socket.remotePort ?? 0,
      });
      this.openSession(session, admission);
    });
  };

  protected override async onClosed(): Promise<void> {
    this.#wss.close();
    this.#http.close();
  }
}

/**
 * The path of a request target, without its query. No URL parsing: the target is the peer's input,
 * and `new URL` throws on targets such as `//`.
 */
function requestPath(target: string | undefined): string {
  if (target === undefined) return "/";
  const query = target.indexOf("?");
  return query === -1 ? target : target.slice(0, query);
}

/** Connects one WebSocket session. Internal: `Connector` calls it. */
export function connectWs<U>(
  hub: SessionHub<U>,
  options: ResolvedSessionOptions<U>,
  url: string,
  tls: boolean | import("node:tls").ConnectionOptions | undefined,
  connectTimeoutMs: number,
): Promise<WsSession<U>> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, {
        maxPayload: options.maxMessageBytes,
        perMessageDeflate: false,
        handshakeTimeout: connectTimeoutMs,
        ...(typeof tls === "object" ? tls : {}),
      });
    } catch (error) {
      reject(
        new NetEngineError(NetEngineErrorCode.ConnectFailed, `cannot connect to ${url}`, {
          cause: error,
          context: { url },
        }),
      );
      return;
    }
    let socket: Socket | undefined;
    ws.once("upgrade", (res: IncomingMessage) => {
      socket = res.socket;
    });
    const fail = (error: Error): void => {
      ws.terminate();
      reject(
        new NetEngineError(NetEngineErrorCode.ConnectFailed, `cannot connect to ${url}`, {
          cause: error,
          context: { url },
        }),
      );
    };
    ws.once("error", fail);
    ws.once("open", () => {
      ws.off("error", fail);
      if (socket === undefined) {
        fail(new Error("upgrade response had no socket"));
        return;
      }
      socket.setNoDelay(options.noDelay);
      const secure = url.startsWith("wss:");
      const session = new WsSession<U>(hub, ws, socket, options.maxMessageBytes, {
        transport: secure ? TransportKind.SecureWebSocket : TransportKind.WebSocket,
        role: "client",
        remoteAddress: socket.remoteAddress ?? "",
        remotePort: socket.remotePort ?? 0,
      });
      hub.open(session);
      resolve(session);
    });
  });
}
