import type { Socket } from "node:net";
import type { WebSocket } from "ws";
import { FrameError, NetEngineErrorCode } from "../errors.js";
import { type DisconnectInfo, DisconnectReason, WebSocketCloseCode } from "../reasons.js";
import { Session, type SessionHost, type TransportKind } from "../session/session.js";

/** How long a WebSocket close handshake may take before the socket is destroyed. */
const CLOSE_HANDSHAKE_MS = 1000;

/**
 * A session over a WebSocket: each binary message is one frame. Internal: created by the
 * WebSocket transport.
 */
export class WsSession<U = unknown> extends Session<U> {
  readonly #ws: WebSocket;
  readonly #socket: Socket;
  readonly #maxMessageBytes: number;
  #error: Error | undefined;

  constructor(
    host: SessionHost<U>,
    ws: WebSocket,
    socket: Socket,
    maxMessageBytes: number,
    init: { transport: TransportKind; role: "server" | "client"; remoteAddress: string; remotePort: number },
  ) {
    super(host, init);
    this.#ws = ws;
    this.#socket = socket;
    this.#maxMessageBytes = maxMessageBytes;
    ws.binaryType = "nodebuffer";
    ws.on("message", this.#onMessage);
    // Control frames are traffic too: a peer that pings, or answers our pings, is alive.
    const alive = (): void => {
      this.lastReceiveAt = performance.now();
    };
    ws.on("pong", alive);
    ws.on("ping", alive);
    socket.on("drain", () => this.drained());
    ws.on("error", (error: Error & { code?: string }) => {
      if (error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
        this.frameFailed(
          new FrameError(NetEngineErrorCode.FrameTooLarge, "WebSocket message larger than the maximum", {
            cause: error,
            context: { maxMessageBytes: maxMessageBytes },
          }),
        );
        return;
      }
      if (error.code?.startsWith("WS_ERR_") === true) {
        // Every other error ws raises on received bytes is a protocol violation by the peer.
        this.frameFailed(
          new FrameError(NetEngineErrorCode.FrameMalformed, "WebSocket protocol violation", {
            cause: error,
            context: { wsCode: error.code },
          }),
        );
        return;
      }
      this.#error ??= error;
    });
    ws.on("close", (code: number) => {
      const error = this.#error;
      this.transportClosed(
        error === undefined
          ? { reason: DisconnectReason.PeerClosed, closeCode: code }
          : { reason: DisconnectReason.Error, error, detail: error.message, closeCode: code },
      );
    });
  }

  /** The underlying ws WebSocket, for options the engine does not cover. */
  get webSocket(): WebSocket {
    return this.#ws;
  }

  #onMessage = (data: Buffer, isBinary: boolean): void => {
    this.received(data.byteLength);
    if (!isBinary) {
      this.frameFailed(
        new FrameError(NetEngineErrorCode.FrameMalformed, "text message where binary messages are required"),
      );
      return;
    }
    this.deliverFrame(data);
  };

  protected wireSize(payload: Uint8Array): number {
    if (payload.byteLength > this.#maxMessageBytes) {
      throw new FrameError(NetEngineErrorCode.FrameTooLarge, "payload larger than the maximum message size", {
        context: { bytes: payload.byteLength, maxMessageBytes: this.#maxMessageBytes },
      });
    }
    return payload.byteLength;
  }

  protected writeOut(payloads: Uint8Array[], bytes: number): void {
    // ws writes header and payload per message; corking makes the whole turn one writev.
    const socket = this.#socket;
    socket.cork();
    for (const payload of payloads) this.#ws.send(payload, { binary: true });
    socket.uncork();
    this.stats.bytesOut += bytes;
  }

  protected transportBufferedBytes(): number {
    return this.#ws.bufferedAmount;
  }

  protected override sendPing(): void {
    this.#ws.ping();
  }

  protected halfClose(closeCode?: number, reason?: string): void {
    this.#ws.close(closeCode ?? WebSocketCloseCode.goodbye, reason);
  }

  protected destroyTransport(info: DisconnectInfo): void {
    const ws = this.#ws;
    if (ws.readyState === ws.CLOSED) return;
    if (info.reason === DisconnectReason.SlowConsumer || info.reason === DisconnectReason.Error) {
      ws.terminate();
      return;
    }
    if (ws.readyState === ws.OPEN) {
      // Tell the peer why, then give the close handshake a bounded time.
      ws.close(info.closeCode ?? WebSocketCloseCode[info.reason], info.reason);
      const timer = setTimeout(() => ws.terminate(), CLOSE_HANDSHAKE_MS);
      timer.unref();
      ws.once("close", () => clearTimeout(timer));
      return;
    }
    ws.terminate();
  }
}
