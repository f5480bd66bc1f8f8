import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { NetEngineError, NetEngineErrorCode, toError } from "./errors.js";
import { AcceptGuard } from "./guard/accept-guard.js";
import type { ParsedIp } from "./guard/ip-address.js";
import { type EngineStats, SessionHub } from "./hub.js";
import {
  type ListenOptions,
  nonNegativeInt,
  type ResolvedSessionOptions,
  resolveSessionOptions,
} from "./options.js";
import { DisconnectReason } from "./reasons.js";
import type { Session, TransportKind } from "./session/session.js";

/** Without an accept guard, how long a connection may take to become a session (WebSocket upgrade). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Counters of a listener: the sessions' counters plus the accept path's. */
export interface ListenerStats extends EngineStats {
  /** Connections that passed the accept guard. */
  accepted: number;
  /** Connections refused by the accept guard, by reason (before any byte was read). */
  rejected: Record<string, number>;
  /** Connections closed for missing the pre-auth deadline (including ones that never upgraded). */
  preAuthPruned: number;
}

/** A bound listener. Close it with `close()`; it never closes a shared guard's lists. */
export interface Listener<U = unknown> {
  readonly transport: TransportKind;
  /** The bound port (useful after listening on port 0). */
  readonly port: number;
  /** The bound address. */
  readonly host: string;
  /** Open sessions. */
  readonly sessions: ReadonlySet<Session<U>>;
  /** The accept guard, when there is one. */
  readonly guard: AcceptGuard | undefined;
  stats(): ListenerStats;
  /**
   * Stops accepting, then ends every session: with a graceful goodbye when `goodbye` is true (the
   * default), else at once with reason `shutdown`. Resolves when all sessions are released, or after
   * `timeoutMs` (default 5000) with the stragglers destroyed.
   */
  close(options?: { goodbye?: boolean; timeoutMs?: number }): Promise<void>;
}

/** Per-connection accept state, from accept until the socket closes. */
export interface Admission {
  /** The raw accepted socket. */
  readonly socket: Socket;
  readonly ip: ParsedIp | undefined;
  readonly acceptedAt: number;
  readonly deadlineMs: number;
  session: Session<unknown> | undefined;
  /** Pre-upgrade deadline timer (WebSocket only). */
  timer: NodeJS.Timeout | undefined;
}

/**
 * The accept path shared by every transport: accept with reads paused, run the guard on the
 * remote address before any byte is read, track per-IP counts until the socket closes, and start
 * the pre-auth deadline. Subclasses turn an admitted socket into a session.
 */
export abstract class BaseListener<U> implements Listener<U> {
  abstract readonly transport: TransportKind;
  readonly guard: AcceptGuard | undefined;
  protected readonly hub: SessionHub<U>;
  protected readonly options: ResolvedSessionOptions<U>;
  protected readonly server: Server;
  readonly #pending = new Set<Socket>();
  #accepted = 0;
  #preAuthPruned = 0;
  #closing: Promise<void> | undefined;

  protected constructor(options: ListenOptions<U>) {
    this.options = resolveSessionOptions(options);
    const guardOption = options.guard ?? {};
    this.guard =
      guardOption === false
        ? undefined
        : guardOption instanceof AcceptGuard
          ? guardOption
          : new AcceptGuard(guardOption);
    this.hub = new SessionHub(this.options, {
      established: () => this.guard?.recordPreAuth("established"),
    });
    // Reads stay paused until the guard has judged the remote address: a refused peer's bytes are
    // never read.
    this.server = createServer({ pauseOnConnect: true, noDelay: this.options.noDelay }, this.#onConnection);
  }

  get sessions(): ReadonlySet<Session<U>> {
    return this.hub.sessions;
  }

  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? 0;
  }

  get host(): string {
    return (this.server.address() as AddressInfo | null)?.address ?? "";
  }

  /** Binds. Internal: `listen()` calls it. */
  async bind(options: ListenOptions<U>): Promise<this> {
    const port = nonNegativeInt("port", options.port ?? 0);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        reject(
          new NetEngineError(
            NetEngineErrorCode.ListenFailed,
            `cannot listen on ${options.host ?? "*"}:${port}`,
            {
              cause: error,
              context: { host: options.host, port },
            },
          ),
        );
      };
      this.server.once("error", onError);
      this.server.listen(
        {
          port,
          ...(options.host === undefined ? {} : { host: options.host }),
          ...(options.backlog === undefined ? {} : { backlog: options.backlog }),
        },
        () => {
          this.server.off("error", onError);
          // From now on errors (e.g. EMFILE on accept) reach onError; a bind failure rejects instead.
          this.server.on("error", (error) => this.hub.reportError(undefined, toError(error)));
          resolve();
        },
      );
    });
    return this;
  }

  stats(): ListenerStats {
    const counters = this.guard?.counters();
    const rejected: Record<string, number> = {};
    if (counters !== undefined) {
      for (const [reason, count] of Object.entries(counters)) {
        if (reason !== "accepted" && !reason.startsWith("preauth_")) rejected[reason] = count;
      }
    }
    return { ...this.hub.stats(), accepted: this.#accepted, rejected, preAuthPruned: this.#preAuthPruned };
  }

  close(options: { goodbye?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#close(options.goodbye ?? true, options.timeoutMs ?? 5000);
    return this.#closing;
  }

  async #close(goodbye: boolean, timeoutMs: number): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.#pending) socket.destroy();
    const sessions = [...this.hub.sessions];
    const all = Promise.all(
      sessions.map((session) => {
        if (goodbye) return session.goodbye({ lingerMs: timeoutMs });
        session.close(DisconnectReason.Shutdown);
        return session.closed;
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs + 100)))]);
    clearTimeout(timer);
    for (const session of this.hub.sessions) session.close(DisconnectReason.Shutdown);
    this.hub.dispose();
    await serverClosed;
    await this.onClosed();
  }

  /** Subclass hook: release transport resources after the net server closed. */
  protected async onClosed(): Promise<void> {}

  /** Subclass: turn an admitted raw socket into a session (now or after an upgrade). */
  protected abstract adopt(socket: Socket, admission: Admission): void;

  /** Registers a session created for an admission, with the rest of its pre-auth deadline. */
  protected openSession(session: Session<U>, admission: Admission): void {
    admission.session = session as Session<unknown>;
    this.#pending.delete(admission.socket);
    if (admission.timer !== undefined) {
      clearTimeout(admission.timer);
      admission.timer = undefined;
    }
    if (this.guard !== undefined) {
      const remaining = Math.max(1, admission.deadlineMs - (performance.now() - admission.acceptedAt));
      session.startPreAuthDeadline(Math.round(remaining), () => this.#pruned());
    }
    this.hub.open(session);
  }

  /**
   * Starts a deadline for a connection that has no session yet (before a WebSocket upgrade, or a
   * wss TLS handshake): the pre-auth deadline, or without a guard {@link HANDSHAKE_TIMEOUT_MS}, so
   * a peer that never upgrades is never kept forever.
   */
  protected startRawDeadline(socket: Socket, admission: Admission): void {
    const guarded = this.guard !== undefined;
    admission.timer = setTimeout(
      () => {
        admission.timer = undefined;
        if (admission.session !== undefined) return;
        if (guarded) this.#pruned();
        socket.destroy();
      },
      guarded ? admission.deadlineMs : HANDSHAKE_TIMEOUT_MS,
    );
  }

  #pruned(): void {
    this.#preAuthPruned++;
    this.guard?.recordPreAuth("pruned");
  }

  #onConnection = (socket: Socket): void => {
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    const guard = this.guard;
    let ip: ParsedIp | undefined;
    if (guard !== undefined) {
      const verdict = guard.admit(socket.remoteAddress);
      if (!verdict.ok) {
        socket.destroy();
        return;
      }
      ip = verdict.ip;
    }
    this.#accepted++;
    const admission: Admission = {
      socket,
      ip,
      acceptedAt: performance.now(),
      deadlineMs: guard?.preAuthDeadlineMs() ?? 0,
      session: undefined,
      timer: undefined,
    };
    this.#pending.add(socket);
    socket.once("close", () => {
      this.#pending.delete(socket);
      if (admission.timer !== undefined) clearTimeout(admission.timer);
      if (ip !== undefined) guard?.release(ip);
    });
    // Errors before a session exists (resets during a handshake) only close the socket.
    socket.on("error", () => {});
    try {
      this.adopt(socket, admission);
    } catch (error) {
      this.hub.reportError(undefined, toError(error));
      socket.destroy();
    }
  };
}
