import { loadTestKitConfig, type TestKitConfig } from "./config.js";
import { TestKitCleanupError, TestKitError, TestKitErrorCode } from "./errors.js";
import { freePort } from "./free-port.js";
import { checkNats, deleteStreamsWithPrefix, type NatsTestResource } from "./nats.js";
import { createDatabase, dropDatabase, type PostgresTestResource } from "./postgres.js";
import { checkRedis, deleteKeysWithPrefix, type RedisTestResource } from "./redis.js";
import { createRunId } from "./run-id.js";
import { type SpawnedProcess, type SpawnProcessOptions, startProcess } from "./spawned-process.js";

/** Default bound on connecting to each service. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** What a test context sets up. Every service is on by default. */
export interface TestContextOptions {
  /** Create a fresh database `meridian_t_<runId>`. Default `true`. */
  readonly postgres?: boolean;
  /** Check Redis and give the run the key prefix `mt:<runId>:`. Default `true`. */
  readonly redis?: boolean;
  /** Check NATS (with JetStream) and give the run the prefixes `mt.<runId>` / `MT_<runId>`. Default `true`. */
  readonly nats?: boolean;
  /** Service URLs, over those from the environment ({@link loadTestKitConfig}). Default none. */
  readonly config?: Partial<TestKitConfig>;
  /** Bound on connecting to each service. Default {@link DEFAULT_CONNECT_TIMEOUT_MS}. */
  readonly connectTimeoutMs?: number;
}

/** A cleanup registered with {@link TestContext.defer}. */
export type Cleanup = () => unknown;

/**
 * The resources of one test run, isolated from every other run by `runId`, and their cleanup.
 *
 * ```ts
 * let ctx: TestContext;
 * before(async () => { ctx = await createTestContext(); });
 * after(() => ctx.cleanup());
 * ```
 */
export interface TestContext {
  /** Short unique id of the run: a lowercase letter, then lowercase letters and digits (10 in all). */
  readonly runId: string;
  /** The run's own database. @throws TestKitError `TK_SERVICE_DISABLED` when created with `postgres: false`. */
  readonly postgres: PostgresTestResource;
  /** The run's Redis key prefix. @throws TestKitError `TK_SERVICE_DISABLED` when created with `redis: false`. */
  readonly redis: RedisTestResource;
  /** The run's NATS prefixes. @throws TestKitError `TK_SERVICE_DISABLED` when created with `nats: false`. */
  readonly nats: NatsTestResource;
  /** A TCP port on 127.0.0.1 (or `host`) that was free a moment ago. */
  freePort(host?: string): Promise<number>;
  /** Starts a process that is stopped at cleanup (its whole process group, SIGTERM then SIGKILL). */
  spawnProcess(options: SpawnProcessOptions): Promise<SpawnedProcess>;
  /** Registers an extra cleanup; cleanups run in reverse order of registration. */
  defer(cleanup: Cleanup): void;
  /**
   * Runs every cleanup in reverse order of registration (processes, then NATS streams, Redis keys, the
   * database), each even when an earlier one failed. Idempotent: later calls return the first call's
   * promise. @throws TestKitCleanupError `TK_CLEANUP_FAILED` with every error.
   */
  cleanup(): Promise<void>;
}

class DefaultTestContext implements TestContext {
  readonly runId: string;
  readonly #cleanups: Cleanup[] = [];
  #cleanup: Promise<void> | undefined;
  #postgres: PostgresTestResource | undefined;
  #redis: RedisTestResource | undefined;
  #nats: NatsTestResource | undefined;

  constructor(runId: string) {
    this.runId = runId;
  }

  get postgres(): PostgresTestResource {
    return this.#require("postgres", this.#postgres);
  }

  get redis(): RedisTestResource {
    return this.#require("redis", this.#redis);
  }

  get nats(): NatsTestResource {
    return this.#require("nats", this.#nats);
  }

  async setUp(options: TestContextOptions): Promise<void> {
    const config = loadTestKitConfig(options.config);
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (options.postgres ?? true) {
      const database = `meridian_t_${this.runId}`;
      const url = await createDatabase(config.postgresUrl, database, timeoutMs);
      this.defer(() => dropDatabase(config.postgresUrl, database, timeoutMs));
      this.#postgres = Object.freeze({ url, database });
    }
    if (options.redis ?? true) {
      await checkRedis(config.redisUrl, timeoutMs);
      const prefix = `mt:${this.runId}:`;
      this.defer(() => deleteKeysWithPrefix(config.redisUrl, prefix, timeoutMs));
      this.#redis = Object.freeze({ url: config.redisUrl, prefix });
    }
    if (options.nats ?? true) {
      await checkNats(config.natsUrl, timeoutMs);
      const streamPrefix = `MT_${this.runId}`;
      this.defer(() => deleteStreamsWithPrefix(config.natsUrl, streamPrefix, timeoutMs));
      this.#nats = Object.freeze({ url: config.natsUrl, prefix: `mt.${this.runId}`, streamPrefix });
    }
  }

  freePort(host?: string): Promise<number> {
    return freePort(host);
  }

  async spawnProcess(options: SpawnProcessOptions): Promise<SpawnedProcess> {
    this.#assertOpen();
    const spawned = await startProcess(options);
    this.#cleanups.push(() => spawned.stop());
    return spawned;
  }

  defer(cleanup: Cleanup): void {
    this.#assertOpen();
    this.#cleanups.push(cleanup);
  }

  cleanup(): Promise<void> {
    this.#cleanup ??= this.#runCleanups();
    return this.#cleanup;
  }

  async #runCleanups(): Promise<void> {
    const errors: unknown[] = [];
    while (this.#cleanups.length > 0) {
      const cleanup = this.#cleanups.pop() as Cleanup;
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new TestKitCleanupError(errors, { runId: this.runId });
  }

  #assertOpen(): void {
    if (this.#cleanup) {
      throw new TestKitError(TestKitErrorCode.ContextClosed, `test context ${this.runId} is cleaned up`, {
        context: { runId: this.runId },
      });
    }
  }

  #require<T>(service: string, resource: T | undefined): T {
    if (resource === undefined) {
      throw new TestKitError(
        TestKitErrorCode.ServiceDisabled,
        `test context ${this.runId} was created with { ${service}: false }`,
        { context: { runId: this.runId, service } },
      );
    }
    return resource;
  }
}

/**
 * Creates the resources of one test run: a fresh Postgres database, a Redis key prefix and NATS
 * prefixes (each checked to be reachable), with their cleanup registered. When a service cannot be
 * reached, what was already created is cleaned up and the error says to run `npm run services`.
 * @throws TestKitError `TK_SERVICE_UNAVAILABLE`, `TK_RESOURCE_FAILED` or `TK_CONFIG_INVALID`.
 */
export async function createTestContext(options: TestContextOptions = {}): Promise<TestContext> {
  const context = new DefaultTestContext(createRunId());
  try {
    await context.setUp(options);
  } catch (error) {
    await context.cleanup().catch(() => undefined); // the set-up error is the one to report
    throw error;
  }
  return context;
}
