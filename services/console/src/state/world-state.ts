/**
 * What the console knows of one world, from what it hears on NATS: the authority's `world_map`
 * (owners of the cells), each zone server's latest `zone_snapshot` (load, health, leases, entities)
 * and the recent `zone_handoff`s. {@link WorldState.view} turns it into the JSON the page draws.
 * No I/O: the NATS feed (feed/nats-feed.ts) writes into it, the HTTP server reads it.
 * @module
 */
import type { WorldMap, ZoneHandoff, ZoneSnapshot } from "@meridian/protocol";

/** Handoffs kept for the page (the newest). */
export const HANDOFF_HISTORY = 50;
/** A zone server silent this many times the stale bound is forgotten. */
const FORGET_FACTOR = 20;
/**
 * How long a handed-off player is kept at its last position, shown on the target, while neither
 * server's snapshot lists it (the source released it; the target's latest snapshot predates the
 * install), ms. Without it a player would blink off the map for up to one snapshot period.
 */
export const TRANSIT_MS = 2_000;

/** A zone server's health as the page shows it. */
export const ZoneHealth = {
  /** Snapshots arrive, registered, holding cells. */
  Ok: "ok",
  /** Snapshots arrive, registered, holding no cell (a spare, or waiting for its leases). */
  Idle: "idle",
  /** Snapshots arrive but the server is not registered with the authority. */
  Unregistered: "unregistered",
  /** No snapshot for longer than the stale bound: presumed down (its entities are not shown). */
  Down: "down",
} as const;
export type ZoneHealth = (typeof ZoneHealth)[keyof typeof ZoneHealth];

/** One zone server in the page's table. */
export interface ZoneView {
  readonly server: string;
  readonly health: ZoneHealth;
  /** Since its latest snapshot arrived, ms. */
  readonly ageMs: number;
  readonly seq: number;
  /** Snapshots missed (gaps in `seq`) since the console started. */
  readonly missed: number;
  readonly tick: number;
  readonly tickHz: number;
  readonly tickMs: number;
  readonly tickP99Ms: number;
  readonly ticksSkipped: number;
  readonly registered: boolean;
  readonly leaderEpoch: number;
  readonly cells: readonly string[];
  /** Time left on its shortest lease when the snapshot was taken, ms (negative: lapsed; null: no lease). */
  readonly leaseMs: number | null;
  readonly players: number;
  readonly entityCount: number;
  readonly handoffsOut: number;
  readonly handoffsIn: number;
}

/** One handoff in the page's list. `n` numbers them from 1 as the console heard them. */
export interface HandoffView {
  readonly n: number;
  readonly entity: string;
  readonly from: string;
  readonly to: string;
  readonly cell: string;
  readonly epoch: number;
  readonly stallMs: number;
  readonly at: number;
}

/** The whole state pushed to the page. */
export interface WorldView {
  readonly t: "world";
  readonly world: string;
  /** The console's clock, ms since the epoch. */
  readonly at: number;
  /** The world's size and grid, from the zones' snapshots (null before the first). */
  readonly geometry: {
    readonly width: number;
    readonly height: number;
    readonly cols: number;
    readonly rows: number;
  } | null;
  /** The authority's latest map (null before the first). */
  readonly map: {
    readonly leaderEpoch: number;
    readonly version: number;
    readonly ageMs: number;
    readonly cells: readonly {
      readonly cell: string;
      readonly server: string | null;
      readonly epoch: number;
    }[];
  } | null;
  readonly zones: readonly ZoneView[];
  /** Entity kinds and servers that `entities` index. */
  readonly kinds: readonly string[];
  readonly servers: readonly string[];
  /** `[id, kind index, x, y, server index]` per entity of every live zone (newest snapshot wins). */
  readonly entities: readonly (readonly [string, number, number, number, number])[];
  /** The newest handoffs, oldest first. */
  readonly handoffs: readonly HandoffView[];
  /** Handoffs heard since the console started. */
  readonly handoffCount: number;
  /** Observer messages that failed to decode. */
  readonly badMessages: number;
}

interface ZoneEntry {
  snapshot: ZoneSnapshot;
  receivedAt: number;
  missed: number;
}

/** The console's picture of one world. */
export class WorldState {
  readonly world: string;
  readonly #staleMs: number;
  readonly #zones = new Map<string, ZoneEntry>();
  #map: { message: WorldMap; receivedAt: number } | undefined;
  readonly #handoffs: HandoffView[] = [];
  /** Players handed off recently: entity → target, when the console heard it. */
  readonly #transit = new Map<string, { to: string; at: number }>();
  /** The entities of the previous view: id → kind and position. */
  #previous = new Map<string, { kind: string; x: number; y: number }>();
  #handoffCount = 0;
  badMessages = 0;

  constructor(world: string, staleMs: number) {
    this.world = world;
    this.#staleMs = staleMs;
  }

  /** A `world_map`: kept when of the highest leader epoch and version seen. */
  onMap(message: WorldMap, now: number = Date.now()): void {
    if (message.world !== this.world) return;
    const current = this.#map?.message;
    if (
      current !== undefined &&
      (message.leaderEpoch < current.leaderEpoch ||
        (message.leaderEpoch === current.leaderEpoch && message.version < current.version))
    ) {
      return;
    }
    this.#map = { message, receivedAt: now };
  }

  /** A `zone_snapshot`: replaces the server's previous one unless older (a restarted server starts again at seq 1). */
  onSnapshot(message: ZoneSnapshot, now: number = Date.now()): void {
    if (message.world !== this.world) return;
    const entry = this.#zones.get(message.server);
    if (entry === undefined) {
      this.#zones.set(message.server, { snapshot: message, receivedAt: now, missed: 0 });
      return;
    }
    const previous = entry.snapshot;
    if (message.seq <= previous.seq && message.at <= previous.at) return;
    if (message.seq > previous.seq + 1) entry.missed += message.seq - previous.seq - 1;
    entry.snapshot = message;
    entry.receivedAt = now;
  }

  /** A `zone_handoff`. */
  onHandoff(message: ZoneHandoff, now: number = Date.now()): void {
    if (message.world !== this.world) return;
    this.#transit.set(message.entity, { to: message.to, at: now });
    this.#handoffCount++;
    this.#handoffs.push({
      n: this.#handoffCount,
      entity: message.entity,
      from: message.server,
      to: message.to,
      cell: message.cell,
      epoch: message.epoch,
      stallMs: message.stallMs,
      at: message.at,
    });
    if (this.#handoffs.length > HANDOFF_HISTORY)
      this.#handoffs.splice(0, this.#handoffs.length - HANDOFF_HISTORY);
  }

  /** The state for the page at `now`. */
  view(now: number = Date.now()): WorldView {
    for (const [server, entry] of this.#zones) {
      if (now - entry.receivedAt > this.#staleMs * FORGET_FACTOR) this.#zones.delete(server);
    }
    const entries = [...this.#zones.values()].sort((a, b) =>
      a.snapshot.server.localeCompare(b.snapshot.server),
    );
    const servers = entries.map((e) => e.snapshot.server);
    const kinds: string[] = [];
    const kindIndex = new Map<string, number>();
    const byId = new Map<string, readonly [string, number, number, number, number]>();
    // Oldest snapshot first: during a handoff both servers may list a player; the newer one wins.
    const live = entries
      .map((entry, serverIndex) => ({ entry, serverIndex }))
      .filter(({ entry }) => now - entry.receivedAt <= this.#staleMs)
      .sort((a, b) => a.entry.snapshot.at - b.entry.snapshot.at);
    for (const { entry, serverIndex } of live) {
      const s = entry.snapshot;
      for (let i = 0; i < s.ids.length; i++) {
        const kind = s.kinds[s.k[i] ?? 0] ?? "?";
        let index = kindIndex.get(kind);
        if (index === undefined) {
          index = kinds.length;
          kinds.push(kind);
          kindIndex.set(kind, index);
        }
        const id = s.ids[i] as string;
        byId.set(id, [id, index, s.x[i] ?? 0, s.y[i] ?? 0, serverIndex]);
      }
    }
    this.#holdInTransit(byId, servers, kinds, kindIndex, now);
    this.#previous = new Map(
      [...byId.values()].map(([id, k, x, y]) => [id, { kind: kinds[k] ?? "?", x, y }]),
    );
    const geometrySource = live.at(-1)?.entry.snapshot ?? entries[0]?.snapshot;
    const map = this.#map;
    return {
      t: "world",
      world: this.world,
      at: now,
      geometry:
        geometrySource === undefined
          ? null
          : {
              width: geometrySource.width,
              height: geometrySource.height,
              cols: geometrySource.cols,
              rows: geometrySource.rows,
            },
      map:
        map === undefined
          ? null
          : {
              leaderEpoch: map.message.leaderEpoch,
              version: map.message.version,
              ageMs: now - map.receivedAt,
              cells: map.message.cells,
            },
      zones: entries.map((entry) => this.#zoneView(entry, now)),
      kinds,
      servers,
      entities: [...byId.values()],
      handoffs: [...this.#handoffs],
      handoffCount: this.#handoffCount,
      badMessages: this.badMessages,
    };
  }

  /** Keeps each handed-off player that no snapshot lists yet at its last position, on its target. */
  #holdInTransit(
    byId: Map<string, readonly [string, number, number, number, number]>,
    servers: readonly string[],
    kinds: string[],
    kindIndex: Map<string, number>,
    now: number,
  ): void {
    for (const [id, transit] of this.#transit) {
      const target = servers.indexOf(transit.to);
      const listed = byId.get(id);
      if (now - transit.at > TRANSIT_MS || target === -1 || listed?.[4] === target) {
        this.#transit.delete(id);
        continue;
      }
      const last = this.#previous.get(id);
      if (listed !== undefined || last === undefined) continue;
      let kind = kindIndex.get(last.kind);
      if (kind === undefined) {
        kind = kinds.length;
        kinds.push(last.kind);
        kindIndex.set(last.kind, kind);
      }
      byId.set(id, [id, kind, last.x, last.y, target]);
    }
  }

  #zoneView(entry: ZoneEntry, now: number): ZoneView {
    const s = entry.snapshot;
    const ageMs = now - entry.receivedAt;
    const leaseMs = s.leaseExpiresAt.length === 0 ? null : Math.min(...s.leaseExpiresAt) - s.at;
    let health: ZoneHealth = ZoneHealth.Ok;
    if (ageMs > this.#staleMs) health = ZoneHealth.Down;
    else if (!s.registered) health = ZoneHealth.Unregistered;
    else if (s.cells.length === 0) health = ZoneHealth.Idle;
    return {
      server: s.server,
      health,
      ageMs,
      seq: s.seq,
      missed: entry.missed,
      tick: s.tick,
      tickHz: s.tickHz,
      tickMs: s.tickMs,
      tickP99Ms: s.tickP99Ms,
      ticksSkipped: s.ticksSkipped,
      registered: s.registered,
      leaderEpoch: s.leaderEpoch,
      cells: s.cells,
      leaseMs,
      players: s.players,
      entityCount: s.entityCount,
      handoffsOut: s.handoffsOut,
      handoffsIn: s.handoffsIn,
    };
  }
}
