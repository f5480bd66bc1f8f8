/**
 * A small fixed-bucket histogram of durations (ms): cheap to record from the tick loop, enough for
 * percentiles in benchmarks and the heartbeat's `tickP99Ms`.
 */

/** Upper bounds of the default buckets, ms (the last bucket is unbounded). */
export const DEFAULT_BUCKETS_MS: readonly number[] = Object.freeze([
  0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 250, 500, 1_000, 2_500, 5_000,
]);

/** A snapshot of a histogram. */
export interface HistogramSnapshot {
  readonly count: number;
  readonly sum: number;
  readonly max: number;
  /** `[upper bound, count]` per bucket; the last bound is `Infinity`. */
  readonly buckets: readonly (readonly [number, number])[];
}

export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #count = 0;
  #sum = 0;
  #max = 0;

  constructor(bounds: readonly number[] = DEFAULT_BUCKETS_MS) {
    this.#bounds = [...bounds, Number.POSITIVE_INFINITY];
    this.#counts = this.#bounds.map(() => 0);
  }

  record(value: number): void {
    let i = 0;
    while (value > (this.#bounds[i] as number)) i++;
    this.#counts[i] = (this.#counts[i] as number) + 1;
    this.#count++;
    this.#sum += value;
    if (value > this.#max) this.#max = value;
  }

  get count(): number {
    return this.#count;
  }

  /**
   * The `q` quantile (0–1), as the upper bound of its bucket (the maximum seen for the last one);
   * 0 when empty.
   */
  quantile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.ceil(q * this.#count);
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i] as number;
      if (seen >= rank) return Math.min(this.#bounds[i] as number, this.#max);
    }
    return this.#max;
  }

  snapshot(): HistogramSnapshot {
    return {
      count: this.#count,
      sum: this.#sum,
      max: this.#max,
      buckets: this.#bounds.map((bound, i) => [bound, this.#counts[i] as number] as const),
    };
  }

  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#sum = 0;
    this.#max = 0;
  }
}
