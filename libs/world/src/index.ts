/**
 * `@meridian/world`: the world model shared by the authority and the zone servers.
 * @module
 */
export {
  allCells,
  type CellCoord,
  cellAt,
  cellBounds,
  cellCentre,
  cellId,
  cellsNear,
  inBounds,
  parseCellId,
} from "./cells.js";
export { WorldError, WorldErrorCode } from "./errors.js";
export { DEFAULT_WORLD, tickMs, type WorldConfig, worldConfig } from "./world-config.js";
export type {
  Crossing,
  GhostEntity,
  InputResult,
  PlayerSnapshot,
  PlayerView,
  TickResult,
  ZoneSim,
} from "./zone-api.js";
