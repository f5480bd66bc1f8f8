/**
 * `createZoneSim`: the {@link ZoneSim} of zone-api.ts, running a {@link GameModule} (the demo game
 * by default). No I/O, no timers, no clock: the zone server calls `step()` at the world's tick rate,
 * and given the same random source, calls and inputs, a zone computes the same ticks.
 *
 * ## Inputs
 *
 * `input()` checks, in this order: an unknown player is `"unknown_player"`; a player frozen for a
 * handoff is `"frozen"` (dropped: the gateway re-sends it to the new owner); a `seq` that is not a
 * positive safe integer is `"invalid"` (not consumed); `seq` ≤ the last accepted is `"duplicate"`;
 * `seq` > the last accepted + 1 (or a player with {@link MAX_QUEUED_INPUTS} waiting) is `"gap"`;
 * otherwise the game validates `data`. Valid: `"applied"`, queued for the next tick. Not valid:
 * `"invalid"`, and the sequence number is **consumed** (applied as a no-op at the next tick, so the
 * ack moves past it and counted in `stats().invalidInputs`): one bad input must not stall the
 * stream, as the gateway would re-send it forever. The ack (`PlayerView.ack`, `PlayerSnapshot.lastSeq`)
 * is the last sequence *applied* by a tick, so a snapshot taken between ticks leaves queued inputs
 * to the gateway's re-sending.
 *
 * ## Views: the delta format
 *
 * `PlayerView.data` is a {@link ViewDelta}. See its documentation: the gateway and clients ship it as is.
 *
 * ## Ghosts
 *
 * `TickResult.ghosts` has an entry for **every** cell this zone does not own that touches one it
 * owns (empty when nothing is near), plus any other cell a frozen player stands in: the entities
 * within `ghostMargin` of that cell (an entity standing in a cell this zone does not own is also a
 * ghost of that cell), with their `view`, and the events emitted there ({@link HeardEvent}s). The
 * zone server sends each cell's batch to its owner, whose `setGhosts(server, …)` replaces what that
 * server sent before: so send every tick, empty batches included, or a neighbour keeps stale ghosts.
 * Received ghosts are shown in views like local entities (a local entity with the same id wins);
 * received events are heard once, at the next tick, by the players within the interest radius.
 *
 * @module
 */
import { cellAt, cellBounds, cellId, cellsNear, parseCellId } from "./cells.js";
import { createDemoGame } from "./demo-game.js";
import { WorldError, WorldErrorCode } from "./errors.js";
import type { Entity, GameContext, GameModule, PlayerInfo } from "./game-module.js";
import { SpatialGrid } from "./spatial-grid.js";
import type { WorldConfig } from "./world-config.js";
import type {
  Crossing,
  EntityPosition,
  GhostEntity,
  InputResult,
  PlayerSnapshot,
  PlayerView,
  TickResult,
  ZoneSim,
} from "./zone-api.js";

/** Default NPCs spawned per owned cell. */
export const DEFAULT_NPCS_PER_CELL = 8;
/** Inputs a player may have waiting for the next tick; beyond, inputs are `"gap"` (re-sent later). */
export const MAX_QUEUED_INPUTS = 1_024;
/** The seed of the default random source. */
export const DEFAULT_SEED = 0x5eed;

/** An entity as a player sees it when it enters their interest. */
export interface EntityView {
  readonly id: string;
  readonly kind: string;
  readonly x: number;
  readonly y: number;
  /** The game's view of the entity ({@link GameModule.view}). */
  readonly data: unknown;
}

/** A change of an entity still in a player's interest: `x` and `y` when it moved, `data` when its view changed. */
export interface EntityUpdate {
  readonly id: string;
  readonly x?: number;
  readonly y?: number;
  readonly data?: unknown;
}

/** An event heard: emitted by entity `from` at (`x`, `y`). `data` is the game's. */
export interface HeardEvent {
  readonly from: string;
  readonly x: number;
  readonly y: number;
  readonly data: unknown;
}

/**
 * `PlayerView.data`: what changed in a player's interest (the entities within `aoiRadius` of them,
 * themselves included, local or ghosts of a neighbouring zone) since their previous view.
 *
 * - `full`: true on the first view a zone sends for a player (after login, a handoff in, a restore):
 *   `enter` then holds everything in the interest, and the client must forget every entity it knew.
 *   False afterwards.
 * - `you`: the player's own entity id (`p:<accountId>`); present only when `full` is true.
 * - `enter`: entities now in the interest that were not at the previous view, in full.
 * - `update`: entities in the interest at both views that changed: `x` and `y` (both) when it moved,
 *   `data` when its view changed, only what changed.
 * - `leave`: ids of the entities that were in the interest at the previous view and are no longer
 *   (moved away, or gone).
 * - `events`: the events emitted within `aoiRadius` of the player this tick (theirs included), in
 *   emission order (received ghost events after local ones).
 *
 * The four arrays are always present, possibly empty. Objects inside may be shared between the
 * views of one tick: read-only.
 */
export interface ViewDelta {
  readonly full: boolean;
  readonly you?: string;
  readonly enter: readonly EntityView[];
  readonly update: readonly EntityUpdate[];
  readonly leave: readonly string[];
  readonly events: readonly HeardEvent[];
}

/** Counters of a zone simulation since it was created. */
export interface ZoneSimStats {
  /** Inputs whose data the game refused (consumed: the ack moved past them). */
  readonly invalidInputs: number;
  /** Movement corrections (`GameContext.correct` calls). */
  readonly corrections: number;
  /** User-event handlers that threw. */
  readonly userEventErrors: number;
  /** Ghost entities received from neighbours, now. */
  readonly ghosts: number;
}

/** Options of {@link createZoneSim}. */
export interface ZoneSimOptions<S, I> {
  readonly config: WorldConfig;
  /** The game. Default: the demo game ({@link createDemoGame}). */
  readonly game?: GameModule<S, I>;
  /** Random numbers in [0, 1). Default: {@link seededRandom}({@link DEFAULT_SEED}). */
  readonly random?: () => number;
  /** NPCs spawned in each cell the zone gains ({@link GameModule.spawnNpcs}). Default {@link DEFAULT_NPCS_PER_CELL}. */
  readonly npcsPerCell?: number;
  /** The cells owned at the start. Default: none. */
  readonly cells?: Iterable<string>;
}

/** A {@link ZoneSim} with its counters. */
export interface LocalZoneSim extends ZoneSim {
  stats(): ZoneSimStats;
}

/** A deterministic random source (mulberry32) of numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The zone simulation of zone-api.ts; see the module's documentation. */
export function createZoneSim(
  options: ZoneSimOptions<never, never> & { readonly game?: undefined },
): LocalZoneSim;
export function createZoneSim<S, I>(
  options: ZoneSimOptions<S, I> & { readonly game: GameModule<S, I> },
): LocalZoneSim;
export function createZoneSim<S, I>(options: ZoneSimOptions<S, I>): LocalZoneSim {
  const { config, random, npcsPerCell, cells } = options;
  const base = { config, random, npcsPerCell, cells };
  return options.game === undefined ? new Zone(base, createDemoGame()) : new Zone(base, options.game);
}

// ---------------------------------------------------------------------------------------------

/**
 * An entity id as the views know it: shared by a local body and a ghost with the same id (a player
 * handed in is the entity the viewers saw as a ghost), kept while an entity or a player's view holds
 * it. `mark` is scratch space of view building (stamps never repeat, so no reset is needed).
 */
interface Tracked {
  readonly id: string;
  /** Which views send its far movement: those whose number ≡ −phase (mod `farEvery`). */
  readonly phase: number;
  mark: number;
  /** How many players' views hold it. */
  views: number;
}

/** What a player can see: a local body or a ghost. Per-tick messages are built once and shared. */
abstract class Visible {
  x: number;
  y: number;
  /** The game's view; `undefined` until the first tick reads it. */
  view: unknown = undefined;
  movedTick: number;
  dataTick: number;
  #msgTick = -1;
  #enter: EntityView | undefined;
  #move: EntityUpdate | undefined;
  #data: EntityUpdate | undefined;
  #both: EntityUpdate | undefined;

  readonly id: string;
  constructor(
    readonly tracked: Tracked,
    readonly kind: string,
    x: number,
    y: number,
    stamp: number,
  ) {
    this.id = tracked.id;
    this.x = x;
    this.y = y;
    this.movedTick = stamp;
    this.dataTick = stamp;
  }

  #fresh(tick: number): void {
    if (this.#msgTick === tick) return;
    this.#msgTick = tick;
    this.#enter = this.#move = this.#data = this.#both = undefined;
  }

  enter(tick: number): EntityView {
    this.#fresh(tick);
    this.#enter ??= { id: this.id, kind: this.kind, x: this.x, y: this.y, data: this.view };
    return this.#enter;
  }

  update(tick: number, moved: boolean, changed: boolean): EntityUpdate {
    this.#fresh(tick);
    if (moved && changed) {
      this.#both ??= { id: this.id, x: this.x, y: this.y, data: this.view };
      return this.#both;
    }
    if (moved) {
      this.#move ??= { id: this.id, x: this.x, y: this.y };
      return this.#move;
    }
    this.#data ??= { id: this.id, data: this.view };
    return this.#data;
  }
}

class Body<S> extends Visible implements Entity<S> {
  frozen = false;
  /** The zone it lives in, and whether it left it: a reference a game kept may be stale. */
  zone: unknown = undefined;
  removed = false;
  ghost: GhostEntity | undefined;
  constructor(
    tracked: Tracked,
    kind: string,
    x: number,
    y: number,
    stamp: number,
    public state: S,
    readonly player: PlayerInfo | undefined,
    /** An NPC's cell: it goes with the cell. */
    readonly homeCell: string | undefined,
  ) {
    super(tracked, kind, x, y, stamp);
  }
}

class Ghost extends Visible {
  constructor(
    tracked: Tracked,
    kind: string,
    x: number,
    y: number,
    stamp: number,
    public server: string,
  ) {
    super(tracked, kind, x, y, stamp);
  }
}

interface Queued<I> {
  readonly seq: number;
  /** undefined: an invalid input, consumed as a no-op. */
  readonly intent: I | undefined;
}

interface Seat<S, I> {
  readonly body: Body<S>;
  /** The last sequence accepted (queued or applied). */
  lastSeq: number;
  /** The last sequence applied by a tick: the ack. */
  appliedSeq: number;
  queue: Queued<I>[];
  /** The entities in the player's last view; `spare` is the next view's array (swapped each view). */
  view: Tracked[];
  spare: Tracked[];
  /** The tick of the last view sent; -1 before the first (the next is full). */
  lastViewTick: number;
  /** Views taken. */
  views: number;
  /** The ticks of the last `farEvery` views (view n at n mod `farEvery`). */
  readonly recent: number[];
  heard: HeardEvent[];
}

interface GhostBatch {
  readonly entities: GhostEntity[];
  readonly events: HeardEvent[];
}

const NO_IDS: readonly string[] = Object.freeze([]);

/** The entity id of a player's body: `p:<accountId>`. */
export function playerEntityId(accountId: string): string {
  return `p:${accountId}`;
}

/**
 * Whether two views are the same data: equal primitives, arrays of the same data, plain objects
 * with the same defined fields holding the same data (field order does not matter). Anything else
 * is compared by its JSON. Cheaper than comparing JSON strings, the zone's per-entity per-tick cost.
 */
function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    // NaN is the same NaN (its JSON is null either way).
    return typeof a === "number" && typeof b === "number" && Number.isNaN(a) && Number.isNaN(b);
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const pa: unknown = Object.getPrototypeOf(a);
  const pb: unknown = Object.getPrototypeOf(b);
  if ((pa !== Object.prototype && pa !== null) || (pb !== Object.prototype && pb !== null)) {
    return JSON.stringify(a) === JSON.stringify(b);
  }
  const oa = a as Record<string, unknown>;
  const ob = b as Record<string, unknown>;
  let na = 0;
  for (const key in oa) {
    const v = oa[key];
    if (v === undefined) continue;
    na++;
    if (!sameData(v, ob[key])) return false;
  }
  let nb = 0;
  for (const key in ob) if (ob[key] !== undefined) nb++;
  return na === nb;
}

function isHeardEvent(v: unknown): v is HeardEvent {
  if (typeof v !== "object" || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e.from === "string" && Number.isFinite(e.x) && Number.isFinite(e.y);
}

class Zone<S, I> implements LocalZoneSim {
  readonly config: WorldConfig;
  readonly #game: GameModule<S, I>;
  readonly #random: () => number;
  readonly #npcsPerCell: number;
  readonly #maxX: number;
  readonly #maxY: number;
  readonly #cellW: number;
  readonly #cellH: number;

  #tick = 0;
  #cells = new Set<string>();
  /** Cells not owned that touch an owned one: each gets a ghost batch every tick. */
  #borderCells: string[] = [];

  readonly #bodies = new Map<string, Body<S>>();
  readonly #seats = new Map<string, Seat<S, I>>();
  readonly #grid: SpatialGrid<Body<S>>;
  readonly #ghosts = new Map<string, Ghost>();
  readonly #ghostGrid: SpatialGrid<Ghost>;
  /** Entity id → its {@link Tracked}, while a body, a ghost or a player's view holds it. */
  readonly #tracked = new Map<string, Tracked>();
  /** The last stamp of view building. */
  #stamp = 0;
  #ghostEventsIn: HeardEvent[] = [];

  #events: HeardEvent[] = [];
  #userEvents: unknown[] = [];
  #corrected = new Set<string>();
  #stats = { invalidInputs: 0, corrections: 0, userEventErrors: 0 };
  readonly #ctx: GameContext<S>;

  // The view being built (the visitors are allocated once).
  #seat: Seat<S, I> | undefined;
  /** Marks the entities of the view being replaced… */
  #before = 0;
  /** …and those of the view being built. */
  #now = 0;
  #enter: EntityView[] = [];
  #update: EntityUpdate[] = [];
  /** The bodies not frozen, in creation order, while no body comes, goes, freezes or thaws. */
  #active: Body<S>[] | undefined;

  /** Scratch of {@link SpatialGrid.collectRadius}: the bodies in the view being built, and where. */
  readonly #found: Body<S>[] = [];
  readonly #foundX: number[] = [];
  readonly #foundY: number[] = [];
  readonly #visitGhost = (g: Ghost, x: number, y: number): void => {
    if (!this.#bodies.has(g.id)) this.#see(g, x, y);
  };
  // Level of detail of the view being built (see `WorldConfig.detailRadius`).
  #vx = 0;
  #vy = 0;
  readonly #detail2: number;
  readonly #farEvery: number;
  /** The view being built sends far movement of entities with this phase. */
  #farPhase = 0;
  /** Movement after this tick is news to the player (the view `farEvery` views ago). */
  #since = -1;
  #trackCount = 0;

  constructor(
    options: {
      readonly config: WorldConfig;
      readonly random: (() => number) | undefined;
      readonly npcsPerCell: number | undefined;
      readonly cells: Iterable<string> | undefined;
    },
    game: GameModule<S, I>,
  ) {
    const { config } = options;
    const npcs = options.npcsPerCell ?? DEFAULT_NPCS_PER_CELL;
    if (!Number.isSafeInteger(npcs) || npcs < 0) {
      throw new WorldError(WorldErrorCode.InvalidConfig, `npcsPerCell must be a non-negative integer`, {
        problems: [`npcsPerCell must be a non-negative integer, got ${npcs}`],
      });
    }
    this.config = config;
    this.#game = game;
    this.#random = options.random ?? seededRandom(DEFAULT_SEED);
    this.#npcsPerCell = npcs;
    // The far edges are outside the world (cells.ts `inBounds`).
    this.#maxX = config.width * (1 - 2 ** -40);
    this.#maxY = config.height * (1 - 2 ** -40);
    this.#cellW = config.width / config.cols;
    this.#cellH = config.height / config.rows;
    // Half-radius buckets: a view query visits 5×5 small buckets, fewer candidates than 3×3 large ones.
    this.#grid = new SpatialGrid({ cellSize: config.aoiRadius / 2 });
    this.#ghostGrid = new SpatialGrid({ cellSize: config.aoiRadius / 2 });
    this.#detail2 = config.detailRadius * config.detailRadius;
    this.#farEvery = config.farEvery;
    this.#ctx = this.#context();
    if (options.cells !== undefined) this.setCells(options.cells);
  }

  get tick(): number {
    return this.#tick;
  }

  get cells(): ReadonlySet<string> {
    return this.#cells;
  }

  setCells(cells: Iterable<string>): void {
    const next = new Set<string>();
    for (const id of cells) {
      parseCellId(this.config, id);
      next.add(id);
    }
    for (const body of [...this.#bodies.values()]) {
      if (body.homeCell !== undefined && !next.has(body.homeCell)) this.#removeBody(body);
    }
    const gained = [...next].filter((id) => !this.#cells.has(id));
    this.#cells = next;
    for (const id of gained) this.#spawnNpcs(id);
    this.#borderCells = this.#neighbours();
  }

  addPlayer(snapshot: PlayerSnapshot): void {
    const info: PlayerInfo = { accountId: snapshot.accountId, username: snapshot.username };
    const state = this.#game.restorePlayerState(snapshot.state, info);
    const lastSeq = Number.isSafeInteger(snapshot.lastSeq) && snapshot.lastSeq > 0 ? snapshot.lastSeq : 0;
    this.#place(info, snapshot.x, snapshot.y, state, lastSeq);
  }

  spawnPlayer(accountId: string, username: string, x: number, y: number): PlayerSnapshot {
    const state = this.#game.initialPlayerState({ accountId, username, x, y });
    this.#place({ accountId, username }, x, y, state, 0);
    return this.snapshot(accountId) as PlayerSnapshot;
  }

  removePlayer(accountId: string): PlayerSnapshot | undefined {
    const snap = this.snapshot(accountId);
    const seat = this.#seats.get(accountId);
    if (seat !== undefined) {
      this.#seats.delete(accountId);
      this.#removeBody(seat.body);
      this.#dropView(seat);
    }
    return snap;
  }

  hasPlayer(accountId: string): boolean {
    return this.#seats.has(accountId);
  }

  snapshot(accountId: string): PlayerSnapshot | undefined {
    const seat = this.#seats.get(accountId);
    if (seat === undefined) return undefined;
    const { body } = seat;
    const player = body.player as PlayerInfo;
    return {
      accountId: player.accountId,
      username: player.username,
      x: body.x,
      y: body.y,
      lastSeq: seat.appliedSeq,
      state: structuredClone(body.state),
    };
  }

  snapshots(): PlayerSnapshot[] {
    const out: PlayerSnapshot[] = [];
    for (const accountId of this.#seats.keys()) out.push(this.snapshot(accountId) as PlayerSnapshot);
    return out;
  }

  input(accountId: string, seq: number, data: unknown): InputResult {
    const seat = this.#seats.get(accountId);
    if (seat === undefined) return "unknown_player";
    if (seat.body.frozen) return "frozen";
    if (!Number.isSafeInteger(seq) || seq < 1) return "invalid";
    if (seq <= seat.lastSeq) return "duplicate";
    if (seq > seat.lastSeq + 1 || seat.queue.length >= MAX_QUEUED_INPUTS) return "gap";
    seat.lastSeq = seq;
    const intent = this.#game.validateInput(data);
    seat.queue.push({ seq, intent });
    if (intent === undefined) {
      this.#stats.invalidInputs++;
      return "invalid";
    }
    return "applied";
  }

  step(): TickResult {
    const tick = ++this.#tick;
    const ctx = this.#ctx;
    this.#corrected.clear();

    // 1. User events of the previous tick, in posting order; those posted now wait for the next.
    const userEvents = this.#userEvents;
    this.#userEvents = [];
    const onUserEvent = this.#game.onUserEvent;
    if (onUserEvent !== undefined) {
      for (const event of userEvents) {
        try {
          onUserEvent.call(this.#game, event, ctx);
        } catch {
          this.#stats.userEventErrors++;
        }
      }
    }

    // 2. Inputs, in sequence order.
    for (const seat of this.#seats.values()) {
      if (seat.body.frozen || seat.queue.length === 0) continue;
      const queue = seat.queue;
      seat.queue = [];
      for (const { seq, intent } of queue) {
        seat.appliedSeq = seq;
        if (intent !== undefined) this.#game.applyInput(seat.body, intent, ctx);
      }
    }

    // 3. Systems.
    for (const system of this.#game.systems) system(ctx);

    // 4. Views of entities: stamped when they change.
    for (const body of this.#bodies.values()) {
      const view = this.#game.view(body);
      if (!sameData(view, body.view)) {
        body.view = view;
        body.dataTick = tick;
      }
      body.ghost = undefined;
    }

    // 5. Events heard: this zone's, then the neighbours'.
    const events = this.#events;
    this.#events = [];
    const ghostEventsIn = this.#ghostEventsIn;
    this.#ghostEventsIn = [];
    const aoi = this.config.aoiRadius;
    for (const list of [events, ghostEventsIn]) {
      for (const event of list) {
        this.#grid.visitRadius(event.x, event.y, aoi, (b) => {
          if (b.player === undefined || b.frozen) return;
          this.#seats.get(b.player.accountId)?.heard.push(event);
        });
      }
    }

    // 6. Crossings.
    const crossings: Crossing[] = [];
    const strays = new Map<Body<S>, string>();
    for (const seat of this.#seats.values()) {
      const { body } = seat;
      const cell = cellAt(this.config, body.x, body.y);
      if (this.#cells.has(cell)) continue;
      strays.set(body, cell);
      if (body.frozen) continue;
      body.frozen = true;
      this.#active = undefined;
      seat.queue = [];
      const player = body.player as PlayerInfo;
      crossings.push({
        accountId: player.accountId,
        cell,
        snapshot: this.snapshot(player.accountId) as PlayerSnapshot,
      });
    }

    // 7. Views of players.
    const views: PlayerView[] = [];
    for (const seat of this.#seats.values()) {
      if (seat.body.frozen) continue;
      views.push({
        accountId: (seat.body.player as PlayerInfo).accountId,
        ack: seat.appliedSeq,
        data: this.#delta(seat, tick),
      });
    }

    // 8. Ghosts, for every neighbouring cell this zone does not own.
    const ghosts = new Map<string, GhostBatch>();
    for (const id of this.#borderCells) ghosts.set(id, { entities: [], events: [] });
    const batch = (id: string): GhostBatch => {
      let b = ghosts.get(id);
      if (b === undefined) {
        b = { entities: [], events: [] };
        ghosts.set(id, b);
      }
      return b;
    };
    for (const body of this.#bodies.values()) {
      const stray = strays.get(body);
      if (stray !== undefined) batch(stray).entities.push(this.#ghostOf(body));
      if (!this.#nearBorder(body.x, body.y)) continue;
      for (const id of cellsNear(this.config, body.x, body.y, this.config.ghostMargin)) {
        if (!this.#cells.has(id) && id !== stray) batch(id).entities.push(this.#ghostOf(body));
      }
    }
    for (const event of events) {
      const home = cellAt(this.config, event.x, event.y);
      if (!this.#cells.has(home)) batch(home).events.push(event);
      if (!this.#nearBorder(event.x, event.y)) continue;
      for (const id of cellsNear(this.config, event.x, event.y, this.config.ghostMargin)) {
        if (!this.#cells.has(id)) batch(id).events.push(event);
      }
    }

    return { tick, views, crossings, ghosts, corrections: [...this.#corrected] };
  }

  release(accountId: string): void {
    this.removePlayer(accountId);
  }

  keep(accountId: string): void {
    const seat = this.#seats.get(accountId);
    if (seat !== undefined) {
      seat.body.frozen = false;
      this.#active = undefined;
    }
  }

  setGhosts(server: string, entities: readonly GhostEntity[], events: readonly unknown[]): void {
    const stamp = this.#tick + 1;
    const fresh = new Set<string>();
    for (const e of entities) {
      if (!Number.isFinite(e.x) || !Number.isFinite(e.y) || typeof e.id !== "string") continue;
      fresh.add(e.id);
      let ghost = this.#ghosts.get(e.id);
      if (ghost === undefined) {
        ghost = new Ghost(this.#track(e.id), e.kind, e.x, e.y, stamp, server);
        this.#ghosts.set(e.id, ghost);
        this.#ghostGrid.insert(ghost, e.x, e.y);
      } else if (ghost.x !== e.x || ghost.y !== e.y) {
        ghost.x = e.x;
        ghost.y = e.y;
        ghost.movedTick = stamp;
        this.#ghostGrid.move(ghost, e.x, e.y);
      }
      ghost.server = server;
      if (!sameData(e.data, ghost.view)) {
        ghost.view = e.data;
        ghost.dataTick = stamp;
      }
    }
    for (const ghost of [...this.#ghosts.values()]) {
      if (ghost.server === server && !fresh.has(ghost.id)) {
        this.#ghosts.delete(ghost.id);
        this.#ghostGrid.remove(ghost);
        this.#untrack(ghost.tracked);
      }
    }
    for (const event of events) if (isHeardEvent(event)) this.#ghostEventsIn.push(event);
  }

  entityCount(): number {
    return this.#bodies.size;
  }

  *entities(): Iterable<EntityPosition> {
    for (const body of this.#bodies.values()) yield body;
  }

  stats(): ZoneSimStats {
    return { ...this.#stats, ghosts: this.#ghosts.size };
  }

  // -------------------------------------------------------------------------------------------

  #context(): GameContext<S> {
    const zone = this;
    const bodies = this.#bodies;
    return {
      config: this.config,
      get tick() {
        return zone.#tick;
      },
      random: this.#random,
      entities: () => this.#activeBodies(),
      get: (id) => bodies.get(id),
      near: (x, y, radius, out = []) => {
        this.#grid.visitRadius(x, y, radius, (b) => {
          out.push(b);
        });
        return out;
      },
      moveTo: (entity, x, y) => {
        // The game passes the entities it was given: a live body is its own record (no lookup).
        const body =
          entity instanceof Body && entity.zone === this && !entity.removed ? entity : bodies.get(entity.id);
        if (body === undefined || body.frozen || !Number.isFinite(x) || !Number.isFinite(y)) return;
        const cx = Math.min(Math.max(x, 0), this.#maxX);
        const cy = Math.min(Math.max(y, 0), this.#maxY);
        if (cx === body.x && cy === body.y) return;
        body.x = cx;
        body.y = cy;
        body.movedTick = this.#tick;
        this.#grid.move(body, cx, cy);
      },
      emit: (from, data) => {
        this.#events.push({ from: from.id, x: from.x, y: from.y, data });
      },
      post: (event) => {
        this.#userEvents.push(event);
      },
      correct: (entity) => {
        this.#stats.corrections++;
        if (entity.player !== undefined) this.#corrected.add(entity.player.accountId);
      },
    };
  }

  #place(info: PlayerInfo, x: number, y: number, state: S, lastSeq: number): void {
    const old = this.#seats.get(info.accountId);
    if (old !== undefined) {
      this.#removeBody(old.body);
      this.#dropView(old);
    }
    const px = Number.isFinite(x) ? Math.min(Math.max(x, 0), this.#maxX) : 0;
    const py = Number.isFinite(y) ? Math.min(Math.max(y, 0), this.#maxY) : 0;
    const body = new Body<S>(
      this.#track(playerEntityId(info.accountId)),
      this.#game.playerKind,
      px,
      py,
      this.#tick + 1,
      state,
      { accountId: info.accountId, username: info.username },
      undefined,
    );
    this.#addBody(body);
    this.#seats.set(info.accountId, {
      body,
      lastSeq,
      appliedSeq: lastSeq,
      queue: [],
      view: [],
      spare: [],
      lastViewTick: -1,
      views: 0,
      recent: [],
      heard: [],
    });
  }

  #spawnNpcs(cell: string): void {
    if (this.#npcsPerCell === 0 || this.#game.spawnNpcs === undefined) return;
    const bounds = cellBounds(this.config, cell);
    const spawns = this.#game.spawnNpcs({ id: cell, ...bounds }, this.#npcsPerCell, this.#random);
    spawns.forEach((spawn, i) => {
      const x = Math.min(Math.max(spawn.x, bounds.minX), bounds.maxX - this.#cellW * 2 ** -40);
      const y = Math.min(Math.max(spawn.y, bounds.minY), bounds.maxY - this.#cellH * 2 ** -40);
      const body = new Body<S>(
        this.#track(`npc:${cell}:${i}`),
        spawn.kind,
        x,
        y,
        this.#tick + 1,
        spawn.state,
        undefined,
        cell,
      );
      this.#addBody(body);
    });
  }

  /** `GameContext.entities()`: one array per change of the set, not a generator step per entity. */
  #activeBodies(): readonly Body<S>[] {
    if (this.#active === undefined) {
      const active: Body<S>[] = [];
      for (const body of this.#bodies.values()) if (!body.frozen) active.push(body);
      this.#active = active;
    }
    return this.#active;
  }

  #addBody(body: Body<S>): void {
    body.zone = this;
    this.#active = undefined;
    this.#bodies.set(body.id, body);
    this.#grid.insert(body, body.x, body.y);
  }

  #removeBody(body: Body<S>): void {
    body.removed = true;
    this.#active = undefined;
    if (this.#bodies.get(body.id) === body) this.#bodies.delete(body.id);
    this.#grid.remove(body);
    this.#untrack(body.tracked);
  }

  #track(id: string): Tracked {
    let t = this.#tracked.get(id);
    if (t === undefined) {
      t = { id, phase: this.#trackCount++ % this.#farEvery, mark: 0, views: 0 };
      this.#tracked.set(id, t);
    }
    return t;
  }

  /** Forgets `t` once no body, ghost or view holds its id. */
  #untrack(t: Tracked): void {
    if (t.views > 0 || this.#bodies.has(t.id) || this.#ghosts.has(t.id)) return;
    if (this.#tracked.get(t.id) === t) this.#tracked.delete(t.id);
  }

  #delta(seat: Seat<S, I>, tick: number): ViewDelta {
    const full = seat.lastViewTick < 0;
    this.#seat = seat;
    this.#enter = [];
    this.#update = [];
    // Mark the last view's entities, then visit the interest: an entity marked `before` was seen, one
    // marked `now` is already in this view (a body and a ghost of one id), any other mark is new.
    const before = ++this.#stamp;
    const previous = seat.view;
    for (let i = 0; i < previous.length; i++) (previous[i] as Tracked).mark = before;
    this.#before = before;
    this.#now = ++this.#stamp;
    const next = seat.spare;
    next.length = 0;
    const { x, y } = seat.body;
    this.#vx = x;
    this.#vy = y;
    const every = this.#farEvery;
    const n = seat.views++;
    this.#farPhase = (every - (n % every)) % every;
    this.#since = seat.recent[n % every] ?? -1;
    seat.recent[n % every] = tick;
    const aoi = this.config.aoiRadius;
    const found = this.#found;
    const xs = this.#foundX;
    const ys = this.#foundY;
    const count = this.#grid.collectRadius(x, y, aoi, found, xs, ys);
    for (let i = 0; i < count; i++) this.#see(found[i] as Body<S>, xs[i] as number, ys[i] as number);
    if (this.#ghosts.size > 0) this.#ghostGrid.visitRadius(x, y, aoi, this.#visitGhost);
    let leave: string[] | undefined;
    for (let i = 0; i < previous.length; i++) {
      const t = previous[i] as Tracked;
      if (t.mark !== before) continue;
      if (leave === undefined) leave = [];
      leave.push(t.id);
      t.views--;
      this.#untrack(t);
    }
    seat.view = next;
    seat.spare = previous;
    previous.length = 0;
    const events = seat.heard;
    if (events.length > 0) seat.heard = [];
    seat.lastViewTick = tick;
    this.#seat = undefined;
    const delta: ViewDelta = {
      full,
      enter: this.#enter,
      update: this.#update,
      leave: leave ?? NO_IDS,
      events,
    };
    return full ? { ...delta, you: seat.body.id } : delta;
  }

  #see(v: Visible, x: number, y: number): void {
    const seat = this.#seat as Seat<S, I>;
    const t = v.tracked;
    const mark = t.mark;
    if (mark === this.#now) return;
    t.mark = this.#now;
    seat.spare.push(t);
    if (mark !== this.#before) {
      t.views++;
      this.#enter.push(v.enter(this.#tick));
      return;
    }
    // Movement: since the view `farEvery` views ago, the last this entity's movement was surely sent
    // (entering sends it too); beyond the detail radius only at the views of its phase.
    const dx = x - this.#vx;
    const dy = y - this.#vy;
    const moved =
      v.movedTick > this.#since && (dx * dx + dy * dy <= this.#detail2 || t.phase === this.#farPhase);
    const changed = v.dataTick > seat.lastViewTick;
    if (moved || changed) this.#update.push(v.update(this.#tick, moved, changed));
  }

  /** Lets go of what a player's view holds (the player is gone). */
  #dropView(seat: Seat<S, I>): void {
    for (const t of seat.view) {
      t.views--;
      this.#untrack(t);
    }
    seat.view = [];
  }

  #ghostOf(body: Body<S>): GhostEntity {
    body.ghost ??= { id: body.id, kind: body.kind, x: body.x, y: body.y, data: body.view };
    return body.ghost;
  }

  /** Whether (`x`, `y`) may be within the ghost margin of another cell (cheap; `cellsNear` decides). */
  #nearBorder(x: number, y: number): boolean {
    const m = this.config.ghostMargin;
    const fx = x % this.#cellW;
    const fy = y % this.#cellH;
    return fx <= m || this.#cellW - fx <= m || fy <= m || this.#cellH - fy <= m;
  }

  /** Cells not owned in the 8-neighbourhood of an owned cell. */
  #neighbours(): string[] {
    const out = new Set<string>();
    for (const id of this.#cells) {
      const { col, row } = parseCellId(this.config, id);
      for (let dc = -1; dc <= 1; dc++) {
        for (let dr = -1; dr <= 1; dr++) {
          const c = col + dc;
          const r = row + dr;
          if (c < 0 || r < 0 || c >= this.config.cols || r >= this.config.rows) continue;
          const n = cellId(c, r);
          if (!this.#cells.has(n)) out.add(n);
        }
      }
    }
    return [...out].sort();
  }
}
