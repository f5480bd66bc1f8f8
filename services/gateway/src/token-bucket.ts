/**
 * A token bucket: `ratePerS` tokens a second, holding at most `burst`. Starts full. Used per
 * connection for messages and for bytes, checked before a message is decoded.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(ratePerS: number, burst: number, now: () => number = performance.now.bind(performance)) {
    this.#rate = ratePerS / 1000;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#at = now();
  }

  /** Takes `n` tokens; false (and takes none) when fewer are left. */
  take(n = 1): boolean {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#rate);
    this.#at = now;
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }
}

/** Counts events in a sliding window; `add()` returns the count within the window, this one included. */
export class WindowCounter {
  readonly #windowMs: number;
  readonly #now: () => number;
  #times: number[] = [];

  constructor(windowMs: number, now: () => number = performance.now.bind(performance)) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  add(): number {
    const now = this.#now();
    this.#times = this.#times.filter((t) => now - t < this.#windowMs);
    this.#times.push(now);
    return this.#times.length;
  }
}
