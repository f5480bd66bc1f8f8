/**
 * The game as a plugin. A {@link GameModule} says what entities there are, what a player's state
 * is, which inputs are valid and what they do, what runs every tick and what other players see of
 * an entity. The zone simulation (zone-sim.ts) owns everything else: positions and the spatial
 * index, input order and acknowledgement, interest, ghosts, crossings and snapshots.
 *
 * A minimal game (players walk; no NPCs):
 *
 * ```ts
 * const walk: GameModule<{ dx: number; dy: number }, { dx: number; dy: number }> = {
 *   name: "walk",
 *   playerKind: "player",
 *   kinds: ["player"],
 *   initialPlayerState: () => ({ dx: 0, dy: 0 }),
 *   restorePlayerState: (saved) => {
 *     const s = saved as { dx?: unknown; dy?: unknown } | null;
 *     return typeof s?.dx === "number" && typeof s.dy === "number" ? { dx: s.dx, dy: s.dy } : { dx: 0, dy: 0 };
 *   },
 *   validateInput: (data) => {
 *     const d = data as { dx?: unknown; dy?: unknown } | null;
 *     return typeof d?.dx === "number" && typeof d.dy === "number" ? { dx: d.dx, dy: d.dy } : undefined;
 *   },
 *   applyInput(player, intent) {
 *     const len = Math.hypot(intent.dx, intent.dy);
 *     player.state = len > 1 ? { dx: intent.dx / len, dy: intent.dy / len } : intent; // never faster
 *   },
 *   systems: [
 *     (ctx) => {
 *       for (const e of ctx.entities()) ctx.moveTo(e, e.x + e.state.dx * 5, e.y + e.state.dy * 5);
 *     },
 *   ],
 *   view: (e) => ({ name: e.player?.username ?? e.id }),
 * };
 * const sim = createZoneSim({ config: worldConfig(), game: walk });
 * ```
 *
 * ## A tick, in order
 *
 * 1. User events posted during the previous tick are delivered to {@link GameModule.onUserEvent},
 *    in posting order.
 * 2. Each player's queued inputs are applied, in sequence order ({@link GameModule.applyInput}).
 * 3. {@link GameModule.systems} run, in array order.
 * 4. The simulation reads {@link GameModule.view} of every entity, delivers the events emitted
 *    ({@link GameContext.emit}) to the players within the interest radius, detects crossings and
 *    computes views and ghosts.
 *
 * ## User events
 *
 * {@link GameContext.post} is the seed's `PostQueuedCompletionStatus`: it queues an event and
 * returns at once. Events are delivered to {@link GameModule.onUserEvent} at the start of the
 * *next* tick, never inside the tick (or handler) that posted them, one at a time, in posting order.
 * An event posted by a handler is delivered on the tick after. A handler that starts asynchronous
 * work (a promise) is not awaited: the tick never waits for it. A handler that throws is counted
 * (`stats().userEventErrors`) and the next event is delivered.
 *
 * @module
 */
import type { WorldConfig } from "./world-config.js";

/** The account of a player entity. */
export interface PlayerInfo {
  readonly accountId: string;
  readonly username: string;
}

/**
 * An entity as game code sees it. Its position changes only through {@link GameContext.moveTo}
 * (which keeps the spatial index right and the entity in bounds); its `state` is the game's.
 */
export interface Entity<S> {
  /** Unique in the world: `p:<accountId>` for a player, `npc:<cell>:<n>` for an NPC. */
  readonly id: string;
  /** One of {@link GameModule.kinds}. */
  readonly kind: string;
  readonly x: number;
  readonly y: number;
  /** The game's state. A player's travels in snapshots: keep it JSON-serialisable. */
  state: S;
  /** Set for players. */
  readonly player: PlayerInfo | undefined;
}

/** A rectangle [minX, maxX) × [minY, maxY). */
export interface Rect {
  readonly minX: number;
  readonly minY: number;
  readonly maxX: number;
  readonly maxY: number;
}

/** An NPC to create in a cell. */
export interface NpcSpawn<S> {
  readonly kind: string;
  readonly x: number;
  readonly y: number;
  readonly state: S;
}

/** What game code may do during a tick (inputs, systems, user events). */
export interface GameContext<S> {
  readonly config: WorldConfig;
  /** The tick being computed (1 for the first). */
  readonly tick: number;
  /** The simulation's random source (seeded: a zone is deterministic given its seed). */
  readonly random: () => number;
  /** This zone's entities, players and NPCs, in creation order; players frozen for a handoff excluded. */
  entities(): Iterable<Entity<S>>;
  /** The entity with this id (frozen players included), or undefined. */
  get(id: string): Entity<S> | undefined;
  /** This zone's entities within `radius` of (`x`, `y`) (frozen players included), appended to `out`. */
  near(x: number, y: number, radius: number, out?: Entity<S>[]): Entity<S>[];
  /** Moves `entity`, clamped to the world's bounds. A frozen player does not move. */
  moveTo(entity: Entity<S>, x: number, y: number): void;
  /**
   * An event at `from`'s position, heard this tick by every player within the interest radius,
   * including players across a border (ghost events). `data` is what they receive: keep it
   * JSON/MessagePack-serialisable.
   */
  emit(from: Entity<S>, data: unknown): void;
  /** Queues a user event for {@link GameModule.onUserEvent}: delivered after this tick, in order. */
  post(event: unknown): void;
  /** Counts a movement correction of a player (a speed or teleport hack): `TickResult.corrections`. */
  correct(entity: Entity<S>, reason: string): void;
}

/** A per-tick system: runs once per tick, in {@link GameModule.systems} order. */
export type GameSystem<S> = (ctx: GameContext<S>) => void;

/**
 * A game: `S` is the state of an entity, `I` a valid input (an intent). Inputs are intents, never
 * outcomes: "walk north", not "I am at (3, 4)". The simulation decides what happens.
 */
export interface GameModule<S, I> {
  /** The game's name (logs, the live map). */
  readonly name: string;
  /** Every entity kind. */
  readonly kinds: readonly string[];
  /** The kind of player entities. */
  readonly playerKind: string;
  /** A new player's state. */
  initialPlayerState(player: PlayerInfo & { readonly x: number; readonly y: number }): S;
  /**
   * A player's state from a snapshot (`PlayerSnapshot.state`, as this game saved it, possibly
   * through MessagePack). Validate it: a state that cannot be read gives a fresh one.
   * `restorePlayerState(structuredClone(state))` must equal `state`: snapshots round-trip exactly.
   */
  restorePlayerState(saved: unknown, player: PlayerInfo): S;
  /** The NPCs of a cell the zone gains (`count` of them; `random` is the simulation's). */
  spawnNpcs?(cell: Rect & { readonly id: string }, count: number, random: () => number): NpcSpawn<S>[];
  /** The intent of an input's `data`, or undefined when it is not a valid input. Pure. */
  validateInput(data: unknown): I | undefined;
  /** Applies a valid intent to its player, during the tick, in sequence order. */
  applyInput(player: Entity<S>, intent: I, ctx: GameContext<S>): void;
  /** Per-tick systems (AI, movement integration…), after the inputs. */
  readonly systems: readonly GameSystem<S>[];
  /**
   * What other players see of an entity (and the player of themselves): JSON/MessagePack
   * serialisable, compared (structurally) between ticks to send it only when it changed. Return a
   * new value rather than changing the one returned before (that one is what it is compared with).
   * Keep it small.
   */
  view(entity: Entity<S>): unknown;
  /** Handles a user event posted by {@link GameContext.post}, at the start of the next tick. */
  onUserEvent?(event: unknown, ctx: GameContext<S>): void;
}
