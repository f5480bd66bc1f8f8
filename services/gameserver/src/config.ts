/**
 * The zone server's configuration: the ONLY file of the service that reads `process.env` (through
 * {@link loadConfig}'s argument, which `main.ts` passes). Every variable is validated at start; every
 * bad value is reported at once, each with its own clear message, in one {@link ConfigError}.
 *
 * The `WORLD_*` variables carry the same names and meaning as the authority's: every process of a
 * world must load the same world configuration.
 */
import { hostname } from "node:os";
import { DEFAULT_OBSERVER_HZ } from "@meridian/protocol";
import {
  defaultInstanceId,
  type Env,
  type MeridianEnv,
  readBoolean,
  readEnvMode,
  readInt,
  readNatsServers,
  readPattern,
  readRedisPrefix,
  readRedisUrl,
  readSubjectPrefix,
  readTelemetry,
  readWorldConfig,
  type TelemetryEnv,
} from "@meridian/service-kit";
import { type WorldConfig, worldConfig } from "@meridian/world";
import { ConfigError, type ConfigProblem } from "./errors.js";
import { DEFAULT_ORPHAN_SWEEP_MS } from "./orphan-sweep.js";
import { DEFAULT_PERSIST_MS } from "./persist/player-state-persister.js";

export { MeridianEnv } from "@meridian/service-kit";
export { DEFAULT_PERSIST_MS } from "./persist/player-state-persister.js";

/** Default period of the periodic checkpoints, ms. */
export const DEFAULT_CHECKPOINT_MS = 5_000;
/** Default capacity (players) announced to the authority. */
export const DEFAULT_CAPACITY = 1_000;

/** The validated, frozen configuration. Each field names its variable and default. */
export interface GameServerConfig {
  /** `ZONE_OPS_PORT`: the ops HTTP server (/healthz, /readyz, /metrics). Default 0: an ephemeral port, logged. */
  readonly opsPort: number;
  /** `MERIDIAN_TELEMETRY`, `OTEL_SERVICE_NAME` (default `meridian-gameserver`), `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly telemetry: TelemetryEnv;
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
  /**
   * `ZONE_PERSIST_MS`: period of the persists of every player held to the lobby (Postgres,
   * `player_state_save`), ms: `0` (periodic persists off) or 100–86 400 000. Logout and shutdown
   * persist whatever it is. Default 60000.
   */
  readonly persistMs: number;
  /**
   * `ZONE_PERSISTENCE`: player state in Postgres through the lobby, `1` (default) or `0` (no saves,
   * no loads: a cluster without a lobby). With it on, an install that finds no Redis checkpoint and
   * gets no answer from the lobby is refused (retryable) instead of starting a fresh character.
   */
  readonly persistence: boolean;
  /** `ZONE_HISTORY`: `1` publishes the history stream (`evt.world.<world>.history`), `0` (default) not. */
  readonly history: boolean;
  /**
   * `ZONE_OBSERVER_HZ`: observer snapshots per second (`zone_snapshot` on
   * `evt.world.<world>.zone.<server>.snapshot`, and `zone_handoff` events), 0–50; `0` turns the
   * observer feed off. Default 4.
   */
  readonly observerHz: number;
  /**
   * `ZONE_ORPHAN_SWEEP_MS`: period of the sweep that drops players whose gateway is gone (no presence
   * for two sweeps in a row), 0 (off) or 10000 ms to an hour. Default 10000.
   */
  readonly orphanSweepMs: number;
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

const HOUR_MS = 60 * 60_000;

/**
 * `ZONE_ORPHAN_SWEEP_MS`: 0 (off) or 10 s to an hour. Two sweeps must span at least a gateway's
 * presence refresh (a third of the 30 s TTL), so that one failed presence write is not a dropped player.
 */
function readOrphanSweepMs(env: Env, problems: ConfigProblem[]): number {
  const value = readInt(env, "ZONE_ORPHAN_SWEEP_MS", DEFAULT_ORPHAN_SWEEP_MS, 0, HOUR_MS, problems);
  if (value > 0 && value < 10_000) {
    problems.push({
      variable: "ZONE_ORPHAN_SWEEP_MS",
      message: `must be 0 (off) or at least 10000, got ${value}`,
    });
    return DEFAULT_ORPHAN_SWEEP_MS;
  }
  return value;
}

/** `ZONE_PERSIST_MS`: 0 (off) or 100 ms to a day. */
function readPersistMs(env: Env, problems: ConfigProblem[]): number {
  const value = readInt(env, "ZONE_PERSIST_MS", DEFAULT_PERSIST_MS, 0, 24 * HOUR_MS, problems);
  if (value > 0 && value < 100) {
    problems.push({ variable: "ZONE_PERSIST_MS", message: `must be 0 (off) or at least 100, got ${value}` });
    return DEFAULT_PERSIST_MS;
  }
  return value;
}

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
    persistMs: readPersistMs(env, problems),
    persistence: readBoolean(env, "ZONE_PERSISTENCE", true, problems),
    observerHz: readInt(env, "ZONE_OBSERVER_HZ", DEFAULT_OBSERVER_HZ, 0, 50, problems),
    orphanSweepMs: readOrphanSweepMs(env, problems),
    world: readWorldConfig(env, problems) ?? worldConfig(),
    opsPort: readInt(env, "ZONE_OPS_PORT", 0, 0, 65_535, problems),
    telemetry: readTelemetry(env, "gameserver", problems),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}
