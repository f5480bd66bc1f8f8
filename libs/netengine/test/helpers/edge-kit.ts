/**
 * The edge suite's test kit: listeners on port 0, raw peers that speak the wire formats on their
 * own (a node:net socket with its own length-prefix parser, the `ws` library, a hand-rolled
 * WebSocket upgrade), waits with timeouts, and per-test cleanup.
 *
 * Everything a test opens through an {@link EdgeKit} is released in `t.after`, so a failing
 * assertion never leaks a listener or a socket into the next test.
 *
 * The raw peers deliberately do not use the engine's framer or connector: a bug shared by both
 * ends of a test would otherwise cancel out.
 *
 * @module
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { connect as netConnect, type Socket } from "node:net";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { type ConnectionOptions, connect as tlsConnect } from "node:tls";
import { WebSocket } from "ws";
import {
  type DisconnectInfo,
  EchoServerProtocol,
  type Listener,
  type ListenOptions,
  listen,
  type Session,
  type SessionEvent,
} from "../../src/index.js";

/** The transports every edge test runs over. */
export type TransportName = "tcp" | "ws";

/** One row per transport: `for (const { transport } of TRANSPORTS) describe(...)`. */
export const TRANSPORTS: readonly { readonly transport: TransportName }[] = Object.freeze([
  { transport: "tcp" },
  { transport: "ws" },
]);

export const LOOPBACK = "127.0.0.1";

/** Monotonic milliseconds. */
export const now = (): number => performance.now();

export { delay };

/** Resolves with `promise`, or rejects after `ms` naming what was awaited. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `predicate` every 10 ms until it holds; rejects after `ms` naming what was awaited. */
export async function waitUntil(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = now() + ms;
  while (!predicate()) {
    if (now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(10);
  }
}

/** A length-prefixed frame as the TCP transport expects it: 4-byte big-endian length + payload. */
export function lengthPrefixed(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.byteLength);
  out.writeUInt32BE(payload.byteLength, 0);
  out.set(payload, 4);
  return out;
}

/** Splits a byte stream into length-prefixed frames; the kit's own parser, independent of src. */
export class LengthPrefixReader {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    this.#pending = this.#pending.byteLength === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (this.#pending.byteLength >= 4) {
      const length = this.#pending.readUInt32BE(0);
      if (this.#pending.byteLength < 4 + length) return;
      onFrame(Buffer.from(this.#pending.subarray(4, 4 + length)));
      this.#pending = this.#pending.subarray(4 + length);
    }
  }
}

/** How a client connection ended, as the client saw it. */
export interface ClientClose {
  /** `performance.now()` when the client saw the close. */
  readonly at: number;
  /** WebSocket close code received (1006 when the connection dropped without one). */
  readonly code: number | undefined;
  /** Socket error code (`ECONNRESET`…) when the connection ended with an error. */
  readonly errorCode: string | undefined;
  /** TCP: whether the peer half-closed (FIN) before the socket closed. */
  readonly sawEnd: boolean;
  /** WebSocket close reason received, when there was one. */
  readonly reason?: string;
}

/**
 * A client that sends and receives whole frames: length-prefixed over a node:net (or node:tls)
 * socket, binary messages over the `ws` library.
 */
export interface FrameClient {
  readonly transport: TransportName;
  /** Resolves true once open (TCP connect / WebSocket open), false when it closed first. */
  readonly opened: Promise<boolean>;
  /** `performance.now()` just before the connect was started. */
  readonly startedAt: number;
  /** `performance.now()` of the open, NaN before. */
  readonly openedAt: number;
  /** Every frame received, in order. */
  readonly received: readonly Buffer[];
  readonly isClosed: boolean;
  readonly closed: Promise<ClientClose>;
  send(payload: Uint8Array): void;
  /** The next frame not yet taken by `nextFrame`. */
  nextFrame(timeoutMs?: number): Promise<Buffer>;
  /** Graceful close: TCP FIN / WebSocket close 1000. */
  end(): void;
  destroy(): void;
}

class FrameClientBase {
  readonly startedAt = now();
  readonly received: Buffer[] = [];
  openedAt = Number.NaN;
  isClosed = false;
  readonly opened: Promise<boolean>;
  readonly closed: Promise<ClientClose>;
  #taken = 0;
  #waiters: (() => void)[] = [];
  #resolveOpened!: (ok: boolean) => void;
  #resolveClosed!: (info: ClientClose) => void;

  constructor() {
    this.opened = new Promise((resolve) => (this.#resolveOpened = resolve));
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  protected markOpened(): void {
    this.openedAt = now();
    this.#resolveOpened(true);
  }

  protected markClosed(info: Omit<ClientClose, "at">): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.#resolveOpened(false);
    this.#resolveClosed({ ...info, at: now() });
    this.#wake();
  }

  protected frameArrived(frame: Buffer): void {
    this.received.push(frame);
    this.#wake();
  }

  async nextFrame(timeoutMs = 5000): Promise<Buffer> {
    const deadline = now() + timeoutMs;
    while (this.#taken >= this.received.length) {
      if (this.isClosed) throw new Error("connection closed before the next frame");
      const left = deadline - now();
      if (left <= 0) throw new Error(`no frame within ${timeoutMs} ms`);
      await within(new Promise<void>((resolve) => this.#waiters.push(resolve)), left, "a frame").catch(
        () => {},
      );
    }
    return this.received[this.#taken++] as Buffer;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

class TcpFrameClient extends FrameClientBase implements FrameClient {
  readonly transport = "tcp" as const;
  readonly socket: Socket;

  constructor(port: number, host: string, tls: ConnectionOptions | undefined) {
    super();
    const reader = new LengthPrefixReader();
    let sawEnd = false;
    let errorCode: string | undefined;
    this.socket =
      tls === undefined
        ? netConnect({ port, host }, () => this.markOpened())
        : tlsConnect({ port, host, ...tls }, () => this.markOpened());
    this.socket.on("data", (chunk: Buffer) => reader.push(chunk, (frame) => this.frameArrived(frame)));
    this.socket.on("end", () => (sawEnd = true));
    this.socket.on("error", (error: NodeJS.ErrnoException) => (errorCode ??= error.code ?? "ERR"));
    this.socket.on("close", () => this.markClosed({ code: undefined, errorCode, sawEnd }));
  }

  send(payload: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(lengthPrefixed(payload));
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

class WsFrameClient extends FrameClientBase implements FrameClient {
  readonly transport = "ws" as const;
  readonly ws: WebSocket;

  constructor(port: number, host: string, tls: ConnectionOptions | undefined) {
    super();
    const scheme = tls === undefined ? "ws" : "wss";
    this.ws = new WebSocket(`${scheme}://${host}:${port}/`, { perMessageDeflate: false, ...(tls ?? {}) });
    this.ws.binaryType = "nodebuffer";
    let errorCode: string | undefined;
    this.ws.on("open", () => this.markOpened());
    this.ws.on("message", (data: Buffer) => this.frameArrived(Buffer.from(data)));
    this.ws.on("error", (error: NodeJS.ErrnoException) => (errorCode ??= error.code ?? "ERR"));
    this.ws.on("close", (code: number, reason: Buffer) =>
      this.markClosed({ code, errorCode, sawEnd: false, reason: reason.toString("utf8") }),
    );
  }

  send(payload: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(payload, { binary: true });
  }

  /** A text message (the engine requires binary). */
  sendText(text: string): void {
    this.ws.send(text);
  }

  end(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }
}

export type { TcpFrameClient, WsFrameClient };

/** A connected node:net socket and what it saw. */
export interface RawSocket {
  readonly socket: Socket;
  /** `performance.now()` just before the connect was started: no server can have accepted it earlier. */
  readonly startedAt: number;
  /** `performance.now()` when the client saw its TCP connect complete. */
  readonly connectedAt: number;
  /** Bytes received so far, in order. */
  readonly received: Buffer[];
  readonly bytesReceived: () => number;
  readonly isClosed: () => boolean;
  readonly closed: Promise<ClientClose>;
}

function wrapRaw(socket: Socket, startedAt: number, connectedAt: number, initial?: Buffer): RawSocket {
  const received: Buffer[] = initial !== undefined && initial.byteLength > 0 ? [initial] : [];
  let sawEnd = false;
  let errorCode: string | undefined;
  let closed = false;
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  socket.on("end", () => (sawEnd = true));
  socket.on("error", (error: NodeJS.ErrnoException) => (errorCode ??= error.code ?? "ERR"));
  const closedPromise = new Promise<ClientClose>((resolve) => {
    const done = (): void => {
      closed = true;
      resolve({ at: now(), code: undefined, errorCode, sawEnd });
    };
    if (socket.destroyed && socket.closed) done();
    else socket.once("close", done);
  });
  return {
    socket,
    startedAt,
    connectedAt,
    received,
    bytesReceived: () => received.reduce((n, b) => n + b.byteLength, 0),
    isClosed: () => closed,
    closed: closedPromise,
  };
}

/**
 * Per-test resources. Construct one at the top of a test: everything opened through it (and
 * everything handed to {@link EdgeKit.defer}) is released in `t.after`, newest first.
 */
export class EdgeKit {
  readonly #cleanups: (() => unknown)[] = [];

  constructor(t: TestContext) {
    t.after(() => this.dispose());
  }

  /** Runs `fn` at cleanup, newest first. */
  defer(fn: () => unknown): void {
    this.#cleanups.push(fn);
  }

  async dispose(): Promise<void> {
    while (this.#cleanups.length > 0) {
      const fn = this.#cleanups.pop() as () => unknown;
      try {
        await within(Promise.resolve(fn()), 10_000, "cleanup");
      } catch {
        // Cleanup is best effort: one failure must not keep the rest from running.
      }
    }
  }

  /**
   * Listens on 127.0.0.1, port 0. Unlike the engine's default, no accept guard unless `guard` is
   * given, so tests that are not about the guard are not limited by it.
   */
  async listen<U = unknown>(
    options: Omit<ListenOptions<U>, "port" | "host"> & { host?: string },
  ): Promise<Listener<U>> {
    const listener = await listen<U>({ host: LOOPBACK, guard: false, ...options, port: 0 });
    this.defer(() => listener.close({ goodbye: false, timeoutMs: 1000 }));
    return listener;
  }

  /** A frame client (not awaited: check `opened`). */
  client(
    transport: TransportName,
    port: number,
    options: { host?: string; tls?: ConnectionOptions } = {},
  ): FrameClient {
    const host = options.host ?? LOOPBACK;
    const client =
      transport === "tcp"
        ? new TcpFrameClient(port, host, options.tls)
        : new WsFrameClient(port, host, options.tls);
    this.defer(() => client.destroy());
    return client;
  }

  /** A frame client, open. Throws when the server closed it before it opened. */
  async openClient(
    transport: TransportName,
    port: number,
    options: { host?: string; tls?: ConnectionOptions } = {},
  ): Promise<FrameClient> {
    const client = this.client(transport, port, options);
    if (!(await within(client.opened, 10_000, `${transport} client open`))) {
      throw new Error(`${transport} client was closed before it opened`);
    }
    return client;
  }

  /** A node:net socket, connected. Nothing is sent. */
  async rawSocket(port: number, host = LOOPBACK): Promise<RawSocket> {
    const startedAt = now();
    const socket = netConnect({ port, host });
    this.defer(() => socket.destroy());
    socket.on("error", () => {});
    const connectedAt = await within(
      new Promise<number>((resolve, reject) => {
        socket.once("connect", () => resolve(now()));
        socket.once("close", () => reject(new Error("raw socket closed before connecting")));
      }),
      10_000,
      "raw connect",
    );
    return wrapRaw(socket, startedAt, connectedAt);
  }

  /**
   * A node:net socket that performed a WebSocket upgrade by hand and got 101. Reading is left to
   * the test (pause it to play a slow reader); bytes after the 101 response are in `received`.
   */
  async rawWsUpgrade(port: number, host = LOOPBACK): Promise<RawSocket> {
    const startedAt = now();
    const socket = netConnect({ port, host });
    this.defer(() => socket.destroy());
    socket.on("error", () => {});
    const connectedAt = await within(
      new Promise<number>((resolve, reject) => {
        socket.once("connect", () => resolve(now()));
        socket.once("close", () => reject(new Error("raw socket closed before connecting")));
      }),
      10_000,
      "raw connect",
    );
    const key = randomBytes(16).toString("base64");
    socket.write(
      `GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const rest = await within(
      new Promise<Buffer>((resolve, reject) => {
        let head = Buffer.alloc(0);
        const onData = (chunk: Buffer): void => {
          head = Buffer.concat([head, chunk]);
          const end = head.indexOf("\r\n\r\n");
          if (end < 0) return;
          socket.off("data", onData);
          const status = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
          if (!status.startsWith("HTTP/1.1 101")) reject(new Error(`upgrade refused: ${status}`));
          else resolve(head.subarray(end + 4));
        };
        socket.on("data", onData);
        socket.once("close", () => reject(new Error("closed during the upgrade")));
      }),
      10_000,
      "the 101 response",
    );
    return wrapRaw(socket, startedAt, connectedAt, rest);
  }
}

/** A client-to-server WebSocket frame (masked, FIN set). */
export function wsClientFrame(opcode: number, payload: Uint8Array): Buffer {
  const mask = randomBytes(4);
  const length = payload.byteLength;
  const header =
    length < 126
      ? Buffer.from([0x80 | opcode, 0x80 | length])
      : length < 65536
        ? Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 255])
        : (() => {
            const h = Buffer.alloc(10);
            h[0] = 0x80 | opcode;
            h[1] = 0x80 | 127;
            h.writeBigUInt64BE(BigInt(length), 2);
            return h;
          })();
  const body = Buffer.from(payload);
  for (let i = 0; i < body.byteLength; i++) body[i] = (body[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([header, mask, body]);
}

/** WebSocket opcodes used by the suite. */
export const WsOpcode = { Text: 0x1, Binary: 0x2, Close: 0x8 } as const;

/** Sends one frame the way a raw peer of `transport` would (length prefix / masked binary message). */
export function rawFrame(transport: TransportName, payload: Uint8Array): Buffer {
  return transport === "tcp" ? lengthPrefixed(payload) : wsClientFrame(WsOpcode.Binary, payload);
}

/** A disconnect seen by a {@link RecordingEcho}. */
export interface RecordedDisconnect {
  readonly session: Session;
  readonly info: DisconnectInfo;
  readonly at: number;
}

/**
 * The example echo protocol, recording what the engine tells it: accepted sessions, frames (copied)
 * and disconnects. `onAccepted` runs before the echo's own frame handling, as a subclass's would.
 */
export class RecordingEcho extends EchoServerProtocol {
  readonly accepted: Session[] = [];
  readonly frames: Buffer[] = [];
  readonly disconnects: RecordedDisconnect[] = [];
  readonly acceptedAt = new Map<Session, number>();

  onAccepted(session: Session, _ev: SessionEvent): void {
    this.accepted.push(session);
    this.acceptedAt.set(session, now());
  }

  override onFrame(session: Session, frame: Uint8Array, ev: SessionEvent): void {
    this.frames.push(Buffer.from(frame));
    super.onFrame(session, frame, ev);
  }

  onDisconnected(session: Session, info: DisconnectInfo, _ev: SessionEvent): void {
    this.disconnects.push({ session, info, at: now() });
  }

  /** Disconnect reasons, in order. */
  reasons(): string[] {
    return this.disconnects.map((d) => d.info.reason);
  }

  /** Waits until `count` disconnects were recorded. */
  async waitForDisconnects(count: number, ms = 10_000): Promise<RecordedDisconnect[]> {
    await waitUntil(() => this.disconnects.length >= count, ms, `${count} disconnect(s)`);
    return this.disconnects;
  }
}

/**
 * A self-signed certificate for CN=localhost, made with openssl in `dir`; undefined when openssl is
 * missing or fails.
 */
export async function selfSignedCert(dir: string): Promise<{ key: Buffer; cert: Buffer } | undefined> {
  const keyPath = join(dir, "key.pem");
  const certPath = join(dir, "cert.pem");
  const ok = await new Promise<boolean>((resolve) => {
    execFile(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        keyPath,
        "-out",
        certPath,
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
      ],
      (error) => resolve(error === null),
    );
  });
  if (!ok) return undefined;
  return { key: await readFile(keyPath), cert: await readFile(certPath) };
}

/**
 * The bytes of a real TLS ClientHello, captured from node:tls connecting to a throwaway plain
 * server: what a TLS client sends first.
 */
export async function captureClientHello(): Promise<Buffer> {
  const { createServer } = await import("node:net");
  const accepted: Socket[] = [];
  const server = createServer((s) => void accepted.push(s));
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as { port: number }).port;
  const hello = new Promise<Buffer>((resolve) =>
    server.once("connection", (s: Socket) => s.once("data", resolve)),
  );
  const client = tlsConnect({ port, host: LOOPBACK, servername: "localhost", rejectUnauthorized: false });
  client.on("error", () => {});
  try {
    return await within(hello, 10_000, "a ClientHello");
  } finally {
    client.destroy();
    for (const s of accepted) s.destroy();
    server.close();
  }
}

/** Whether this machine can bind ::1. */
export async function canBindIpv6Loopback(): Promise<boolean> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(0, "::1", () => server.close(() => resolve(true)));
  });
}

/**
 * The status code of the first close frame in bytes a server sent to a raw WebSocket client
 * (server frames are unmasked); undefined when there is none.
 */
export function wsCloseCode(bytes: Buffer): number | undefined {
  let pos = 0;
  while (pos + 2 <= bytes.byteLength) {
    const opcode = (bytes[pos] as number) & 0x0f;
    let length = (bytes[pos + 1] as number) & 0x7f;
    let header = 2;
    if (length === 126) {
      if (pos + 4 > bytes.byteLength) return undefined;
      length = bytes.readUInt16BE(pos + 2);
      header = 4;
    } else if (length === 127) {
      if (pos + 10 > bytes.byteLength) return undefined;
      length = Number(bytes.readBigUInt64BE(pos + 2));
      header = 10;
    }
    if (opcode === WsOpcode.Close) {
      return length >= 2 && pos + header + 2 <= bytes.byteLength
        ? bytes.readUInt16BE(pos + header)
        : undefined;
    }
    pos += header + length;
  }
  return undefined;
}

/** The header of a masked client binary frame announcing `length` bytes, without its body. */
export function wsClientHeaderOnly(length: number): Buffer {
  const header = Buffer.alloc(14);
  header[0] = 0x80 | WsOpcode.Binary;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  randomBytes(4).copy(header, 10);
  return header;
}

/**
 * Plays a peer that honours the closing handshake: once the server's close frame has arrived on
 * `raw`, answers it with a close frame carrying the same code and half-closes.
 */
export async function answerWsClose(raw: RawSocket, ms = 10_000): Promise<number> {
  const closeCode = (): number | undefined => wsCloseCode(Buffer.concat(raw.received));
  await waitUntil(() => closeCode() !== undefined || raw.isClosed(), ms, "the server's close frame");
  const code = closeCode();
  if (code === undefined) throw new Error("the connection closed without a close frame");
  const body = Buffer.alloc(2);
  body.writeUInt16BE(code, 0);
  raw.socket.end(wsClientFrame(WsOpcode.Close, body));
  return code;
}

/**
 * Measures how long this process was kept off the CPU (descheduled by a loaded machine), as
 * opposed to busy: a 10 ms interval timer notes each gap longer than its period, minus the CPU
 * time the process used during the gap. A gap the process spent computing (the engine blocking
 * its own loop) is not counted: only time nobody could have acted in is.
 *
 * A timing window checked from inside the process under test can then allow for the time the
 * operating system did not run it, without excusing time the engine spent.
 */
export class StarvationProbe {
  static readonly PERIOD_MS = 10;
  readonly #samples: { readonly at: number; readonly starved: number }[] = [];
  #timer: NodeJS.Timeout | undefined;

  start(): this {
    let last = now();
    let lastCpu = process.cpuUsage();
    this.#timer = setInterval(() => {
      const at = now();
      const cpu = process.cpuUsage(lastCpu);
      const used = (cpu.user + cpu.system) / 1000;
      const starved = at - last - StarvationProbe.PERIOD_MS - used;
      if (starved > 0) this.#samples.push({ at, starved });
      last = at;
      lastCpu = process.cpuUsage();
    }, StarvationProbe.PERIOD_MS);
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Milliseconds the process was starved in gaps that ended within (`from`, `to`]. */
  starvedBetween(from: number, to: number): number {
    let total = 0;
    for (const s of this.#samples) if (s.at > from && s.at <= to) total += s.starved;
    return total;
  }

  /** The longest single starvation seen, for diagnostics. */
  get longest(): number {
    return this.#samples.reduce((m, s) => Math.max(m, s.starved), 0);
  }
}
