/**
 * Reading a service's environment: every reader takes the environment, the variable, a fallback and
 * the list of problems, and pushes a clear `{ variable, message }` problem instead of throwing, so a
 * service reports every bad variable at once (its own `ConfigError`). Shared by the services so that
 * a variable means and is checked the same everywhere.
 *
 * @module
 */

/** The environment as the readers see it (`process.env`, or a test's object). */
export type Env = Readonly<Record<string, string | undefined>>;

/** One bad environment variable. */
export interface ConfigProblem {
  /** The variable's name, e.g. `GATEWAY_TCP_PORT`. */
  readonly variable: string;
  /** What is wrong with it and what is expected. */
  readonly message: string;
}

/** The modes a service runs in (`MERIDIAN_ENV`). */
export const MeridianEnv = { Development: "development", Production: "production" } as const;
export type MeridianEnv = (typeof MeridianEnv)[keyof typeof MeridianEnv];

export function readInt(
  env: Env,
  variable: string,
  fallback: number,
  min: number,
  max: number,
  problems: ConfigProblem[],
): number {
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) {
    problems.push({ variable, message: `must be a whole number between ${min} and ${max}, got "${raw}"` });
    return fallback;
  }
  const value = Number(raw);
  if (value < min || value > max) {
    problems.push({ variable, message: `must be between ${min} and ${max}, got ${value}` });
    return fallback;
  }
  return value;
}

export function readBoolean(
  env: Env,
  variable: string,
  fallback: boolean,
  problems: ConfigProblem[],
): boolean {
  const raw = env[variable]?.trim().toLowerCase();
  if (raw === undefined || raw === "") return fallback;
  if (["true", "1", "yes", "on"].includes(raw)) return true;
  if (["false", "0", "no", "off"].includes(raw)) return false;
  problems.push({ variable, message: `must be true or false (or 1/0, yes/no, on/off), got "${raw}"` });
  return fallback;
}

export function readPattern(
  env: Env,
  variable: string,
  fallback: string,
  pattern: RegExp,
  expected: string,
  problems: ConfigProblem[],
): string {
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === "") return fallback;
  if (!pattern.test(raw)) {
    problems.push({ variable, message: `must be ${expected}, got "${raw}"` });
    return fallback;
  }
  return raw;
}

export function readEnvMode(env: Env, problems: ConfigProblem[]): MeridianEnv {
  const modes: readonly string[] = Object.values(MeridianEnv);
  const raw = env.MERIDIAN_ENV?.trim();
  if (raw === undefined || raw === "") return MeridianEnv.Development;
  if (modes.includes(raw)) return raw as MeridianEnv;
  problems.push({ variable: "MERIDIAN_ENV", message: `must be one of ${modes.join(", ")}, got "${raw}"` });
  return MeridianEnv.Development;
}

export function readRedisUrl(env: Env, problems: ConfigProblem[]): string {
  const variable = "MERIDIAN_REDIS_URL";
  const fallback = "redis://127.0.0.1:6379";
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === "") return fallback;
  try {
    const url = new URL(raw);
    if ((url.protocol === "redis:" || url.protocol === "rediss:") && url.hostname !== "") return raw;
  } catch {
    // reported below
  }
  problems.push({ variable, message: `must be redis://host:port or rediss://host:port, got "${raw}"` });
  return fallback;
}

export function readNatsServers(env: Env, problems: ConfigProblem[]): readonly string[] {
  const variable = "MERIDIAN_NATS_URL";
  const fallback = Object.freeze(["nats://127.0.0.1:4222"]);
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === "") return fallback;
  const servers = raw.split(",").map((part) => part.trim());
  for (const server of servers) {
    let ok = false;
    try {
      const url = new URL(server);
      ok = ["nats:", "tls:"].includes(url.protocol) && url.hostname !== "";
    } catch {
      ok = false;
    }
    if (!ok) {
      problems.push({
        variable,
        message: `must be nats://host:port (or tls://), comma-separated for several; "${server}" is not`,
      });
      return fallback;
    }
  }
  return Object.freeze(servers);
}

/** A finite number (`-1`, `2.5`), or undefined when unset or bad (bad is reported). */
export function readNumber(env: Env, variable: string, problems: ConfigProblem[]): number | undefined {
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!/^-?\d+(\.\d+)?$/.test(raw) || !Number.isFinite(value)) {
    problems.push({ variable, message: `must be a number, got "${raw}"` });
    return undefined;
  }
  return value;
}

/**
 * `<prefix>-<host>-<pid>` reduced to one NATS subject token of at most 64 characters: a default
 * instance id (gateway, authority, zone server).
 */
export function defaultInstanceId(prefix: string, host: string, pid: number): string {
  const clean = host.replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "") || "host";
  const head = `${prefix}-${clean}`.slice(0, 64 - String(pid).length - 1);
  return `${head}-${pid}`;
}

/** `MERIDIAN_REDIS_PREFIX`: the prefix of every Redis key of the cluster. Default `meridian:`. */
export function readRedisPrefix(env: Env, problems: ConfigProblem[]): string {
  return readPattern(
    env,
    "MERIDIAN_REDIS_PREFIX",
    "meridian:",
    /^[A-Za-z0-9_.:-]{1,64}$/,
    "1–64 letters, digits, _ . : or -",
    problems,
  );
}

/** `MERIDIAN_SUBJECT_PREFIX`: the prefix of every NATS subject of the cluster. Default `meridian`. */
export function readSubjectPrefix(env: Env, problems: ConfigProblem[]): string {
  return readPattern(
    env,
    "MERIDIAN_SUBJECT_PREFIX",
    "meridian",
    /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
    "NATS subject tokens of letters, digits, _ and - joined by dots",
    problems,
  );
}

/** What `MERIDIAN_TELEMETRY` and the standard `OTEL_*` variables say (`@meridian/telemetry`'s options). */
export interface TelemetryEnv {
  /** `MERIDIAN_TELEMETRY`: `on` or `off` (also true/false, 1/0, yes/no). Default off. */
  readonly enabled: boolean;
  /** `OTEL_SERVICE_NAME`. Default `meridian-<service>`. */
  readonly serviceName: string;
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: an `http(s)://` OTLP/HTTP collector; unset = no OTLP export. */
  readonly otlpEndpoint: string | undefined;
  /**
   * `MERIDIAN_TELEMETRY_SAMPLE_EVERY`: one hot-path operation (a gateway's input batch) in this many
   * is traced; 1 traces every one. Default 100.
   */
  readonly hotSampleEvery: number;
}

/**
 * `MERIDIAN_TELEMETRY`, `OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_ENDPOINT` and
 * `MERIDIAN_TELEMETRY_SAMPLE_EVERY` of the service `service`
 * (`gateway`, `lobby`, `authority`, `gameserver`).
 */
export function readTelemetry(env: Env, service: string, problems: ConfigProblem[]): TelemetryEnv {
  const enabled = readBoolean(env, "MERIDIAN_TELEMETRY", false, problems);
  const serviceName = readPattern(
    env,
    "OTEL_SERVICE_NAME",
    `meridian-${service}`,
    /^[A-Za-z0-9_.:-]{1,128}$/,
    "1–128 letters, digits, _ . : or -",
    problems,
  );
  const raw = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  let otlpEndpoint: string | undefined;
  if (raw !== undefined && raw !== "") {
    let ok = false;
    try {
      const url = new URL(raw);
      ok = (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
    } catch {
      ok = false;
    }
    if (ok) otlpEndpoint = raw.replace(/\/+$/, "");
    else
      problems.push({
        variable: "OTEL_EXPORTER_OTLP_ENDPOINT",
        message: `must be an http(s):// URL of an OTLP/HTTP collector (e.g. http://otel-collector:4318), got "${raw}"`,
      });
  }
  const hotSampleEvery = readInt(env, "MERIDIAN_TELEMETRY_SAMPLE_EVERY", 100, 1, 1_000_000, problems);
  return Object.freeze({ enabled, serviceName, otlpEndpoint, hotSampleEvery });
}
