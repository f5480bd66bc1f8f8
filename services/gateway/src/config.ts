/**
 * The gateway's configuration: the ONLY file of the service that reads `process.env` (through
 * {@link loadConfig}'s argument, which `main.ts` passes). Every variable is validated at start; every
 * bad value is reported at once, each with its own clear message, in one {@link ConfigError}.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
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
  type TelemetryEnv,
} from "@meridian/service-kit";
import { ConfigError, type ConfigProblem } from "./errors.js";

export { MeridianEnv } from "@meridian/service-kit";

/** Default ports: TCP 7600, WebSocket 7601. */
export const DEFAULT_TCP_PORT = 7600;
export const DEFAULT_WS_PORT = 7601;

/** The validated, frozen configuration. Each field names its variable and default. */
export interface GatewayConfig {
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
  /** `GATEWAY_ID`: this gateway's id (one NATS subject token). Default `gw-<hostname>-<pid>`, sanitised. */
  readonly id: string;
  /** `GATEWAY_HOST`: interface to bind. Default `0.0.0.0`. */
  readonly host: string;
  /** `GATEWAY_TCP_PORT`: TCP (or TLS) port. Default 7600; 0 = any free port. */
  readonly tcpPort: number;
  /** `GATEWAY_WS_PORT`: WebSocket (or wss) port. Default 7601; 0 = any free port. */
  readonly wsPort: number;
  /** `GATEWAY_TLS_CERT` / `GATEWAY_TLS_KEY`: PEM files, both or neither. Default none (plain). */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  /** `GATEWAY_TRUST_PROXY_TLS`: a TLS-terminating proxy fronts the gateway; connections count as TLS. Default false. */
  readonly trustProxyTls: boolean;
  /** `GATEWAY_WORLD`: the world written in presence when no world places the player. Default `main`. */
  readonly world: string;
  /** `GATEWAY_RESUME_GRACE_MS`: how long a dropped session waits for a resume. Default 30000. */
  readonly resumeGraceMs: number;
  /** `GATEWAY_MAX_MESSAGE_BYTES`: largest client message (`hello_ok.maxMessageBytes`). Default 16384. */
  readonly maxMessageBytes: number;
  /** `GATEWAY_RATE_MSGS_PER_S`: messages per second per connection (burst twice that). Default 50. */
  readonly rateMsgsPerS: number;
  /** `GATEWAY_RATE_BYTES_PER_S`: bytes per second per connection (burst twice that). Default 65536. */
  readonly rateBytesPerS: number;
  /** `GATEWAY_MAX_VIOLATIONS`: invalid messages tolerated within 10 s before closing with 4204. Default 5. */
  readonly maxViolations: number;
  /** `GATEWAY_HEARTBEAT_MS`: `hello_ok.heartbeatMs`; the idle timeout is 3× this. Default 15000. */
  readonly heartbeatMs: number;
  /** `GATEWAY_PREAUTH_MS`: time to send a valid `hello`. Default 5000. */
  readonly preAuthMs: number;
  /** `GATEWAY_BAN_RESYNC_MS`: period of the full reload of the ban mirror. Default 30000. */
  readonly banResyncMs: number;
  /**
   * `GATEWAY_MAX_CONNECTIONS_PER_IP` (default 32) and `GATEWAY_NEW_CONNECTIONS_PER_IP_PER_S` (default
   * 16): the accept guard's per-IP limits (IPv6 counted per /64). Raise them behind a NAT or for load
   * tests from one machine.
   */
  readonly perIp: { readonly maxConnections: number; readonly newPerSecond: number };
  /** `GATEWAY_LOBBY_TIMEOUT_MS`: bound on one lobby request. Default 5000. */
  readonly lobbyTimeoutMs: number;
  /** `GATEWAY_SHUTDOWN_MS`: bound on a graceful shutdown. Default 5000. */
  readonly shutdownMs: number;
  /** `GATEWAY_OPS_PORT`: the ops HTTP server (/healthz, /readyz, /metrics) on `GATEWAY_HOST`. Default 0: an ephemeral port, logged. */
  readonly opsPort: number;
  /** `MERIDIAN_TELEMETRY`, `OTEL_SERVICE_NAME` (default `meridian-gateway`), `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly telemetry: TelemetryEnv;
}

/** `gw-<hostname>-<pid>` reduced to one NATS subject token of at most 64 characters. */
export function defaultGatewayId(host: string = hostname(), pid: number = process.pid): string {
  return defaultInstanceId("gw", host, pid);
}

function readTls(env: Env, problems: ConfigProblem[]): GatewayConfig["tls"] {
  const certPath = env.GATEWAY_TLS_CERT?.trim() || undefined;
  const keyPath = env.GATEWAY_TLS_KEY?.trim() || undefined;
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) {
    const missing = certPath === undefined ? "GATEWAY_TLS_CERT" : "GATEWAY_TLS_KEY";
    problems.push({
      variable: missing,
      message:
        "is required when the other TLS variable is set (GATEWAY_TLS_CERT and GATEWAY_TLS_KEY: both or neither)",
    });
    return undefined;
  }
  const read = (variable: string, path: string): Buffer | undefined => {
    try {
      return readFileSync(path);
    } catch (error) {
      const reason = error instanceof Error && "code" in error ? String(error.code) : "unreadable";
      problems.push({ variable, message: `cannot read the PEM file "${path}" (${reason})` });
      return undefined;
    }
  };
  const cert = read("GATEWAY_TLS_CERT", certPath);
  const key = read("GATEWAY_TLS_KEY", keyPath);
  return cert === undefined || key === undefined ? undefined : Object.freeze({ cert, key });
}

const DAY_MS = 24 * 60 * 60_000;

/**
 * Reads and validates the gateway's configuration from `env` (default `process.env`: the one read of it).
 * @throws ConfigError (`GATEWAY_CONFIG`) listing every bad variable.
 */
export function loadConfig(env: Env = process.env): GatewayConfig {
  const problems: ConfigProblem[] = [];
  const config: GatewayConfig = {
    env: readEnvMode(env, problems),
    redisUrl: readRedisUrl(env, problems),
    redisPrefix: readRedisPrefix(env, problems),
    natsServers: readNatsServers(env, problems),
    subjectPrefix: readSubjectPrefix(env, problems),
    id: readPattern(
      env,
      "GATEWAY_ID",
      defaultGatewayId(),
      /^[A-Za-z0-9_-]{1,64}$/,
      "1–64 letters, digits, _ or - (one NATS subject token)",
      problems,
    ),
    host: readPattern(
      env,
      "GATEWAY_HOST",
      "0.0.0.0",
      /^[A-Za-z0-9_.:-]{1,253}$/,
      "a host name or address",
      problems,
    ),
    tcpPort: readInt(env, "GATEWAY_TCP_PORT", DEFAULT_TCP_PORT, 0, 65_535, problems),
    wsPort: readInt(env, "GATEWAY_WS_PORT", DEFAULT_WS_PORT, 0, 65_535, problems),
    tls: readTls(env, problems),
    trustProxyTls: readBoolean(env, "GATEWAY_TRUST_PROXY_TLS", false, problems),
    world: readPattern(
      env,
      "GATEWAY_WORLD",
      "main",
      /^[A-Za-z0-9_-]{1,64}$/,
      "1–64 letters, digits, _ or -",
      problems,
    ),
    resumeGraceMs: readInt(env, "GATEWAY_RESUME_GRACE_MS", 30_000, 100, DAY_MS, problems),
    maxMessageBytes: readInt(env, "GATEWAY_MAX_MESSAGE_BYTES", 16_384, 256, 1024 * 1024, problems),
    rateMsgsPerS: readInt(env, "GATEWAY_RATE_MSGS_PER_S", 50, 1, 1_000_000, problems),
    rateBytesPerS: readInt(env, "GATEWAY_RATE_BYTES_PER_S", 65_536, 256, 1024 * 1024 * 1024, problems),
    maxViolations: readInt(env, "GATEWAY_MAX_VIOLATIONS", 5, 1, 1000, problems),
    heartbeatMs: readInt(env, "GATEWAY_HEARTBEAT_MS", 15_000, 100, 600_000, problems),
    preAuthMs: readInt(env, "GATEWAY_PREAUTH_MS", 5_000, 1_000, 60_000, problems),
    banResyncMs: readInt(env, "GATEWAY_BAN_RESYNC_MS", 30_000, 1_000, DAY_MS, problems),
    perIp: {
      maxConnections: readInt(env, "GATEWAY_MAX_CONNECTIONS_PER_IP", 32, 1, 10_000_000, problems),
      newPerSecond: readInt(env, "GATEWAY_NEW_CONNECTIONS_PER_IP_PER_S", 16, 1, 10_000_000, problems),
    },
    lobbyTimeoutMs: readInt(env, "GATEWAY_LOBBY_TIMEOUT_MS", 5_000, 100, 120_000, problems),
    shutdownMs: readInt(env, "GATEWAY_SHUTDOWN_MS", 5_000, 500, 120_000, problems),
    opsPort: readInt(env, "GATEWAY_OPS_PORT", 0, 0, 65_535, problems),
    telemetry: readTelemetry(env, "gateway", problems),
  };
  if (config.tcpPort !== 0 && config.tcpPort === config.wsPort) {
    problems.push({
      variable: "GATEWAY_WS_PORT",
      message: `must differ from GATEWAY_TCP_PORT (${config.tcpPort})`,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}
