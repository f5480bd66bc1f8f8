/**
 * The world's variables, read the same way by every service of a world (the authority and the zone
 * servers must agree on it): `WORLD_NAME`, `WORLD_WIDTH`, `WORLD_HEIGHT`, `WORLD_COLS`, `WORLD_ROWS`,
 * `WORLD_TICK_HZ`, `WORLD_AOI_RADIUS`, `WORLD_GHOST_MARGIN`, `WORLD_DETAIL_RADIUS`, `WORLD_FAR_EVERY`,
 * each defaulting to `@meridian/world`'s default.
 *
 * @module
 */
import { type WorldConfig, WorldError, worldConfig } from "@meridian/world";
import { type ConfigProblem, type Env, readNumber } from "./env.js";

/** The numeric fields of a world configuration and their variables. */
export const WORLD_VARIABLES = {
  width: "WORLD_WIDTH",
  height: "WORLD_HEIGHT",
  cols: "WORLD_COLS",
  rows: "WORLD_ROWS",
  tickHz: "WORLD_TICK_HZ",
  aoiRadius: "WORLD_AOI_RADIUS",
  ghostMargin: "WORLD_GHOST_MARGIN",
  detailRadius: "WORLD_DETAIL_RADIUS",
  farEvery: "WORLD_FAR_EVERY",
} as const;

/**
 * The world from `env`, validated by `worldConfig`; undefined with every problem added to `problems`
 * (a number that does not parse, and each rule the readable values break, named by its variable).
 */
export function readWorldConfig(env: Env, problems: ConfigProblem[]): WorldConfig | undefined {
  const partial: { -readonly [K in keyof WorldConfig]?: WorldConfig[K] } = {};
  const name = env.WORLD_NAME?.trim();
  if (name !== undefined && name !== "") partial.name = name;
  const before = problems.length;
  for (const [key, variable] of Object.entries(WORLD_VARIABLES) as [keyof typeof WORLD_VARIABLES, string][]) {
    const value = readNumber(env, variable, problems);
    if (value !== undefined) partial[key] = value;
  }
  try {
    const world = worldConfig(partial);
    return problems.length > before ? undefined : world;
  } catch (error) {
    if (!(error instanceof WorldError)) throw error;
    const found = error.context.problems;
    const list = Array.isArray(found) ? found.map(String) : [error.message];
    for (const message of list) {
      // Each problem starts with the field it is about ("cols must be…"): name its variable.
      const field = message.split(" ")[0] ?? "";
      const variable =
        field === "name"
          ? "WORLD_NAME"
          : (WORLD_VARIABLES[field as keyof typeof WORLD_VARIABLES] ?? "WORLD_*");
      problems.push({ variable, message });
    }
    return undefined;
  }
}
