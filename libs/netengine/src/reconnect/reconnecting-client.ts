import { NetEngineError, NetEngineErrorCode, OptionsError, toError } from "../errors.js";
import type { DisconnectInfo } from "../reasons.js";
import type { Session } from "../session/session.js";

/** Default first retry delay. */
export const DEFAULT_RECONNECT_INITIAL_DELAY_MS = 100;
/** Default cap of the retry delay. */
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 10_000;
/** Default growth factor of the retry delay. */
export const DEFAULT_RECONNECT_FACTOR = 2;
/** Default number of consecutive failed attempts before giving up. */
export const DEFAULT_RECONNECT_MAX_ATTEMPTS = 10;

/** Options of {@link ReconnectingClient}. */
export interface ReconnectingClientOptions<U = unknown> {
  /** Makes one connection attempt, e.g. `() => connector.connect()`. Required. */
  connect: () => Promise<Session<U>>;
  /** First retry delay. Default 100 ms. */
  initialDelayMs?: number;
  /** Largest retry delay. Default 10 s. */
  maxDelayMs?: number;
  /** Delay growth per failed attempt. Default 2. */
  factor?: number;
  /**
   * Consecutive failed attempts (connect failures, or a resume hook that threw) before giving up;
   * `Infinity` never gives up. Default 10. The count restarts after each successful connect.
   */
  maxAttempts?: number;
  /**
   * Runs after every successful connect, before the session counts as up: log in, or resume the
   * previous session (`reconnected` is true after the first connect). If it throws, the session is
   * closed and the attempt counts as failed.
   */
  onConnected?: (
    session: Session<U>,
    info: { attempt: number; reconnected: boolean },
  ) => void | Promise<void>;
  /** A session that was up ended; a reconnect follows unless the client was stopped. */
  onDisconnected?: (info: DisconnectInfo) => void;
  /** A retry is scheduled after `delayMs`. */
  onReconnecting?: (info: { attempt: number; delayMs: number; error: Error | undefined }) => void;
  /** The client gave up; `error` has code `NE_RECONNECT_GAVE_UP` and the last failure as cause. */
  onGiveUp?: (error: NetEngineError) => void;
  /** Random source in [0, 1) for the jitter. Default Math.random. */
  random?: () => number;
}

/**
 * A client that stays connected: after a disconnect it reconnects with exponential backoff and
 * full jitter (a delay drawn uniformly from [0, min(max, initial × factor^n)], so a crowd of clients
 * dropped by one server restart does not come back in lock-step), runs a resume hook after each
 * connect, and gives up clearly after `maxAttempts` consecutive failures.
 */
export class ReconnectingClient<U = unknown> {
  readonly #o: Required<
    Pick<ReconnectingClientOptions<U>, "initialDelayMs" | "maxDelayMs" | "factor" | "maxAttempts" | "random">
  > &
    ReconnectingClientOptions<U>;
  #session: Session<U> | undefined;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #connects = 0;
  #wake: (() => void) | undefined;

  constructor(options: ReconnectingClientOptions<U>) {
    if (typeof options.connect !== "function") throw new OptionsError("options.connect must be a function");
    const o = {
      ...options,
      initialDelayMs: options.initialDelayMs ?? DEFAULT_RECONNECT_INITIAL_DELAY_MS,
      maxDelayMs: options.maxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS,
      factor: options.factor ?? DEFAULT_RECONNECT_FACTOR,
      maxAttempts: options.maxAttempts ?? DEFAULT_RECONNECT_MAX_ATTEMPTS,
      random: options.random ?? Math.random,
    };
    if (!(o.initialDelayMs >= 0) || !(o.maxDelayMs >= o.initialDelayMs)) {
      throw new OptionsError("need 0 <= initialDelayMs <= maxDelayMs", { ...o });
    }
    if (!(o.factor >= 1)) throw new OptionsError("factor must be >= 1", { factor: o.factor });
    if (!(o.maxAttempts >= 1))
      throw new OptionsError("maxAttempts must be >= 1", { maxAttempts: o.maxAttempts });
    this.#o = Object.freeze(o);
  }

  /** The current session, when connected. */
  get session(): Session<U> | undefined {
    return this.#session;
  }

  /** Successful connects so far (1 after the first, 2 after the first reconnect…). */
  get connects(): number {
    return this.#connects;
  }

  /**
   * Connects (retrying as configured) and keeps reconnecting until `stop()`. Resolves with the
   * first session; rejects with `NE_RECONNECT_GAVE_UP` if the first connect never succeeds.
   */
  async start(): Promise<Session<U>> {
    return this.#connectWithRetry();
  }

  /** Stops reconnecting and says goodbye to the current session. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#wake?.();
    const session = this.#session;
    this.#session = undefined;
    if (session !== undefined) await session.goodbye();
  }

  /** The backoff delay before retry number `attempt` (1-based), jitter included. */
  delayFor(attempt: number): number {
    const { initialDelayMs, maxDelayMs, factor, random } = this.#o;
    const ceiling = Math.min(maxDelayMs, initialDelayMs * factor ** Math.max(0, attempt - 1));
    return Math.floor(random() * ceiling);
  }

  async #connectWithRetry(): Promise<Session<U>> {
    let lastError: Error | undefined;
    for (let attempt = 1; ; attempt++) {
      if (this.#stopped) throw this.#gaveUp(attempt - 1, lastError, "stopped");
      try {
        const session = await this.#o.connect();
        try {
          await this.#o.onConnected?.(session, { attempt, reconnected: this.#connects > 0 });
        } catch (error) {
          session.close();
          throw error;
        }
        if (this.#stopped) {
          await session.goodbye();
          throw this.#gaveUp(attempt, undefined, "stopped");
        }
        this.#connects++;
        this.#session = session;
        void session.closed.then((info) => this.#onClosed(session, info));
        return session;
      } catch (error) {
        if (error instanceof NetEngineError && error.code === NetEngineErrorCode.ReconnectGaveUp) throw error;
        lastError = toError(error);
      }
      if (attempt >= this.#o.maxAttempts) {
        const gaveUp = this.#gaveUp(attempt, lastError, "max attempts");
        this.#o.onGiveUp?.(gaveUp);
        throw gaveUp;
      }
      const delayMs = this.delayFor(attempt);
      this.#o.onReconnecting?.({ attempt: attempt + 1, delayMs, error: lastError });
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, delayMs);
      });
      this.#wake = undefined;
    }
  }

  #onClosed(session: Session<U>, info: DisconnectInfo): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    this.#o.onDisconnected?.(info);
    if (this.#stopped) return;
    this.#connectWithRetry().catch(() => {
      // Reported through onGiveUp; nobody awaits a background reconnect.
    });
  }

  #gaveUp(attempts: number, cause: Error | undefined, why: string): NetEngineError {
    return new NetEngineError(
      NetEngineErrorCode.ReconnectGaveUp,
      `gave up reconnecting (${why}) after ${attempts} attempts`,
      {
        cause,
        context: { attempts },
      },
    );
  }
}
