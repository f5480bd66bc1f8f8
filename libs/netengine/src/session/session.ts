import { FrameError, NetEngineError, NetEngineErrorCode, OptionsError, toError } from "../errors.js";
import type { HandlerChain } from "../handler.js";
import { type DisconnectInfo, DisconnectReason } from "../reasons.js";

/** The kind of transport under a session. */
export const TransportKind = { Tcp: "tcp", Tls: "tls", WebSocket: "ws", SecureWebSocket: "wss" } as const;
export type TransportKind = (typeof TransportKind)[keyof typeof TransportKind];

/** Lifecycle of a session: `open` → `closing` (goodbye in progress) → `closed` (released). */
export const SessionState = { Open: "open", Closing: "closing", Closed: "closed" } as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** Per-session byte and frame counters. */
export interface SessionStats {
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
}

/** Default high-water mark of queued outgoing bytes before a session is dropped as a slow consumer. */
export const DEFAULT_HIGH_WATER_MARK_BYTES = 1024 * 1024;
/** Default bound of a graceful goodbye before the socket is destroyed. */
export const DEFAULT_LINGER_MS = 2000;

/**
 * What a session needs from the listener or connector that owns it. Internal: applications see
 * {@link Session} only.
 */
export interface SessionHost<U> {
  readonly chain: HandlerChain<U>;
  readonly highWaterMarkBytes: number;
  readonly lingerMs: number;
  /** Called exactly once, when the session is released, before `onDisconnected` is dispatched. */
  released(session: Session<U>, info: DisconnectInfo): void;
  /** Called when the first valid frame was accepted (`markEstablished`). */
  established(session: Session<U>): void;
  /** A sink threw or something unexpected happened; the host logs or counts it. */
  reportError(session: Session<U>, error: Error): void;
}

let nextSessionId = 1;

/**
 * One connection, whatever its transport (the seed's `Client`). Sessions are created by the engine
 * (a listener's accept or a connector's connect); applications use them through their protocol
 * handler's event sinks.
 *
 * Writes are queued and flushed once per event-loop turn (one syscall for everything sent in that
 * turn). Queued bytes above the high-water mark drop the session with reason `slow_consumer`, so
 * memory per session stays bounded.
 *
 * @typeParam U - the application's per-session data (`session.data`).
 */
export abstract class Session<U = unknown> {
  /** Process-unique id. */
  readonly id: number = nextSessionId++;
  readonly transport: TransportKind;
  /** `server` for an accepted session, `client` for one made by connect. */
  readonly role: "server" | "client";
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The application's per-session state. */
  data: U | undefined;
  readonly stats: SessionStats = { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0 };
  /** Resolves once, when the session is released, with the reason. Never rejects. */
  readonly closed: Promise<DisconnectInfo>;

  protected readonly host: SessionHost<U>;
  #state: SessionState = SessionState.Open;
  #established = false;
  #queue: Uint8Array[] = [];
  #spare: Uint8Array[] = [];
  /** Wire bytes of the queued payloads (framing included). */
  #queuedBytes = 0;
  /** The transport's buffered bytes after the last flush; only shrinks until the next flush. */
  #transportAtFlush = 0;
  #flushScheduled = false;
  #events: unknown[] = [];
  #eventsScheduled = false;
  #resolveClosed!: (info: DisconnectInfo) => void;
  #lingerTimer: NodeJS.Timeout | undefined;
  #preAuthTimer: NodeJS.Timeout | undefined;
  /** `performance.now()` of the last received byte or pong, for the idle sweep. */
  lastReceiveAt: number = performance.now();
  /** `performance.now()` of the last heartbeat, for the heartbeat sweep. */
  lastHeartbeatAt: number = performance.now();

  protected constructor(
    host: SessionHost<U>,
    init: { transport: TransportKind; role: "server" | "client"; remoteAddress: string; remotePort: number },
  ) {
    this.host = host;
    this.transport = init.transport;
    this.role = init.role;
    this.remoteAddress = init.remoteAddress;
    this.remotePort = init.remotePort;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  get state(): SessionState {
    return this.#state;
  }

  /** True once the protocol handler accepted a first valid frame (`markEstablished`). */
  get established(): boolean {
    return this.#established;
  }

  /** Bytes queued by `send` and not yet handed to the transport, plus the transport's own buffer. */
  get bufferedBytes(): number {
    return this.#queuedBytes + this.transportBufferedBytes();
  }

  /**
   * Marks the session as having sent a complete, valid frame: ends the pre-auth deadline. Call it
   * from the protocol handler's `onFrame` once the frame is known to be good. Idempotent.
   */
  markEstablished(): void {
    if (this.#established) return;
    this.#established = true;
    if (this.#preAuthTimer !== undefined) {
      clearTimeout(this.#preAuthTimer);
      this.#preAuthTimer = undefined;
    }
    this.host.established(this);
  }

  /**
   * Queues one frame's payload for sending. Everything sent in one event-loop turn goes out in one
   * write. Returns false (and sends nothing) when the session is not open, or when the queue passed
   * the high-water mark, which also drops the session with reason `slow_consumer`.
   *
   * The payload is not copied until the flush: do not modify it after calling `send`.
   * @throws FrameError when the payload cannot be framed (larger than the maximum frame size).
   */
  send(payload: Uint8Array): boolean {
    if (this.#state !== SessionState.Open) return false;
    this.#queuedBytes += this.wireSize(payload);
    this.#queue.push(payload);
    // The transport's buffer can only have shrunk since the flush that measured it, so the cached
    // figure is an upper bound: read the real one only when the bound passes the mark.
    if (
      this.#queuedBytes + this.#transportAtFlush > this.host.highWaterMarkBytes &&
      this.#queuedBytes + this.transportBufferedBytes() > this.host.highWaterMarkBytes
    ) {
      this.#release({
        reason: DisconnectReason.SlowConsumer,
        detail: `${this.bufferedBytes} bytes queued, high-water mark ${this.host.highWaterMarkBytes}`,
      });
      return false;
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
    return true;
  }

  /**
   * Posts a user event: delivered to `onUserEvent` of the handler and sinks asynchronously (never
   * inside the caller's stack), in posting order per session, never re-entrantly. Events posted
   * before the session closed are still delivered after it closed; after that, `post` returns false.
   */
  post(event: unknown): boolean {
    if (this.#state === SessionState.Closed) return false;
    this.#events.push(event);
    if (!this.#eventsScheduled) {
      this.#eventsScheduled = true;
      setImmediate(this.#drainEvents);
    }
    return true;
  }

  /**
   * Graceful goodbye (the seed's SO_LINGER): stops accepting sends, flushes what is queued,
   * half-closes, and waits for the peer to close; after `lingerMs` the socket is destroyed anyway.
   * Resolves with the disconnect info (reason `goodbye`, or whatever ended the session first).
   *
   * On WebSocket the close frame carries `closeCode` (default 1000) and `closeReason` (cut to the
   * protocol's 123 bytes); TCP has no close code and ignores both.
   * @throws OptionsError for a `closeCode` a WebSocket endpoint may not send (outside 1000–1003,
   * 1007–1014 and 3000–4999; RFC 6455 §7.4).
   */
  goodbye(
    options: { lingerMs?: number; closeCode?: number; closeReason?: string } = {},
  ): Promise<DisconnectInfo> {
    const { closeCode, closeReason } = options;
    if (closeCode !== undefined && !isApplicationCloseCode(closeCode)) {
      throw new OptionsError(`closeCode must be 1000–1003, 1007–1014 or 3000–4999, got ${closeCode}`, {
        closeCode,
      });
    }
    if (this.#state !== SessionState.Open) return this.closed;
    this.#state = SessionState.Closing;
    this.#flushNow();
    // The final flush may have failed and released the session already.
    if (this.#state !== SessionState.Closing) return this.closed;
    const lingerMs = options.lingerMs ?? this.host.lingerMs;
    this.#lingerTimer = setTimeout(() => {
      this.#release({ reason: DisconnectReason.Goodbye, detail: `linger timeout ${lingerMs} ms` });
    }, lingerMs);
    this.#lingerTimer.unref?.();
    this.halfClose(closeCode, closeReason === undefined ? undefined : truncateUtf8(closeReason, 123));
    return this.closed;
  }

  /** Closes the session at once, dropping queued writes. Idempotent. */
  close(reason: DisconnectReason = DisconnectReason.LocalClose, detail?: string): void {
    this.#release(detail === undefined ? { reason } : { reason, detail });
  }

  /** Starts the pre-auth deadline (server sessions). Internal. */
  startPreAuthDeadline(deadlineMs: number, onExpired: () => void): void {
    if (this.#established || this.#state === SessionState.Closed) return;
    this.#preAuthTimer = setTimeout(() => {
      this.#preAuthTimer = undefined;
      if (this.#established || this.#state === SessionState.Closed) return;
      onExpired();
      this.#release({
        reason: DisconnectReason.PreAuthTimeout,
        detail: `no valid frame within ${deadlineMs} ms`,
      });
    }, deadlineMs);
  }

  // ---- for transports ----

  /** Transport: bytes arrived (counted and idle clock reset). */
  protected received(bytes: number): void {
    this.stats.bytesIn += bytes;
    this.lastReceiveAt = performance.now();
  }

  /** Transport: one frame arrived; dispatches it unless the session already closed. */
  protected deliverFrame(frame: Uint8Array): void {
    if (this.#state === SessionState.Closed) return;
    this.stats.framesIn++;
    try {
      this.host.chain.frame(this, frame);
    } catch (error) {
      this.#handlerFailed(error);
    }
  }

  /** Transport: the write buffer drained. */
  protected drained(): void {
    if (this.#state === SessionState.Closed) return;
    this.#safely(() => this.host.chain.writeDrained(this));
  }

  /** Transport: a framing error. */
  protected frameFailed(error: unknown): void {
    const err = toError(error);
    const reason =
      err instanceof FrameError && err.code === NetEngineErrorCode.FrameTooLarge
        ? DisconnectReason.FrameTooLarge
        : DisconnectReason.FrameMalformed;
    this.#release({ reason, detail: err.message, error: err });
  }

  /**
   * Transport: the connection ended. During a goodbye a peer close completes the goodbye.
   */
  protected transportClosed(info: DisconnectInfo): void {
    if (this.#state === SessionState.Closing && info.reason === DisconnectReason.PeerClosed) {
      this.#release({ reason: DisconnectReason.Goodbye, ...withCode(info.closeCode) });
      return;
    }
    this.#release(info);
  }

  /** Dispatches onAccepted / onConnected. Internal (listener / connector). */
  dispatchOpen(): void {
    this.#safely(() => {
      if (this.role === "server") this.host.chain.accepted(this);
      else this.host.chain.connected(this);
    });
  }

  /** Dispatches onHeartbeat. Internal (sweep). */
  dispatchHeartbeat(): void {
    if (this.#state !== SessionState.Open) return;
    this.lastHeartbeatAt = performance.now();
    this.sendPing();
    this.#safely(() => this.host.chain.heartbeat(this));
  }

  /** Bytes `payload` takes on the wire; throws FrameError when it cannot be framed. */
  protected abstract wireSize(payload: Uint8Array): number;
  /** Hands queued payloads (`wireBytes` on the wire in all) to the transport in one write. */
  protected abstract writeOut(payloads: Uint8Array[], wireBytes: number): void;
  /** Bytes the transport holds that the kernel has not taken yet. */
  protected abstract transportBufferedBytes(): number;
  /** Half-close after the final flush (TCP FIN, WebSocket close frame with `closeCode` and `reason`). */
  protected abstract halfClose(closeCode?: number, reason?: string): void;
  /** Destroys the underlying connection at once. Must not call back into the session synchronously. */
  protected abstract destroyTransport(info: DisconnectInfo): void;
  /** A transport-level ping, where the transport has one. */
  protected sendPing(): void {}

  #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#state === SessionState.Closed) return;
    this.#flushNow();
  };

  #flushNow(): void {
    if (this.#queue.length === 0) return;
    const queue = this.#queue;
    const bytes = this.#queuedBytes;
    // Two arrays take turns: transports copy or hand off every payload before writeOut returns.
    this.#queue = this.#spare;
    this.#queuedBytes = 0;
    this.stats.framesOut += queue.length;
    try {
      this.writeOut(queue, bytes);
      this.#transportAtFlush = this.transportBufferedBytes();
    } catch (error) {
      this.#release({ reason: DisconnectReason.Error, error: toError(error), detail: "write failed" });
    } finally {
      queue.length = 0;
      this.#spare = queue;
    }
  }

  #drainEvents = (): void => {
    this.#eventsScheduled = false;
    // Deliver only what was queued when this turn started; events posted by the handlers run in a
    // later turn, so a handler that posts to itself cannot starve I/O.
    const batch = this.#events;
    this.#events = [];
    for (const event of batch) {
      try {
        this.host.chain.userEvent(this, event);
      } catch (error) {
        this.#handlerFailed(error);
      }
    }
  };

  #safely(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#handlerFailed(error);
    }
  }

  #handlerFailed(error: unknown): void {
    const err = new NetEngineError(NetEngineErrorCode.HandlerFailed, "a protocol handler or sink threw", {
      cause: error,
      context: { sessionId: this.id },
    });
    this.host.reportError(this, err);
    this.#release({ reason: DisconnectReason.HandlerError, error: err, detail: toError(error).message });
  }

  /** The one place a session ends. Runs once; later calls are no-ops. */
  #release(info: DisconnectInfo): void {
    if (this.#state === SessionState.Closed) return;
    this.#state = SessionState.Closed;
    if (this.#preAuthTimer !== undefined) clearTimeout(this.#preAuthTimer);
    if (this.#lingerTimer !== undefined) clearTimeout(this.#lingerTimer);
    this.#preAuthTimer = undefined;
    this.#lingerTimer = undefined;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#transportAtFlush = 0;
    try {
      this.destroyTransport(info);
    } catch (error) {
      this.host.reportError(this, toError(error));
    }
    this.host.released(this, info);
    this.host.chain.disconnected(this, info, (error) =>
      this.host.reportError(
        this,
        new NetEngineError(NetEngineErrorCode.HandlerFailed, "onDisconnected threw", {
          cause: error,
          context: { sessionId: this.id },
        }),
      ),
    );
    this.#resolveClosed(info);
  }
}

/**
 * The close codes an endpoint may send in a WebSocket close frame (RFC 6455 §7.4 and the IANA
 * registry): 1000–1003, 1007–1014, 3000–4999. 1004–1006 and 1015 are reserved (never sent).
 */
function isApplicationCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** `text` cut to at most `maxBytes` bytes of UTF-8, on a character boundary. */
function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, "utf8") <= maxBytes) return text;
  let out = "";
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, "utf8");
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}

function withCode(closeCode: number | undefined): { closeCode?: number } {
  return closeCode === undefined ? {} : { closeCode };
}
