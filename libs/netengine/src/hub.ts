import { HandlerChain } from "./handler.js";
import type { ResolvedSessionOptions } from "./options.js";
import { type DisconnectInfo, DisconnectReason } from "./reasons.js";
import type { Session, SessionHost } from "./session/session.js";

/** Aggregate counters of a listener or connector. Plain numbers: cheap to read, cheap to sum. */
export interface EngineStats {
  /** Sessions open now. */
  activeSessions: number;
  /** Sessions ever opened (accepted or connected). */
  sessionsOpened: number;
  /** Disconnects by reason. */
  disconnects: Record<DisconnectReason, number>;
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Errors thrown by sinks, reported through `onError`. */
  handlerErrors: number;
}

export function emptyStats(): EngineStats {
  const disconnects = {} as Record<DisconnectReason, number>;
  for (const reason of Object.values(DisconnectReason)) disconnects[reason] = 0;
  return {
    activeSessions: 0,
    sessionsOpened: 0,
    disconnects,
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    handlerErrors: 0,
  };
}

/**
 * The owner of a set of sessions (one per listener, one per connector): dispatch chain, counters,
 * and the idle / heartbeat sweep. One timer for all sessions instead of one per session: reads do
 * not touch timers, they only stamp `lastReceiveAt`.
 */
export class SessionHub<U> implements SessionHost<U> {
  readonly chain: HandlerChain<U>;
  readonly highWaterMarkBytes: number;
  readonly lingerMs: number;
  readonly options: ResolvedSessionOptions<U>;
  readonly sessions = new Set<Session<U>>();
  readonly #stats = emptyStats();
  #sweepTimer: NodeJS.Timeout | undefined;
  readonly #onEstablished: ((session: Session<U>) => void) | undefined;

  constructor(
    options: ResolvedSessionOptions<U>,
    hooks: {
      established?: (session: Session<U>) => void;
    } = {},
  ) {
    this.options = options;
    this.chain = new HandlerChain(options.handler, options.sinks);
    this.highWaterMarkBytes = options.highWaterMarkBytes;
    this.lingerMs = options.lingerMs;
    this.#onEstablished = hooks.established;
  }

  /** Registers a new open session and dispatches onAccepted / onConnected. */
  open(session: Session<U>): void {
    this.sessions.add(session);
    this.#stats.sessionsOpened++;
    this.#ensureSweep();
    session.dispatchOpen();
  }

  released(session: Session<U>, info: DisconnectInfo): void {
    this.sessions.delete(session);
    this.#stats.disconnects[info.reason]++;
    this.#stats.bytesIn += session.stats.bytesIn;
    this.#stats.bytesOut += session.stats.bytesOut;
    this.#stats.framesIn += session.stats.framesIn;
    this.#stats.framesOut += session.stats.framesOut;
    if (this.sessions.size === 0) this.#stopSweep();
  }

  established(session: Session<U>): void {
    this.#onEstablished?.(session);
  }

  reportError(session: Session<U> | undefined, error: Error): void {
    this.#stats.handlerErrors++;
    try {
      this.options.onError?.(error, session);
    } catch {
      // An error reporter that throws must not take the engine down with it.
    }
  }

  /** A snapshot of the counters; byte and frame counts include the open sessions'. */
  stats(): EngineStats {
    const snapshot: EngineStats = {
      ...this.#stats,
      disconnects: { ...this.#stats.disconnects },
      activeSessions: this.sessions.size,
    };
    for (const session of this.sessions) {
      snapshot.bytesIn += session.stats.bytesIn;
      snapshot.bytesOut += session.stats.bytesOut;
      snapshot.framesIn += session.stats.framesIn;
      snapshot.framesOut += session.stats.framesOut;
    }
    return snapshot;
  }

  /** Stops the sweep; sessions are closed by their owner. */
  dispose(): void {
    this.#stopSweep();
  }

  #ensureSweep(): void {
    if (this.#sweepTimer !== undefined) return;
    const { idleTimeoutMs, heartbeatIntervalMs } = this.options;
    const periods = [idleTimeoutMs, heartbeatIntervalMs].filter((ms) => ms > 0);
    if (periods.length === 0) return;
    // A quarter of the shortest period bounds the lateness of a timeout to 25 %.
    const every = Math.max(50, Math.floor(Math.min(...periods) / 4));
    this.#sweepTimer = setInterval(this.#sweep, every);
    this.#sweepTimer.unref();
  }

  #stopSweep(): void {
    if (this.#sweepTimer === undefined) return;
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  #sweep = (): void => {
    const now = performance.now();
    const { idleTimeoutMs, heartbeatIntervalMs } = this.options;
    for (const session of [...this.sessions]) {
      if (idleTimeoutMs > 0 && now - session.lastReceiveAt > idleTimeoutMs) {
        session.close(DisconnectReason.IdleTimeout, `nothing received for ${idleTimeoutMs} ms`);
        continue;
      }
      if (heartbeatIntervalMs > 0 && now - session.lastHeartbeatAt >= heartbeatIntervalMs) {
        session.dispatchHeartbeat();
      }
    }
  };
}
