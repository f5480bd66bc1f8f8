import {
  ClientMessages,
  CloseCode,
  closeCodeFor,
  createCodec,
  DEFAULT_MAX_MESSAGE_BYTES,
  type ErrorMessage,
  type HelloOk,
  type LoginOk,
  type MessageCodec,
  type ResumeOk,
  type ServerMessage,
  ServerMessages,
  type Update,
} from "@meridian/protocol";
import {
  ClientError,
  ClientErrorCode,
  LOGIN_NONCE_INVALID,
  SESSION_LOST_CODES,
  toClientError,
} from "../errors.js";
import type {
  ClientTransport,
  GatewayUrl,
  TransportCloseInfo,
  TransportConnector,
} from "../transport/client-transport.js";
import { WebSocketConnector } from "../transport/websocket-transport.js";
import {
  type MeridianClientOptions,
  type ResolvedClientOptions,
  resolveClientOptions,
} from "./client-options.js";
import { TypedEmitter } from "./typed-emitter.js";

/** Where the client is. */
export const ClientState = {
  /** Not connected, and not about to (before `connect()`, after `close()` or `logout()`, after giving up). */
  Idle: "idle",
  /** Opening a connection and waiting for `hello_ok`. */
  Connecting: "connecting",
  /** `hello_ok` received; not logged in on this connection (call `login` or `resume`). */
  Connected: "connected",
  /** Logged in (or resumed) on the current connection: inputs flow. */
  LoggedIn: "logged_in",
  /** The connection dropped; waiting to reconnect and resume. */
  Reconnecting: "reconnecting",
} as const;
export type ClientState = (typeof ClientState)[keyof typeof ClientState];

/** The session the client holds: what `login_ok` / `resume_ok` said, without the refresh token. */
export interface SessionInfo {
  readonly accountId: string;
  readonly username: string;
  readonly sessionId: string;
  /** When the current refresh token expires, ms since the epoch. */
  readonly refreshExpiresAt: number;
}

/** Payload of `connected`. */
export interface ConnectedEvent {
  readonly url: string;
  readonly hello: HelloOk;
  /** True when this connection is an automatic reconnect. */
  readonly reconnect: boolean;
}

/** Payload of `disconnected`. */
export interface DisconnectedEvent {
  /** The close code: the `bye`'s code when the server sent one, else the WebSocket close code. */
  readonly code: number | undefined;
  readonly reason: string;
  /** True when the client is about to reconnect and resume on its own. */
  readonly willReconnect: boolean;
}

/** Payload of `reconnecting`. */
export interface ReconnectingEvent {
  /** 1 for the first attempt after a drop. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly url: string;
}

/** Payload of `pong`. */
export interface PongEvent {
  readonly n: number;
  /** Round trip of the client's `ping`, ms. */
  readonly rttMs: number;
}

/** Payload of `inputsAcked`. */
export interface InputsAckedEvent {
  /** The new highest acknowledged sequence. */
  readonly ack: number;
  /** How many buffered inputs this acknowledgement released. */
  readonly count: number;
}

/** The client's events and their payloads. */
export interface ClientEvents {
  /** A connection completed its handshake (`hello_ok`); on every reconnect too. */
  connected: ConnectedEvent;
  /** `login` succeeded. */
  loggedIn: LoginOk;
  /** `resume` succeeded (after an automatic reconnect, or a `resume()` call). */
  resumed: ResumeOk;
  /** A world update for the player. */
  update: Update;
  /** Buffered inputs were acknowledged (by `update.ack` or `resume_ok.ack`). */
  inputsAcked: InputsAckedEvent;
  /** Every message the server sent, after decoding (for logs and counters). */
  message: ServerMessage;
  /** The connection closed. */
  disconnected: DisconnectedEvent;
  /** An automatic reconnect attempt is about to start (after `delayMs`). */
  reconnecting: ReconnectingEvent;
  /** Automatic reconnection gave up: `CLIENT_RECONNECT_FAILED`, the last failure as `cause`. */
  reconnectFailed: ClientError;
  /**
   * The session is over and cannot be resumed (`LOBBY_TOKEN_*` on resume, close code 4201 session
   * revoked or 4202 banned): the player must log in with the password again.
   */
  sessionLost: ClientError;
  /**
   * A failure no call is waiting for: a server `error` without `ref`, a malformed server message
   * (`CLIENT_PROTOCOL`), a protocol close (4100–4199). Never thrown when nobody listens.
   */
  error: ClientError;
  /** The answer to one of the client's heartbeat `ping`s. */
  pong: PongEvent;
}

type Encoder = MessageCodec<(typeof ClientMessages)["definitions"][number]>;
type Decoder = MessageCodec<(typeof ServerMessages)["definitions"][number]>;

type RequestKind = "login" | "resume" | "logout";

interface PendingRequest {
  readonly kind: RequestKind;
  readonly resolve: (message: LoginOk | ResumeOk | undefined) => void;
  readonly reject: (error: ClientError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Login only: the credentials, kept for the one retry with a fresh nonce. */
  readonly credentials?: { readonly username: string; readonly password: string };
  retried: boolean;
}

/** One connection's state; events of a replaced connection are ignored. */
class Connection {
  transport: ClientTransport | undefined;
  hello: HelloOk | undefined;
  nonce: string | undefined;
  encoder: Encoder;
  decoder: Decoder;
  loggedIn = false;
  byeCode: number | undefined;
  byeReason: string | undefined;
  lastSentAt = 0;
  pingN = 0;
  readonly pings = new Map<number, number>();
  heartbeat: ReturnType<typeof setTimeout> | undefined;
  helloWaiter: { resolve: (hello: HelloOk) => void; reject: (error: ClientError) => void } | undefined;
  cancelled = false;

  constructor(
    readonly url: GatewayUrl,
    readonly reconnect: boolean,
    maxReceiveBytes: number,
  ) {
    this.encoder = createCodec({ registry: ClientMessages, maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES });
    this.decoder = createCodec({ registry: ServerMessages, maxMessageBytes: maxReceiveBytes });
  }
}

const UINT32_MAX = 0xffff_ffff;
/** Checks the size of inputs buffered while there is no connection (the protocol's default limit). */
const DEFAULT_ENCODER: Encoder = createCodec({ registry: ClientMessages });
/** Close codes after which the client never reconnects on its own: protocol errors and kicks. */
const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.TooManyViolations,
  CloseCode.ResumedElsewhere,
]);
/** Close codes that end the session: the player must log in again. */
const SESSION_ENDING_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCode.SessionRevoked, CloseCode.Banned]);

/** What a gateway may send before `hello_ok`. */
const BEFORE_HELLO_OK: ReadonlySet<string> = new Set(["hello_ok", "error", "bye", "ping"]);

function isTerminal(code: number | undefined): boolean {
  return code !== undefined && ((code >= 4100 && code <= 4199) || TERMINAL_CLOSE_CODES.has(code));
}

function unref(timer: ReturnType<typeof setTimeout>): void {
  (timer as { unref?: () => void }).unref?.();
}

/**
 * A Meridian game client (docs/protocol.md): one player's connection to the gateways. Connects over
 * WebSocket (or TCP/TLS in Node), does the `hello` handshake, logs in or resumes, numbers and sends
 * inputs (keeping the unacknowledged ones), delivers world updates, keeps the connection alive with
 * heartbeats, and reconnects and resumes on its own after an unexpected drop, re-sending the inputs
 * the world had not applied.
 *
 * ```ts
 * const client = new MeridianClient({ url: "wss://play.example.com/" });
 * client.on("update", (u) => render(u.data));
 * await client.connect();
 * await client.login("alice", password);
 * client.sendInput({ move: { dx: 1, dy: 0 } });
 * ```
 *
 * Every failure is a {@link ClientError}: calls reject with one, and failures no call awaits are
 * emitted as `error`, `sessionLost` or `reconnectFailed`.
 */
export class MeridianClient extends TypedEmitter<ClientEvents> {
  readonly #options: ResolvedClientOptions;
  readonly #connector: TransportConnector;
  #urlIndex = 0;
  #conn: Connection | undefined;
  #state: ClientState = ClientState.Idle;
  /** Set by `close()` and `logout()`: an end the application asked for, never followed by a reconnect. */
  #userClosing = false;

  #refreshToken: string | undefined;
  #session: SessionInfo | undefined;

  #nextRef = 0;
  readonly #pending = new Map<number, PendingRequest>();

  #lastSeq = 0;
  #lastAck = 0;
  /** Inputs sent (or waiting to be sent) and not yet acknowledged, in sequence order. */
  #unacked: { readonly seq: number; readonly data: unknown }[] = [];

  #reconnecting = false;
  #reconnects = 0;
  #failedAttempts = 0;
  #resumedAt = 0;
  #sleep: { timer: ReturnType<typeof setTimeout>; wake: () => void } | undefined;

  /**
   * @throws ClientError `CLIENT_INVALID_OPTIONS` for a bad option or URL, or when no connector is given
   *   and there is no default (no global WebSocket: use `@meridian/client/node`).
   */
  constructor(options: MeridianClientOptions) {
    super();
    this.#options = resolveClientOptions(options);
    this.#connector = this.#options.connector ?? new WebSocketConnector();
  }

  /** Where the client is. */
  get state(): ClientState {
    return this.#state;
  }
  /** The session held (after `login` / `resume`), also while reconnecting; undefined otherwise. */
  get session(): SessionInfo | undefined {
    return this.#session;
  }
  /**
   * The latest refresh token (single use: `resume` spends it). Persist it to resume after a page
   * reload with `resume(token)`; keep it secret.
   */
  get refreshToken(): string | undefined {
    return this.#refreshToken;
  }
  /** The current connection's `hello_ok`. */
  get hello(): HelloOk | undefined {
    return this.#conn?.hello;
  }
  /** The URL of the current (or last) connection. */
  get url(): string {
    return (this.#options.urls[this.#urlIndex] as GatewayUrl).href;
  }
  /** The sequence number of the last input sent (0: none yet in this session). */
  get lastSeq(): number {
    return this.#lastSeq;
  }
  /** The highest input sequence the world acknowledged. */
  get lastAck(): number {
    return this.#lastAck;
  }
  /** Inputs kept until acknowledged. */
  get unackedInputs(): number {
    return this.#unacked.length;
  }
  /** Automatic reconnects that ended in a resume, since the client was made. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /**
   * Opens a connection to the gateway and does the handshake. Resolves with `hello_ok`.
   * @throws ClientError `PROTO_VERSION_MISMATCH` (or another server code), `CLIENT_CONNECT_FAILED`,
   *   `CLIENT_TIMEOUT`, `CLIENT_CLOSED`, `CLIENT_PROTOCOL`, or `CLIENT_INVALID_STATE` when already
   *   connected or reconnecting.
   */
  async connect(): Promise<HelloOk> {
    if (this.#conn !== undefined || this.#reconnecting) {
      throw new ClientError(ClientErrorCode.InvalidState, "already connected or connecting");
    }
    this.#userClosing = false;
    try {
      return await this.#open(false);
    } catch (error) {
      if (this.#conn === undefined && !this.#reconnecting) this.#state = ClientState.Idle;
      throw error;
    }
  }

  /**
   * Logs in with a password on the current connection, bound to its nonce. A
   * `LOBBY_LOGIN_NONCE_INVALID` answer is retried once at once with the fresh nonce
   * (docs/protocol.md §4). A successful login starts a new session: input sequences restart at 1.
   * @throws ClientError with the server's code (`LOBBY_BAD_CREDENTIALS`, `LOBBY_THROTTLED` with
   *   `retryAfterMs`, `LOBBY_ACCOUNT_BANNED` with `reason` / `expiresAt`, …; the connection stays
   *   open for another try), or `CLIENT_NOT_CONNECTED`, `CLIENT_INVALID_STATE`, `CLIENT_TIMEOUT`,
   *   `CLIENT_CLOSED`, `CLIENT_INVALID_OPTIONS` (an empty or too long name or password).
   */
  async login(username: string, password: string): Promise<LoginOk> {
    if (typeof username !== "string" || username.length < 1 || username.length > 128) {
      throw new ClientError(ClientErrorCode.InvalidOptions, "username must have 1 to 128 characters");
    }
    if (typeof password !== "string" || password.length < 1 || password.length > 1024) {
      throw new ClientError(ClientErrorCode.InvalidOptions, "password must have 1 to 1024 characters");
    }
    const conn = this.#authReady();
    const ok = await this.#request(conn, "login", { username, password });
    return ok as LoginOk;
  }

  /**
   * Continues the session on the current connection with the stored refresh token (or `refreshToken`,
   * e.g. one persisted before a page reload). Stores the rotated token before anything else, then
   * re-sends the inputs the world has not applied.
   * @throws ClientError `LOBBY_TOKEN_INVALID` / `_REVOKED` / `_REUSED` (also emitted as
   *   `sessionLost`; the token is forgotten), another server code, or `CLIENT_NOT_CONNECTED`,
   *   `CLIENT_INVALID_STATE` (no token), `CLIENT_TIMEOUT`, `CLIENT_CLOSED`.
   */
  async resume(refreshToken?: string): Promise<ResumeOk> {
    const conn = this.#authReady();
    if (refreshToken !== undefined) {
      if (refreshToken !== this.#refreshToken) {
        // Another session's token: this client's buffered inputs belong to the old one.
        this.#resetInputs();
        this.#session = undefined;
      }
      this.#refreshToken = refreshToken;
    }
    if (this.#refreshToken === undefined) {
      throw new ClientError(ClientErrorCode.InvalidState, "no refresh token to resume with: log in");
    }
    const ok = await this.#request(conn, "resume", {});
    return ok as ResumeOk;
  }

  /**
   * Sends one input. It gets the next sequence number of the session (1, 2, 3…, continuing across
   * reconnects) and is kept until an update acknowledges it, so that a resume re-sends it. While the
   * client is reconnecting the input is buffered and sent after the resume.
   * @returns the input's sequence number.
   * @throws ClientError `CLIENT_NOT_CONNECTED` (no session: log in first), `CLIENT_INPUT_OVERFLOW`
   *   (`maxUnackedInputs` reached), `CLIENT_TOO_LARGE` (above the connection's `maxMessageBytes`).
   */
  sendInput(data: unknown): number {
    if (this.#refreshToken === undefined || this.#session === undefined) {
      throw new ClientError(ClientErrorCode.NotConnected, "no session: log in before sending inputs");
    }
    if (this.#unacked.length >= this.#options.maxUnackedInputs) {
      throw new ClientError(
        ClientErrorCode.InputOverflow,
        `${this.#unacked.length} inputs wait for an acknowledgement (maxUnackedInputs)`,
      );
    }
    if (this.#lastSeq >= UINT32_MAX) {
      throw new ClientError(ClientErrorCode.InputOverflow, "the session used every input sequence number");
    }
    const seq = this.#lastSeq + 1;
    const conn = this.#conn;
    const encoder = conn?.encoder ?? DEFAULT_ENCODER;
    let bytes: Uint8Array;
    try {
      bytes = encoder.encode({ t: "input", seq, data });
    } catch (cause) {
      throw new ClientError(ClientErrorCode.TooLarge, "the input is larger than the connection allows", {
        cause,
      });
    }
    this.#lastSeq = seq;
    this.#unacked.push({ seq, data });
    if (conn?.loggedIn === true) this.#sendBytes(conn, bytes);
    return seq;
  }

  /**
   * Ends the session everywhere (`logout`); resolves when the gateway says goodbye (`bye` 1000) and
   * the connection is closed. The client forgets the session and does not reconnect.
   * @throws ClientError with the server's code when the lobby could not end the session (the
   *   connection stays open; retry), or `CLIENT_NOT_CONNECTED`, `CLIENT_TIMEOUT`, `CLIENT_CLOSED`.
   */
  async logout(): Promise<void> {
    const conn = this.#conn;
    if (conn === undefined || !conn.loggedIn) {
      throw new ClientError(ClientErrorCode.NotConnected, "not logged in on an open connection");
    }
    this.#userClosing = true;
    try {
      await this.#request(conn, "logout", {});
    } catch (error) {
      if (error instanceof ClientError && error.fromServer) this.#userClosing = false;
      throw error;
    } finally {
      if (this.#userClosing) this.#forgetSession();
    }
  }

  /**
   * Closes the connection without ending the session (a `bye` 1000, then the close) and stops any
   * reconnect. The session stays valid on the server for its resume grace period: `connect()` then
   * `resume()` continues it. Pending calls reject with `CLIENT_CLOSED`.
   */
  close(): void {
    this.#userClosing = true;
    this.#wake();
    const conn = this.#conn;
    if (conn === undefined) {
      this.#state = ClientState.Idle;
      return;
    }
    conn.cancelled = true;
    if (conn.transport !== undefined) {
      this.#sendMessage(conn, { t: "bye", code: CloseCode.Normal, reason: "client closed" });
      conn.transport.close(CloseCode.Normal, "client closed");
    } else {
      this.#connectionClosed(conn, { reason: "client closed" });
    }
  }

  // ---- connection ----

  async #open(reconnect: boolean): Promise<HelloOk> {
    const url = this.#options.urls[this.#urlIndex] as GatewayUrl;
    const conn = new Connection(url, reconnect, this.#options.maxReceiveBytes);
    this.#conn = conn;
    if (!reconnect) this.#state = ClientState.Connecting;
    const helloOk = new Promise<HelloOk>((resolve, reject) => {
      conn.helloWaiter = { resolve, reject };
    });
    helloOk.catch(() => {});
    let transport: ClientTransport;
    try {
      transport = await this.#connector.connect(
        url,
        {
          onMessage: (bytes) => this.#received(conn, bytes),
          onClose: (info) => this.#connectionClosed(conn, info),
          onViolation: (error) =>
            this.#protocolFailure(conn, toClientError(error, ClientErrorCode.Protocol, "bad transport data")),
        },
        { connectTimeoutMs: this.#options.connectTimeoutMs, maxReceiveBytes: this.#options.maxReceiveBytes },
      );
    } catch (error) {
      if (this.#conn === conn) this.#conn = undefined;
      throw toClientError(error, ClientErrorCode.ConnectFailed, `cannot connect to ${url.href}`);
    }
    if (conn.cancelled || this.#conn !== conn) {
      transport.close(CloseCode.Normal, "client closed");
      throw new ClientError(ClientErrorCode.Closed, "the client was closed while connecting");
    }
    conn.transport = transport;
    this.#sendMessage(conn, {
      t: "hello",
      v: this.#options.protocolVersion,
      client: this.#options.clientName,
    });
    const timer = setTimeout(() => {
      conn.helloWaiter?.reject(
        new ClientError(ClientErrorCode.Timeout, `no hello_ok within ${this.#options.requestTimeoutMs} ms`),
      );
      conn.transport?.close(CloseCode.Normal, "handshake timeout");
    }, this.#options.requestTimeoutMs);
    unref(timer);
    try {
      return await helloOk;
    } finally {
      clearTimeout(timer);
    }
  }

  #received(conn: Connection, bytes: Uint8Array): void {
    if (this.#conn !== conn) return;
    const decoded = conn.decoder.decode(bytes);
    if (!decoded.ok) {
      this.#protocolFailure(
        conn,
        new ClientError(ClientErrorCode.Protocol, `bad message from the server: ${decoded.error.message}`, {
          cause: decoded.error,
        }),
        closeCodeFor(decoded.error.code),
      );
      return;
    }
    const message = decoded.message;
    this.emit("message", message);
    if (conn.hello === undefined && !BEFORE_HELLO_OK.has(message.t)) {
      this.#protocolFailure(conn, new ClientError(ClientErrorCode.Protocol, `${message.t} before hello_ok`));
      return;
    }
    switch (message.t) {
      case "hello_ok":
        this.#helloOk(conn, message);
        return;
      case "login_ok":
      case "resume_ok":
        this.#granted(conn, message);
        return;
      case "update":
        this.#acknowledge(message.ack);
        this.emit("update", message);
        return;
      case "error":
        this.#serverError(conn, message);
        return;
      case "ping":
        this.#sendMessage(conn, { t: "pong", n: message.n });
        return;
      case "pong": {
        const sentAt = conn.pings.get(message.n);
        if (sentAt === undefined) return;
        // Pongs come in order: every older ping is answered too.
        for (const n of conn.pings.keys()) {
          conn.pings.delete(n);
          if (n === message.n) break;
        }
        this.emit("pong", { n: message.n, rttMs: now() - sentAt });
        return;
      }
      case "bye":
        conn.byeCode = message.code;
        conn.byeReason = message.reason;
        conn.transport?.close(message.code, message.reason);
        return;
    }
  }

  #helloOk(conn: Connection, hello: HelloOk): void {
    if (conn.hello !== undefined || hello.v !== this.#options.protocolVersion) {
      this.#protocolFailure(
        conn,
        new ClientError(
          ClientErrorCode.Protocol,
          conn.hello === undefined ? `hello_ok for version ${hello.v}` : "a second hello_ok",
        ),
      );
      return;
    }
    conn.hello = hello;
    conn.nonce = hello.nonce;
    conn.encoder = createCodec({ registry: ClientMessages, maxMessageBytes: hello.maxMessageBytes });
    conn.decoder = createCodec({
      registry: ServerMessages,
      maxMessageBytes: Math.min(hello.maxMessageBytes, this.#options.maxReceiveBytes),
    });
    if (!conn.reconnect) this.#state = ClientState.Connected;
    this.#scheduleHeartbeat(conn, hello.heartbeatMs);
    conn.helloWaiter?.resolve(hello);
    conn.helloWaiter = undefined;
    this.emit("connected", { url: conn.url.href, hello, reconnect: conn.reconnect });
  }

  #connectionClosed(conn: Connection, info: TransportCloseInfo): void {
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    if (conn.heartbeat !== undefined) clearTimeout(conn.heartbeat);
    const code = conn.byeCode ?? info.code;
    const reason = conn.byeReason ?? info.reason;
    const closed = new ClientError(
      ClientErrorCode.Closed,
      `connection closed${code === undefined ? "" : ` (${code})`}: ${reason}`,
      {
        ...(code === undefined ? {} : { closeCode: code }),
        ...(info.error === undefined ? {} : { cause: info.error }),
      },
    );
    conn.helloWaiter?.reject(closed);
    conn.helloWaiter = undefined;
    for (const [ref, pending] of this.#pending) {
      this.#pending.delete(ref);
      clearTimeout(pending.timer);
      if (pending.kind === "logout" && code === CloseCode.Normal) pending.resolve(undefined);
      else pending.reject(closed);
    }

    if (code !== undefined && SESSION_ENDING_CLOSE_CODES.has(code) && this.#refreshToken !== undefined) {
      this.#forgetSession();
      this.#state = ClientState.Idle;
      this.emit("disconnected", { code, reason, willReconnect: false });
      this.emit(
        "sessionLost",
        new ClientError(ClientErrorCode.Closed, `the session ended (${code}): ${reason}`, {
          closeCode: code,
        }),
      );
      return;
    }
    const willReconnect =
      !this.#userClosing &&
      !isTerminal(code) &&
      this.#options.reconnect !== false &&
      this.#refreshToken !== undefined &&
      (conn.loggedIn || this.#reconnecting);
    if (!willReconnect && !this.#reconnecting) this.#state = ClientState.Idle;
    this.emit("disconnected", { code, reason, willReconnect });
    if (isTerminal(code) && !this.#userClosing) {
      this.emit(
        "error",
        new ClientError(ClientErrorCode.Closed, `the server closed the connection (${code}): ${reason}`, {
          closeCode: code,
        }),
      );
    }
    if (isTerminal(code)) this.#wake();
    if (willReconnect && !this.#reconnecting) {
      const shutdown = code === CloseCode.GatewayShutdown;
      void this.#reconnectLoop(shutdown);
    }
  }

  /** Reports a bad message or frame from the server, tells it why (`bye`), and closes. */
  #protocolFailure(conn: Connection, error: ClientError, closeCode: number = CloseCode.InvalidMessage): void {
    if (this.#conn !== conn) return;
    if (conn.helloWaiter !== undefined) {
      conn.helloWaiter.reject(error);
      conn.helloWaiter = undefined;
    }
    this.emit("error", error);
    const reason = error.message.slice(0, 123);
    this.#sendMessage(conn, { t: "bye", code: closeCode, reason });
    // The client's own close: the server did nothing wrong at the close level, so it stays resumable.
    conn.transport?.close(CloseCode.Normal, reason);
  }

  // ---- requests ----

  #authReady(): Connection {
    const conn = this.#conn;
    if (conn === undefined || conn.transport === undefined || conn.hello === undefined) {
      throw new ClientError(ClientErrorCode.NotConnected, "no open connection: call connect() first");
    }
    if (conn.loggedIn)
      throw new ClientError(ClientErrorCode.InvalidState, "already logged in on this connection");
    for (const pending of this.#pending.values()) {
      if (pending.kind !== "logout") {
        throw new ClientError(
          ClientErrorCode.InvalidState,
          `a ${pending.kind} is already waiting for its answer`,
        );
      }
    }
    return conn;
  }

  #request(
    conn: Connection,
    kind: RequestKind,
    args: { username?: string; password?: string },
  ): Promise<LoginOk | ResumeOk | undefined> {
    return new Promise((resolve, reject) => {
      const pending: PendingRequest = {
        kind,
        resolve,
        reject,
        timer: undefined,
        retried: false,
        ...(args.username !== undefined && args.password !== undefined
          ? { credentials: { username: args.username, password: args.password } }
          : {}),
      };
      this.#sendRequest(conn, pending);
    });
  }

  #sendRequest(conn: Connection, pending: PendingRequest): void {
    clearTimeout(pending.timer);
    const ref = this.#takeRef();
    this.#pending.set(ref, pending);
    pending.timer = setTimeout(() => {
      if (this.#pending.get(ref) !== pending) return;
      this.#pending.delete(ref);
      pending.reject(
        new ClientError(
          ClientErrorCode.Timeout,
          `no answer to ${pending.kind} within ${this.#options.requestTimeoutMs} ms`,
        ),
      );
      // The answer may still come and change the connection's state: start from a clean one.
      if (this.#conn === conn) conn.transport?.close(CloseCode.Normal, `${pending.kind} timeout`);
    }, this.#options.requestTimeoutMs);
    unref(pending.timer);
    if (pending.kind === "login") {
      const { username, password } = pending.credentials as { username: string; password: string };
      this.#sendMessage(conn, { t: "login", ref, username, password, nonce: conn.nonce as string });
    } else if (pending.kind === "resume") {
      this.#sendMessage(conn, { t: "resume", ref, refreshToken: this.#refreshToken as string });
    } else {
      this.#sendMessage(conn, { t: "logout", ref });
    }
  }

  #takeRef(): number {
    this.#nextRef = this.#nextRef >= UINT32_MAX ? 1 : this.#nextRef + 1;
    return this.#nextRef;
  }

  #granted(conn: Connection, message: LoginOk | ResumeOk): void {
    const pending = this.#pending.get(message.ref);
    const expected = message.t === "login_ok" ? "login" : "resume";
    if (pending === undefined || pending.kind !== expected) {
      this.#protocolFailure(
        conn,
        new ClientError(ClientErrorCode.Protocol, `${message.t} answers no ${expected} (ref ${message.ref})`),
      );
      return;
    }
    this.#pending.delete(message.ref);
    clearTimeout(pending.timer);
    // The rotated token first: the one just presented is spent, whatever happens next.
    this.#refreshToken = message.refreshToken;
    this.#session = Object.freeze({
      accountId: message.accountId,
      username: message.username,
      sessionId: message.sessionId,
      refreshExpiresAt: message.refreshExpiresAt,
    });
    conn.loggedIn = true;
    this.#state = ClientState.LoggedIn;
    if (message.t === "login_ok") {
      this.#resetInputs();
      pending.resolve(message);
      this.emit("loggedIn", message);
      return;
    }
    if (message.ack !== undefined) this.#acknowledge(message.ack);
    // Re-send, in order, what the world has not applied; it drops any sequence it already has.
    for (const input of this.#unacked)
      this.#sendMessage(conn, { t: "input", seq: input.seq, data: input.data });
    this.#resumedAt = now();
    pending.resolve(message);
    this.emit("resumed", message);
  }

  #serverError(conn: Connection, message: ErrorMessage): void {
    if (message.nonce !== undefined) conn.nonce = message.nonce;
    const pending = message.ref === undefined ? undefined : this.#pending.get(message.ref);
    const error = ClientError.fromServer(message);
    if (pending === undefined || message.ref === undefined) {
      if (conn.helloWaiter !== undefined) {
        conn.helloWaiter.reject(error);
        conn.helloWaiter = undefined;
      }
      this.emit("error", error);
      return;
    }
    this.#pending.delete(message.ref);
    clearTimeout(pending.timer);
    if (pending.kind === "login" && message.code === LOGIN_NONCE_INVALID && !pending.retried) {
      pending.retried = true;
      this.#sendRequest(conn, pending);
      return;
    }
    if (pending.kind === "resume" && SESSION_LOST_CODES.includes(message.code)) {
      this.#forgetSession();
      pending.reject(error);
      this.emit("sessionLost", error);
      return;
    }
    pending.reject(error);
  }

  // ---- inputs ----

  #acknowledge(ack: number): void {
    if (ack <= this.#lastAck) return;
    this.#lastAck = ack;
    let count = 0;
    while (count < this.#unacked.length && (this.#unacked[count] as { seq: number }).seq <= ack) count++;
    if (count > 0) {
      this.#unacked.splice(0, count);
      this.emit("inputsAcked", { ack, count });
    }
  }

  #resetInputs(): void {
    this.#unacked = [];
    this.#lastSeq = 0;
    this.#lastAck = 0;
  }

  #forgetSession(): void {
    this.#refreshToken = undefined;
    this.#session = undefined;
    this.#resetInputs();
  }

  // ---- sending and heartbeat ----

  #sendMessage(conn: Connection, message: Parameters<Encoder["encode"]>[0]): void {
    let bytes: Uint8Array;
    try {
      bytes = conn.encoder.encode(message);
    } catch (cause) {
      this.emit("error", toClientError(cause, ClientErrorCode.TooLarge, `cannot send ${message.t}`));
      return;
    }
    this.#sendBytes(conn, bytes);
  }

  #sendBytes(conn: Connection, bytes: Uint8Array): void {
    if (conn.transport?.send(bytes) === true) conn.lastSentAt = now();
  }

  #scheduleHeartbeat(conn: Connection, heartbeatMs: number): void {
    conn.lastSentAt = now();
    const tick = (): void => {
      if (this.#conn !== conn) return;
      const idle = now() - conn.lastSentAt;
      if (idle < heartbeatMs) {
        conn.heartbeat = setTimeout(tick, Math.max(1, Math.ceil(heartbeatMs - idle)));
        unref(conn.heartbeat);
        return;
      }
      if (conn.pings.size >= this.#options.heartbeatMissLimit) {
        // Several periods without an answer: the connection is dead even if the socket says otherwise.
        conn.transport?.close(CloseCode.Normal, "heartbeat timeout");
        return;
      }
      conn.pingN = conn.pingN >= UINT32_MAX ? 0 : conn.pingN + 1;
      conn.pings.set(conn.pingN, now());
      this.#sendMessage(conn, { t: "ping", n: conn.pingN });
      conn.heartbeat = setTimeout(tick, heartbeatMs);
      unref(conn.heartbeat);
    };
    conn.heartbeat = setTimeout(tick, heartbeatMs);
    unref(conn.heartbeat);
  }

  // ---- reconnect ----

  async #reconnectLoop(shutdown: boolean): Promise<void> {
    const policy = this.#options.reconnect;
    if (policy === false) return;
    this.#reconnecting = true;
    this.#state = ClientState.Reconnecting;
    // A connection that dropped soon after its resume continues the failure count.
    if (now() - this.#resumedAt >= policy.stableAfterMs) this.#failedAttempts = 0;
    let lastError: unknown;
    try {
      for (let first = true; this.#failedAttempts < policy.maxAttempts; first = false) {
        if (this.#userClosing || this.#refreshToken === undefined) return;
        const attempt = this.#failedAttempts + 1;
        const bound = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1));
        const delayMs = first && shutdown ? 0 : Math.floor(this.#options.random() * bound);
        // A gateway going away, or one that failed us: try the next one in the list.
        if ((first && shutdown) || !first) this.#urlIndex = (this.#urlIndex + 1) % this.#options.urls.length;
        this.emit("reconnecting", { attempt, delayMs, url: this.url });
        if (delayMs > 0) await this.#pause(delayMs);
        if (this.#userClosing || this.#refreshToken === undefined) return;
        try {
          this.#conn?.transport?.close(CloseCode.Normal, "reconnecting");
          await this.#open(true);
          const open = this.#conn as Connection | undefined;
          if (open === undefined) throw new ClientError(ClientErrorCode.Closed, "closed after hello_ok");
          await this.#request(open, "resume", {});
          this.#reconnects++;
          return;
        } catch (error) {
          lastError = error;
          this.#failedAttempts++;
          if (error instanceof ClientError && SESSION_LOST_CODES.includes(error.code)) return;
          if (error instanceof ClientError && isTerminal(error.closeCode)) return;
          if (this.#userClosing || this.#refreshToken === undefined) return;
          // A resume refused for another reason (LOBBY_UNAVAILABLE…): drop this connection and retry.
          this.#conn?.transport?.close(CloseCode.Normal, "resume failed");
        }
      }
      this.#state = ClientState.Idle;
      this.emit(
        "reconnectFailed",
        new ClientError(
          ClientErrorCode.ReconnectFailed,
          `gave up reconnecting after ${policy.maxAttempts} attempts: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
          { cause: lastError },
        ),
      );
    } finally {
      this.#reconnecting = false;
      const conn = this.#conn;
      if (this.#state === ClientState.Reconnecting) {
        // After a refused resume the connection stays open: the application may log in on it.
        this.#state = conn?.hello !== undefined ? ClientState.Connected : ClientState.Idle;
      }
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#sleep = undefined;
        resolve();
      }, ms);
      this.#sleep = { timer, wake: resolve };
    });
  }

  #wake(): void {
    const sleep = this.#sleep;
    if (sleep === undefined) return;
    this.#sleep = undefined;
    clearTimeout(sleep.timer);
    sleep.wake();
  }
}

function now(): number {
  return globalThis.performance?.now() ?? Date.now();
}
