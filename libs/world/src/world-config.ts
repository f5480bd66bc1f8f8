/**
 * A world's shape and pace: its bounds, the grid of cells that are leased to zone servers, the tick
 * rate, the interest (AOI) radius and the ghost margin. The authority and every zone server of a
 * world load the same configuration.
 *
 * Coordinates are world units (think metres), `x` from 0 to `width`, `y` from 0 to `height`. The
 * grid divides the world into `cols × rows` equal cells; a cell is the unit of ownership.
 *
 * @module
 */
import { WorldError, WorldErrorCode } from "./errors.js";

/** A world's configuration (validated by {@link worldConfig}). */
export interface WorldConfig {
  /** The world's name: one NATS subject token (`[A-Za-z0-9_-]{1,32}`). */
  readonly name: string;
  readonly width: number;
  readonly height: number;
  /** Grid columns and rows: cells are `width / cols` × `height / rows`. */
  readonly cols: number;
  readonly rows: number;
  /** Ticks per second of every zone server. Default 20. */
  readonly tickHz: number;
  /** A player receives what lies within this distance. Default 100. */
  readonly aoiRadius: number;
  /**
   * Entities within this distance of a cell border are mirrored (read-only ghosts) to the
   * neighbouring cell's owner. At least `aoiRadius`, so a player near a border sees across it.
   * Default: `aoiRadius`.
   */
  readonly ghostMargin: number;
  /**
   * Level of detail of the views: an entity within this distance of a player has its movement sent
   * at every view; one farther (up to `aoiRadius`) every `farEvery`-th view. Entering, leaving and
   * changes of the game's view are always sent at once. Default: half `aoiRadius`.
   */
  readonly detailRadius: number;
  /** How often the movement of an entity beyond `detailRadius` is sent: every Nth view, 1–8. Default 2 (1: every view). */
  readonly farEvery: number;
}

/** The defaults of {@link worldConfig}: a 2×2 world of 2,000 × 2,000 units at 20 Hz. */
export const DEFAULT_WORLD: WorldConfig = Object.freeze({
  name: "main",
  width: 2_000,
  height: 2_000,
  cols: 2,
  rows: 2,
  tickHz: 20,
  aoiRadius: 100,
  ghostMargin: 100,
  detailRadius: 50,
  farEvery: 2,
});

const NAME = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * A validated, frozen world configuration: `partial` over {@link DEFAULT_WORLD}
 * (`ghostMargin` defaults to the given `aoiRadius`, `detailRadius` to half of it).
 * @throws WorldError `WORLD_INVALID_CONFIG` listing every problem.
 */
export function worldConfig(partial: Partial<WorldConfig> = {}): WorldConfig {
  const aoiRadius = partial.aoiRadius ?? DEFAULT_WORLD.aoiRadius;
  const config: WorldConfig = {
    ...DEFAULT_WORLD,
    ...partial,
    ghostMargin: partial.ghostMargin ?? aoiRadius,
    detailRadius: partial.detailRadius ?? aoiRadius / 2,
    aoiRadius,
  };
  const problems: string[] = [];
  if (!NAME.test(config.name))
    problems.push(`name must be 1–32 letters, digits, _ or -, got "${config.name}"`);
  for (const key of ["width", "height", "aoiRadius"] as const) {
    const v = config[key];
    if (!Number.isFinite(v) || v <= 0) problems.push(`${key} must be a positive number, got ${v}`);
  }
  for (const key of ["cols", "rows"] as const) {
    const v = config[key];
    if (!Number.isSafeInteger(v) || v < 1 || v > 256)
      problems.push(`${key} must be an integer from 1 to 256, got ${v}`);
  }
  if (!Number.isFinite(config.tickHz) || config.tickHz < 1 || config.tickHz > 1_000) {
    problems.push(`tickHz must be from 1 to 1000, got ${config.tickHz}`);
  }
  if (!Number.isFinite(config.ghostMargin) || config.ghostMargin < config.aoiRadius) {
    problems.push(`ghostMargin must be at least aoiRadius (${config.aoiRadius}), got ${config.ghostMargin}`);
  }
  if (!Number.isFinite(config.detailRadius) || config.detailRadius < 0) {
    problems.push(`detailRadius must be a non-negative number, got ${config.detailRadius}`);
  }
  if (!Number.isSafeInteger(config.farEvery) || config.farEvery < 1 || config.farEvery > 8) {
    problems.push(`farEvery must be an integer from 1 to 8, got ${config.farEvery}`);
  }
  if (problems.length === 0) {
    const cellW = config.width / config.cols;
    const cellH = config.height / config.rows;
    if (config.ghostMargin * 2 > Math.min(cellW, cellH)) {
      problems.push(
        `ghostMargin (${config.ghostMargin}) must be at most half the smaller cell side (${Math.min(cellW, cellH)})`,
      );
    }
  }
  if (problems.length > 0) {
    throw new WorldError(
      WorldErrorCode.InvalidConfig,
      `invalid world configuration: ${problems.join("; ")}`,
      {
        problems,
      },
    );
  }
  return Object.freeze(config);
}

/** The tick length, ms. */
export function tickMs(config: WorldConfig): number {
  return 1_000 / config.tickHz;
}
