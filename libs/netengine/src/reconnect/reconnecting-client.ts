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

/** Default time a session must stay up before the failure count starts over. */
export const DEFAULT_RECONNECT_STABLE_AFTER_MS = 2000;

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
   * Consecutive failures before giving up; `Infinity` never gives up. Default 10. A failure is a
   * connect that failed, a resume hook that threw, or a session that ended within `stableAfterMs`
   * (a server that accepts and drops at once must not make the client spin).
   */
  maxAttempts?: number;
  /** A session that stays up this long resets the failure count. Default 2000 ms. */
  stableAfterMs?: number;
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
  /** Told of errors thrown by the callbacks above (other than `onConnected`). Default: ignored. */
  onError?: (error: Error) => void;
  /** Random source in [0, 1) for the jitter. Default Math.random. */
  random?: () => number;
}

type Resolved<U> = Required<
  Pick<
    ReconnectingClientOptions<U>,
    "initialDelayMs" | "maxDelayMs" | "factor" | "maxAttempts" | "stableAfterMs" | "random"
  >
> &
  ReconnectingClientOptions<U>;

/**
 * A client that stays connected: after a disconnect it reconnects with exponential backoff and
 * full jitter (every retry, the first one included, waits a delay drawn uniformly from
 * [0, min(max, initial × factor^(n-1))), so a crowd of clients dropped by one server restart does
 * not come back in lock-step), runs a resume hook after each connect, and gives up clearly after
 * `maxAttempts` consecutive failures.
 */
export class ReconnectingClient<U = unknown> {
  readonly #o: Resolved<U>;
  #session: Session<U> | undefined;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #connects = 0;
  /** Consecutive failures; reset by a session that stayed up `stableAfterMs`. */
  #failures = 0;

  constructor(options: ReconnectingClientOptions<U>) {
    if (typeof options.connect !== "function") throw new OptionsError("options.connect must be a function");
    const o: Resolved<U> = {
      ...options,
      initialDelayMs: options.initialDelayMs ?? DEFAULT_RECONNECT_INITIAL_DELAY_MS,
      maxDelayMs: options.maxDelayMs ?? DEFAULT_RECONNECT_MAX_DELAY_MS,
      factor: options.factor ?? DEFAULT_RECONNECT_FACTOR,
      maxAttempts: options.maxAttempts ?? DEFAULT_RECONNECT_MAX_ATTEMPTS,
      stableAfterMs: options.stableAfterMs ?? DEFAULT_RECONNECT_STABLE_AFTER_MS,
      random: options.random ?? Math.random,
    };
    if (!(o.initialDelayMs >= 0) || !(o.maxDelayMs >= o.initialDelayMs) || o.maxDelayMs > 0x7fff_ffff) {
      throw new OptionsError("need 0 <= initialDelayMs <= maxDelayMs <= 2^31-1", { ...o });
    }
    if (!(o.factor >= 1)) throw new OptionsError("factor must be >= 1", { factor: o.factor });
    if (!(o.maxAttempts >= 1))
      throw new OptionsError("maxAttempts must be >= 1", { maxAttempts: o.maxAttempts });
    if (!(o.stableAfterMs >= 0))
      throw new OptionsError("stableAfterMs must be >= 0", { stableAfterMs: o.stableAfterMs });
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
  start(): Promise<Session<U>> {
    return this.#connectLoop(false);
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

  /** The backoff delay before retry number `retry` (1-based), jitter included. */
  delayFor(retry: number): number {
    const { initialDelayMs, maxDelayMs, factor, random } = this.#o;
    const ceiling = Math.min(maxDelayMs, initialDelayMs * factor ** Math.max(0, retry - 1));
    return Math.floor(random() * ceiling);
  }

  async #connectLoop(waitFirst: boolean): Promise<Session<U>> {
    let lastError: Error | undefined;
    for (let wait = waitFirst; ; wait = true) {
      if (wait) {
        const delayMs = this.delayFor(Math.max(1, this.#failures));
        this.#call(() =>
          this.#o.onReconnecting?.({ attempt: this.#failures + 1, delayMs, error: lastError }),
        );
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#timer = setTimeout(resolve, delayMs);
        });
        this.#wake = undefined;
      }
      if (this.#stopped) throw this.#gaveUp("stopped", lastError);
      try {
        const session = await this.#o.connect();
        try {
          await this.#o.onConnected?.(session, {
            attempt: this.#failures + 1,
            reconnected: this.#connects > 0,
          });
        } catch (error) {
          session.close();
          throw error;
        }
        if (this.#stopped) {
          await session.goodbye();
          throw this.#gaveUp("stopped", undefined);
        }
        this.#connects++;
        this.#session = session;
        const openedAt = performance.now();
        void session.closed.then((info) => this.#onClosed(session, info, openedAt));
        return session;
      } catch (error) {
        if (error instanceof NetEngineError && error.code === NetEngineErrorCode.ReconnectGaveUp) throw error;
        lastError = toError(error);
      }
      this.#failures++;
      if (this.#failures >= this.#o.maxAttempts) throw this.#giveUp(lastError);
    }
  }

  #onClosed(session: Session<U>, info: DisconnectInfo, openedAt: number): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    this.#call(() => this.#o.onDisconnected?.(info));
    if (this.#stopped) return;
    // A session that dropped right away is a failure too: otherwise a server that accepts and
    // drops (a guard refusing after accept) would make the client reconnect at round-trip speed.
    if (performance.now() - openedAt < this.#o.stableAfterMs) this.#failures++;
    else this.#failures = 0;
    if (this.#failures >= this.#o.maxAttempts) {
      this.#giveUp(new Error(`session ended (${info.reason}) within ${this.#o.stableAfterMs} ms`));
      return;
    }
    this.#connectLoop(true).catch(() => {
      // Reported through onGiveUp; nobody awaits a background reconnect.
    });
  }

  #giveUp(cause: Error | undefined): NetEngineError {
    const error = this.#gaveUp("max attempts", cause);
    this.#call(() => this.#o.onGiveUp?.(error));
    return error;
  }

  #gaveUp(why: string, cause: Error | undefined): NetEngineError {
    return new NetEngineError(
      NetEngineErrorCode.ReconnectGaveUp,
      `gave up reconnecting (${why}) after ${this.#failures} failed attempts`,
      { cause, context: { failures: this.#failures, connects: this.#connects } },
    );
  }

  /** Runs a user callback; its error goes to onError and never stops the client. */
  #call(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      try {
        this.#o.onError?.(toError(error));
      } catch {
        // An error reporter that throws has nowhere left to report to.
      }
    }
  }
}
