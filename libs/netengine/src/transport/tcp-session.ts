import type { Socket } from "node:net";
import type { FrameDecoder, Framer } from "../framing/framer.js";
import { type DisconnectInfo, DisconnectReason } from "../reasons.js";
import { Session, type SessionHost, type TransportKind } from "../session/session.js";

/**
 * A session over a byte stream (node:net or node:tls socket) framed by a {@link Framer}.
 * Internal: created by the TCP transport.
 */
export class TcpSession<U = unknown> extends Session<U> {
  readonly #socket: Socket;
  readonly #framer: Framer;
  readonly #decoder: FrameDecoder;
  #error: Error | undefined;

  constructor(
    host: SessionHost<U>,
    socket: Socket,
    framer: Framer,
    init: { transport: TransportKind; role: "server" | "client"; remoteAddress: string; remotePort: number },
  ) {
    super(host, init);
    this.#socket = socket;
    this.#framer = framer;
    this.#decoder = framer.createDecoder();
    socket.on("data", this.#onData);
    socket.on("drain", () => this.drained());
    socket.on("error", (error: Error) => {
      this.#error ??= error;
    });
    socket.on("close", () => {
      const error = this.#error;
      this.transportClosed(
        error === undefined
          ? { reason: DisconnectReason.PeerClosed }
          : { reason: DisconnectReason.Error, error, detail: error.message },
      );
    });
  }

  /** The underlying socket, for options the engine does not cover. Do not read from it. */
  get socket(): Socket {
    return this.#socket;
  }

  #onData = (chunk: Buffer): void => {
    this.received(chunk.byteLength);
    try {
      this.#decoder.push(chunk, this.#onFrame);
    } catch (error) {
      this.frameFailed(error);
    }
  };

  #onFrame = (frame: Uint8Array): void => {
    this.deliverFrame(frame);
  };

  protected wireSize(payload: Uint8Array): number {
    return this.#framer.encodedLength(payload);
  }

  protected writeOut(payloads: Uint8Array[], wireBytes: number): void {
    const framer = this.#framer;
    // One buffer, one write, one syscall for the whole turn's output.
    const out = Buffer.allocUnsafe(wireBytes);
    let offset = 0;
    for (let i = 0; i < payloads.length; i++)
      offset = framer.encodeInto(payloads[i] as Uint8Array, out, offset);
    this.stats.bytesOut += wireBytes;
    this.#socket.write(out);
  }

  protected transportBufferedBytes(): number {
    return this.#socket.writableLength;
  }

  protected halfClose(): void {
    this.#socket.end();
  }

  protected destroyTransport(_info: DisconnectInfo): void {
    this.#socket.destroy();
  }
}
