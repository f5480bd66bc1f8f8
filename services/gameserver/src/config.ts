/**
 * The zone server's configuration: the ONLY file of the service that reads `process.env` (through
 * {@link loadConfig}'s argument, which `main.ts` passes). Every variable is validated at start; every
 * bad value is reported at once, each with its own clear message, in one {@link ConfigError}.
 *
 * The `WORLD_*` variables carry the same names and meaning as the authority's: every process of a
 * world must load the same world configuration.
 */
import { hostname } from "node:os";
import {
  defaultInstanceId,
  type Env,
  type MeridianEnv,
  readEnvMode,
  readInt,
  readNatsServers,
  readNumber,
  readPattern,
  readRedisPrefix,
  readRedisUrl,
  readSubjectPrefix,
} from "@meridian/service-kit";
import { type WorldConfig, WorldError, worldConfig } from "@meridian/world";
import { ConfigError, type ConfigProblem } from "./errors.js";

export { MeridianEnv } from "@meridian/service-kit";

/** Default period of the periodic checkpoints, ms. */
export const DEFAULT_CHECKPOINT_MS = 5_000;
/** Default capacity (players) announced to the authority. */
export const DEFAULT_CAPACITY = 1_000;

/** The validated, frozen configuration. Each field names its variable and default. */
export interface GameServerConfig {
  /** `MERIDIAN_ENV`: `development` (default) or `production`. */
  readonly env: MeridianEnv;
  /** `MERIDIAN_REDIS_URL`: `redis://` or `rediss://`. Default `redis://127.0.0.1:6379`. */
  readonly redisUrl: string;
  /** `MERIDIAN_REDIS_PREFIX`: prefix of every Redis key of the cluster. Default `meridian:`. */
  readonly redisPrefix: string;
  /** `MERIDIAN_NATS_URL`: one or more `nats://host:port`, comma-separated. Default `nats://127.0.0.1:4222`. */
  readonly natsServers: readonly string[];
  /** `MERIDIAN_SUBJECT_PREFIX`: prefix of every NATS subject of the cluster. Default `meridian`. */
  readonly subjectPrefix: string;
  /** `ZONE_SERVER_ID`: this server's id (one NATS subject token). Default `zone-<hostname>-<pid>`, sanitised. */
  readonly serverId: string;
  /** `ZONE_CREDENTIAL`: the server credential issued by the lobby's registry. Required. */
  readonly credential: string;
  /** `ZONE_CAPACITY`: players the server holds at most. Default 1000. */
  readonly capacity: number;
  /** `ZONE_CHECKPOINT_MS`: period of the checkpoints of every player. Default 5000. */
  readonly checkpointMs: number;
  /** `ZONE_HISTORY`: `1` publishes the history stream (`evt.world.<world>.history`), `0` (default) not. */
  readonly history: boolean;
  /**
   * The world: `WORLD_NAME` (default `main`), `WORLD_WIDTH`, `WORLD_HEIGHT` (2000), `WORLD_COLS`,
   * `WORLD_ROWS` (2), `WORLD_TICK_HZ` (20), `WORLD_AOI_RADIUS` (100), `WORLD_GHOST_MARGIN` (the AOI radius),
   * `WORLD_DETAIL_RADIUS` (half the AOI radius), `WORLD_FAR_EVERY` (2): the views' level of detail.
   */
  readonly world: WorldConfig;
}

/** `zone-<hostname>-<pid>` reduced to one NATS subject token of at most 64 characters. */
export function defaultServerId(host: string = hostname(), pid: number = process.pid): string {
  return defaultInstanceId("zone", host, pid);
}

/** The world configuration's fields and their variables. */
const WORLD_VARIABLES = {
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

function readWorld(env: Env, problems: ConfigProblem[]): WorldConfig {
  const partial: { -readonly [K in keyof WorldConfig]?: WorldConfig[K] } = {};
  const name = env.WORLD_NAME?.trim();
  if (name !== undefined && name !== "") partial.name = name;
  for (const [key, variable] of Object.entries(WORLD_VARIABLES) as [keyof typeof WORLD_VARIABLES, string][]) {
    const value = readNumber(env, variable, problems);
    if (value !== undefined) partial[key] = value;
  }
  try {
    return worldConfig(partial);
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
    return worldConfig();
  }
}

const HOUR_MS = 60 * 60_000;

/**
 * Reads and validates the zone server's configuration from `env` (default `process.env`: the one read of it).
 * @throws ConfigError (`GAMESERVER_CONFIG`) listing every bad variable.
 */
export function loadConfig(env: Env = process.env): GameServerConfig {
  const problems: ConfigProblem[] = [];
  const credential = env.ZONE_CREDENTIAL?.trim() ?? "";
  if (credential === "" || credential.length > 128 || /\s/.test(credential)) {
    problems.push({
      variable: "ZONE_CREDENTIAL",
      message:
        credential === ""
          ? "is required: the server credential issued by the lobby's registry"
          : "must be 1–128 characters without spaces",
    });
  }
  const config: GameServerConfig = {
    env: readEnvMode(env, problems),
    redisUrl: readRedisUrl(env, problems),
    redisPrefix: readRedisPrefix(env, problems),
    natsServers: readNatsServers(env, problems),
    subjectPrefix: readSubjectPrefix(env, problems),
    serverId: readPattern(
      env,
      "ZONE_SERVER_ID",
      defaultServerId(),
      /^[A-Za-z0-9_-]{1,64}$/,
      "1–64 letters, digits, _ or - (one NATS subject token)",
      problems,
    ),
    credential,
    capacity: readInt(env, "ZONE_CAPACITY", DEFAULT_CAPACITY, 1, 1_000_000, problems),
    checkpointMs: readInt(env, "ZONE_CHECKPOINT_MS", DEFAULT_CHECKPOINT_MS, 100, HOUR_MS, problems),
    history: readInt(env, "ZONE_HISTORY", 0, 0, 1, problems) === 1,
    world: readWorld(env, problems),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}
