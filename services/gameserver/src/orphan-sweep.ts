/**
 * Drops players whose gateway is gone. A gateway that dies sends no `player_detach`: its players
 * would stay in the zone for ever, walking nowhere and holding their entity. Gateways keep every
 * logged-in player's presence (libs/protocol `presence.ts`) fresh in Redis with a TTL, also during
 * the resume grace, and clear it when the session ends; so a held player whose presence has been
 * missing for `misses` sweeps in a row (`intervalMs` apart) has no gateway left: the sweep reports
 * them, and the zone server detaches them as if the grace had run out (checkpoint offline, and so
 * on). One pipelined `EXISTS` per held player per sweep.
 *
 * Missing presence for one sweep is not enough: a gateway writes presence right after the zone
 * installed the player, and a presence write may fail once and be repeated at the next refresh.
 *
 * @module
 */
import { presenceKey } from "@meridian/protocol";
import type { Redis } from "ioredis";
import type { Logger } from "pino";

/** Default {@link OrphanSweepOptions.intervalMs}: 10 s. */
export const DEFAULT_ORPHAN_SWEEP_MS = 10_000;
/** Default {@link OrphanSweepOptions.misses}. */
export const DEFAULT_ORPHAN_MISSES = 2;

export interface OrphanSweepOptions {
  /** Between sweeps, ms (0: no timer; {@link OrphanSweep.sweep} can still be called). */
  readonly intervalMs: number;
  /** Consecutive sweeps without presence before a player is reported. Default {@link DEFAULT_ORPHAN_MISSES}. */
  readonly misses?: number;
  /** The cluster's Redis key prefix (presence keys are `presenceKey(prefix, accountId)`). */
  readonly redisPrefix: string;
}

export class OrphanSweep {
  readonly #redis: Pick<Redis, "pipeline">;
  readonly #options: Required<OrphanSweepOptions>;
  readonly #held: () => Iterable<string>;
  readonly #orphaned: (accountId: string) => void;
  readonly #log: Logger;
  /** Consecutive sweeps each player was seen without presence. */
  readonly #missing = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  /**
   * @param held the players the zone holds now (account ids).
   * @param orphaned called once per player found without presence `misses` sweeps in a row (if
   *   still held).
   */
  constructor(
    redis: Pick<Redis, "pipeline">,
    options: OrphanSweepOptions,
    held: () => Iterable<string>,
    orphaned: (accountId: string) => void,
    log: Logger,
  ) {
    this.#redis = redis;
    this.#options = { misses: DEFAULT_ORPHAN_MISSES, ...options };
    this.#held = held;
    this.#orphaned = orphaned;
    this.#log = log;
  }

  start(): void {
    if (this.#timer !== undefined || this.#options.intervalMs <= 0) return;
    this.#timer = setInterval(() => {
      if (this.#running === undefined)
        this.#running = this.sweep().finally(() => (this.#running = undefined));
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One sweep. Never rejects: a Redis failure is logged and counts as no sweep. */
  async sweep(): Promise<void> {
    const ids = [...this.#held()];
    if (ids.length === 0) {
      this.#missing.clear();
      return;
    }
    const pipeline = this.#redis.pipeline();
    for (const id of ids) pipeline.exists(presenceKey(this.#options.redisPrefix, id));
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (error) {
      this.#log.warn({ err: error }, "orphan sweep: presence read failed");
      return;
    }
    if (results === null) return;
    const still = new Set(this.#held());
    const seen = new Set<string>();
    ids.forEach((id, i) => {
      const [error, exists] = results?.[i] ?? [null, 1];
      seen.add(id);
      if (error !== null || exists !== 0 || !still.has(id)) {
        this.#missing.delete(id);
        return;
      }
      const count = (this.#missing.get(id) ?? 0) + 1;
      if (count < this.#options.misses) {
        this.#missing.set(id, count);
        return;
      }
      this.#missing.delete(id);
      this.#log.warn(
        { accountId: id, sweeps: count },
        "player has no presence: its gateway is gone, dropping",
      );
      this.#orphaned(id);
    });
    for (const id of this.#missing.keys()) if (!seen.has(id)) this.#missing.delete(id);
  }
}
