import { ClientError, ClientErrorCode } from "../errors.js";
import type {
  ClientTransport,
  GatewayUrl,
  TransportConnectOptions,
  TransportConnector,
  TransportEvents,
} from "./client-transport.js";

/**
 * The slice of the WHATWG `WebSocket` the client uses, declared structurally so the browser entry
 * needs neither DOM types nor the `ws` package. A browser's `WebSocket` and `ws`'s `WebSocket` (which
 * implements the same `on*` properties and `binaryType = "arraybuffer"`) both fit.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** Makes a WebSocket for a URL: `(url) => new WebSocket(url)` in a browser. */
export type WebSocketFactory = (url: string, options: TransportConnectOptions) => WebSocketLike;

const OPEN = 1;
/** WebSocket close codes the client sends for transport-level violations (RFC 6455). */
const UNSUPPORTED_DATA = 1003;
const MESSAGE_TOO_BIG = 1009;

/**
 * A client transport over one WebSocket: each message is one binary WebSocket message
 * (docs/protocol.md §1). A text message or one above `maxReceiveBytes` is a violation: the transport
 * reports it and closes with 1003 or 1009.
 */
export class WebSocketTransport implements ClientTransport {
  readonly kind = "ws";
  readonly #ws: WebSocketLike;
  readonly #events: TransportEvents;
  readonly #maxReceiveBytes: number;
  #closed = false;

  /** Wraps a WebSocket that is already open; see {@link WebSocketConnector} to open one. */
  constructor(ws: WebSocketLike, events: TransportEvents, options: { readonly maxReceiveBytes: number }) {
    this.#ws = ws;
    this.#events = events;
    this.#maxReceiveBytes = options.maxReceiveBytes;
    ws.onmessage = (event) => this.#message(event.data);
    ws.onclose = (event) => this.#finish(event.code, event.reason === "" ? "closed" : event.reason);
    ws.onerror = () => {
      // An error is always followed by a close event, which reports it.
    };
  }

  send(bytes: Uint8Array): boolean {
    if (this.#closed || this.#ws.readyState !== OPEN) return false;
    this.#ws.send(bytes);
    return true;
  }

  close(code = 1000, reason = ""): void {
    if (this.#closed) return;
    try {
      this.#ws.close(code, reason);
    } catch {
      // Browsers refuse some codes (1006…); closing with the default code still ends it.
      this.#ws.close();
    }
    // Report at once: a close handshake with a dead peer can take long, and the client has moved on.
    this.#finish(code, reason === "" ? "local close" : reason);
  }

  #message(data: unknown): void {
    if (this.#closed) return;
    let bytes: Uint8Array;
    if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else {
      this.#violation(
        UNSUPPORTED_DATA,
        new ClientError(ClientErrorCode.Protocol, "the server sent a text WebSocket message"),
      );
      return;
    }
    if (bytes.byteLength > this.#maxReceiveBytes) {
      this.#violation(
        MESSAGE_TOO_BIG,
        new ClientError(
          ClientErrorCode.Protocol,
          `the server sent a ${bytes.byteLength}-byte message, more than ${this.#maxReceiveBytes}`,
        ),
      );
      return;
    }
    this.#events.onMessage(bytes);
  }

  #violation(code: number, error: Error): void {
    this.#events.onViolation?.(error);
    this.close(code, error.message.slice(0, 123));
  }

  #finish(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ws.onmessage = null;
    this.#events.onClose({ code, reason });
  }
}

/**
 * Opens {@link WebSocketTransport}s to `ws://` and `wss://` URLs with a WebSocket factory: by
 * default the global `WebSocket` (browsers, Deno, Node 22+); `@meridian/client/node` passes `ws`'s.
 */
export class WebSocketConnector implements TransportConnector {
  readonly #factory: WebSocketFactory;

  /**
   * @param factory makes a WebSocket. Default: `new globalThis.WebSocket(url)`.
   * @throws ClientError `CLIENT_INVALID_OPTIONS` when no factory is given and there is no global WebSocket.
   */
  constructor(factory?: WebSocketFactory) {
    if (factory !== undefined) {
      this.#factory = factory;
      return;
    }
    const ctor: unknown = Reflect.get(globalThis, "WebSocket");
    if (typeof ctor !== "function") {
      throw new ClientError(
        ClientErrorCode.InvalidOptions,
        "there is no global WebSocket here: pass a WebSocket factory, or use @meridian/client/node",
      );
    }
    const WebSocketCtor = ctor as new (url: string) => WebSocketLike;
    this.#factory = (url) => new WebSocketCtor(url);
  }

  connect(
    url: GatewayUrl,
    events: TransportEvents,
    options: TransportConnectOptions,
  ): Promise<ClientTransport> {
    if (url.scheme !== "ws" && url.scheme !== "wss") {
      return Promise.reject(
        new ClientError(
          ClientErrorCode.InvalidOptions,
          `${url.href}: this connector speaks ws:// and wss:// only (tcp:// needs @meridian/client/node)`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = this.#factory(url.href, options);
      } catch (cause) {
        reject(new ClientError(ClientErrorCode.ConnectFailed, `cannot connect to ${url.href}`, { cause }));
        return;
      }
      ws.binaryType = "arraybuffer";
      let settled = false;
      const fail = (detail: string, code?: number): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.onopen = null;
        ws.onclose = null;
        // `ws` emits "error" when a connecting socket is closed: keep a listener so nothing throws.
        ws.onerror = () => {};
        try {
          ws.close();
        } catch {
          // already closing
        }
        reject(
          new ClientError(ClientErrorCode.ConnectFailed, `cannot connect to ${url.href}: ${detail}`, {
            ...(code === undefined ? {} : { closeCode: code }),
          }),
        );
      };
      const timer = setTimeout(
        () => fail(`no answer within ${options.connectTimeoutMs} ms`),
        options.connectTimeoutMs,
      );
      ws.onerror = () => fail("connection error");
      ws.onclose = (event) => fail(`closed (${event.code})`, event.code);
      ws.onopen = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.onopen = null;
        resolve(new WebSocketTransport(ws, events, { maxReceiveBytes: options.maxReceiveBytes }));
      };
    });
  }
}
