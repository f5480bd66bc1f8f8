/**
 * A bounded least-recently-used map, for the locator's username key → account id lookups. A `Map`
 * iterates in insertion order, so re-inserting on every hit keeps the least recently used entry
 * first, and eviction drops it in O(1).
 */
export class NameCache<V> {
  readonly #capacity: number;
  readonly #entries = new Map<string, V>();

  /** @param capacity the most entries kept (a positive integer; 0 disables the cache). */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** How many entries are cached. */
  get size(): number {
    return this.#entries.size;
  }

  /** The value under `key`, marking it most recently used. */
  get(key: string): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  /** Stores `value` under `key` as the most recently used, evicting the least recently used beyond capacity. */
  set(key: string, value: V): void {
    if (this.#capacity === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  /** Forgets `key`. */
  delete(key: string): void {
    this.#entries.delete(key);
  }
}
