/**
 * A WebSocket client written by hand over node:net (RFC 6455), for the gateway benchmarks: an HTTP
 * upgrade, masked binary frames out, unmasked frames in, parsed in place. As for the echo loads
 * (`../load/ws-raw-echo-load.ts`), a `ws` client would cost about as much CPU per message as the
 * server it measures; this one costs a parse loop per read and one write per batch.
 *
 * A connection starts in "message" mode: every message is queued for {@link RawWsConnection.next}
 * (the handshake: hello, login). A benchmark then installs a {@link FrameSink} with
 * {@link RawWsConnection.setSink}, which sees each message in place and, after each read, one
 * `endOfRead()`: the place to answer with one write.
 *
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const HEAD_END = "\r\n\r\n";
const MAX_HEAD_BYTES = 16 * 1024;
/** FIN + binary. */
export const FIN_BINARY = 0x82;
const OP_CLOSE = 0x8;
const MASK_BIT = 0x80;

/** Sees each received message in place, then the end of each read. */
export interface FrameSink {
  /** One message: `data[start, end)` is its payload (valid during the call only); `opcode` 0x1–0xA. */
  message(data: Buffer, start: number, end: number, opcode: number): void;
  /** Every message of the read was given to {@link FrameSink.message}. */
  endOfRead(): void;
}

/** Where to connect from and to. */
export interface RawWsOptions {
  readonly host: string;
  readonly port: number;
  /** Source address (a loopback address per client keeps per-IP limits apart). */
  readonly localAddress?: string;
  /** Bound on connect + upgrade, ms. Default 10000. */
  readonly timeoutMs?: number;
}

/** Masks `payload` into one client binary frame (7-bit or 16-bit length) with `mask`. */
export function maskedFrame(payload: Uint8Array, mask: Uint8Array): Buffer {
  const n = payload.byteLength;
  if (n > 0xffff) throw new RangeError("payload too large for a 16-bit WebSocket length");
  const header = n < 126 ? 2 : 4;
  const frame = Buffer.allocUnsafe(header + 4 + n);
  frame[0] = FIN_BINARY;
  if (n < 126) frame[1] = MASK_BIT | n;
  else {
    frame[1] = MASK_BIT | 126;
    frame.writeUInt16BE(n, 2);
  }
  for (let i = 0; i < 4; i++) frame[header + i] = mask[i] as number;
  for (let i = 0; i < n; i++) frame[header + 4 + i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return frame;
}

/** One client connection. */
export class RawWsConnection {
  readonly socket: Socket;
  /** This connection's masking key (random, as a browser's). */
  readonly mask: Buffer = randomBytes(4);
  #pending: Buffer | undefined;
  #sink: FrameSink | undefined;
  #queue: Buffer[] = [];
  #waiters: { resolve: (message: Buffer) => void; reject: (error: Error) => void }[] = [];
  #failure: Error | undefined;
  #closedByUs = false;
  /** Called once when the connection fails or the server closes it (not after {@link destroy}). */
  onFailure: ((error: Error) => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
  }

  /** Connects, upgrades, and resolves with the open connection. */
  static open(options: RawWsOptions): Promise<RawWsConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: options.host,
        port: options.port,
        noDelay: true,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      });
      const timer = setTimeout(
        () => fail(new Error(`WebSocket open timed out after ${options.timeoutMs ?? 10_000} ms`)),
        options.timeoutMs ?? 10_000,
      );
      const fail = (error: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        const where = `${options.localAddress ?? "a client"} → ${options.host}:${options.port}`;
        reject(
          error.message.startsWith(where) ? error : new Error(`${where}: ${error.message}`, { cause: error }),
        );
      };
      let head = "";
      socket.once("error", fail);
      socket.once("close", () =>
        fail(
          new Error(
            `${options.localAddress ?? "a client"} → ${options.host}:${options.port}: closed during the WebSocket upgrade` +
              (head === "" ? " (nothing received)" : ` (received ${JSON.stringify(head.slice(0, 200))})`),
          ),
        ),
      );
      const key = randomBytes(16).toString("base64");
      const accept = createHash("sha1")
        .update(key + WS_GUID)
        .digest("base64");
      const onHead = (chunk: Buffer): void => {
        head += chunk.toString("latin1");
        const end = head.indexOf(HEAD_END);
        if (end === -1) {
          if (head.length > MAX_HEAD_BYTES) fail(new Error("upgrade response head too large"));
          return;
        }
        const [status, ...lines] = head.slice(0, end).split("\r\n");
        if (!/^HTTP\/1\.1 101 /.test(status ?? "")) {
          fail(new Error(`upgrade refused: ${status}`));
          return;
        }
        const acceptLine = lines.find((l) => l.toLowerCase().startsWith("sec-websocket-accept:"));
        if (acceptLine?.slice(acceptLine.indexOf(":") + 1).trim() !== accept) {
          fail(new Error("bad Sec-WebSocket-Accept"));
          return;
        }
        clearTimeout(timer);
        socket.off("data", onHead);
        socket.removeAllListeners("error");
        socket.removeAllListeners("close");
        const connection = new RawWsConnection(socket);
        socket.on("data", (data: Buffer) => connection.#onData(data));
        socket.on("error", (error) => connection.#fail(error));
        socket.on("close", () => connection.#fail(new Error("connection closed by the server")));
        const rest = Buffer.from(head.slice(end + HEAD_END.length), "latin1");
        resolve(connection);
        if (rest.length > 0) connection.#onData(rest);
      };
      socket.on("data", onHead);
      socket.once("connect", () =>
        socket.write(
          `GET / HTTP/1.1\r\nHost: ${options.host}:${options.port}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
          "latin1",
        ),
      );
    });
  }

  /** The first failure, if any. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Sends one binary message (masked). */
  send(payload: Uint8Array): void {
    this.socket.write(maskedFrame(payload, this.mask));
  }

  /** The next queued message (message mode), waiting up to `timeoutMs`. */
  next(timeoutMs = 10_000): Promise<Buffer> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (message: Buffer): void => {
        clearTimeout(timer);
        resolve(message);
      };
      this.#waiters.push({
        resolve: done,
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  /** From now on every message goes to `sink` (in place) instead of the queue. */
  setSink(sink: FrameSink | undefined): void {
    this.#sink = sink;
  }

  /** Closes the socket (abortively: no TIME_WAIT left behind on either side). */
  destroy(): Promise<void> {
    this.#closedByUs = true;
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once("close", () => resolve());
      this.socket.resetAndDestroy();
    });
  }

  #fail(error: Error): void {
    if (this.#closedByUs || this.#failure !== undefined) return;
    this.#failure = error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
    this.onFailure?.(error);
  }

  #onData(chunk: Buffer): void {
    let data = chunk;
    if (this.#pending !== undefined) {
      data = Buffer.concat([this.#pending, chunk]);
      this.#pending = undefined;
    }
    const sink = this.#sink;
    let at = 0;
    const length = data.length;
    while (at + 2 <= length) {
      const b0 = data[at] as number;
      let payloadLength = (data[at + 1] as number) & 0x7f;
      let headerBytes = 2;
      if (payloadLength === 126) {
        if (at + 4 > length) break;
        payloadLength = data.readUInt16BE(at + 2);
        headerBytes = 4;
      } else if (payloadLength === 127) {
        if (at + 10 > length) break;
        payloadLength = Number(data.readBigUInt64BE(at + 2));
        headerBytes = 10;
      }
      const start = at + headerBytes;
      const end = start + payloadLength;
      if (end > length) break;
      const opcode = b0 & 0x0f;
      if (opcode === OP_CLOSE) {
        const code = payloadLength >= 2 ? data.readUInt16BE(start) : 0;
        this.#fail(new Error(`the server closed the WebSocket (${code})`));
        this.socket.destroy();
        return;
      }
      if (sink !== undefined) sink.message(data, start, end, opcode);
      else if (opcode === 0x2) this.#deliver(Buffer.from(data.subarray(start, end)));
      at = end;
    }
    if (at < length) this.#pending = Buffer.from(data.subarray(at));
    sink?.endOfRead();
  }

  #deliver(message: Buffer): void {
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter.resolve(message);
    else this.#queue.push(message);
  }
}
