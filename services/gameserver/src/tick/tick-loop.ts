/**
 * A fixed-step loop: runs `step` every `periodMs` on a schedule anchored at the start (tick `n` is due
 * at `start + n × periodMs`), so timer lateness does not accumulate as drift. When the loop falls
 * more than {@link MAX_CATCH_UP} ticks behind (a long GC pause, an overloaded host), it drops the
 * missed ticks and re-anchors instead of running a burst of them back to back.
 */
import { performance } from "node:perf_hooks";
import { Histogram } from "../metrics/histogram.js";

/** Ticks the loop may run back to back to catch up before it skips the rest. */
export const MAX_CATCH_UP = 3;

export class TickLoop {
  readonly #periodMs: number;
  readonly #step: () => void;
  readonly #onError: (error: unknown) => void;
  /** Durations of `step` since the last {@link takeDurations}, ms. */
  #window = new Histogram();
  /** Durations of `step` since the start, ms. */
  readonly durations = new Histogram();
  #timer: NodeJS.Timeout | undefined;
  #anchor = 0;
  #n = 0;
  #running = false;
  /** Ticks dropped to re-anchor. */
  skipped = 0;
  /** Called with each step's duration, ms (telemetry's tick histogram). Default none. */
  onDuration: ((ms: number) => void) | undefined = undefined;

  constructor(periodMs: number, step: () => void, onError: (error: unknown) => void) {
    this.#periodMs = periodMs;
    this.#step = step;
    this.#onError = onError;
  }

  get running(): boolean {
    return this.#running;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#anchor = performance.now();
    this.#n = 0;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The p99 of the tick durations since the previous call, and resets that window. */
  takeP99(): number {
    const p99 = this.#window.quantile(0.99);
    this.#window = new Histogram();
    return p99;
  }

  #schedule(): void {
    if (!this.#running) return;
    const due = this.#anchor + (this.#n + 1) * this.#periodMs;
    this.#timer = setTimeout(() => this.#run(), Math.max(0, due - performance.now()));
  }

  #run(): void {
    if (!this.#running) return;
    let ran = 0;
    // Run every tick that is due (at most MAX_CATCH_UP in a row), then wait for the next one.
    while (this.#running && performance.now() >= this.#anchor + (this.#n + 1) * this.#periodMs) {
      if (ran === MAX_CATCH_UP) {
        const behind = Math.floor((performance.now() - this.#anchor) / this.#periodMs) - this.#n;
        this.skipped += behind;
        this.#n += behind;
        break;
      }
      this.#n++;
      ran++;
      const started = performance.now();
      try {
        this.#step();
      } catch (error) {
        this.#onError(error);
      }
      const took = performance.now() - started;
      this.durations.record(took);
      this.#window.record(took);
      this.onDuration?.(took);
    }
    this.#schedule();
  }
}
