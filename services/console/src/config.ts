/**
 * The console's configuration: the ONLY file of the service that reads `process.env` (through
 * {@link loadConfig}'s argument, which `main.ts` passes). Every variable is validated at start; every
 * bad value is reported at once, each with its own clear message, in one {@link ConfigError}.
 */
import {
  type Env,
  type MeridianEnv,
  readEnvMode,
  readInt,
  readNatsServers,
  readPattern,
  readSubjectPrefix,
  readTelemetry,
  type TelemetryEnv,
} from "@meridian/service-kit";
import { ConfigError, type ConfigProblem } from "./errors.js";

export { MeridianEnv } from "@meridian/service-kit";

/** Default HTTP port of the console. */
export const DEFAULT_CONSOLE_PORT = 7700;
/** Default host the console listens on: loopback (the console has no authentication). */
export const DEFAULT_CONSOLE_HOST = "127.0.0.1";
/** Default pushes of the world's state to each browser, per second. */
export const DEFAULT_PUSH_HZ = 10;
/** Default silence after which a zone server is shown down (and its entities hidden), ms. */
export const DEFAULT_STALE_MS = 3_000;
/** Default most browsers connected at once. */
export const DEFAULT_MAX_CLIENTS = 64;

/** The validated, frozen configuration. Each field names its variable and default. */
export interface ConsoleConfig {
  /** `MERIDIAN_ENV`: `development` (default) or `production`. */
  readonly env: MeridianEnv;
  /** `MERIDIAN_NATS_URL`: one or more `nats://host:port`, comma-separated. Default `nats://127.0.0.1:4222`. */
  readonly natsServers: readonly string[];
  /** `MERIDIAN_SUBJECT_PREFIX`: prefix of every NATS subject of the cluster. Default `meridian`. */
  readonly subjectPrefix: string;
  /** `WORLD_NAME`: the world shown. Default `main`. */
  readonly world: string;
  /** `CONSOLE_HOST`: the HTTP listener's address. Default `127.0.0.1` (`0.0.0.0` in a container). */
  readonly host: string;
  /** `CONSOLE_PORT`: the HTTP listener's port (0: any free port). Default 7700. */
  readonly port: number;
  /** `CONSOLE_PUSH_HZ`: pushes of the state to each browser per second, 1–60. Default 10. */
  readonly pushHz: number;
  /** `CONSOLE_STALE_MS`: a zone server silent this long is shown down, 250–600000. Default 3000. */
  readonly staleMs: number;
  /** `CONSOLE_MAX_CLIENTS`: browsers connected at once, 1–10000. Default 64. */
  readonly maxClients: number;
  /** `MERIDIAN_TELEMETRY`, `OTEL_SERVICE_NAME` (default `meridian-console`), `OTEL_EXPORTER_OTLP_ENDPOINT`; metrics on `/metrics`. */
  readonly telemetry: TelemetryEnv;
}

/**
 * Reads and validates the console's configuration from `env` (default `process.env`: the one read of it).
 * @throws ConfigError (`CONSOLE_CONFIG`) listing every bad variable.
 */
export function loadConfig(env: Env = process.env): ConsoleConfig {
  const problems: ConfigProblem[] = [];
  const config: ConsoleConfig = {
    env: readEnvMode(env, problems),
    natsServers: readNatsServers(env, problems),
    subjectPrefix: readSubjectPrefix(env, problems),
    world: readPattern(
      env,
      "WORLD_NAME",
      "main",
      /^[A-Za-z0-9_-]{1,64}$/,
      "1–64 letters, digits, _ or - (one NATS subject token)",
      problems,
    ),
    host: readPattern(
      env,
      "CONSOLE_HOST",
      DEFAULT_CONSOLE_HOST,
      /^[A-Za-z0-9.:_-]{1,253}$/,
      "a host name or an IP address",
      problems,
    ),
    port: readInt(env, "CONSOLE_PORT", DEFAULT_CONSOLE_PORT, 0, 65_535, problems),
    pushHz: readInt(env, "CONSOLE_PUSH_HZ", DEFAULT_PUSH_HZ, 1, 60, problems),
    staleMs: readInt(env, "CONSOLE_STALE_MS", DEFAULT_STALE_MS, 250, 600_000, problems),
    maxClients: readInt(env, "CONSOLE_MAX_CLIENTS", DEFAULT_MAX_CLIENTS, 1, 10_000, problems),
    telemetry: readTelemetry(env, "console", problems),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}
