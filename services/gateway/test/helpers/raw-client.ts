/**
 * A small client speaking the gateway's protocol for tests: raw TCP (node:net, optionally from a
 * chosen loopback address) with netengine's LengthPrefixFramer, or WebSocket through netengine's
 * connector. Messages are decoded with the protocol codec; anything can also be sent raw.
 */
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { connect as engineConnect, LengthPrefixFramer, type Session } from "@meridian/netengine";
import {
  ClientMessages,
  createCodec,
  encodeMessage,
  PROTOCOL_VERSION,
  type ServerMessage,
  ServerMessages,
} from "@meridian/protocol";

const fromServer = createCodec({ registry: ServerMessages, maxMessageBytes: 1024 * 1024 });
const toServer = createCodec({ registry: ClientMessages, maxMessageBytes: 1024 * 1024 });
const framer = new LengthPrefixFramer({ maxFrameBytes: 1024 * 1024 });

export interface ClientEnd {
  /** Bytes received at all (the accept-path test checks nothing arrived). */
  readonly bytes: number;
  /** WebSocket close code, when there was one. */
  readonly closeCode?: number;
}

export interface RawClientOptions {
  readonly port: number;
  readonly transport?: "tcp" | "ws";
  readonly host?: string;
  /** TCP only: the source address (e.g. `127.0.0.7`). */
  readonly localAddress?: string;
  /** TLS (or wss), trusting this CA certificate. */
  readonly tls?: { readonly ca: Buffer };
}

type Received = ServerMessage | { readonly t: "__undecodable" };

export class RawClient {
  readonly #messages: Received[] = [];
  readonly #waiters: (() => void)[] = [];
  #bytes = 0;
  #ended: ClientEnd | undefined;
  readonly ended: Promise<ClientEnd>;
  #resolveEnded!: (end: ClientEnd) => void;
  #socket: Socket | undefined;
  #session: Session | undefined;

  private constructor() {
    this.ended = new Promise((resolve) => {
      this.#resolveEnded = resolve;
    });
  }

  static async connect(options: RawClientOptions): Promise<RawClient> {
    const client = new RawClient();
    const host = options.host ?? "127.0.0.1";
    if ((options.transport ?? "tcp") === "tcp") {
      const base = {
        port: options.port,
        host,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      };
      const socket =
        options.tls === undefined
          ? netConnect(base)
          : tlsConnect({ ...base, ca: options.tls.ca, servername: "localhost" });
      client.#socket = socket;
      const decoder = framer.createDecoder();
      socket.on("data", (chunk: Buffer) => {
        client.#bytes += chunk.byteLength;
        try {
          decoder.push(chunk, (frame) => client.#push(frame));
        } catch {
          socket.destroy();
        }
      });
      socket.on("error", () => undefined);
      socket.on("close", () => client.#end({ bytes: client.#bytes }));
      await new Promise<void>((resolve, reject) => {
        socket.once(options.tls === undefined ? "connect" : "secureConnect", resolve);
        socket.once("error", reject);
        socket.once("close", () => resolve());
      });
    } else {
      client.#session = await engineConnect({
        transport: "ws",
        host,
        port: options.port,
        maxMessageBytes: 1024 * 1024,
        ...(options.tls === undefined ? {} : { tls: { ca: options.tls.ca, servername: "localhost" } }),
        handler: {
          onFrame: (_session, frame) => {
            client.#bytes += frame.byteLength;
            client.#push(frame);
          },
          onDisconnected: (_session, info) =>
            client.#end({
              bytes: client.#bytes,
              ...(info.closeCode === undefined ? {} : { closeCode: info.closeCode }),
            }),
        },
      });
    }
    return client;
  }

  #push(frame: Uint8Array): void {
    const decoded = fromServer.decode(frame);
    this.#messages.push(decoded.ok ? decoded.message : { t: "__undecodable" });
    for (const wake of this.#waiters.splice(0)) wake();
  }

  #end(end: ClientEnd): void {
    if (this.#ended !== undefined) return;
    this.#ended = end;
    this.#resolveEnded(end);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  get isEnded(): boolean {
    return this.#ended !== undefined;
  }

  /** Sends raw payload bytes as one frame (TCP) or one binary message (WebSocket). */
  sendRaw(payload: Uint8Array): void {
    if (this.#socket !== undefined) {
      const out = Buffer.alloc(framer.encodedLength(payload));
      framer.encodeInto(payload, out, 0);
      this.#socket.write(out);
    } else {
      this.#session?.send(payload);
    }
  }

  /** Sends bytes as they are on a TCP socket (no framing added). */
  writeTcp(bytes: Uint8Array): void {
    this.#socket?.write(bytes);
  }

  /** Sends any map (encoded without validation, so invalid messages can be sent too). */
  send(message: { readonly t: string; readonly [k: string]: unknown }): void {
    this.sendRaw(encodeMessage(message));
  }

  /** The next message, or throws after `timeoutMs` (or when the connection ended with nothing left). */
  async next(timeoutMs = 5_000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = this.#messages.shift();
      if (message !== undefined) return message;
      if (this.#ended !== undefined) throw new Error("connection ended");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no message in time");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Skips messages until one of type `t` (e.g. updates or pongs in between). */
  async expect<T extends ServerMessage["t"]>(
    t: T,
    timeoutMs = 5_000,
  ): Promise<Extract<ServerMessage, { t: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = await this.next(Math.max(1, deadline - Date.now()));
      if (message.t === t) return message as Extract<ServerMessage, { t: T }>;
    }
  }

  /** hello → hello_ok. */
  async hello(v: number = PROTOCOL_VERSION) {
    this.sendRaw(toServer.encode({ t: "hello", v, client: "gateway-test/1" }));
    return this.next();
  }

  /** hello, then login with the connection's nonce. Returns login_ok or error. */
  async login(username: string, password: string, ref = 1) {
    const hello = await this.hello();
    if (hello.t !== "hello_ok") throw new Error(`expected hello_ok, got ${JSON.stringify(hello)}`);
    this.send({ t: "login", ref, username, password, nonce: hello.nonce });
    return this.next(15_000);
  }

  async loginOk(username: string, password = "correct horse battery") {
    const reply = await this.login(username, password);
    if (reply.t !== "login_ok") throw new Error(`expected login_ok, got ${JSON.stringify(reply)}`);
    return reply;
  }

  /** hello, then resume. Returns resume_ok or error. */
  async resume(refreshToken: string, ref = 1) {
    const hello = await this.hello();
    if (hello.t !== "hello_ok") throw new Error(`expected hello_ok, got ${JSON.stringify(hello)}`);
    this.send({ t: "resume", ref, refreshToken });
    return this.next(15_000);
  }

  /** Closes the connection at once. */
  destroy(): void {
    this.#socket?.destroy();
    this.#session?.close();
  }
}
