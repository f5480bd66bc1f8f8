/**
 * The authority's configuration: the ONLY file of the service that reads `process.env` (through
 * {@link loadConfig}'s argument, which `main.ts` passes). Every variable is validated at start; every
 * bad value is reported at once, each with its own clear message, in one {@link ConfigError}.
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
  readTelemetry,
  readWorldConfig,
  type TelemetryEnv,
} from "@meridian/service-kit";
import { inBounds, type WorldConfig } from "@meridian/world";
import { ConfigError, type ConfigProblem } from "./errors.js";

export { MeridianEnv } from "@meridian/service-kit";

/** Default lease: a zone server that has not heartbeaten for this long loses its cells. */
export const DEFAULT_LEASE_MS = 3_000;
/** Default heartbeat period asked of zone servers (and the period of the map's re-publication). */
export const DEFAULT_HEARTBEAT_MS = 1_000;
/** Default time-to-live of the leader key (renewed every third of it). */
export const DEFAULT_LEADER_TTL_MS = 3_000;

/** The validated, frozen configuration. Each field names its variable and default. */
export interface AuthorityConfig {
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
  /** `AUTHORITY_ID`: this instance's id (one NATS token), written in the leader key. Default `auth-<hostname>-<pid>`. */
  readonly id: string;
  /** `WORLD_NAME`, `WORLD_WIDTH`, `WORLD_HEIGHT`, `WORLD_COLS`, `WORLD_ROWS`, `WORLD_TICK_HZ`, `WORLD_AOI_RADIUS`, `WORLD_GHOST_MARGIN`, `WORLD_DETAIL_RADIUS`, `WORLD_FAR_EVERY`: `@meridian/world`'s defaults. */
  readonly world: WorldConfig;
  /** `AUTHORITY_LEASE_MS`: how long a heartbeat keeps a zone server's leases. Default 3000. */
  readonly leaseMs: number;
  /** `AUTHORITY_HEARTBEAT_MS`: heartbeat period asked of zone servers; map re-published as often. Default 1000. */
  readonly heartbeatMs: number;
  /** `AUTHORITY_LEADER_TTL_MS`: time-to-live of the leader key; a standby takes over within about it. Default 3000. */
  readonly leaderTtlMs: number;
  /** `AUTHORITY_VERIFY_MS`: how often every registered server's credential is checked again with the lobby. Default the heartbeat period. */
  readonly verifyMs: number;
  /** `AUTHORITY_QUARANTINE_MS`: how long a quarantined server may not register again. Default 60000. */
  readonly quarantineMs: number;
  /** `AUTHORITY_ATTACH_TIMEOUT_MS`: bound on one `player_install` to a zone server. Default 1000. */
  readonly attachTimeoutMs: number;
  /** `AUTHORITY_LOBBY_TIMEOUT_MS`: bound on one `server_verify` to the lobby. Default 2000. */
  readonly lobbyTimeoutMs: number;
  /** `AUTHORITY_SHUTDOWN_MS`: bound on a graceful shutdown. Default 5000. */
  readonly shutdownMs: number;
  /** `AUTHORITY_OPS_PORT`: the ops HTTP server (/healthz, /readyz, /metrics). Default 0: an ephemeral port, logged. */
  readonly opsPort: number;
  /** `AUTHORITY_OPS_HOST`: interface of the ops server. Default `0.0.0.0`. */
  readonly opsHost: string;
  /** `MERIDIAN_TELEMETRY`, `OTEL_SERVICE_NAME` (default `meridian-authority`), `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly telemetry: TelemetryEnv;
  /** `WORLD_SPAWN_X` / `WORLD_SPAWN_Y`: where a player with no checkpoint starts. Default the world's centre. */
  readonly spawn: { readonly x: number; readonly y: number };
}

/** `auth-<hostname>-<pid>` reduced to one NATS subject token of at most 64 characters. */
export function defaultAuthorityId(host: string = hostname(), pid: number = process.pid): string {
  return defaultInstanceId("auth", host, pid);
}

const DAY_MS = 24 * 60 * 60_000;

/**
 * Reads and validates the authority's configuration from `env` (default `process.env`: the one read of it).
 * @throws ConfigError (`AUTHORITY_CONFIG`) listing every bad variable.
 */
export function loadConfig(env: Env = process.env): AuthorityConfig {
  const problems: ConfigProblem[] = [];
  const world = readWorldConfig(env, problems);
  const heartbeatMs = readInt(env, "AUTHORITY_HEARTBEAT_MS", DEFAULT_HEARTBEAT_MS, 50, 600_000, problems);
  const leaseMs = readInt(env, "AUTHORITY_LEASE_MS", DEFAULT_LEASE_MS, 100, 3_600_000, problems);
  const verifyMs = readInt(env, "AUTHORITY_VERIFY_MS", heartbeatMs, 50, 3_600_000, problems);
  if (leaseMs < heartbeatMs * 2) {
    problems.push({
      variable: "AUTHORITY_LEASE_MS",
      message: `must be at least twice AUTHORITY_HEARTBEAT_MS (${heartbeatMs}), got ${leaseMs}`,
    });
  }
  if (verifyMs >= leaseMs) {
    problems.push({
      variable: "AUTHORITY_VERIFY_MS",
      message: `must be below AUTHORITY_LEASE_MS (${leaseMs}) so a revoked credential loses its leases within one lease, got ${verifyMs}`,
    });
  }
  const spawnX = readNumber(env, "WORLD_SPAWN_X", problems);
  const spawnY = readNumber(env, "WORLD_SPAWN_Y", problems);
  let spawn = { x: 0, y: 0 };
  if (world !== undefined) {
    spawn = { x: spawnX ?? world.width / 2, y: spawnY ?? world.height / 2 };
    if (!inBounds(world, spawn.x, spawn.y)) {
      problems.push({
        variable: spawnX === undefined ? "WORLD_SPAWN_Y" : "WORLD_SPAWN_X",
        message: `the spawn point (${spawn.x}, ${spawn.y}) must lie in the world (0 ≤ x < ${world.width}, 0 ≤ y < ${world.height})`,
      });
    }
  }
  const config = {
    env: readEnvMode(env, problems),
    redisUrl: readRedisUrl(env, problems),
    redisPrefix: readRedisPrefix(env, problems),
    natsServers: readNatsServers(env, problems),
    subjectPrefix: readSubjectPrefix(env, problems),
    id: readPattern(
      env,
      "AUTHORITY_ID",
      defaultAuthorityId(),
      /^[A-Za-z0-9_-]{1,64}$/,
      "1–64 letters, digits, _ or - (one NATS subject token)",
      problems,
    ),
    leaseMs,
    heartbeatMs,
    leaderTtlMs: readInt(env, "AUTHORITY_LEADER_TTL_MS", DEFAULT_LEADER_TTL_MS, 300, 600_000, problems),
    verifyMs,
    quarantineMs: readInt(env, "AUTHORITY_QUARANTINE_MS", 60_000, 0, DAY_MS, problems),
    attachTimeoutMs: readInt(env, "AUTHORITY_ATTACH_TIMEOUT_MS", 1_000, 50, 60_000, problems),
    lobbyTimeoutMs: readInt(env, "AUTHORITY_LOBBY_TIMEOUT_MS", 2_000, 50, 60_000, problems),
    shutdownMs: readInt(env, "AUTHORITY_SHUTDOWN_MS", 5_000, 500, 120_000, problems),
    opsPort: readInt(env, "AUTHORITY_OPS_PORT", 0, 0, 65_535, problems),
    opsHost: readPattern(
      env,
      "AUTHORITY_OPS_HOST",
      "0.0.0.0",
      /^[A-Za-z0-9_.:-]{1,253}$/,
      "a host name or address",
      problems,
    ),
    telemetry: readTelemetry(env, "authority", problems),
  };
  if (problems.length > 0 || world === undefined) throw new ConfigError(problems);
  return Object.freeze({ ...config, world, spawn: Object.freeze(spawn) });
}
