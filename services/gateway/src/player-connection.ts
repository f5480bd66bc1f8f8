/**
 * One player connection: the client protocol's state machine (docs/protocol.md §3–§6) on top of a
 * netengine session.
 *
 * ```
 * await hello ──hello ok──► logged out ──login/resume──► pending ──ok──► logged in
 *      │ bad first message: error + close        ▲   error: stays  │          │ logout → bye 1000
 *      ▼                                         └────────────────┘          ▼
 *   closing (bye <code>, goodbye) ◄── rate limit 4200, violations 4204, kicks 4201/4202, 4203, 4205
 * ```
 *
 * Limits come first: every frame takes from the connection's message and byte buckets before it is
 * decoded. A message that fails to decode, or is not allowed in the current state, is answered with
 * an `error` and counted; more than `maxViolations` within the window closes the connection (4204).
 * Before `hello` any bad message closes at once with its own code (§3).
 *
 * @module
 */
import { type DisconnectInfo, type Session, TransportKind } from "@meridian/netengine";
import {
  type ClientMessage,
  ClientMessages,
  CloseCode,
  checkVersion,
  closeCodeFor,
  createCodec,
  type ErrorMessage,
  type Login,
  type Logout,
  makeLoginNonce,
  ProtocolError,
  ProtocolErrorCode,
  type Resume,
  type ServerMessage,
  ServerMessages,
  toWire,
  type Update,
} from "@meridian/protocol";
import { inSpan, SpanAttr, SpanKind, telemetry } from "@meridian/telemetry";
import type { Logger } from "pino";
import { GatewayError, GatewayErrorCode } from "./errors.js";
import { isLobbyError, type LobbyAnswer, type LobbyClient } from "./lobby-client.js";
import type { PlayerIdentity, PlayerPlace, PlayerSink } from "./router-port.js";
import { TokenBucket, WindowCounter } from "./token-bucket.js";

/** Where a connection is in the protocol. */
export const ConnectionState = {
  AwaitHello: "await_hello",
  LoggedOut: "logged_out",
  Pending: "pending",
  LoggedIn: "logged_in",
  Closing: "closing",
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/** The per-connection limits and identity, shared by every connection of a gateway. */
export interface ConnectionSettings {
  readonly gatewayId: string;
  readonly serverName: string;
  readonly maxMessageBytes: number;
  readonly heartbeatMs: number;
  readonly rateMsgsPerS: number;
  readonly rateBytesPerS: number;
  readonly maxViolations: number;
  readonly violationWindowMs: number;
  readonly trustProxyTls: boolean;
  /** How long a goodbye waits for the peer after the `bye`, ms. */
  readonly lingerMs: number;
}

/** The player logged in on a connection. */
export interface PlayerSession {
  readonly accountId: string;
  readonly sessionId: string;
  readonly username: string;
}

/** What a connection needs from its gateway (the session registry, routing, presence). */
export interface ConnectionHost {
  readonly settings: ConnectionSettings;
  readonly lobby: LobbyClient;
  readonly log: Logger;
  /** Registers the session on `conn` (superseding older connections of the session or account). */
  register(conn: PlayerConnection, identity: PlayerIdentity): void;
  /** Places the registered player (router attach + presence); null when no world answered. Never rejects. */
  place(conn: PlayerConnection, identity: PlayerIdentity): Promise<PlayerPlace | null>;
  /** The player's route changed. */
  moved(conn: PlayerConnection, place: PlayerPlace): void;
  /** One input of the logged-in player. */
  /** Forwards an input; false when routing refused it (duplicate, gap, buffer full, no world). */
  input(conn: PlayerConnection, seq: number, data: unknown): boolean;
  /** The player logged out: detach and clear presence. */
  loggedOut(conn: PlayerConnection): void;
  /** The connection ended (any reason). */
  ended(conn: PlayerConnection, info: DisconnectInfo): void;
  /** A session the client never learnt of (it left mid-login): end it at the lobby. */
  orphaned(sessionId: string): void;
  /** Counters. */
  count(event: ConnectionEvent, code?: string): void;
}

/** Events a connection counts. */
export type ConnectionEvent =
  | "login_ok"
  | "login_failed"
  | "resume_ok"
  | "resume_failed"
  | "logout"
  | "rate_limited"
  | "violation"
  | "violations_closed";

/** Strips the IPv4-mapped IPv6 prefix: `::ffff:10.0.0.1` → `10.0.0.1`. */
export function playerAddress(remoteAddress: string): string {
  return remoteAddress.toLowerCase().startsWith("::ffff:") && remoteAddress.includes(".")
    ? remoteAddress.slice(7)
    : remoteAddress;
}

const MAX_BUFFERED_UPDATES = 256;

// Codecs are stateless: one pair per message limit, shared by every connection (memory per idle
// connection is a measured figure: gateway.idle-memory).
const clientCodecs = new Map<number, ReturnType<typeof makeClientCodec>>();
const serverCodecs = new Map<number, ReturnType<typeof makeServerCodec>>();
function makeClientCodec(maxMessageBytes: number) {
  return createCodec({ registry: ClientMessages, maxMessageBytes });
}
function makeServerCodec(maxMessageBytes: number) {
  return createCodec({ registry: ServerMessages, maxMessageBytes });
}
function clientCodec(maxMessageBytes: number) {
  let codec = clientCodecs.get(maxMessageBytes);
  if (codec === undefined) {
    codec = makeClientCodec(maxMessageBytes);
    clientCodecs.set(maxMessageBytes, codec);
  }
  return codec;
}
function serverCodec(maxMessageBytes: number) {
  let codec = serverCodecs.get(maxMessageBytes);
  if (codec === undefined) {
    codec = makeServerCodec(maxMessageBytes);
    serverCodecs.set(maxMessageBytes, codec);
  }
  return codec;
}
type ClientCodec = ReturnType<typeof clientCodec>;
type ServerCodec = ReturnType<typeof serverCodec>;

/** One client connection and its protocol state. */
export class PlayerConnection {
  readonly session: Session<PlayerConnection>;
  readonly #host: ConnectionHost;
  readonly #in: ClientCodec;
  readonly #out: ServerCodec;
  readonly #messages: TokenBucket;
  readonly #bytes: TokenBucket;
  readonly #violations: WindowCounter;
  /** The connection's child logger, made on first use (most connections never log). */
  #logger: Logger | undefined;
  #state: ConnectionState = ConnectionState.AwaitHello;
  #nonce = "";
  #player: PlayerSession | undefined;
  /** Updates held until `login_ok`/`resume_ok` has been sent. */
  #held: Update[] | undefined = [];
  /** True once the session was ended here on purpose (logout, kick, superseded): no resume grace. */
  #released = false;
  #loggingOut = false;

  /** What routing relays to this player. */
  readonly sink: PlayerSink;

  constructor(session: Session<PlayerConnection>, host: ConnectionHost) {
    this.session = session;
    this.#host = host;
    const s = host.settings;
    this.#in = clientCodec(s.maxMessageBytes);
    this.#out = serverCodec(s.maxMessageBytes);
    this.#messages = new TokenBucket(s.rateMsgsPerS, s.rateMsgsPerS * 2);
    this.#bytes = new TokenBucket(s.rateBytesPerS, s.rateBytesPerS * 2);
    this.#violations = new WindowCounter(s.violationWindowMs);
    this.sink = new ConnectionSink(this);
  }

  get #log(): Logger {
    this.#logger ??= this.#host.log.child({
      conn: this.session.id,
      ip: this.ip,
      transport: this.session.transport,
    });
    return this.#logger;
  }

  /** Routing's sink: relays one update to the player (internal, through {@link ConnectionSink}). */
  relayUpdate(update: Update): void {
    this.#relay(update);
  }

  /** Routing's sink: the player moved (internal, through {@link ConnectionSink}). */
  relayMove(place: PlayerPlace): void {
    this.#host.moved(this, place);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The logged-in player, if any (kept after the connection closes). */
  get player(): PlayerSession | undefined {
    return this.#player;
  }

  /** True when the session was ended on purpose here: its close starts no resume grace. */
  get released(): boolean {
    return this.#released;
  }

  /** True while a `logout` is being sent to the lobby. */
  get loggingOut(): boolean {
    return this.#loggingOut;
  }

  /** The player's address as the lobby sees it (IPv4-mapped prefix stripped). */
  get ip(): string {
    return playerAddress(this.session.remoteAddress);
  }

  /** Whether the connection counts as TLS (tls, wss, or a trusted TLS-terminating proxy). */
  get tls(): boolean {
    const t = this.session.transport;
    return (
      t === TransportKind.Tls || t === TransportKind.SecureWebSocket || this.#host.settings.trustProxyTls
    );
  }

  get open(): boolean {
    return this.#state !== ConnectionState.Closing && this.session.state === "open";
  }

  // ---- engine events ----

  onFrame(frame: Uint8Array): void {
    if (!this.open) return;
    if (!this.#messages.take(1) || !this.#bytes.take(frame.byteLength)) {
      this.#host.count("rate_limited");
      this.close(
        CloseCode.RateLimited,
        "rate limit exceeded",
        new GatewayError(GatewayErrorCode.RateLimited, "too many messages or bytes per second"),
      );
      return;
    }
    const decoded = this.#in.decode(frame);
    if (this.#state === ConnectionState.AwaitHello) {
      this.#onFirst(decoded);
      return;
    }
    if (!decoded.ok) {
      this.#violation(toWire(decoded.error));
      return;
    }
    this.#dispatch(decoded.message);
  }

  onDisconnected(info: DisconnectInfo): void {
    if (this.#state !== ConnectionState.Closing) this.#state = ConnectionState.Closing;
    this.#host.ended(this, info);
  }

  // ---- closing ----

  /**
   * Sends `error` (when given) and `bye { code, reason }`, then a graceful goodbye. Idempotent.
   * @param release true when the session ends with the connection (kick, superseded): no grace.
   */
  close(code: number, reason: string, error?: unknown, release = false): void {
    if (release) this.#released = true;
    if (this.#state === ConnectionState.Closing) return;
    this.#state = ConnectionState.Closing;
    if (error !== undefined) this.#send(toWire(error));
    this.#send({ t: "bye", code, reason: reason.slice(0, 123) });
    // The same code in the WebSocket close frame (TCP has none: the bye carries it).
    void this.session.goodbye({
      lingerMs: this.#host.settings.lingerMs,
      closeCode: code,
      closeReason: reason,
    });
  }

  /** Marks the session as ended here (logout, kick) so that the close starts no grace. */
  release(): void {
    this.#released = true;
  }

  // ---- protocol ----

  #onFirst(decoded: ReturnType<ClientCodec["decode"]>): void {
    if (!decoded.ok) {
      this.close(closeCodeFor(decoded.error.code), decoded.error.code, decoded.error);
      return;
    }
    const message = decoded.message;
    if (message.t !== "hello") {
      const error = new ProtocolError(
        ProtocolErrorCode.HelloRequired,
        `the first message must be hello, got ${message.t}`,
      );
      this.close(CloseCode.HelloRequired, "hello required", error);
      return;
    }
    const version = checkVersion(message.v);
    if (!version.ok) {
      this.close(CloseCode.VersionMismatch, "protocol version not supported", version.error);
      return;
    }
    this.session.markEstablished();
    this.#nonce = makeLoginNonce();
    this.#state = ConnectionState.LoggedOut;
    this.#send({
      t: "hello_ok",
      v: version.version,
      server: this.#host.settings.serverName,
      maxMessageBytes: this.#host.settings.maxMessageBytes,
      heartbeatMs: this.#host.settings.heartbeatMs,
      nonce: this.#nonce,
    });
  }

  #dispatch(message: ClientMessage): void {
    switch (message.t) {
      case "ping":
        this.#send({ t: "pong", n: message.n });
        return;
      case "pong":
        return;
      case "bye":
        void this.session.goodbye({ lingerMs: this.#host.settings.lingerMs });
        return;
      case "hello":
        this.#outOfOrder("hello was already received");
        return;
      case "login":
      case "resume":
        if (this.#state === ConnectionState.Pending) {
          this.#violation(
            toWire(
              new GatewayError(GatewayErrorCode.RequestPending, "a request is already pending"),
              message.ref,
            ),
          );
        } else if (this.#state === ConnectionState.LoggedIn) {
          this.#outOfOrder(`${message.t} after login`, message.ref);
        } else if (!telemetry.enabled) {
          void (message.t === "login" ? this.#login(message) : this.#resume(message));
        } else {
          // Traced: the player's journey starts here; the lobby request and the attach are children.
          const attributes = {
            [SpanAttr.Service]: "gateway",
            [SpanAttr.Instance]: this.#host.settings.gatewayId,
          };
          void inSpan("gateway", `gateway.${message.t}`, { kind: SpanKind.SERVER, attributes }, () =>
            message.t === "login" ? this.#login(message) : this.#resume(message),
          );
        }
        return;
      case "logout":
        if (this.#state === ConnectionState.Pending) {
          this.#violation(
            toWire(
              new GatewayError(GatewayErrorCode.RequestPending, "a request is already pending"),
              message.ref,
            ),
          );
        } else if (this.#state !== ConnectionState.LoggedIn) {
          this.#outOfOrder("logout before login", message.ref);
        } else {
          void this.#logout(message);
        }
        return;
      case "input":
        if (this.#state !== ConnectionState.LoggedIn || this.#player === undefined) {
          this.#outOfOrder("input before login");
          return;
        }
        if (!this.#host.input(this, message.seq, message.data)) {
          this.#send(
            toWire(
              new GatewayError(
                GatewayErrorCode.InputRefused,
                `input ${message.seq} refused: not the next sequence, too many unacknowledged inputs, or no place in the world`,
              ),
            ),
          );
        }
        return;
      default:
        // The registry holds the types above only: decode never yields another.
        return;
    }
  }

  #outOfOrder(what: string, ref?: number): void {
    this.#violation(toWire(new GatewayError(GatewayErrorCode.OutOfOrder, `not allowed now: ${what}`), ref));
  }

  #violation(error: ErrorMessage): void {
    this.#host.count("violation", error.code);
    if (this.#violations.add() > this.#host.settings.maxViolations) {
      this.#host.count("violations_closed");
      this.close(
        CloseCode.TooManyViolations,
        "too many invalid messages",
        new GatewayError(
          GatewayErrorCode.TooManyViolations,
          `too many invalid messages (last: ${error.code})`,
        ),
      );
      return;
    }
    this.#send(error);
  }

  async #login(message: Login): Promise<void> {
    this.#state = ConnectionState.Pending;
    const connectionNonce = this.#nonce;
    let answer: LobbyAnswer<"login"> | undefined;
    let failure: unknown;
    try {
      answer = await this.#host.lobby.request("login", {
        username: message.username,
        password: message.password,
        nonce: message.nonce,
        connectionNonce,
        ip: this.ip,
        tls: this.tls,
        gateway: this.#host.settings.gatewayId,
      });
    } catch (error) {
      failure = error;
    }
    if (answer !== undefined && !isLobbyError(answer) && answer.t === "session") {
      if (!this.open) {
        this.#host.orphaned(answer.sessionId);
        return;
      }
      const identity: PlayerIdentity = {
        accountId: answer.accountId,
        sessionId: answer.sessionId,
        username: answer.username,
        resumed: false,
      };
      this.#player = identity;
      this.#state = ConnectionState.LoggedIn;
      this.#host.register(this, identity);
      this.#host.count("login_ok");
      this.#log.info({ accountId: identity.accountId, sessionId: identity.sessionId }, "logged in");
      this.#send({
        t: "login_ok",
        ref: message.ref,
        accountId: answer.accountId,
        username: answer.username,
        sessionId: answer.sessionId,
        refreshToken: answer.refreshToken,
        refreshExpiresAt: answer.refreshExpiresAt,
        created: answer.created,
      });
      this.#startRelay();
      void this.#host.place(this, identity);
      return;
    }
    if (!this.open) return;
    // A failed login spent (or could not use) the nonce: the next attempt gets a fresh one.
    this.#nonce = makeLoginNonce();
    this.#state = ConnectionState.LoggedOut;
    const error = this.#lobbyFailure(answer, failure, message.ref);
    this.#host.count("login_failed", error.code);
    if (error.code === "LOBBY_LOGIN_REPLAYED") this.#log.warn({ code: error.code }, "login nonce replayed");
    this.#send({ ...error, nonce: this.#nonce });
  }

  async #resume(message: Resume): Promise<void> {
    this.#state = ConnectionState.Pending;
    let answer: LobbyAnswer<"refresh"> | undefined;
    let failure: unknown;
    try {
      answer = await this.#host.lobby.request("refresh", {
        refreshToken: message.refreshToken,
        tls: this.tls,
      });
    } catch (error) {
      failure = error;
    }
    if (answer !== undefined && !isLobbyError(answer) && answer.t === "refreshed") {
      if (!this.open) return; // the session stays as it was: in grace wherever it was
      const identity: PlayerIdentity = {
        accountId: answer.accountId,
        sessionId: answer.sessionId,
        username: answer.username,
        resumed: true,
      };
      this.#player = identity;
      this.#state = ConnectionState.LoggedIn;
      this.#host.register(this, identity);
      const place = await this.#host.place(this, identity);
      this.#host.count("resume_ok");
      this.#log.info({ accountId: identity.accountId, sessionId: identity.sessionId }, "resumed");
      this.#send({
        t: "resume_ok",
        ref: message.ref,
        accountId: answer.accountId,
        username: answer.username,
        sessionId: answer.sessionId,
        refreshToken: answer.refreshToken,
        refreshExpiresAt: answer.refreshExpiresAt,
        ...(place === null ? {} : { ack: place.ack }),
      });
      this.#startRelay();
      return;
    }
    if (!this.open) return;
    this.#state = ConnectionState.LoggedOut;
    const error = this.#lobbyFailure(answer, failure, message.ref);
    this.#host.count("resume_failed", error.code);
    if (error.code === "LOBBY_TOKEN_REUSED") this.#log.warn({ code: error.code }, "refresh token reused");
    this.#send(error);
  }

  async #logout(message: Logout): Promise<void> {
    const player = this.#player;
    if (player === undefined) return;
    this.#state = ConnectionState.Pending;
    this.#loggingOut = true;
    let answer: LobbyAnswer<"logout"> | undefined;
    let failure: unknown;
    try {
      answer = await this.#host.lobby.request("logout", { sessionId: player.sessionId });
    } catch (error) {
      failure = error;
    }
    this.#loggingOut = false;
    if (answer !== undefined && answer.t === "lobby_ok") {
      this.#released = true;
      this.#host.count("logout");
      this.#host.loggedOut(this);
      this.#log.info({ accountId: player.accountId, sessionId: player.sessionId }, "logged out");
      this.close(CloseCode.Normal, "logged out");
      return;
    }
    if (!this.open) return;
    this.#state = ConnectionState.LoggedIn;
    this.#send(this.#lobbyFailure(answer, failure, message.ref));
  }

  /** The `error` for a failed lobby request: the lobby's code and extras, or LOBBY_UNAVAILABLE. */
  #lobbyFailure(answer: { readonly t: string } | undefined, failure: unknown, ref: number): ErrorMessage {
    if (answer !== undefined && isLobbyError(answer)) {
      return {
        t: "error",
        code: answer.code,
        message: answer.message,
        ref,
        ...(answer.retryAfterMs === undefined ? {} : { retryAfterMs: answer.retryAfterMs }),
        ...(answer.reason === undefined ? {} : { reason: answer.reason }),
        ...(answer.expiresAt === undefined ? {} : { expiresAt: answer.expiresAt }),
      };
    }
    if (failure instanceof GatewayError) return toWire(failure, ref);
    if (failure !== undefined) this.#log.error({ err: failure }, "lobby request failed");
    return toWire(
      new GatewayError(GatewayErrorCode.LobbyUnavailable, "the lobby is unavailable; try again later"),
      ref,
    );
  }

  // ---- updates ----

  #relay(update: Update): void {
    if (this.#held !== undefined) {
      if (this.#held.length < MAX_BUFFERED_UPDATES) this.#held.push(update);
      return;
    }
    this.#send(update);
  }

  #startRelay(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const update of held) this.#send(update);
  }

  #send(message: ServerMessage): void {
    let bytes: Uint8Array;
    try {
      bytes = this.#out.encode(message);
    } catch (error) {
      this.#log.error({ err: error, type: message.t }, "cannot encode a message for the client");
      return;
    }
    this.session.send(bytes);
  }
}

/** The {@link PlayerSink} of a connection: prototype methods, no closures per connection. */
class ConnectionSink implements PlayerSink {
  readonly #conn: PlayerConnection;

  constructor(conn: PlayerConnection) {
    this.#conn = conn;
  }

  update(update: Update): void {
    this.#conn.relayUpdate(update);
  }

  moved(place: PlayerPlace): void {
    this.#conn.relayMove(place);
  }
}
