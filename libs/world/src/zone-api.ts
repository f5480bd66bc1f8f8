/**
 * The simulation of one zone server, without any networking: the cells it owns, the entities in
 * them (players, NPCs), the game module that moves them, interest management, and what crosses its
 * borders. `services/gameserver` drives it: it feeds inputs and ghosts in, calls {@link ZoneSim.tick}
 * at the world's tick rate, and ships what a tick returns (updates per player, handoffs, ghosts).
 *
 * This file is the contract between the two; `createZoneSim` (zone-sim.ts) implements it.
 *
 * @module
 */
import type { WorldConfig } from "./world-config.js";

/** A player's state as it travels in checkpoints and handoffs: the game's, plus the position. */
export interface PlayerSnapshot {
  readonly accountId: string;
  readonly username: string;
  readonly x: number;
  readonly y: number;
  /** The last input sequence applied (0: none). */
  readonly lastSeq: number;
  /** The game module's own state of the player (JSON-serialisable). */
  readonly state: unknown;
}

/** What one player sees after a tick: the entities in their interest, as deltas. */
export interface PlayerView {
  readonly accountId: string;
  /** The last input sequence applied for the player (the gateway trims its buffer by it). */
  readonly ack: number;
  /**
   * The game's delta for the player: entities that entered, moved or changed within the interest
   * radius, those that left it, and the events (chat, emotes) heard. JSON/MessagePack-serialisable.
   */
  readonly data: unknown;
}

/** A player who crossed into a cell this zone does not own: to be handed off. */
export interface Crossing {
  readonly accountId: string;
  /** The cell entered. */
  readonly cell: string;
  /** The player, frozen: no input is applied to them until {@link ZoneSim.release} or {@link ZoneSim.keep}. */
  readonly snapshot: PlayerSnapshot;
}

/** A read-only copy of an entity near a border, for the neighbouring cell's owner. */
export interface GhostEntity {
  readonly id: string;
  readonly kind: string;
  readonly x: number;
  readonly y: number;
  readonly data: unknown;
}

/** What a tick produced. */
export interface TickResult {
  readonly tick: number;
  /** One view per player of this zone (players frozen for a handoff get none). */
  readonly views: readonly PlayerView[];
  /** Players who entered a cell this zone does not own this tick. */
  readonly crossings: readonly Crossing[];
  /** For each neighbouring cell (by id): the entities within the ghost margin of it, and the events heard there. */
  readonly ghosts: ReadonlyMap<
    string,
    { readonly entities: readonly GhostEntity[]; readonly events: readonly unknown[] }
  >;
  /** Movement corrections this tick (speed or teleport hacks), by account id. */
  readonly corrections: readonly string[];
}

/** The result of applying an input. */
export type InputResult = "applied" | "duplicate" | "gap" | "unknown_player" | "frozen" | "invalid";

/** The simulation of the cells one zone server owns. */
export interface ZoneSim {
  readonly config: WorldConfig;
  /** The tick number (0 before the first tick). */
  readonly tick: number;
  /** Cells owned now. */
  readonly cells: ReadonlySet<string>;
  /** Sets the owned cells (a lease gained or lost). Players in a lost cell stay until removed. */
  setCells(cells: Iterable<string>): void;
  /** Adds (or replaces) a player from a snapshot (login, handoff in, restore). */
  addPlayer(snapshot: PlayerSnapshot): void;
  /** A new player at (`x`, `y`) with the game's initial state. */
  spawnPlayer(accountId: string, username: string, x: number, y: number): PlayerSnapshot;
  /** Removes a player; returns their last snapshot, or undefined when unknown. */
  removePlayer(accountId: string): PlayerSnapshot | undefined;
  hasPlayer(accountId: string): boolean;
  /** The player's current snapshot (checkpoints), or undefined. */
  snapshot(accountId: string): PlayerSnapshot | undefined;
  /** Every player's snapshot (periodic checkpoints). */
  snapshots(): PlayerSnapshot[];
  /**
   * Queues one input for the next tick when `seq` is exactly the last applied + 1 (inputs are
   * applied in order, contiguously: docs/protocol.md §11); the game validates it there.
   */
  input(accountId: string, seq: number, data: unknown): InputResult;
  /** Advances one tick: systems, inputs, movement, interest, crossings, ghosts. */
  step(): TickResult;
  /** A crossing's handoff succeeded: the player leaves this zone. */
  release(accountId: string): void;
  /** A crossing's handoff failed: the player is unfrozen and stays (retried on a later tick). */
  keep(accountId: string): void;
  /** Replaces the ghosts received from `server` (a neighbour's batch). */
  setGhosts(server: string, entities: readonly GhostEntity[], events: readonly unknown[]): void;
  /** Entities now (players, NPCs), for tests and the live map. */
  entityCount(): number;
  /**
   * The zone's own entities now (players and NPCs, not ghosts): id (a player's is
   * `playerEntityId(accountId)`), kind and position, for tools such as the live map. Read them
   * before the next call that changes the zone.
   */
  entities(): Iterable<EntityPosition>;
}

/** Where an entity is (see {@link ZoneSim.entities}). */
export interface EntityPosition {
  readonly id: string;
  readonly kind: string;
  readonly x: number;
  readonly y: number;
}
