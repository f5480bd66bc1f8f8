/**
 * The grid of cells: the unit of ownership. Cell ids are NATS-token-safe strings `c<col>_<row>`
 * (`c0_0` is the cell at the origin), used in leases, the world map and presence.
 *
 * @module
 */
import { WorldError, WorldErrorCode } from "./errors.js";
import type { WorldConfig } from "./world-config.js";

/** A cell's column and row. */
export interface CellCoord {
  readonly col: number;
  readonly row: number;
}

const CELL_ID = /^c(\d{1,3})_(\d{1,3})$/;

/** The id of the cell at (`col`, `row`). */
export function cellId(col: number, row: number): string {
  return `c${col}_${row}`;
}

/** Parses a cell id of `config`'s grid. @throws WorldError `WORLD_OUT_OF_BOUNDS`. */
export function parseCellId(config: WorldConfig, id: string): CellCoord {
  const match = CELL_ID.exec(id);
  const col = Number(match?.[1]);
  const row = Number(match?.[2]);
  if (match === null || col >= config.cols || row >= config.rows) {
    throw new WorldError(WorldErrorCode.OutOfBounds, `"${id}" is not a cell of world ${config.name}`, { id });
  }
  return { col, row };
}

/** Every cell id of the grid, row by row. */
export function allCells(config: WorldConfig): string[] {
  const out: string[] = [];
  for (let row = 0; row < config.rows; row++)
    for (let col = 0; col < config.cols; col++) out.push(cellId(col, row));
  return out;
}

/** Whether (`x`, `y`) lies in the world (the far edges excluded). */
export function inBounds(config: WorldConfig, x: number, y: number): boolean {
  return x >= 0 && y >= 0 && x < config.width && y < config.height;
}

/** The cell holding (`x`, `y`). @throws WorldError `WORLD_OUT_OF_BOUNDS` outside the world. */
export function cellAt(config: WorldConfig, x: number, y: number): string {
  if (!inBounds(config, x, y)) {
    throw new WorldError(WorldErrorCode.OutOfBounds, `(${x}, ${y}) is outside world ${config.name}`, {
      x,
      y,
    });
  }
  const col = Math.min(config.cols - 1, Math.floor((x / config.width) * config.cols));
  const row = Math.min(config.rows - 1, Math.floor((y / config.height) * config.rows));
  return cellId(col, row);
}

/** The rectangle of a cell: [minX, maxX) × [minY, maxY). */
export function cellBounds(
  config: WorldConfig,
  id: string,
): { readonly minX: number; readonly minY: number; readonly maxX: number; readonly maxY: number } {
  const { col, row } = parseCellId(config, id);
  const w = config.width / config.cols;
  const h = config.height / config.rows;
  return { minX: col * w, minY: row * h, maxX: (col + 1) * w, maxY: (row + 1) * h };
}

/**
 * The other cells within `distance` of (`x`, `y`) (the 8-neighbourhood at most, as `distance` is at
 * most half a cell): where an entity at that point must be mirrored as a ghost.
 */
export function cellsNear(config: WorldConfig, x: number, y: number, distance: number): string[] {
  const home = cellAt(config, x, y);
  const out = new Set<string>();
  for (const dx of [-distance, 0, distance]) {
    for (const dy of [-distance, 0, distance]) {
      const px = x + dx;
      const py = y + dy;
      if (!inBounds(config, px, py)) continue;
      const id = cellAt(config, px, py);
      if (id !== home) out.add(id);
    }
  }
  return [...out];
}

/** The centre of a cell: where a player with no saved position starts. */
export function cellCentre(config: WorldConfig, id: string): { readonly x: number; readonly y: number } {
  const b = cellBounds(config, id);
  return { x: (b.minX + b.maxX) / 2, y: (b.minY + b.maxY) / 2 };
}
