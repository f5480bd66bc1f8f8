/**
 * The newest world map this server has seen (`world_map`, published by the authority): the owner and
 * epoch of every cell, which routes handoffs and ghosts. A map is taken only when it is newer: a
 * higher `leaderEpoch`, or the same one with a higher `version`.
 */
import type { WorldMap } from "@meridian/protocol";

/** A cell's owner as the map says. */
export interface CellOwner {
  readonly server: string | null;
  readonly epoch: number;
}

export class WorldMapView {
  readonly #world: string;
  #cells = new Map<string, CellOwner>();
  #leaderEpoch = -1;
  #version = -1;

  constructor(world: string) {
    this.#world = world;
  }

  get version(): number {
    return this.#version;
  }

  /** Takes `map` when newer; returns whether it was taken. */
  apply(map: WorldMap): boolean {
    if (map.world !== this.#world) return false;
    if (map.leaderEpoch < this.#leaderEpoch) return false;
    if (map.leaderEpoch === this.#leaderEpoch && map.version <= this.#version) return false;
    this.#leaderEpoch = map.leaderEpoch;
    this.#version = map.version;
    this.#cells = new Map(map.cells.map((c) => [c.cell, { server: c.server, epoch: c.epoch }]));
    return true;
  }

  owner(cell: string): CellOwner | undefined {
    return this.#cells.get(cell);
  }
}
