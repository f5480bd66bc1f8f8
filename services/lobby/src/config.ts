/**
 * The lobby's configuration: the ONLY file of the service that reads `process.env` (through
 * {@link loadConfig}'s argument, which `main.ts` passes). Every variable is validated at start; every
 * bad value is reported at once, each with its own clear message, in one {@link ConfigError}.
 */

import {
  type Env,
  MeridianEnv,
  readBoolean,
  readEnvMode,
  readInt,
  readNatsServers,
  readPattern,
  readRedisPrefix,
  readSubjectPrefix,
  readTelemetry,
  type TelemetryEnv,
} from "@meridian/service-kit";
import { ConfigError, type ConfigProblem } from "./errors.js";
import {
  DEFAULT_BASE_DELAY_MS,
  DEFAULT_FREE_ATTEMPTS,
  DEFAULT_IP_FREE_ATTEMPTS,
  DEFAULT_MAX_ACCOUNTS_PER_IP,
  DEFAULT_MAX_DELAY_MS,
  DEFAULT_THROTTLE_WINDOW_MS,
} from "./throttle/index.js";

/** OWASP's minimum for argon2id: m = 19 MiB. Also the default. */
export const MIN_ARGON2_MEMORY_KIB = 19_456;
/** OWASP's minimum for argon2id at m = 19 MiB: t = 2. Also the default. */
export const MIN_ARGON2_TIME_COST = 2;
/** Default argon2 parallelism (lanes). */
export const DEFAULT_ARGON2_PARALLELISM = 1;
/** Largest argon2 parallelism the library accepts. */
export const MAX_ARGON2_PARALLELISM = 255;
/** Upper bound on the memory cost accepted from the environment (4 GiB), a guard against typos. */
export const MAX_ARGON2_MEMORY_KIB = 4 * 1024 * 1024;
/** Upper bound on the time cost accepted from the environment, a guard against typos. */
export const MAX_ARGON2_TIME_COST = 100;

/** The modes the lobby runs in (`MERIDIAN_ENV`): shared by every service. */
export { MeridianEnv } from "@meridian/service-kit";

/** Argon2id parameters. */
export interface Argon2Params {
  /** Memory cost in KiB (`m`). */
  readonly memoryKib: number;
  /** Passes (`t`). */
  readonly timeCost: number;
  /** Lanes (`p`). */
  readonly parallelism: number;
}

/** Upper bound on a login lockout or throttle window accepted from the environment (1 day / 7 days). */
export const MAX_LOGIN_DELAY_MS = 24 * 60 * 60_000;
export const MAX_LOGIN_WINDOW_MS = 7 * 24 * 60 * 60_000;

/** Failed-login throttling (password login only; recovery is not throttled by it). */
export interface LoginThrottleConfig {
  /** `LOBBY_LOGIN_FREE_ATTEMPTS`: failures per account before lockouts start. Default 5, 1 to 1000. */
  readonly freeAttempts: number;
  /** `LOBBY_LOGIN_IP_FREE_ATTEMPTS`: failures per IP before lockouts start. Default 20, 1 to 1000000. */
  readonly ipFreeAttempts: number;
  /** `LOBBY_LOGIN_BASE_DELAY_MS`: first lockout, doubled by each further failure. Default 1000, 1 to 1 day. */
  readonly baseDelayMs: number;
  /** `LOBBY_LOGIN_MAX_DELAY_MS`: longest lockout, at least the base delay. Default 900000 (15 min), up to 1 day. */
  readonly maxDelayMs: number;
  /** `LOBBY_LOGIN_WINDOW_MS`: how long quiet failures are remembered. Default 900000 (15 min), 1 s to 7 days. */
  readonly windowMs: number;
}

/** The validated, frozen configuration. */
export interface LobbyConfig {
  /** `MERIDIAN_POSTGRES_URL`: required, `postgres://…` or `postgresql://…`. */
  readonly postgresUrl: string;
  /** `LOBBY_ARGON2_MEMORY_KIB` (default and minimum 19456), `LOBBY_ARGON2_TIME_COST` (default and minimum 2), `LOBBY_ARGON2_PARALLELISM` (default 1). */
  readonly argon2: Argon2Params;
  /** `LOBBY_AUTO_CREATE_ACCOUNTS`: an unknown username creates an account (the seed's behaviour). Default true. */
  readonly autoCreateAccounts: boolean;
  /** `MERIDIAN_ENV`: `development` (default) or `production`. */
  readonly env: MeridianEnv;
  /** `LOBBY_LOGIN_*`: failed-login throttling per account and per IP. */
  readonly loginThrottle: LoginThrottleConfig;
  /** `LOBBY_MAX_ACCOUNTS_PER_IP_PER_HOUR`: accounts one IP may auto-create per hour. Default 5, 1 to 100000. */
  readonly maxAccountsPerIpPerHour: number;
  /** `MERIDIAN_REDIS_URL`: `redis://` or `rediss://`. Default `redis://127.0.0.1:6379`. */
  readonly redisUrl: string;
  /** `MERIDIAN_REDIS_PREFIX`: prefix of every Redis key of the cluster. Default `meridian:`. */
  readonly redisPrefix: string;
  /** `MERIDIAN_NATS_URL`: one or more `nats://host:port`, comma-separated. Default `nats://127.0.0.1:4222`. */
  readonly natsServers: readonly string[];
  /** `MERIDIAN_SUBJECT_PREFIX`: prefix of every NATS subject of the cluster. Default `meridian`. */
  readonly subjectPrefix: string;
  /**
   * `LOBBY_REQUIRE_TLS`: refuse password logins from connections that are not TLS (replay
   * protection, docs/decisions.md). Default true in production, false in development.
   */
  readonly requireTls: boolean;
  /**
   * `LOBBY_ADMIN_TOKEN`: the operators' credential (admin HTTP API, `ban`/`unban`/`server_revoke`).
   * In development it defaults to {@link DEV_ADMIN_TOKEN}; in production it is required, at least
   * {@link MIN_ADMIN_TOKEN_LENGTH} characters, and must not be the development default.
   */
  readonly adminToken: string;
  /** `LOBBY_ADMIN_HOST` (default `127.0.0.1`) and `LOBBY_ADMIN_PORT` (default 7480; 0 = any free port). */
  readonly adminHttp: { readonly host: string; readonly port: number };
  /** `LOBBY_RECOVERY_MAX_GUESSES` (3–5, default 5) and `LOBBY_RECOVERY_LOCK_MS` (≥ 15 min, default 15 min). */
  readonly recovery: {
    readonly maxGuesses: number;
    readonly lockMs: number;
    /** `LOBBY_RESET_TOKEN_TTL_MS`: 1 to 20 min, default 15 min. */
    readonly resetTokenTtlMs: number;
  };
  /** `LOBBY_SERVER_HEARTBEAT_TIMEOUT_MS`: a server is listed while heard from within this. Default 15000. */
  readonly serverHeartbeatTimeoutMs: number;
  /** `LOBBY_ID`: this instance's name in logs and NATS connection names. Default `lobby-<pid>`. */
  readonly instanceId: string;
  /**
   * The locator's presence cache (Redis `CLIENT TRACKING`): `LOBBY_PRESENCE_CACHE_SIZE` entries,
   * 0 turns it off (default 100000); `LOBBY_PRESENCE_CACHE_MAX_AGE_MS`, the oldest entry used
   * (1–60000, default 1000).
   */
  readonly presenceCache: { readonly maxEntries: number; readonly maxAgeMs: number };
  /** `MERIDIAN_TELEMETRY`, `OTEL_SERVICE_NAME` (default `meridian-lobby`), `OTEL_EXPORTER_OTLP_ENDPOINT`; metrics on the admin server's `/metrics`. */
  readonly telemetry: TelemetryEnv;
}

/** The admin credential in development when `LOBBY_ADMIN_TOKEN` is unset. Refused in production. */
export const DEV_ADMIN_TOKEN = "meridian-development-admin-token";
/** Shortest admin credential accepted in production. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;
/** Default port of the admin HTTP API. */
export const DEFAULT_ADMIN_PORT = 7480;

function readPostgresUrl(env: Env, problems: ConfigProblem[]): string {
  const variable = "MERIDIAN_POSTGRES_URL";
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === "") {
    problems.push({
      variable,
      message: "is required, e.g. postgres://user:password@127.0.0.1:5432/meridian",
    });
    return "";
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push({
      variable,
      message: "is not a URL; expected postgres://user:password@host:port/database",
    });
    return "";
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    problems.push({
      variable,
      message: `must start with postgres:// or postgresql://, got ${url.protocol}//`,
    });
    return "";
  }
  if (url.hostname === "") {
    problems.push({ variable, message: "has no host; expected postgres://user:password@host:port/database" });
    return "";
  }
  return raw;
}

function readLoginThrottle(env: Env, problems: ConfigProblem[]): LoginThrottleConfig {
  const baseDelayMs = readInt(
    env,
    "LOBBY_LOGIN_BASE_DELAY_MS",
    DEFAULT_BASE_DELAY_MS,
    1,
    MAX_LOGIN_DELAY_MS,
    problems,
  );
  const maxDelayMs = readInt(
    env,
    "LOBBY_LOGIN_MAX_DELAY_MS",
    DEFAULT_MAX_DELAY_MS,
    1,
    MAX_LOGIN_DELAY_MS,
    problems,
  );
  if (maxDelayMs < baseDelayMs) {
    problems.push({
      variable: "LOBBY_LOGIN_MAX_DELAY_MS",
      message: `must be at least LOBBY_LOGIN_BASE_DELAY_MS (${baseDelayMs}), got ${maxDelayMs}`,
    });
  }
  return Object.freeze({
    freeAttempts: readInt(env, "LOBBY_LOGIN_FREE_ATTEMPTS", DEFAULT_FREE_ATTEMPTS, 1, 1_000, problems),
    ipFreeAttempts: readInt(
      env,
      "LOBBY_LOGIN_IP_FREE_ATTEMPTS",
      DEFAULT_IP_FREE_ATTEMPTS,
      1,
      1_000_000,
      problems,
    ),
    baseDelayMs,
    maxDelayMs,
    windowMs: readInt(
      env,
      "LOBBY_LOGIN_WINDOW_MS",
      DEFAULT_THROTTLE_WINDOW_MS,
      1_000,
      MAX_LOGIN_WINDOW_MS,
      problems,
    ),
  });
}

function readUrl(
  env: Env,
  variable: string,
  fallback: string,
  protocols: readonly string[],
  problems: ConfigProblem[],
): string {
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === "") return fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push({ variable, message: `is not a URL; expected ${protocols[0]}//host:port` });
    return fallback;
  }
  if (!protocols.includes(url.protocol) || url.hostname === "") {
    problems.push({
      variable,
      message: `must be ${protocols.map((p) => `${p}//host:port`).join(" or ")}, got "${raw}"`,
    });
    return fallback;
  }
  return raw;
}

function readAdminToken(env: Env, production: boolean, problems: ConfigProblem[]): string {
  const variable = "LOBBY_ADMIN_TOKEN";
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === "") {
    if (production) {
      problems.push({
        variable,
        message: `is required in production: a random secret of at least ${MIN_ADMIN_TOKEN_LENGTH} characters (e.g. openssl rand -base64 32)`,
      });
    }
    return DEV_ADMIN_TOKEN;
  }
  if (production && raw === DEV_ADMIN_TOKEN) {
    problems.push({ variable, message: "is the development default; production needs its own secret" });
  } else if (production && raw.length < MIN_ADMIN_TOKEN_LENGTH) {
    problems.push({
      variable,
      message: `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters in production, got ${raw.length}`,
    });
  }
  return raw;
}

/**
 * Reads and validates the lobby's configuration from `env` (default `process.env`: the one read of it).
 * @throws ConfigError (`LOBBY_CONFIG`) listing every bad variable.
 */
export function loadConfig(env: Env = process.env): LobbyConfig {
  const problems: ConfigProblem[] = [];
  const postgresUrl = readPostgresUrl(env, problems);
  const argon2: Argon2Params = Object.freeze({
    memoryKib: readInt(
      env,
      "LOBBY_ARGON2_MEMORY_KIB",
      MIN_ARGON2_MEMORY_KIB,
      MIN_ARGON2_MEMORY_KIB,
      MAX_ARGON2_MEMORY_KIB,
      problems,
    ),
    timeCost: readInt(
      env,
      "LOBBY_ARGON2_TIME_COST",
      MIN_ARGON2_TIME_COST,
      MIN_ARGON2_TIME_COST,
      MAX_ARGON2_TIME_COST,
      problems,
    ),
    parallelism: readInt(
      env,
      "LOBBY_ARGON2_PARALLELISM",
      DEFAULT_ARGON2_PARALLELISM,
      1,
      MAX_ARGON2_PARALLELISM,
      problems,
    ),
  });
  const autoCreateAccounts = readBoolean(env, "LOBBY_AUTO_CREATE_ACCOUNTS", true, problems);
  const mode = readEnvMode(env, problems);
  const loginThrottle = readLoginThrottle(env, problems);
  const maxAccountsPerIpPerHour = readInt(
    env,
    "LOBBY_MAX_ACCOUNTS_PER_IP_PER_HOUR",
    DEFAULT_MAX_ACCOUNTS_PER_IP,
    1,
    100_000,
    problems,
  );
  const production = mode === MeridianEnv.Production;
  const redisUrl = readUrl(
    env,
    "MERIDIAN_REDIS_URL",
    "redis://127.0.0.1:6379",
    ["redis:", "rediss:"],
    problems,
  );
  const natsServers = readNatsServers(env, problems);
  const redisPrefix = readRedisPrefix(env, problems);
  const subjectPrefix = readSubjectPrefix(env, problems);
  const requireTls = readBoolean(env, "LOBBY_REQUIRE_TLS", production, problems);
  const adminToken = readAdminToken(env, production, problems);
  const adminHttp = Object.freeze({
    host: readPattern(
      env,
      "LOBBY_ADMIN_HOST",
      "127.0.0.1",
      /^[A-Za-z0-9.:-]{1,253}$/,
      "a host name or IP address",
      problems,
    ),
    port: readInt(env, "LOBBY_ADMIN_PORT", DEFAULT_ADMIN_PORT, 0, 65_535, problems),
  });
  const recovery = Object.freeze({
    maxGuesses: readInt(env, "LOBBY_RECOVERY_MAX_GUESSES", 5, 3, 5, problems),
    lockMs: readInt(env, "LOBBY_RECOVERY_LOCK_MS", 15 * 60_000, 15 * 60_000, 7 * 24 * 60 * 60_000, problems),
    resetTokenTtlMs: readInt(env, "LOBBY_RESET_TOKEN_TTL_MS", 15 * 60_000, 60_000, 20 * 60_000, problems),
  });
  const serverHeartbeatTimeoutMs = readInt(
    env,
    "LOBBY_SERVER_HEARTBEAT_TIMEOUT_MS",
    15_000,
    1_000,
    86_400_000,
    problems,
  );
  const instanceId = readPattern(
    env,
    "LOBBY_ID",
    `lobby-${process.pid}`,
    /^[A-Za-z0-9_-]{1,64}$/,
    "1–64 letters, digits, _ or -",
    problems,
  );
  const presenceCache = Object.freeze({
    maxEntries: readInt(env, "LOBBY_PRESENCE_CACHE_SIZE", 100_000, 0, 10_000_000, problems),
    maxAgeMs: readInt(env, "LOBBY_PRESENCE_CACHE_MAX_AGE_MS", 1_000, 1, 60_000, problems),
  });
  const telemetry = readTelemetry(env, "lobby", problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    postgresUrl,
    argon2,
    autoCreateAccounts,
    env: mode,
    loginThrottle,
    maxAccountsPerIpPerHour,
    redisUrl,
    redisPrefix,
    natsServers,
    subjectPrefix,
    requireTls,
    adminToken,
    adminHttp,
    recovery,
    presenceCache,
    serverHeartbeatTimeoutMs,
    instanceId,
    telemetry,
  });
}
