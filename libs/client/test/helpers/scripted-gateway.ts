import { randomUUID } from "node:crypto";
import { type Listener, listen, type Session } from "@meridian/netengine";
import {
  type ClientMessage,
  ClientMessages,
  CloseCode,
  closeCodeFor,
  createCodec,
  makeLoginNonce,
  PROTOCOL_VERSION,
  type ServerMessage,
  ServerMessages,
} from "@meridian/protocol";

/*
 * A scripted protocol peer for the client's tests: it speaks the gateway's side of docs/protocol.md
 * (hello_ok with a nonce, login with a fresh nonce after a failure, resume rotating the refresh
 * token, updates acknowledging inputs, ping/pong, bye with close codes) and lets a test script the
 * moments a real gateway produces only under failure: a dropped connection, a shutdown, a revoked
 * session, a malformed message. It is not a stand-in for the gateway service, which has its own
 * tests; it is the peer that makes the client's behaviour observable.
 */

/** A session as the peer keeps it. */
export interface PeerSession {
  readonly accountId: string;
  readonly username: string;
  readonly sessionId: string;
  refreshToken: string;
  /** The last input sequence applied (acknowledged in updates and `resume_ok.ack`). */
  lastApplied: number;
  /** Every input sequence received, in arrival order, over every connection. */
  readonly received: number[];
}

/** One client connection as the peer sees it. */
export interface PeerConnection {
  readonly session: Session;
  nonce: string;
  helloDone: boolean;
  player: PeerSession | undefined;
  /** Every message received on this connection. */
  readonly messages: ClientMessage[];
}

export interface ScriptedGatewayOptions {
  readonly transport: "tcp" | "ws";
  /** `hello_ok.heartbeatMs`. Default 30 000. */
  readonly heartbeatMs?: number;
  /** `hello_ok.maxMessageBytes`. Default 65 536. */
  readonly maxMessageBytes?: number;
  /** Share accounts and sessions with another peer (two gateways of one cluster). */
  readonly sharedWith?: ScriptedGateway;
}

export class ScriptedGateway {
  readonly transport: "tcp" | "ws";
  readonly connections: PeerConnection[] = [];
  readonly accounts: Map<string, { password: string; accountId: string }>;
  readonly sessions: Map<string, PeerSession>;
  /** Refresh tokens already rotated: presenting one again is `LOBBY_TOKEN_REUSED`. */
  readonly spentTokens: Set<string>;
  /** Message types received and then ignored (a gateway that never answers). */
  readonly ignore = new Set<string>();
  /** Acknowledge every applied input with an update at once. */
  autoAck = true;
  /** Apply the inputs that arrive (false: receive them but apply none, as a zone that lost them). */
  applyInputs = true;
  /** The next this-many logins are refused with `LOBBY_LOGIN_NONCE_INVALID` (and a fresh nonce). */
  nonceInvalidLogins = 0;
  /** The next this-many resumes are refused with this code. */
  resumeFailure: { code: string; count: number } | undefined;
  /** Answer the client's pings. */
  answerPings = true;
  pingsReceived = 0;
  readonly #codec = createCodec({ registry: ClientMessages });
  readonly #encoder = createCodec({ registry: ServerMessages });
  readonly #heartbeatMs: number;
  readonly #maxMessageBytes: number;
  #listener: Listener | undefined;
  #nextAccount = 1;
  #nextToken = 1;
  #tick = 0;

  private constructor(options: ScriptedGatewayOptions) {
    this.transport = options.transport;
    this.#heartbeatMs = options.heartbeatMs ?? 30_000;
    this.#maxMessageBytes = options.maxMessageBytes ?? 65_536;
    this.accounts = options.sharedWith?.accounts ?? new Map();
    this.sessions = options.sharedWith?.sessions ?? new Map();
    this.spentTokens = options.sharedWith?.spentTokens ?? new Set();
  }

  static async start(options: ScriptedGatewayOptions): Promise<ScriptedGateway> {
    const peer = new ScriptedGateway(options);
    const byConnection = new Map<Session, PeerConnection>();
    peer.#listener = await listen({
      transport: options.transport,
      host: "127.0.0.1",
      port: 0,
      guard: false,
      handler: {
        onAccepted: (session) => {
          const conn: PeerConnection = {
            session,
            nonce: makeLoginNonce(),
            helloDone: false,
            player: undefined,
            messages: [],
          };
          byConnection.set(session, conn);
          peer.connections.push(conn);
        },
        onFrame: (session, frame) => {
          const conn = byConnection.get(session);
          if (conn !== undefined) peer.#frame(conn, frame);
        },
        onDisconnected: (session) => {
          byConnection.delete(session);
        },
      },
    });
    return peer;
  }

  get url(): string {
    const port = (this.#listener as Listener).port;
    return this.transport === "tcp" ? `tcp://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/`;
  }

  /** Connections still open. */
  get open(): PeerConnection[] {
    return this.connections.filter((c) => c.session.state === "open");
  }

  /** The inputs (`seq`) received on one connection. */
  inputsOn(conn: PeerConnection): number[] {
    return conn.messages.flatMap((m) => (m.t === "input" ? [m.seq] : []));
  }

  send(conn: PeerConnection, message: ServerMessage): void {
    conn.session.send(this.#encoder.encode(message));
  }

  /** Sends raw bytes as one message. */
  sendRaw(conn: PeerConnection, bytes: Uint8Array): void {
    conn.session.send(bytes);
  }

  /** Drops every open connection at once, without a `bye` (a crash, a cut cable). */
  dropAll(): void {
    for (const conn of this.open) conn.session.close();
  }

  /** Says `bye` with this close code to every open connection, then closes them gracefully. */
  async byeAll(code: number, reason: string): Promise<void> {
    await Promise.all(
      this.open.map((conn) => {
        this.send(conn, { t: "bye", code, reason });
        return conn.session.goodbye({ lingerMs: 500 });
      }),
    );
  }

  async close(): Promise<void> {
    await this.#listener?.close();
  }

  #frame(conn: PeerConnection, frame: Uint8Array): void {
    const decoded = this.#codec.decode(frame);
    if (!decoded.ok) {
      this.#fail(conn, decoded.error.code, decoded.error.message);
      return;
    }
    const message = decoded.message;
    conn.messages.push(message);
    conn.session.markEstablished();
    if (!conn.helloDone && message.t !== "hello") {
      this.#fail(conn, "PROTO_HELLO_REQUIRED", "say hello first");
      return;
    }
    if (this.ignore.has(message.t)) return;
    switch (message.t) {
      case "hello":
        if (conn.helloDone) {
          this.#fail(conn, "PROTO_INVALID_MESSAGE", "a second hello");
          return;
        }
        if (message.v !== PROTOCOL_VERSION) {
          this.#fail(conn, "PROTO_VERSION_MISMATCH", `supported: ${PROTOCOL_VERSION}`);
          return;
        }
        conn.helloDone = true;
        this.send(conn, {
          t: "hello_ok",
          v: message.v,
          server: "scripted-gateway/test",
          maxMessageBytes: this.#maxMessageBytes,
          heartbeatMs: this.#heartbeatMs,
          nonce: conn.nonce,
        });
        return;
      case "login":
        this.#login(conn, message);
        return;
      case "resume":
        this.#resume(conn, message);
        return;
      case "input":
        this.#input(conn, message.seq);
        return;
      case "logout":
        if (conn.player !== undefined) {
          this.sessions.delete(conn.player.refreshToken);
          conn.player = undefined;
        }
        this.send(conn, { t: "bye", code: CloseCode.Normal, reason: "logged out" });
        void conn.session.goodbye({ lingerMs: 500 });
        return;
      case "ping":
        this.pingsReceived++;
        if (this.answerPings) this.send(conn, { t: "pong", n: message.n });
        return;
      case "pong":
      case "bye":
        return;
    }
  }

  #login(conn: PeerConnection, message: Extract<ClientMessage, { t: "login" }>): void {
    const refuse = (code: string): void => {
      conn.nonce = makeLoginNonce();
      this.send(conn, { t: "error", ref: message.ref, code, message: code, nonce: conn.nonce });
    };
    if (this.nonceInvalidLogins > 0) {
      this.nonceInvalidLogins--;
      refuse("LOBBY_LOGIN_NONCE_INVALID");
      return;
    }
    if (message.nonce !== conn.nonce) {
      refuse("LOBBY_LOGIN_NONCE_INVALID");
      return;
    }
    let account = this.accounts.get(message.username);
    let created = false;
    if (account === undefined) {
      account = { password: message.password, accountId: String(this.#nextAccount++) };
      this.accounts.set(message.username, account);
      created = true;
    } else if (account.password !== message.password) {
      refuse("LOBBY_BAD_CREDENTIALS");
      return;
    }
    conn.nonce = makeLoginNonce(); // spent
    const player: PeerSession = {
      accountId: account.accountId,
      username: message.username,
      sessionId: randomUUID(),
      refreshToken: this.#token(),
      lastApplied: 0,
      received: [],
    };
    this.sessions.set(player.refreshToken, player);
    conn.player = player;
    this.send(conn, {
      t: "login_ok",
      ref: message.ref,
      accountId: player.accountId,
      username: player.username,
      sessionId: player.sessionId,
      refreshToken: player.refreshToken,
      refreshExpiresAt: Date.now() + 3_600_000,
      created,
    });
  }

  #resume(conn: PeerConnection, message: Extract<ClientMessage, { t: "resume" }>): void {
    const error = (code: string): void => {
      this.send(conn, { t: "error", ref: message.ref, code, message: code });
    };
    if (this.resumeFailure !== undefined && this.resumeFailure.count > 0) {
      this.resumeFailure.count--;
      error(this.resumeFailure.code);
      return;
    }
    if (this.spentTokens.has(message.refreshToken)) {
      error("LOBBY_TOKEN_REUSED");
      return;
    }
    const player = this.sessions.get(message.refreshToken);
    if (player === undefined) {
      error("LOBBY_TOKEN_INVALID");
      return;
    }
    this.sessions.delete(player.refreshToken);
    this.spentTokens.add(player.refreshToken);
    player.refreshToken = this.#token();
    this.sessions.set(player.refreshToken, player);
    conn.player = player;
    this.send(conn, {
      t: "resume_ok",
      ref: message.ref,
      accountId: player.accountId,
      username: player.username,
      sessionId: player.sessionId,
      refreshToken: player.refreshToken,
      refreshExpiresAt: Date.now() + 3_600_000,
      ack: player.lastApplied,
    });
  }

  #input(conn: PeerConnection, seq: number): void {
    const player = conn.player;
    if (player === undefined) return;
    player.received.push(seq);
    if (this.applyInputs && seq === player.lastApplied + 1) player.lastApplied = seq;
    if (this.autoAck) {
      this.send(conn, { t: "update", tick: ++this.#tick, ack: player.lastApplied, data: { seq } });
    }
  }

  #fail(conn: PeerConnection, code: string, message: string): void {
    const closeCode = closeCodeFor(code);
    this.send(conn, { t: "error", code, message });
    this.send(conn, { t: "bye", code: closeCode, reason: code });
    void conn.session.goodbye({ lingerMs: 500 });
  }

  #token(): string {
    return `rt-${this.#nextToken++}-${randomUUID()}`;
  }
}

/** Waits until `predicate` holds, polling. */
export async function waitFor(
  predicate: () => boolean,
  timeoutMs = 5_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
