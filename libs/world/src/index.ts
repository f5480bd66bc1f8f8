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
export {
  createDemoGame,
  DEFAULT_DEMO_NPC_SPEED,
  DEFAULT_DEMO_PLAYER_SPEED,
  DEMO_EMOTE_TICKS,
  DEMO_EMOTES,
  DEMO_MAX_SAY,
  DEMO_WAVE_BACK_RADIUS,
  type DemoEmote,
  type DemoGameOptions,
  type DemoIntent,
  type DemoState,
  type DemoWaveEvent,
} from "./demo-game.js";
export { WorldError, WorldErrorCode } from "./errors.js";
export type {
  Entity,
  GameContext,
  GameModule,
  GameSystem,
  NpcSpawn,
  PlayerInfo,
  Rect,
} from "./game-module.js";
export { SpatialGrid, type SpatialGridOptions } from "./spatial-grid.js";
export { DEFAULT_WORLD, tickMs, type WorldConfig, worldConfig } from "./world-config.js";
export type {
  Crossing,
  EntityPosition,
  GhostEntity,
  InputResult,
  PlayerSnapshot,
  PlayerView,
  TickResult,
  ZoneSim,
} from "./zone-api.js";
export {
  createZoneSim,
  DEFAULT_NPCS_PER_CELL,
  DEFAULT_SEED,
  type EntityUpdate,
  type EntityView,
  type HeardEvent,
  type LocalZoneSim,
  MAX_QUEUED_INPUTS,
  playerEntityId,
  seededRandom,
  type ViewDelta,
  type ZoneSimOptions,
  type ZoneSimStats,
} from "./zone-sim.js";
