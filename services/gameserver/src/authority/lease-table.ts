/**
 * The cells this server holds, as leased by the authority: each with its epoch and expiry. Leases are
 * taken only from an authority leader at least as recent as the highest seen (`leaderEpoch`), and
 * expire locally at their `expiresAt` even when no authority answers any more: past it, the server
 * stops acting for the cell (another server may hold it by then).
 */

/** One held lease. */
export interface HeldLease {
  readonly cell: string;
  readonly epoch: number;
  readonly expiresAt: number;
}

/** What changed when leases were applied or expired. */
export interface LeaseChange {
  /** Cells held now that were not held before (or were held under another epoch). */
  readonly gained: readonly HeldLease[];
  /** Cells held before and not any more. */
  readonly lost: readonly string[];
}

export class LeaseTable {
  readonly #leases = new Map<string, HeldLease>();
  #leaderEpoch = -1;

  /** The highest leader epoch seen. */
  get leaderEpoch(): number {
    return this.#leaderEpoch;
  }

  /** The lease held for `cell` (not checked for expiry: see {@link expire}). */
  get(cell: string): HeldLease | undefined {
    return this.#leases.get(cell);
  }

  /** Whether `cell` is held under exactly `epoch` and not expired at `now`. */
  holds(cell: string, epoch: number, now: number = Date.now()): boolean {
    const lease = this.#leases.get(cell);
    return lease !== undefined && lease.epoch === epoch && lease.expiresAt > now;
  }

  cells(): string[] {
    return [...this.#leases.keys()];
  }

  /**
   * Replaces the held leases by those of a `zone_leases` from `leaderEpoch` (the complete set the
   * server holds now). Returns undefined, changing nothing, when `leaderEpoch` is below the highest seen.
   */
  apply(
    leaderEpoch: number,
    leases: readonly HeldLease[],
    now: number = Date.now(),
  ): LeaseChange | undefined {
    if (leaderEpoch < this.#leaderEpoch) return undefined;
    this.#leaderEpoch = leaderEpoch;
    const next = new Map<string, HeldLease>();
    for (const lease of leases) if (lease.expiresAt > now) next.set(lease.cell, { ...lease });
    const gained: HeldLease[] = [];
    const lost: string[] = [];
    for (const [cell, lease] of next) {
      const before = this.#leases.get(cell);
      if (before === undefined || before.epoch !== lease.epoch) gained.push(lease);
    }
    for (const cell of this.#leases.keys()) if (!next.has(cell)) lost.push(cell);
    this.#leases.clear();
    for (const [cell, lease] of next) this.#leases.set(cell, lease);
    return { gained, lost };
  }

  /** Drops the leases past their expiry at `now`; returns their cells. */
  expire(now: number = Date.now()): string[] {
    const lost: string[] = [];
    for (const [cell, lease] of this.#leases) {
      if (lease.expiresAt <= now) {
        this.#leases.delete(cell);
        lost.push(cell);
      }
    }
    return lost;
  }

  /** Drops every lease. */
  clear(): string[] {
    const cells = this.cells();
    this.#leases.clear();
    return cells;
  }
}
