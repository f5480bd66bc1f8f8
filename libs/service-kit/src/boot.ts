/**
 * The start-up steps every service's `main.ts` runs the same way: its logger (with trace ids in log
 * lines), reading its configuration (every bad variable printed, exit 1), OpenTelemetry, and the
 * Redis and NATS connections (a dependency that cannot be reached is one clear line on stderr and
 * exit 1; once running, both clients reconnect on their own and the NATS status is logged).
 *
 * A failure at start is always `<service>: <what>: <why>` on stderr plus a `fatal` log record, then
 * exit code 1: what an operator (or a supervisor) reads first.
 *
 * @module
 */

import { initTelemetry, type TelemetryHandle, traceLogMixin } from "@meridian/telemetry";
import { type ConnectionOptions, connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis, type RedisOptions } from "ioredis";
import { type Logger, pino } from "pino";
import type { TelemetryEnv } from "./env.js";

/** How long start waits for Redis and NATS before giving up, ms. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** A configuration error as every service's `ConfigError` has it (structural). */
interface ConfigErrorLike {
  readonly message: string;
  readonly code: string;
  readonly problems: readonly unknown[];
}

function isConfigError(error: unknown): error is ConfigErrorLike {
  return (
    error instanceof Error &&
    typeof (error as Partial<ConfigErrorLike>).code === "string" &&
    Array.isArray((error as Partial<ConfigErrorLike>).problems)
  );
}

/** A service starting: its logger and the one way to give up. */
export interface Boot {
  readonly service: string;
  /** The service's logger (`name` = the service), trace ids in lines logged inside a span. */
  readonly log: Logger;
  /** `<service>: <what>: <why>` on stderr, a fatal log record, exit 1. */
  fail(what: string, error: unknown): never;
}

/** The logger and failure path of `service` (a lower-case name: `lobby`, `gateway`…). */
export function boot(service: string): Boot {
  const log = pino({ mixin: traceLogMixin() }).child({ name: service });
  return {
    service,
    log,
    fail(what: string, error: unknown): never {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`${service}: ${what}: ${message}\n`);
      log.fatal({ err: error }, what);
      process.exit(1);
    },
  };
}

/**
 * `load()`, or exit 1 printing the configuration error (its message names every bad variable).
 * Anything else `load` throws is rethrown (a bug, not a configuration).
 */
export function loadConfigOrExit<C>(b: Boot, load: () => C): C {
  try {
    return load();
  } catch (error) {
    if (isConfigError(error)) {
      // Plain text on stderr for the operator, and the structured record in the log.
      process.stderr.write(`${b.service}: ${error.message}\n`);
      b.log.fatal({ code: error.code, problems: error.problems }, "invalid configuration");
      process.exit(1);
    }
    throw error;
  }
}

/** OpenTelemetry as configured (off: no SDK loaded), or exit 1. */
export async function startTelemetryOrExit(
  b: Boot,
  telemetry: TelemetryEnv,
  instanceId?: string,
): Promise<TelemetryHandle> {
  try {
    return await initTelemetry({
      enabled: telemetry.enabled,
      serviceName: telemetry.serviceName,
      hotSampleEvery: telemetry.hotSampleEvery,
      ...(instanceId === undefined ? {} : { serviceInstanceId: instanceId }),
      ...(telemetry.otlpEndpoint === undefined ? {} : { otlpEndpoint: telemetry.otlpEndpoint }),
    });
  } catch (error) {
    b.fail("cannot start telemetry", error);
  }
}

/**
 * A connected Redis client (`options` over: lazy connect, 2 retries per request, the connect
 * timeout), its errors logged; or `onFail()` then exit 1 when Redis cannot be reached.
 */
export async function connectRedisOrExit(
  b: Boot,
  url: string,
  options: RedisOptions,
  onFail: () => Promise<void> | void = () => undefined,
): Promise<Redis> {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 2,
    connectTimeout: CONNECT_TIMEOUT_MS,
    ...options,
    lazyConnect: true,
  });
  redis.on("error", (error: Error) => b.log.warn({ err: error }, "Redis connection error"));
  try {
    await redis.connect();
  } catch (error) {
    await onFail();
    b.fail(`cannot reach Redis at ${url}`, error);
  }
  return redis;
}

/**
 * A NATS connection (`options` over: the connect timeout, reconnecting for ever), its disconnects,
 * reconnects and errors logged; or `onFail()` then exit 1 when NATS cannot be reached.
 */
export async function connectNatsOrExit(
  b: Boot,
  servers: readonly string[],
  options: ConnectionOptions,
  onFail: () => Promise<void> | void = () => undefined,
): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      timeout: CONNECT_TIMEOUT_MS,
      maxReconnectAttempts: -1,
      ...options,
      servers: [...servers],
    });
  } catch (error) {
    await onFail();
    b.fail(`cannot reach NATS at ${servers.join(",")}`, error);
  }
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" || status.type === "reconnect" || status.type === "error") {
        b.log.warn({ nats: status.type }, "NATS status");
      }
    }
  })();
  return nc;
}
