/**
 * @meridian/testkit — what Meridian's tests need from the real PostgreSQL, Redis and NATS: a fresh
 * database, a Redis key prefix and NATS prefixes per run, free ports and spawned processes, all
 * cleaned up by one idempotent `cleanup()` (after nats.js's `nst` test kit).
 *
 * Every public name is listed here by name.
 * @module
 */
export {
  DEFAULT_NATS_URL,
  DEFAULT_POSTGRES_URL,
  DEFAULT_REDIS_URL,
  loadTestKitConfig,
  type TestKitConfig,
} from "./config.js";
export { TestKitCleanupError, TestKitError, TestKitErrorCode } from "./errors.js";
export { freePort } from "./free-port.js";
export type { NatsTestResource } from "./nats.js";
export type { PostgresTestResource } from "./postgres.js";
export type { RedisTestResource } from "./redis.js";
export { createRunId, RUN_ID_LENGTH } from "./run-id.js";
export {
  DEFAULT_READY_TIMEOUT_MS,
  DEFAULT_STOP_TIMEOUT_MS,
  type ProcessExit,
  type SpawnedProcess,
  type SpawnProcessOptions,
} from "./spawned-process.js";
export {
  type Cleanup,
  createTestContext,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type TestContext,
  type TestContextOptions,
} from "./test-context.js";
