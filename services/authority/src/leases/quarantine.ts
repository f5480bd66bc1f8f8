/**
 * Servers barred from registering for a while: by zone server id and by the lobby's registry id of
 * their credential (a rogue server cannot come back under a new id with the same credential).
 * In memory, per authority instance: a standby that takes over does not inherit it (a revoked
 * credential stays refused by the lobby anyway; an "impossible report" ban is a local judgement).
 *
 * @module
 */
export class QuarantineList {
  readonly #until = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Bars every key in `keys` for `ms`. */
  add(keys: readonly string[], ms: number): void {
    const until = this.#now() + ms;
    for (const key of keys) this.#until.set(key, Math.max(until, this.#until.get(key) ?? 0));
  }

  /** Whether any key in `keys` is barred now. */
  has(...keys: readonly string[]): boolean {
    const now = this.#now();
    for (const key of keys) {
      const until = this.#until.get(key);
      if (until === undefined) continue;
      if (until > now) return true;
      this.#until.delete(key);
    }
    return false;
  }
}
