/**
 * The zone tick the world benchmarks measure, and its bare baseline, built on the same entities from
 * the same seed.
 *
 * The zone: one cell (`c0_0`, 1,000 × 1,000 units) of the default world (2,000 × 2,000 in 2 × 2
 * cells, 20 Hz, interest radius 100, ghost margin 100), owned by the zone; the three other cells
 * belong to three other servers, so the zone ghosts its border strips to them. N entities: 20 %
 * players ({@link PLAYER_SHARE}), spread uniformly over the cell, each sending one `move` input every
 * tick (a direction that turns now and then and points back inwards near the cell's edges, so no
 * player crosses a border), and 80 % the demo game's NPCs (wandering inside the cell). The area is
 * fixed: the density, hence what each player sees, grows with N (about N × π × 100² / 1,000² within
 * a player's interest: 31 at 1,000, 157 at 5,000, 314 at 10,000). Players are spread round-robin
 * over {@link GATEWAYS} gateways.
 *
 * - {@link ZoneTickWorkload} (the subject): per tick, the inputs go through `sim.input` (validated,
 *   queued), `sim.step()` (inputs, systems, the spatial index, every player's view delta, crossings,
 *   ghosts), then exactly what the zone server does with the result: one `gateway_updates` per
 *   gateway (entries `{ accountId, epoch, ack, data }`), packed like `ZoneServer.#publishUpdates`
 *   (the protocol's `encodeSharedBatches` in one `MessagePackWriter.shared` scope per tick: an
 *   entity change seen by many players is packed once; at most 10,000 entries and
 *   `WORLD_MAX_MESSAGE_BYTES` per message), one `ghost_batch` per neighbouring owner encoded with
 *   the protocol's `encodeMessage` (MessagePack) and, when a NATS connection is given, published.
 * - {@link BareTickWorkload} (the baseline): the same entities (same spawns, same positions, same
 *   random source) moved by the same update loop, the demo game's own `validateInput`,
 *   `applyInput` and `systems`, over plain objects with a context whose `moveTo` only clamps and
 *   stores the position: no spatial index, no views, no crossings, no ghosts, no encoding.
 *
 * The inputs of a tick are built before its clock starts (they are what a gateway's `zone_inputs`
 * would carry, already decoded) and are the same objects for both.
 *
 * @module
 */
import {
  encodeMessage,
  encodeSharedBatches,
  GATEWAY_UPDATES_CHANNEL,
  type GatewayUpdates,
  type GhostBatch,
  MessagePackWriter,
  type Subjects,
  WORLD_MAX_MESSAGE_BYTES,
  ZONE_GHOSTS_CHANNEL,
} from "@meridian/protocol";
import {
  cellBounds,
  createDemoGame,
  createZoneSim,
  type DemoIntent,
  type DemoState,
  type Entity,
  type GameContext,
  type LocalZoneSim,
  type PlayerInfo,
  type Rect,
  seededRandom,
  type WorldConfig,
  worldConfig,
} from "@meridian/world";

/** Share of the entities that are players (the rest are NPCs). */
export const PLAYER_SHARE = 0.2;
/** Gateways the players are spread over (one `gateway_updates` each per tick). */
export const GATEWAYS = 4;
/** The cell the zone owns. */
export const ZONE_CELL = "c0_0";
/** Owners of the neighbouring cells (ghost batches go to them). */
const NEIGHBOUR_OWNERS: Readonly<Record<string, string>> = { c1_0: "zone-b", c0_1: "zone-c", c1_1: "zone-d" };
/** This zone's server id in the messages. */
const SERVER_ID = "zone-a";
const SEED = 0x6e3d;
/** Players steer back inwards within this distance of the cell's edges (more than a step of 5). */
const EDGE = 25;
/** Chance per tick that a player picks a new direction. */
const TURN = 0.025;

/** The world of the tick benchmarks: the defaults, named. */
export function tickWorld(): WorldConfig {
  return worldConfig({ name: "bench" });
}

/** One player input of a tick, as a gateway's `zone_inputs` carries it (decoded). */
export interface TickInput {
  readonly accountId: string;
  readonly seq: number;
  readonly data: { readonly move: { readonly dx: number; readonly dy: number } };
}

/** What one tick cost and produced. */
export interface TickCost {
  /** Wall time of the whole tick (inputs, step, encode, publish), ms. */
  readonly totalMs: number;
  /** `sim.input` of every input plus `sim.step()` (the baseline: its whole loop), ms. */
  readonly stepMs: number;
  /** Building and encoding the messages, ms (0 for the baseline). */
  readonly encodeMs: number;
  /** `nc.publish` of the messages, ms (0 without NATS). */
  readonly publishMs: number;
  /** Bytes encoded (and published). */
  readonly bytes: number;
  /** Messages encoded. */
  readonly messages: number;
  /** View entries (`enter` + `update`) over all players. */
  readonly viewEntries: number;
}

/** A tick to measure: subject or baseline. */
export interface TickWorkload {
  readonly entities: number;
  readonly players: number;
  /** Builds the next tick's inputs (not measured), then runs and times the tick. */
  tick(): TickCost;
  /** Where the `i`-th player is now (tests check both workloads move alike). */
  playerPosition(i: number): { x: number; y: number } | undefined;
}

/** The slice of a NATS connection the subject publishes with. */
export interface Publisher {
  publish(subject: string, data: Uint8Array): void;
}

/** Where the subject publishes (when given a connection). */
export interface PublishTarget {
  readonly nc: Publisher;
  readonly subjects: Subjects;
}

/** The gateway ids of the players (`bgw0`…). */
export function gatewayIds(): string[] {
  return Array.from({ length: GATEWAYS }, (_, i) => `bgw${i}`);
}

/** The bench's stand-in for the players' clients: a direction per player, one `move` per tick. */
class Walkers {
  readonly ids: string[] = [];
  readonly #x: Float64Array;
  readonly #y: Float64Array;
  readonly #dx: Float64Array;
  readonly #dy: Float64Array;
  readonly #seq: Uint32Array;
  readonly #random = seededRandom(SEED ^ 0x5a5a);
  readonly #bounds: Rect;
  readonly #speed: number;

  constructor(count: number, bounds: Rect, speed: number) {
    this.#x = new Float64Array(count);
    this.#y = new Float64Array(count);
    this.#dx = new Float64Array(count);
    this.#dy = new Float64Array(count);
    this.#seq = new Uint32Array(count);
    this.#bounds = bounds;
    this.#speed = speed;
    const spawn = seededRandom(SEED);
    const w = bounds.maxX - bounds.minX - 2 * EDGE;
    const h = bounds.maxY - bounds.minY - 2 * EDGE;
    for (let i = 0; i < count; i++) {
      this.ids.push(String(100_000 + i));
      this.#x[i] = bounds.minX + EDGE + spawn() * w;
      this.#y[i] = bounds.minY + EDGE + spawn() * h;
      this.#turn(i);
    }
  }

  position(i: number): { x: number; y: number } {
    return { x: this.#x[i] as number, y: this.#y[i] as number };
  }

  #turn(i: number): void {
    const angle = this.#random() * 2 * Math.PI;
    this.#dx[i] = Math.cos(angle);
    this.#dy[i] = Math.sin(angle);
  }

  /** This tick's inputs; the walkers' own idea of where each player is follows (it matches the sim's). */
  next(): TickInput[] {
    const out: TickInput[] = [];
    const b = this.#bounds;
    const cx = (b.minX + b.maxX) / 2;
    const cy = (b.minY + b.maxY) / 2;
    for (let i = 0; i < this.ids.length; i++) {
      const x = this.#x[i] as number;
      const y = this.#y[i] as number;
      if (x < b.minX + EDGE || x > b.maxX - EDGE || y < b.minY + EDGE || y > b.maxY - EDGE) {
        const len = Math.hypot(cx - x, cy - y);
        this.#dx[i] = (cx - x) / len;
        this.#dy[i] = (cy - y) / len;
      } else if (this.#random() < TURN) {
        this.#turn(i);
      }
      const dx = this.#dx[i] as number;
      const dy = this.#dy[i] as number;
      this.#x[i] = x + dx * this.#speed;
      this.#y[i] = y + dy * this.#speed;
      const seq = (this.#seq[i] as number) + 1;
      this.#seq[i] = seq;
      out.push({ accountId: this.ids[i] as string, seq, data: { move: { dx, dy } } });
    }
    return out;
  }
}

function split(entities: number): { players: number; npcs: number } {
  const players = Math.max(1, Math.round(entities * PLAYER_SHARE));
  return { players, npcs: Math.max(0, entities - players) };
}

/** The subject: `ZoneSim` with interest management, plus the encoding (and publishing) of its output. */
export class ZoneTickWorkload implements TickWorkload {
  readonly entities: number;
  readonly players: number;
  readonly #sim: LocalZoneSim;
  readonly #walkers: Walkers;
  readonly #gatewayOf = new Map<string, string>();
  readonly #target: PublishTarget | undefined;
  readonly #updateSubjects: Map<string, string>;
  readonly #ghostSubjects = new Map<string, string>();
  readonly #writer = new MessagePackWriter();

  constructor(entities: number, target?: PublishTarget) {
    const world = tickWorld();
    const { players, npcs } = split(entities);
    this.players = players;
    this.#target = target;
    this.#sim = createZoneSim({
      config: world,
      cells: [ZONE_CELL],
      npcsPerCell: npcs,
      random: seededRandom(SEED),
    });
    this.#walkers = new Walkers(players, cellBounds(world, ZONE_CELL), 5);
    const gateways = gatewayIds();
    this.#walkers.ids.forEach((accountId, i) => {
      const { x, y } = this.#walkers.position(i);
      this.#sim.spawnPlayer(accountId, `walker${i}`, x, y);
      this.#gatewayOf.set(accountId, gateways[i % gateways.length] as string);
    });
    this.entities = this.#sim.entityCount();
    this.#updateSubjects = new Map(
      gateways.map((g) => [g, target?.subjects.gateway(g, GATEWAY_UPDATES_CHANNEL) ?? g]),
    );
    for (const owner of Object.values(NEIGHBOUR_OWNERS)) {
      this.#ghostSubjects.set(owner, target?.subjects.zone(owner, ZONE_GHOSTS_CHANNEL) ?? owner);
    }
  }

  playerPosition(i: number): { x: number; y: number } | undefined {
    const id = this.#walkers.ids[i];
    const snapshot = id === undefined ? undefined : this.#sim.snapshot(id);
    return snapshot === undefined ? undefined : { x: snapshot.x, y: snapshot.y };
  }

  tick(): TickCost {
    const inputs = this.#walkers.next();
    const sim = this.#sim;
    const t0 = performance.now();
    for (const input of inputs) sim.input(input.accountId, input.seq, input.data);
    const result = sim.step();
    const t1 = performance.now();

    // As ZoneServer.#publishUpdates and #publishGhosts.
    const out: [string, Uint8Array][] = [];
    const byGateway = new Map<string, GatewayUpdates["updates"][number][]>();
    for (const view of result.views) {
      const gateway = this.#gatewayOf.get(view.accountId) as string;
      let entries = byGateway.get(gateway);
      if (entries === undefined) {
        entries = [];
        byGateway.set(gateway, entries);
      }
      entries.push({ accountId: view.accountId, epoch: 1, ack: view.ack, data: view.data });
    }
    const writer = this.#writer;
    const envelope = { t: "gateway_updates", server: SERVER_ID, tick: result.tick } as const;
    writer.shared(() => {
      for (const [gateway, updates] of byGateway) {
        const subject = this.#updateSubjects.get(gateway) as string;
        const { messages } = encodeSharedBatches(
          writer,
          envelope,
          "updates",
          updates,
          10_000,
          WORLD_MAX_MESSAGE_BYTES,
        );
        for (const bytes of messages) out.push([subject, bytes]);
      }
    });
    for (const [cell, batch] of result.ghosts) {
      const owner = NEIGHBOUR_OWNERS[cell];
      if (owner === undefined) continue;
      const message: GhostBatch = {
        t: "ghost_batch",
        server: SERVER_ID,
        world: "bench",
        tick: result.tick,
        entities: [...batch.entities],
        events: [...batch.events],
      };
      out.push([this.#ghostSubjects.get(owner) as string, encodeMessage(message)]);
    }
    const t2 = performance.now();
    if (this.#target !== undefined) {
      for (const [subject, bytes] of out) this.#target.nc.publish(subject, bytes);
    }
    const t3 = performance.now();

    let bytes = 0;
    for (const [, b] of out) bytes += b.length;
    let viewEntries = 0;
    for (const view of result.views) {
      const delta = view.data as { enter: unknown[]; update: unknown[] };
      viewEntries += delta.enter.length + delta.update.length;
    }
    return {
      totalMs: t3 - t0,
      stepMs: t1 - t0,
      encodeMs: t2 - t1,
      publishMs: t3 - t2,
      bytes,
      messages: out.length,
      viewEntries,
    };
  }
}

/** A plain entity of the baseline. */
interface BareEntity extends Entity<DemoState> {
  x: number;
  y: number;
}

/** The baseline: the demo game's input and movement code over plain objects, nothing else. */
export class BareTickWorkload implements TickWorkload {
  readonly entities: number;
  readonly players: number;
  readonly #walkers: Walkers;
  readonly #all: BareEntity[] = [];
  readonly #byAccount = new Map<string, BareEntity>();
  readonly #game = createDemoGame();
  readonly #ctx: GameContext<DemoState>;
  #tick = 0;

  constructor(entities: number) {
    const world = tickWorld();
    const { players, npcs } = split(entities);
    this.players = players;
    const random = seededRandom(SEED);
    const bounds = cellBounds(world, ZONE_CELL);
    // The sim's spawn order: the NPCs of the cell first (same random source), then the players.
    const spawns = this.#game.spawnNpcs?.({ id: ZONE_CELL, ...bounds }, npcs, random) ?? [];
    spawns.forEach((spawn, i) => {
      this.#all.push({
        id: `npc:${ZONE_CELL}:${i}`,
        kind: spawn.kind,
        x: spawn.x,
        y: spawn.y,
        state: spawn.state,
        player: undefined,
      });
    });
    this.#walkers = new Walkers(players, bounds, 5);
    this.#walkers.ids.forEach((accountId, i) => {
      const { x, y } = this.#walkers.position(i);
      const player: PlayerInfo = { accountId, username: `walker${i}` };
      const entity: BareEntity = {
        id: `p:${accountId}`,
        kind: "player",
        x,
        y,
        state: this.#game.initialPlayerState({ ...player, x, y }),
        player,
      };
      this.#all.push(entity);
      this.#byAccount.set(accountId, entity);
    });
    this.entities = this.#all.length;
    const maxX = world.width * (1 - 2 ** -40);
    const maxY = world.height * (1 - 2 ** -40);
    const all = this.#all;
    const self = this;
    this.#ctx = {
      config: world,
      get tick() {
        return self.#tick;
      },
      random,
      entities: () => all,
      get: () => undefined,
      near: (_x, _y, _r, out = []) => out,
      moveTo(entity, x, y) {
        const e = entity as BareEntity;
        e.x = Math.min(Math.max(x, 0), maxX);
        e.y = Math.min(Math.max(y, 0), maxY);
      },
      emit: () => undefined,
      post: () => undefined,
      correct: () => undefined,
    };
  }

  playerPosition(i: number): { x: number; y: number } | undefined {
    const id = this.#walkers.ids[i];
    const entity = id === undefined ? undefined : this.#byAccount.get(id);
    return entity === undefined ? undefined : { x: entity.x, y: entity.y };
  }

  tick(): TickCost {
    const inputs = this.#walkers.next();
    const game = this.#game;
    const ctx = this.#ctx;
    const t0 = performance.now();
    this.#tick++;
    for (const input of inputs) {
      const intent: DemoIntent | undefined = game.validateInput(input.data);
      const entity = this.#byAccount.get(input.accountId);
      if (intent !== undefined && entity !== undefined) game.applyInput(entity, intent, ctx);
    }
    for (const system of game.systems) system(ctx);
    const ms = performance.now() - t0;
    return { totalMs: ms, stepMs: ms, encodeMs: 0, publishMs: 0, bytes: 0, messages: 0, viewEntries: 0 };
  }
}
