/**
 * What the gateway benchmarks run on: a test context (a Redis key prefix and a NATS subject prefix,
 * a Postgres database only when a lobby is needed) and the real gateway process
 * (`services/gateway/src/main.ts`, spawned by path as its own tests spawn the lobby) configured from
 * its environment, on ephemeral ports read back from its `gateway ready` line. Everything started on
 * the context is torn down by {@link withTestContext} whatever happens: a thrown error, or
 * SIGINT/SIGTERM of the bench process while it runs.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestContext, type SpawnedProcess, type TestContext } from "@meridian/testkit";
import { CHILD_EXEC_ARGV } from "../server-process.js";

const GATEWAY_DIR = fileURLToPath(new URL("../../../services/gateway/", import.meta.url));
const GATEWAY_READY = /^\{[^\n]*"msg":"gateway ready"[^\n]*$/m;

/**
 * Environment of every benchmark gateway: limits that would close a benchmark client raised to
 * their maximum (messages and bytes per second), heartbeat at its maximum (idle timeout 3 × 10 min,
 * no heartbeat traffic during a run), pre-auth deadline at its maximum. Per-IP accept limits stay
 * netengine's defaults (the gateway has no variable for them): clients come from many loopback
 * addresses instead.
 */
export const BENCH_GATEWAY_ENV: Readonly<Record<string, string>> = Object.freeze({
  GATEWAY_RATE_MSGS_PER_S: "1000000",
  GATEWAY_RATE_BYTES_PER_S: String(1024 * 1024 * 1024),
  GATEWAY_HEARTBEAT_MS: "600000",
  GATEWAY_PREAUTH_MS: "60000",
  GATEWAY_MAX_VIOLATIONS: "1000",
});

/** Options of {@link withTestContext}. */
export interface TestContextFixtureOptions {
  /** What the context is for, in the message printed when a signal interrupts it. */
  readonly label: string;
  /** Create a fresh Postgres database (needed by a lobby). Default false. */
  readonly postgres?: boolean;
}

/**
 * Creates a test context, runs `work` on it, and cleans it up (every process spawned on it,
 * everything deferred on it, its Redis keys, its database) even when `work` throws or the bench is
 * interrupted. (The lobby benchmarks' `withLobbyFixture` does the same with a lobby on top.)
 */
export async function withTestContext<T>(
  options: TestContextFixtureOptions,
  work: (test: TestContext) => Promise<T>,
): Promise<T> {
  const test = await createTestContext({ postgres: options.postgres ?? false });
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`bench: ${signal}: cleaning up the ${options.label} benchmark\n`);
    test.cleanup().then(
      () => process.exit(130),
      () => process.exit(130),
    );
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await work(test);
  } catch (error) {
    await test.cleanup().catch((cleanupError: unknown) => {
      process.stderr.write(`bench: ${options.label} cleanup failed: ${String(cleanupError)}\n`);
    });
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await test.cleanup(); // idempotent
  }
}

/** A running gateway process. */
export interface GatewayProcess {
  readonly process: SpawnedProcess;
  readonly id: string;
  readonly wsPort: number;
  readonly tcpPort: number;
  /** Stops it (SIGTERM: graceful shutdown; its CPU profile, if any, is written). Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startGateway}. */
export interface GatewayProcessOptions {
  /** GATEWAY_ID, and the label of its CPU profile folder. */
  readonly id: string;
  /** When set, the gateway runs with `--cpu-prof`, its profile in `<cpuProfDir>/<id>/`. */
  readonly cpuProfDir: string | undefined;
  /** Extra environment (on top of {@link BENCH_GATEWAY_ENV}). */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra node flags (e.g. `--inspect=127.0.0.1:0`). */
  readonly execArgv?: readonly string[];
}

/** Spawns the gateway on `test`'s Redis and NATS prefixes, bound to 127.0.0.1 on ephemeral ports. */
export async function startGateway(
  test: TestContext,
  options: GatewayProcessOptions,
): Promise<GatewayProcess> {
  const execArgv = [...CHILD_EXEC_ARGV, ...(options.execArgv ?? [])];
  if (options.cpuProfDir !== undefined) {
    execArgv.push("--cpu-prof", `--cpu-prof-dir=${join(options.cpuProfDir, options.id)}`);
  }
  const spawned = await test.spawnProcess({
    command: process.execPath,
    args: [...execArgv, "src/main.ts"],
    cwd: GATEWAY_DIR,
    env: {
      MERIDIAN_ENV: "development",
      MERIDIAN_REDIS_URL: test.redis.url,
      MERIDIAN_REDIS_PREFIX: test.redis.prefix,
      MERIDIAN_NATS_URL: test.nats.url,
      MERIDIAN_SUBJECT_PREFIX: test.nats.prefix,
      GATEWAY_ID: options.id,
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_TCP_PORT: "0",
      GATEWAY_WS_PORT: "0",
      ...BENCH_GATEWAY_ENV,
      ...options.env,
    },
    readyPattern: GATEWAY_READY,
    timeoutMs: 60_000,
  });
  const line = (await spawned.waitForOutput(GATEWAY_READY))[0];
  const ready = JSON.parse(line) as { wsPort?: unknown; tcpPort?: unknown };
  if (typeof ready.wsPort !== "number" || typeof ready.tcpPort !== "number") {
    await spawned.stop();
    throw new Error(`the gateway's ready line has no ports: ${line}`);
  }
  return {
    process: spawned,
    id: options.id,
    wsPort: ready.wsPort,
    tcpPort: ready.tcpPort,
    stop: async () => {
      await spawned.stop();
    },
  };
}
