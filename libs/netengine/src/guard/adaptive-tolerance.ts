/**
 * The seed's "tolerance to pain": how patient the accept path is with connections that have not
 * proved themselves yet, tightened under a flood of silent connections and relaxed when it ends.
 *
 * @module
 */
import { OptionsError } from "../errors.js";

/** Default {@link AdaptiveToleranceOptions.windowMs}. */
export const DEFAULT_TOLERANCE_WINDOW_MS = 10_000;
/** Default {@link AdaptiveToleranceOptions.bucketMs}. */
export const DEFAULT_TOLERANCE_BUCKET_MS = 1000;
/** Default {@link AdaptiveToleranceOptions.tightenAbove}. */
export const DEFAULT_TIGHTEN_ABOVE = 0.5;
/** Default {@link AdaptiveToleranceOptions.relaxBelow}. */
export const DEFAULT_RELAX_BELOW = 0.2;
/** Default {@link AdaptiveToleranceOptions.minSamples}. */
export const DEFAULT_TOLERANCE_MIN_SAMPLES = 20;
/** Default {@link AdaptiveToleranceOptions.factor}. */
export const DEFAULT_TOLERANCE_FACTOR = 0.5;
/** Default {@link AdaptiveToleranceOptions.minDeadlineMs}. */
export const DEFAULT_MIN_DEADLINE_MS = 1000;
/** Default {@link AdaptiveToleranceOptions.maxLevel}. */
export const DEFAULT_TOLERANCE_MAX_LEVEL = 3;
/** Default {@link AdaptiveToleranceOptions.stepIntervalMs}. */
export const DEFAULT_TOLERANCE_STEP_INTERVAL_MS = 5000;

/** Options of {@link AdaptiveTolerance}. */
export interface AdaptiveToleranceOptions {
  /** Span of the sliding window of pre-auth outcomes, in ms. @default 10000 */
  windowMs?: number;
  /**
   * Granularity of the window, in ms: outcomes are counted per bucket, and the oldest bucket leaves
   * the window whole. @default 1000
   */
  bucketMs?: number;
  /**
   * Tighten one level when the pruned share of outcomes in the window is above this (0–1), with at
   * least `minSamples` outcomes. @default 0.5
   */
  tightenAbove?: number;
  /**
   * Relax one level when the pruned share is below this (0 to `tightenAbove`), or the window holds
   * fewer than `minSamples` outcomes. @default 0.2
   */
  relaxBelow?: number;
  /** Fewest outcomes in the window for its share to count as evidence of an attack. @default 20 */
  minSamples?: number;
  /** Each level multiplies the pre-auth deadline and the per-IP limits by this (0–1, exclusive). @default 0.5 */
  factor?: number;
  /** The deadline never tightens below this, in ms (a base deadline already below it is kept). @default 1000 */
  minDeadlineMs?: number;
  /** The most levels the tolerance tightens (0 disables adaptation). @default 3 */
  maxLevel?: number;
  /** At most one level change per this many ms, in either direction. @default 5000 */
  stepIntervalMs?: number;
  /**
   * Called after each level change with the new level and the pruned share that caused it. Called
   * synchronously from the method that noticed the change; it must not throw (an exception
   * propagates to that method's caller, after the change has taken effect).
   */
  onChange?: (level: number, share: number) => void;
  /** Monotonic clock in milliseconds. @default performance.now */
  now?: () => number;
}

/** A snapshot of an {@link AdaptiveTolerance}. */
export interface ToleranceState {
  /** Current level: 0 is the configured tolerance, each level multiplies it by `factor`. */
  readonly level: number;
  /** The highest level. */
  readonly maxLevel: number;
  /** Pruned share of the outcomes in the window (0 when empty). */
  readonly share: number;
  /** Outcomes in the window. */
  readonly samples: number;
}

/**
 * Tracks pre-auth outcomes and derives a tightening level from them.
 *
 * An outcome is either *pruned* (the connection was closed for not sending a valid frame before the
 * pre-auth deadline) or *established* (it sent one). When most recent connections are pruned the
 * server is being flooded with zombies: the level rises one step, which shortens the pre-auth
 * deadline ({@link AdaptiveTolerance.deadlineMs}) and lowers per-IP limits
 * ({@link AdaptiveTolerance.limit}), so zombies hold slots for less time. When the share falls, or
 * outcomes become too few to judge, the level steps back down. Steps are at least `stepIntervalMs`
 * apart, so the level does not flap.
 *
 * No timers: the window is rolled and the level re-evaluated on every record and every query, which
 * the accept path makes on every accept.
 */
export class AdaptiveTolerance {
  readonly #now: () => number;
  readonly #bucketMs: number;
  readonly #pruned: Float64Array;
  readonly #established: Float64Array;
  readonly #tightenAbove: number;
  readonly #relaxBelow: number;
  readonly #minSamples: number;
  readonly #minDeadlineMs: number;
  readonly #maxLevel: number;
  readonly #stepIntervalMs: number;
  readonly #scale: readonly number[];
  readonly #onChange: ((level: number, share: number) => void) | undefined;
  #head: number;
  #prunedTotal = 0;
  #establishedTotal = 0;
  #level = 0;
  #lastStepAt = Number.NEGATIVE_INFINITY;

  /** @throws OptionsError `NE_INVALID_OPTIONS` for an out-of-range option. */
  constructor(options: AdaptiveToleranceOptions = {}) {
    const windowMs = positive("windowMs", options.windowMs ?? DEFAULT_TOLERANCE_WINDOW_MS);
    const bucketMs = positive("bucketMs", options.bucketMs ?? DEFAULT_TOLERANCE_BUCKET_MS);
    if (bucketMs > windowMs)
      throw new OptionsError("bucketMs must not exceed windowMs", { bucketMs, windowMs });
    const tightenAbove = options.tightenAbove ?? DEFAULT_TIGHTEN_ABOVE;
    if (!(tightenAbove >= 0 && tightenAbove < 1)) {
      throw new OptionsError("tightenAbove must be at least 0 and below 1", { tightenAbove });
    }
    const relaxBelow = options.relaxBelow ?? DEFAULT_RELAX_BELOW;
    if (!(relaxBelow >= 0 && relaxBelow <= tightenAbove)) {
      throw new OptionsError("relaxBelow must be from 0 to tightenAbove", { relaxBelow, tightenAbove });
    }
    const minSamples = options.minSamples ?? DEFAULT_TOLERANCE_MIN_SAMPLES;
    if (!Number.isInteger(minSamples) || minSamples < 1) {
      throw new OptionsError("minSamples must be a positive integer", { minSamples });
    }
    const factor = options.factor ?? DEFAULT_TOLERANCE_FACTOR;
    if (!(factor > 0 && factor < 1)) throw new OptionsError("factor must be above 0 and below 1", { factor });
    const maxLevel = options.maxLevel ?? DEFAULT_TOLERANCE_MAX_LEVEL;
    if (!Number.isInteger(maxLevel) || maxLevel < 0 || maxLevel > 32) {
      throw new OptionsError("maxLevel must be an integer from 0 to 32", { maxLevel });
    }
    if (options.onChange !== undefined && typeof options.onChange !== "function") {
      throw new OptionsError("onChange must be a function");
    }
    if (options.now !== undefined && typeof options.now !== "function") {
      throw new OptionsError("now must be a function returning milliseconds");
    }
    this.#minDeadlineMs = positive("minDeadlineMs", options.minDeadlineMs ?? DEFAULT_MIN_DEADLINE_MS);
    this.#stepIntervalMs = nonNegative(
      "stepIntervalMs",
      options.stepIntervalMs ?? DEFAULT_TOLERANCE_STEP_INTERVAL_MS,
    );
    this.#bucketMs = bucketMs;
    const buckets = Math.ceil(windowMs / bucketMs);
    this.#pruned = new Float64Array(buckets);
    this.#established = new Float64Array(buckets);
    this.#tightenAbove = tightenAbove;
    this.#relaxBelow = relaxBelow;
    this.#minSamples = minSamples;
    this.#maxLevel = maxLevel;
    this.#scale = Array.from({ length: maxLevel + 1 }, (_, level) => factor ** level);
    this.#onChange = options.onChange;
    this.#now = options.now ?? (() => performance.now());
    this.#head = Math.floor(this.#now() / bucketMs);
  }

  /** The current level, 0 to `maxLevel` (re-evaluated on read). */
  get level(): number {
    this.#evaluate();
    return this.#level;
  }

  /** The highest level. */
  get maxLevel(): number {
    return this.#maxLevel;
  }

  /** A snapshot of the level and the window (re-evaluated on read). */
  state(): ToleranceState {
    this.#evaluate();
    const samples = this.#prunedTotal + this.#establishedTotal;
    return {
      level: this.#level,
      maxLevel: this.#maxLevel,
      share: samples === 0 ? 0 : this.#prunedTotal / samples,
      samples,
    };
  }

  /** Records a connection closed for missing the pre-auth deadline. */
  recordPruned(): void {
    this.#roll(this.#now());
    const slot = this.#head % this.#pruned.length;
    this.#pruned[slot] = (this.#pruned[slot] ?? 0) + 1;
    this.#prunedTotal++;
    this.#evaluate();
  }

  /** Records a connection that sent its first valid frame in time. */
  recordEstablished(): void {
    this.#roll(this.#now());
    const slot = this.#head % this.#established.length;
    this.#established[slot] = (this.#established[slot] ?? 0) + 1;
    this.#establishedTotal++;
    this.#evaluate();
  }

  /**
   * The pre-auth deadline at the current level: `base × factor^level`, but not below
   * `minDeadlineMs` (nor above `base`).
   */
  deadlineMs(base: number): number {
    this.#evaluate();
    return this.deadlineAt(this.#level, base);
  }

  /**
   * A per-IP limit at the current level: `floor(base × factor^level)`, at least 1 (`base` ≥ 1;
   * `Infinity` stays unlimited).
   */
  limit(base: number): number {
    this.#evaluate();
    return this.limitAt(this.#level, base);
  }

  /** {@link AdaptiveTolerance.deadlineMs} at a given level, without re-evaluating. */
  deadlineAt(level: number, base: number): number {
    if (base <= this.#minDeadlineMs) return base;
    return Math.max(this.#minDeadlineMs, base * this.#scaleAt(level));
  }

  /** {@link AdaptiveTolerance.limit} at a given level, without re-evaluating. */
  limitAt(level: number, base: number): number {
    return Math.max(1, Math.floor(base * this.#scaleAt(level)));
  }

  #scaleAt(level: number): number {
    return this.#scale[Math.min(Math.max(0, level), this.#maxLevel)] ?? 1;
  }

  #roll(now: number): void {
    const index = Math.floor(now / this.#bucketMs);
    if (index <= this.#head) return; // same bucket, or a clock that went backwards
    const size = this.#pruned.length;
    const steps = Math.min(index - this.#head, size);
    for (let k = 1; k <= steps; k++) {
      const slot = (this.#head + k) % size;
      this.#prunedTotal -= this.#pruned[slot] ?? 0;
      this.#establishedTotal -= this.#established[slot] ?? 0;
      this.#pruned[slot] = 0;
      this.#established[slot] = 0;
    }
    this.#head = index;
  }

  #evaluate(): void {
    const now = this.#now();
    this.#roll(now);
    if (now - this.#lastStepAt < this.#stepIntervalMs) return;
    const samples = this.#prunedTotal + this.#establishedTotal;
    const share = samples === 0 ? 0 : this.#prunedTotal / samples;
    let next = this.#level;
    if (samples >= this.#minSamples && share > this.#tightenAbove) {
      if (next < this.#maxLevel) next++;
    } else if ((samples < this.#minSamples || share < this.#relaxBelow) && next > 0) {
      next--;
    }
    if (next === this.#level) return;
    this.#level = next;
    this.#lastStepAt = now;
    this.#onChange?.(next, share);
  }
}

function positive(name: string, value: number): number {
  if (!(typeof value === "number" && Number.isFinite(value) && value > 0)) {
    throw new OptionsError(`${name} must be a positive finite number`, { [name]: value });
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!(typeof value === "number" && Number.isFinite(value) && value >= 0)) {
    throw new OptionsError(`${name} must be a non-negative finite number`, { [name]: value });
  }
  return value;
}
