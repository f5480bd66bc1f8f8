/**
 * The gateway, composed: listeners (TCP and WebSocket, TLS optional) behind one accept guard whose
 * deny list is the {@link BanMirror}; the per-connection protocol ({@link PlayerConnection}); the
 * session registry (live connections by session and by account, dropped sessions in their resume
 * grace); presence; kicks from the lobby's notices; graceful shutdown. `main.ts` builds one from the
 * configuration; tests build one in-process with the same code.
 *
 * @module
 */
import {
  AcceptGuard,
  type AcceptGuardOptions,
  AddressList,
  type DisconnectInfo,
  LengthPrefixFramer,
  type Listener,
  listen,
  type ProtocolHandler,
  type Session,
  tryParseIp,
} from "@meridian/netengine";
import {
  CloseCode,
  createSubjects,
  DEFAULT_PRESENCE_TTL_MS,
  DetachReason,
  PRESENCE_REFRESH_DIVISOR,
  type PresenceRecord,
  RevocationReason,
  SESSION_REVOKED_TOPIC,
  type SessionRevokedNotice,
  type Subjects,
} from "@meridian/protocol";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { BanMirror } from "./ban-mirror.js";
import { GatewayError, GatewayErrorCode } from "./errors.js";
import { LobbyClient } from "./lobby-client.js";
import {
  type ConnectionEvent,
  type ConnectionHost,
  type ConnectionSettings,
  PlayerConnection,
} from "./player-connection.js";
import { PresenceStore } from "./presence-store.js";
import { NO_WORLD, type PlayerIdentity, type PlayerPlace, type PlayerRouter } from "./router-port.js";

/** The gateway's name and version in `hello_ok.server`. */
export const GATEWAY_SERVER_NAME = "meridian-gateway/0.1";

/** Options of {@link Gateway}; see `config.ts` for each one's variable and default. */
export interface GatewayOptions {
  /** This gateway's id: one NATS subject token. Required. */
  readonly id: string;
  /** Redis key prefix of the cluster. Default `meridian:`. */
  readonly redisPrefix?: string;
  /** NATS subject prefix of the cluster. Default `meridian`. */
  readonly subjectPrefix?: string;
  /** Interface to bind. Default `0.0.0.0`. */
  readonly host?: string;
  /** TCP port; 0 = any free port. Default 7600. `null`: no TCP listener. */
  readonly tcpPort?: number | null;
  /** WebSocket port; 0 = any free port. Default 7601. `null`: no WebSocket listener. */
  readonly wsPort?: number | null;
  /** TLS for both listeners (PEM). Default none. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Connections count as TLS (a trusted TLS-terminating proxy). Default false. */
  readonly trustProxyTls?: boolean;
  /** World written in presence when no world places the player. Default `main`. */
  readonly world?: string;
  /** Resume grace, ms. Default 30000. */
  readonly resumeGraceMs?: number;
  /** Largest client message, bytes. Default 16384. */
  readonly maxMessageBytes?: number;
  /** Messages per second per connection (burst 2×). Default 50. */
  readonly rateMsgsPerS?: number;
  /** Bytes per second per connection (burst 2×). Default 65536. */
  readonly rateBytesPerS?: number;
  /** Violations tolerated within {@link GatewayOptions.violationWindowMs}. Default 5. */
  readonly maxViolations?: number;
  /** Violation window, ms. Default 10000. */
  readonly violationWindowMs?: number;
  /** `hello_ok.heartbeatMs`; the idle timeout is 3× this. Default 15000. */
  readonly heartbeatMs?: number;
  /** Pre-auth deadline, ms. Default 5000. */
  readonly preAuthMs?: number;
  /** Ban mirror full reload period, ms. Default 30000. */
  readonly banResyncMs?: number;
  /** Bound on one lobby request, ms. Default 5000. */
  readonly lobbyTimeoutMs?: number;
  /** Bound on a graceful shutdown, ms. Default 5000. */
  readonly shutdownMs?: number;
  /** Presence TTL, ms. Default `DEFAULT_PRESENCE_TTL_MS` (30 s). */
  readonly presenceTtlMs?: number;
  /** Extra accept guard options (per-IP limits, exempt list, tolerance); `deny` is the ban mirror. */
  readonly guard?: Omit<AcceptGuardOptions, "deny" | "preAuthDeadlineMs">;
}

/** What the gateway is built on. */
export interface GatewayDeps {
  readonly redis: Redis;
  readonly nc: NatsConnection;
  readonly logger: Logger;
  /** Routing to the world; default: none (players are logged in without a place). */
  readonly router?: PlayerRouter;
}

/** The gateway's counters. */
export interface GatewayStats {
  readonly id: string;
  /** Open connections now, and logged-in players among them; sessions in their resume grace. */
  readonly connections: number;
  readonly players: number;
  readonly graceSessions: number;
  /** Connections accepted since start (all listeners). */
  readonly accepted: number;
  /** Accepts refused by the guard, by reason (`denied` is the ban mirror). */
  readonly rejected: Readonly<Record<string, number>>;
  readonly preAuthPruned: number;
  readonly loginsOk: number;
  /** Failed logins by error code. */
  readonly loginsFailed: Readonly<Record<string, number>>;
  readonly resumesOk: number;
  readonly resumesFailed: Readonly<Record<string, number>>;
  readonly logouts: number;
  /** Connections closed by a kick, by close code (4201 revoked, 4202 banned, 4205 superseded). */
  readonly kicks: Readonly<Record<string, number>>;
  readonly rateLimitCloses: number;
  /** Invalid or out-of-order messages, by error code. */
  readonly violations: Readonly<Record<string, number>>;
  readonly violationCloses: number;
  readonly graceExpired: number;
  readonly banEntries: number;
}

/** A dropped session waiting for its resume. */
interface GraceEntry {
  readonly accountId: string;
  readonly sessionId: string;
  readonly timer: NodeJS.Timeout;
}

/** What presence knows of a placed player, for refreshes and the guarded clear. */
interface PresenceEntry {
  readonly sessionId: string;
  record: PresenceRecord;
}

function resolve(options: GatewayOptions) {
  return Object.freeze({
    id: options.id,
    redisPrefix: options.redisPrefix ?? "meridian:",
    subjectPrefix: options.subjectPrefix ?? "meridian",
    host: options.host ?? "0.0.0.0",
    tcpPort: options.tcpPort === undefined ? 7600 : options.tcpPort,
    wsPort: options.wsPort === undefined ? 7601 : options.wsPort,
    tls: options.tls,
    trustProxyTls: options.trustProxyTls ?? false,
    world: options.world ?? "main",
    resumeGraceMs: options.resumeGraceMs ?? 30_000,
    maxMessageBytes: options.maxMessageBytes ?? 16_384,
    rateMsgsPerS: options.rateMsgsPerS ?? 50,
    rateBytesPerS: options.rateBytesPerS ?? 65_536,
    maxViolations: options.maxViolations ?? 5,
    violationWindowMs: options.violationWindowMs ?? 10_000,
    heartbeatMs: options.heartbeatMs ?? 15_000,
    preAuthMs: options.preAuthMs ?? 5_000,
    banResyncMs: options.banResyncMs ?? 30_000,
    lobbyTimeoutMs: options.lobbyTimeoutMs ?? 5_000,
    shutdownMs: options.shutdownMs ?? 5_000,
    presenceTtlMs: options.presenceTtlMs ?? DEFAULT_PRESENCE_TTL_MS,
    guard: options.guard ?? {},
  });
}
type ResolvedOptions = ReturnType<typeof resolve>;

function bump(counter: Record<string, number>, key: string): void {
  counter[key] = (counter[key] ?? 0) + 1;
}

/** The gateway. `start()` binds; `stop()` shuts down gracefully. */
export class Gateway implements ConnectionHost {
  readonly settings: ConnectionSettings;
  readonly lobby: LobbyClient;
  readonly log: Logger;
  readonly bans: BanMirror;
  readonly #options: ResolvedOptions;
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #router: PlayerRouter;
  readonly #presence: PresenceStore;
  readonly #guard: AcceptGuard;
  readonly #listeners: Listener<PlayerConnection>[] = [];
  readonly #live = new Map<string, PlayerConnection>();
  readonly #byAccount = new Map<string, PlayerConnection>();
  readonly #grace = new Map<string, GraceEntry>();
  readonly #placed = new Map<string, PresenceEntry>();
  readonly #subs: Subscription[] = [];
  #refreshTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  #started = false;
  readonly #counts = {
    loginsOk: 0,
    loginsFailed: {} as Record<string, number>,
    resumesOk: 0,
    resumesFailed: {} as Record<string, number>,
    logouts: 0,
    kicks: {} as Record<string, number>,
    rateLimitCloses: 0,
    violations: {} as Record<string, number>,
    violationCloses: 0,
    graceExpired: 0,
  };

  constructor(deps: GatewayDeps, options: GatewayOptions) {
    if (typeof options.id !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(options.id)) {
      throw new GatewayError(GatewayErrorCode.InvalidOptions, "options.id must be one NATS subject token");
    }
    const o = resolve(options);
    this.#options = o;
    this.#nc = deps.nc;
    this.log = deps.logger;
    this.#subjects = createSubjects({ prefix: o.subjectPrefix });
    const router = deps.router ?? NO_WORLD;
    // Without a world, the player is placed in the configured world, nowhere in particular.
    this.#router =
      router === NO_WORLD
        ? { ...NO_WORLD, attach: async () => ({ world: o.world, zone: null, server: null, ack: 0 }) }
        : router;
    this.settings = Object.freeze({
      gatewayId: o.id,
      serverName: GATEWAY_SERVER_NAME,
      maxMessageBytes: o.maxMessageBytes,
      heartbeatMs: o.heartbeatMs,
      rateMsgsPerS: o.rateMsgsPerS,
      rateBytesPerS: o.rateBytesPerS,
      maxViolations: o.maxViolations,
      violationWindowMs: o.violationWindowMs,
      trustProxyTls: o.trustProxyTls,
      lingerMs: Math.min(2_000, Math.floor(o.shutdownMs / 2)),
    });
    this.lobby = new LobbyClient(deps.nc, this.#subjects, { timeoutMs: o.lobbyTimeoutMs });
    this.#presence = new PresenceStore(deps.redis, { redisPrefix: o.redisPrefix, ttlMs: o.presenceTtlMs });
    this.bans = new BanMirror(
      { redis: deps.redis, nc: deps.nc, subjects: this.#subjects, logger: this.log.child({ sub: "bans" }) },
      { redisPrefix: o.redisPrefix, resyncMs: o.banResyncMs },
    );
    this.#guard = new AcceptGuard({ ...o.guard, deny: this.bans, preAuthDeadlineMs: o.preAuthMs });
  }

  /** Bound ports (null for a listener not started). */
  get ports(): { readonly tcp: number | null; readonly ws: number | null } {
    const port = (kind: "tcp" | "ws") =>
      this.#listeners.find((l) =>
        kind === "tcp"
          ? l.transport === "tcp" || l.transport === "tls"
          : l.transport === "ws" || l.transport === "wss",
      )?.port ?? null;
    return { tcp: port("tcp"), ws: port("ws") };
  }

  /** The id. */
  get id(): string {
    return this.#options.id;
  }

  /**
   * Loads the ban mirror, subscribes to the lobby's notices, then listens.
   * @throws when Redis or NATS fail, or a port cannot be bound (everything started is stopped).
   */
  async start(): Promise<void> {
    if (this.#started)
      throw new GatewayError(GatewayErrorCode.InvalidOptions, "the gateway was already started");
    this.#started = true;
    const o = this.#options;
    try {
      this.bans.onListed((entry) => this.#kickAddress(entry));
      await this.bans.start();
      this.#subs.push(
        this.#nc.subscribe(this.#subjects.event(SESSION_REVOKED_TOPIC), {
          callback: (error, msg) => {
            if (error !== null) {
              this.log.warn({ err: error }, "revocation subscription failed");
              return;
            }
            this.#onRevoked(msg.data);
          },
        }),
      );
      await this.#nc.flush();
      const handler: ProtocolHandler<PlayerConnection> = {
        onAccepted: (session) => {
          const conn = new PlayerConnection(session, this);
          session.data = conn;
          if (this.#stopping !== undefined) {
            conn.close(CloseCode.GatewayShutdown, "reconnect and resume");
          }
        },
        onFrame: (session, frame) => session.data?.onFrame(frame),
        onDisconnected: (session, info) => session.data?.onDisconnected(info),
      };
      const common = {
        handler,
        host: o.host,
        guard: this.#guard,
        framer: new LengthPrefixFramer({ maxFrameBytes: o.maxMessageBytes }),
        maxMessageBytes: o.maxMessageBytes,
        idleTimeoutMs: o.heartbeatMs * 3,
        heartbeatIntervalMs: o.heartbeatMs,
        lingerMs: this.settings.lingerMs,
        onError: (error: Error, session: Session<PlayerConnection> | undefined) =>
          this.log.warn({ err: error, conn: session?.id }, "connection error"),
        ...(o.tls === undefined ? {} : { tls: { cert: o.tls.cert, key: o.tls.key } }),
      };
      if (o.tcpPort !== null)
        this.#listeners.push(await listen({ ...common, transport: "tcp", port: o.tcpPort }));
      if (o.wsPort !== null)
        this.#listeners.push(await listen({ ...common, transport: "ws", port: o.wsPort }));
      const every = Math.max(100, Math.floor(o.presenceTtlMs / PRESENCE_REFRESH_DIVISOR));
      this.#refreshTimer = setInterval(() => void this.#refreshPresence(), every);
      this.#refreshTimer.unref();
    } catch (error) {
      await this.#teardown();
      throw error;
    }
  }

  /**
   * Graceful shutdown: stop accepting, tell every connection `bye 4203` ("reconnect and resume"),
   * goodbye with linger, keep the players attached (they resume elsewhere within the grace: no
   * detach, presence left to be overwritten or to expire), unsubscribe. Bounded by `shutdownMs`.
   * Does not close the NATS or Redis connections (the caller owns them). Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const listener of this.#listeners) {
        for (const session of listener.sessions) {
          session.data?.close(CloseCode.GatewayShutdown, "reconnect and resume");
        }
      }
      await this.#teardown();
    })();
    return this.#stopping;
  }

  async #teardown(): Promise<void> {
    const timeoutMs = Math.max(100, this.#options.shutdownMs - 500);
    await Promise.all(
      this.#listeners.map((l) => l.close({ goodbye: true, timeoutMs }).catch(() => undefined)),
    );
    if (this.#refreshTimer !== undefined) clearInterval(this.#refreshTimer);
    this.#refreshTimer = undefined;
    for (const entry of this.#grace.values()) clearTimeout(entry.timer);
    this.#grace.clear();
    for (const sub of this.#subs) sub.unsubscribe();
    this.#subs.length = 0;
    this.bans.stop();
  }

  /** Whether the gateway is shutting down. */
  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  stats(): GatewayStats {
    let accepted = 0;
    let preAuthPruned = 0;
    let connections = 0;
    const rejected: Record<string, number> = {};
    for (const listener of this.#listeners) {
      const s = listener.stats();
      accepted += s.accepted;
      preAuthPruned += s.preAuthPruned;
      connections += listener.sessions.size;
      for (const [reason, n] of Object.entries(s.rejected)) rejected[reason] = (rejected[reason] ?? 0) + n;
    }
    const c = this.#counts;
    return Object.freeze({
      id: this.#options.id,
      connections,
      players: this.#live.size,
      graceSessions: this.#grace.size,
      accepted,
      // The guard is shared by the listeners: its counters are the totals (listener stats repeat them).
      rejected: this.#listeners.length > 0 ? (this.#listeners[0]?.stats().rejected ?? rejected) : rejected,
      preAuthPruned,
      loginsOk: c.loginsOk,
      loginsFailed: { ...c.loginsFailed },
      resumesOk: c.resumesOk,
      resumesFailed: { ...c.resumesFailed },
      logouts: c.logouts,
      kicks: { ...c.kicks },
      rateLimitCloses: c.rateLimitCloses,
      violations: { ...c.violations },
      violationCloses: c.violationCloses,
      graceExpired: c.graceExpired,
      banEntries: this.bans.size,
    });
  }

  // ---- ConnectionHost ----

  count(event: ConnectionEvent, code?: string): void {
    const c = this.#counts;
    switch (event) {
      case "login_ok":
        c.loginsOk++;
        return;
      case "login_failed":
        bump(c.loginsFailed, code ?? "unknown");
        return;
      case "resume_ok":
        c.resumesOk++;
        return;
      case "resume_failed":
        bump(c.resumesFailed, code ?? "unknown");
        return;
      case "logout":
        c.logouts++;
        return;
      case "rate_limited":
        c.rateLimitCloses++;
        return;
      case "violation":
        bump(c.violations, code ?? "unknown");
        return;
      case "violations_closed":
        c.violationCloses++;
        return;
    }
  }

  register(conn: PlayerConnection, identity: PlayerIdentity): void {
    const { accountId, sessionId } = identity;
    const same = this.#live.get(sessionId);
    if (same !== undefined && same !== conn) {
      // A resume of a session still connected here: the new connection takes over.
      this.#forget(same);
      this.#kick(same, CloseCode.ResumedElsewhere, "session resumed on another connection");
    }
    const grace = this.#grace.get(sessionId);
    if (grace !== undefined) {
      clearTimeout(grace.timer);
      this.#grace.delete(sessionId);
    }
    // Another session of the same account here (a fresh login): it ends, routing lets go of it.
    const other = this.#byAccount.get(accountId);
    if (other !== undefined && other !== conn && other.player?.sessionId !== sessionId) {
      const old = other.player;
      this.#forget(other);
      this.#kick(other, CloseCode.ResumedElsewhere, "logged in on another connection");
      if (old !== undefined) this.#router.detach(accountId, old.sessionId, DetachReason.Kicked);
    }
    for (const entry of [...this.#grace.values()]) {
      if (entry.accountId === accountId && entry.sessionId !== sessionId) {
        clearTimeout(entry.timer);
        this.#grace.delete(entry.sessionId);
        this.#router.detach(accountId, entry.sessionId, DetachReason.Kicked);
      }
    }
    this.#live.set(sessionId, conn);
    this.#byAccount.set(accountId, conn);
  }

  async place(conn: PlayerConnection, identity: PlayerIdentity): Promise<PlayerPlace | null> {
    let place: PlayerPlace | null = null;
    try {
      place = await this.#router.attach(identity, conn.sink);
    } catch (error) {
      // Branch on the code, not the class: routing raises its own error type with the same code.
      const code = error instanceof Error ? Reflect.get(error, "code") : undefined;
      if (code !== GatewayErrorCode.WorldUnavailable) this.log.error({ err: error }, "router attach failed");
      else this.log.warn({ accountId: identity.accountId }, "no world answered: logged in without a place");
    }
    if (this.#isCurrent(identity.sessionId, conn)) {
      await this.#writePresence(identity, place, Date.now());
    }
    return place;
  }

  moved(conn: PlayerConnection, place: PlayerPlace): void {
    const player = conn.player;
    if (player === undefined) return;
    const entry = this.#placed.get(player.accountId);
    if (entry === undefined || entry.sessionId !== player.sessionId) return;
    void this.#writePresence({ ...player, resumed: true }, place, entry.record.since);
  }

  input(conn: PlayerConnection, seq: number, data: unknown): boolean {
    const player = conn.player;
    return player !== undefined && this.#router.input(player.accountId, seq, data);
  }

  loggedOut(conn: PlayerConnection): void {
    const player = conn.player;
    if (player === undefined) return;
    this.#forget(conn);
    this.#endSession(player.accountId, player.sessionId, DetachReason.Logout);
  }

  ended(conn: PlayerConnection, _info: DisconnectInfo): void {
    const player = conn.player;
    if (player === undefined) return;
    if (this.#live.get(player.sessionId) !== conn) return; // superseded, logged out or kicked
    this.#forget(conn);
    if (conn.released || this.#stopping !== undefined) return;
    // The connection dropped: keep the session (and the player's entity) for the resume grace.
    this.#router.suspend(player.accountId);
    const timer = setTimeout(
      () => void this.#graceExpired(player.accountId, player.sessionId),
      this.#options.resumeGraceMs,
    );
    timer.unref();
    this.#grace.set(player.sessionId, { accountId: player.accountId, sessionId: player.sessionId, timer });
  }

  orphaned(sessionId: string): void {
    this.lobby.request("logout", { sessionId }).catch(() => undefined);
  }

  // ---- registry ----

  #isCurrent(sessionId: string, conn: PlayerConnection): boolean {
    return this.#live.get(sessionId) === conn || (this.#grace.has(sessionId) && !conn.released);
  }

  #forget(conn: PlayerConnection): void {
    const player = conn.player;
    if (player === undefined) return;
    if (this.#live.get(player.sessionId) === conn) this.#live.delete(player.sessionId);
    if (this.#byAccount.get(player.accountId) === conn) this.#byAccount.delete(player.accountId);
  }

  #kick(conn: PlayerConnection, code: number, reason: string, error?: unknown): void {
    bump(this.#counts.kicks, String(code));
    conn.close(code, reason, error, true);
  }

  /** The session ended here (logout, kick): tell routing, clear presence. */
  #endSession(accountId: string, sessionId: string, reason: DetachReason): void {
    this.#router.detach(accountId, sessionId, reason);
    const entry = this.#placed.get(accountId);
    if (entry !== undefined && entry.sessionId === sessionId) {
      this.#placed.delete(accountId);
      this.#presence
        .clear(accountId, this.#options.id, entry.record.since)
        .catch((error: unknown) => this.log.warn({ err: error, accountId }, "presence clear failed"));
    }
  }

  async #graceExpired(accountId: string, sessionId: string): Promise<void> {
    if (!this.#grace.has(sessionId)) return;
    this.#grace.delete(sessionId);
    this.#counts.graceExpired++;
    const entry = this.#placed.get(accountId);
    let resumedElsewhere = false;
    if (entry !== undefined && entry.sessionId === sessionId) {
      this.#placed.delete(accountId);
      try {
        // The guarded clear fails when another gateway rewrote the record: the player resumed there.
        resumedElsewhere = !(await this.#presence.clear(accountId, this.#options.id, entry.record.since));
      } catch (error) {
        this.log.warn({ err: error, accountId }, "presence clear failed");
      }
    }
    if (resumedElsewhere) {
      this.log.info({ accountId, sessionId }, "grace over: the session continues on another gateway");
      return;
    }
    this.log.info({ accountId, sessionId }, "grace over: session detached");
    this.#router.detach(accountId, sessionId, DetachReason.GraceExpired);
  }

  async #writePresence(identity: PlayerIdentity, place: PlayerPlace | null, since: number): Promise<void> {
    const record: PresenceRecord = {
      accountId: identity.accountId,
      username: identity.username,
      world: place?.world ?? this.#options.world,
      zone: place?.zone ?? null,
      server: place?.server ?? null,
      gateway: this.#options.id,
      since,
      updatedAt: Math.max(since, Date.now()),
    };
    this.#placed.set(identity.accountId, { sessionId: identity.sessionId, record });
    try {
      await this.#presence.write(record);
    } catch (error) {
      this.log.warn({ err: error, accountId: identity.accountId }, "presence write failed");
    }
  }

  async #refreshPresence(): Promise<void> {
    const entries = [...this.#placed.entries()];
    if (entries.length === 0) return;
    const now = Date.now();
    const records = entries.map(([, e]) => ({ ...e.record, updatedAt: Math.max(now, e.record.since) }));
    let results: (boolean | Error)[];
    try {
      results = await this.#presence.refresh(records);
    } catch (error) {
      this.log.warn({ err: error, players: records.length }, "presence refresh failed");
      return;
    }
    results.forEach((result, i) => {
      const [accountId, entry] = entries[i] as [string, PresenceEntry];
      if (result instanceof Error) return;
      if (result) {
        entry.record = records[i] as PresenceRecord;
        return;
      }
      // Another gateway owns the record now: the player went there.
      if (this.#placed.get(accountId) === entry) this.#placed.delete(accountId);
      const grace = this.#grace.get(entry.sessionId);
      if (grace !== undefined) {
        clearTimeout(grace.timer);
        this.#grace.delete(entry.sessionId);
        this.log.info({ accountId, sessionId: entry.sessionId }, "session continues on another gateway");
      } else {
        this.log.warn({ accountId }, "presence of a live player is held by another gateway");
      }
    });
  }

  // ---- kicks ----

  #onRevoked(data: Uint8Array): void {
    let notice: SessionRevokedNotice;
    try {
      notice = JSON.parse(new TextDecoder().decode(data)) as SessionRevokedNotice;
    } catch {
      this.log.warn("revocation notice is not JSON");
      return;
    }
    if (typeof notice !== "object" || notice === null || !Array.isArray(notice.chainIds)) return;
    const banned = notice.reason === RevocationReason.Ban;
    for (const sessionId of notice.chainIds) {
      if (typeof sessionId !== "string") continue;
      const conn = this.#live.get(sessionId);
      if (conn !== undefined) {
        // Our own logout's notice can overtake the lobby's reply: the logout finishes it.
        if (notice.reason === RevocationReason.Logout && conn.loggingOut) continue;
        const player = conn.player;
        this.#forget(conn);
        if (banned) this.#kick(conn, CloseCode.Banned, "account banned");
        else this.#kick(conn, CloseCode.SessionRevoked, `session revoked (${String(notice.reason)})`);
        if (player !== undefined) this.#endSession(player.accountId, sessionId, DetachReason.Kicked);
        this.log.info({ sessionId, reason: notice.reason }, "session kicked");
        continue;
      }
      const grace = this.#grace.get(sessionId);
      if (grace !== undefined) {
        clearTimeout(grace.timer);
        this.#grace.delete(sessionId);
        this.#endSession(grace.accountId, sessionId, DetachReason.Kicked);
      }
    }
  }

  /** An address entry became banned: close every connection it covers. */
  #kickAddress(entry: string): void {
    let list: AddressList;
    try {
      list = new AddressList([entry]);
    } catch {
      return;
    }
    for (const listener of this.#listeners) {
      for (const session of [...listener.sessions]) {
        const ip = tryParseIp(session.remoteAddress);
        const conn = session.data;
        if (ip === undefined || conn === undefined || !list.has(ip)) continue;
        const player = conn.player;
        this.#forget(conn);
        this.#kick(conn, CloseCode.Banned, "address banned");
        if (player !== undefined) this.#endSession(player.accountId, player.sessionId, DetachReason.Kicked);
        this.log.info({ conn: session.id, entry }, "connection from a banned address closed");
      }
    }
  }
}
