/**
 * The zone server's observer feed (libs/protocol `observer-messages.ts`, docs/protocol.md §13): a
 * `zone_snapshot` on `evt.world.<world>.zone.<server>.snapshot` at `hz` per second (load, health,
 * leases, every entity's id, kind and position), and a `zone_handoff` on `….handoff` for each
 * handoff out as it settles. Core NATS, fire-and-forget: with nobody subscribed a snapshot costs one
 * walk over the entities and one publish that the NATS server drops, a few times a second.
 *
 * The entities are the simulation's own (`ZoneSim.entities()`: players and NPCs, not ghosts), by
 * entity id: a player's is `playerEntityId(accountId)` (`p:<accountId>`), as in the handoff events.
 * @module
 */
import {
  DEFAULT_OBSERVER_HZ,
  OBSERVER_HANDOFF_CHANNEL,
  OBSERVER_MAX_ENTITIES,
  OBSERVER_MAX_KINDS,
  OBSERVER_SNAPSHOT_CHANNEL,
  observerCodec,
  observerSubject,
  ProtocolError,
  ProtocolErrorCode,
  type Subjects,
  type ZoneHandoff,
  type ZoneSnapshot,
} from "@meridian/protocol";
import type { ZoneSim } from "@meridian/world";
import type { Logger } from "pino";
import type { HeldLease } from "./authority/lease-table.js";
import type { HistogramSnapshot } from "./metrics/histogram.js";

export { DEFAULT_OBSERVER_HZ };

/** What the feed reads of a zone server (the `ZoneServer` gives exactly this). */
export interface ObservedZone {
  readonly sim: ZoneSim;
  stats(): {
    readonly tick: number;
    readonly players: number;
    readonly registered: boolean;
    readonly handoffsOut: number;
    readonly handoffsIn: number;
    readonly ticksSkipped: number;
    readonly tickMs: HistogramSnapshot;
  };
  leases(): { readonly leaderEpoch: number; readonly leases: readonly HeldLease[] };
}

/** Options of {@link ObserverFeed}. */
export interface ObserverFeedOptions {
  readonly subjects: Subjects;
  readonly serverId: string;
  /** The world: its name, size, grid and tick rate (`WorldConfig` of libs/world). */
  readonly world: {
    readonly name: string;
    readonly width: number;
    readonly height: number;
    readonly cols: number;
    readonly rows: number;
    readonly tickHz: number;
  };
  /** Snapshots per second; 0 publishes none (handoff events neither). Default {@link DEFAULT_OBSERVER_HZ}. */
  readonly hz?: number;
  /** Most entities listed per snapshot. Default {@link OBSERVER_MAX_ENTITIES}. */
  readonly maxEntities?: number;
}

/** The NATS slice the feed publishes with. */
export interface ObserverPublisher {
  publish(subject: string, payload: Uint8Array): void;
}

const codec = observerCodec();

/** Publishes one zone server's observer events. */
export class ObserverFeed {
  readonly #nc: ObserverPublisher;
  readonly #zone: ObservedZone;
  readonly #log: Logger;
  readonly #options: Required<ObserverFeedOptions>;
  readonly #snapshotSubject: string;
  readonly #handoffSubject: string;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #lastTicks: HistogramSnapshot | undefined;
  #warned = false;

  /** @throws ProtocolError `PROTO_INVALID_OPTIONS` for a bad `hz` or `maxEntities`, `PROTO_INVALID_SUBJECT` for bad ids. */
  constructor(nc: ObserverPublisher, zone: ObservedZone, logger: Logger, options: ObserverFeedOptions) {
    const hz = options.hz ?? DEFAULT_OBSERVER_HZ;
    const maxEntities = options.maxEntities ?? OBSERVER_MAX_ENTITIES;
    if (!Number.isFinite(hz) || hz < 0 || hz > 100) {
      throw new ProtocolError(ProtocolErrorCode.InvalidOptions, `observer hz must be 0–100, got ${hz}`, {
        context: { option: "hz", value: hz },
      });
    }
    if (!Number.isInteger(maxEntities) || maxEntities < 0 || maxEntities > OBSERVER_MAX_ENTITIES) {
      throw new ProtocolError(
        ProtocolErrorCode.InvalidOptions,
        `observer maxEntities must be an integer 0–${OBSERVER_MAX_ENTITIES}, got ${maxEntities}`,
        { context: { option: "maxEntities", value: maxEntities } },
      );
    }
    this.#nc = nc;
    this.#zone = zone;
    this.#log = logger;
    this.#options = Object.freeze({ ...options, hz, maxEntities });
    this.#snapshotSubject = observerSubject(
      options.subjects,
      options.world.name,
      options.serverId,
      OBSERVER_SNAPSHOT_CHANNEL,
    );
    this.#handoffSubject = observerSubject(
      options.subjects,
      options.world.name,
      options.serverId,
      OBSERVER_HANDOFF_CHANNEL,
    );
  }

  /** Whether the feed publishes anything (`hz` > 0). */
  get enabled(): boolean {
    return this.#options.hz > 0;
  }

  /** Starts the snapshots (no-op when disabled or started). */
  start(): void {
    if (!this.enabled || this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.publishSnapshot(), 1000 / this.#options.hz);
    this.#timer.unref();
  }

  /** Stops the snapshots. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A handoff out settled as accepted: `entity` now belongs to `to` (under `epoch`), in `cell`. */
  handoff(entity: string, to: string, cell: string, epoch: number, stallMs: number): void {
    if (!this.enabled) return;
    const message: ZoneHandoff = {
      t: "zone_handoff",
      server: this.#options.serverId,
      world: this.#options.world.name,
      to,
      entity,
      cell,
      epoch,
      stallMs: Math.min(1_000_000, Math.max(0, stallMs)),
      at: Date.now(),
    };
    this.#publish(this.#handoffSubject, message);
  }

  /** Builds and publishes one snapshot now (the timer calls it; tests may too). Returns it. */
  publishSnapshot(): ZoneSnapshot {
    const message = this.snapshot();
    try {
      this.#nc.publish(this.#snapshotSubject, codec.encode(message));
    } catch (error) {
      if (error instanceof ProtocolError && error.code === ProtocolErrorCode.TooLarge) {
        // Too many entities for one message: the load and health still go out.
        this.#warnOnce(error, "observer snapshot too large: entities left out");
        this.#publish(this.#snapshotSubject, { ...message, kinds: [], ids: [], k: [], x: [], y: [] });
      } else {
        this.#warnOnce(error, "observer snapshot not published");
      }
    }
    return message;
  }

  /** The snapshot of the zone now (advances `seq` and the tick-duration window). */
  snapshot(): ZoneSnapshot {
    const stats = this.#zone.stats();
    const { leaderEpoch, leases } = this.#zone.leases();
    const { tickMs, tickP99Ms } = this.#tickWindow(stats.tickMs);
    const kinds: string[] = [];
    const kindIndex = new Map<string, number>();
    const ids: string[] = [];
    const k: number[] = [];
    const x: number[] = [];
    const y: number[] = [];
    const max = this.#options.maxEntities;
    for (const entity of this.#zone.sim.entities()) {
      if (ids.length >= max) break;
      let index = kindIndex.get(entity.kind);
      if (index === undefined) {
        if (kinds.length >= OBSERVER_MAX_KINDS) continue;
        index = kinds.length;
        kinds.push(entity.kind.slice(0, 32) || "?");
        kindIndex.set(entity.kind, index);
      }
      ids.push(entity.id.slice(0, 64));
      k.push(index);
      x.push(Math.round(entity.x));
      y.push(Math.round(entity.y));
    }
    this.#seq++;
    return {
      t: "zone_snapshot",
      server: this.#options.serverId,
      world: this.#options.world.name,
      seq: this.#seq,
      at: Date.now(),
      tick: stats.tick,
      width: this.#options.world.width,
      height: this.#options.world.height,
      cols: this.#options.world.cols,
      rows: this.#options.world.rows,
      tickHz: this.#options.world.tickHz,
      tickMs,
      tickP99Ms,
      ticksSkipped: stats.ticksSkipped,
      registered: stats.registered,
      leaderEpoch: Math.max(-1, leaderEpoch),
      cells: leases.map((l) => l.cell),
      cellEpochs: leases.map((l) => l.epoch),
      leaseExpiresAt: leases.map((l) => l.expiresAt),
      players: stats.players,
      handoffsOut: stats.handoffsOut,
      handoffsIn: stats.handoffsIn,
      entityCount: Math.max(this.#zone.sim.entityCount(), ids.length),
      kinds,
      ids,
      k,
      x,
      y,
    };
  }

  /** Mean and p99 of the ticks since the previous snapshot, from the cumulative histogram. */
  #tickWindow(now: HistogramSnapshot): { tickMs: number; tickP99Ms: number } {
    const before = this.#lastTicks;
    this.#lastTicks = now;
    const count = now.count - (before?.count ?? 0);
    if (count <= 0) return { tickMs: 0, tickP99Ms: 0 };
    const mean = (now.sum - (before?.sum ?? 0)) / count;
    const rank = Math.ceil(0.99 * count);
    let seen = 0;
    let p99 = now.max;
    for (let i = 0; i < now.buckets.length; i++) {
      const [bound, total] = now.buckets[i] as readonly [number, number];
      seen += total - (before?.buckets[i]?.[1] ?? 0);
      if (seen >= rank) {
        p99 = Math.min(bound, now.max);
        break;
      }
    }
    const clamp = (ms: number) => Math.min(1_000_000, Math.max(0, Math.round(ms * 1000) / 1000));
    return { tickMs: clamp(mean), tickP99Ms: clamp(p99) };
  }

  #publish(subject: string, message: ZoneSnapshot | ZoneHandoff): void {
    try {
      this.#nc.publish(subject, codec.encode(message));
    } catch (error) {
      this.#warnOnce(error, `observer ${message.t} not published`);
    }
  }

  #warnOnce(error: unknown, what: string): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#log.warn({ err: error }, what);
  }
}
