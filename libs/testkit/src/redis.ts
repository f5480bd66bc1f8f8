import { Redis } from "ioredis";
import { describe, redactUrl, serviceUnavailable, TestKitError, TestKitErrorCode } from "./errors.js";

/** The Redis key space of one test run. */
export interface RedisTestResource {
  /** URL of Redis. */
  readonly url: string;
  /** Prefix of every key the run writes, `mt:<runId>:`; cleanup deletes every key under it. */
  readonly prefix: string;
}

/** Keys fetched per SCAN round and deleted per UNLINK. */
const SCAN_COUNT = 500;

async function withRedis<T>(url: string, timeoutMs: number, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let lastError: unknown;
  redis.on("error", (error) => {
    lastError = error; // a failed connect rejects with "Connection is closed."; this says why
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (cause) {
    // A connection that already ended must not be disconnected again: ioredis would then hold the
    // event loop for its disconnectTimeout (2 s) with a timer nothing clears.
    if (redis.status !== "end") redis.disconnect();
    throw serviceUnavailable("redis", url, lastError ?? cause);
  }
  try {
    return await work(redis);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

/** Checks that Redis answers PING. */
export async function checkRedis(url: string, timeoutMs: number): Promise<void> {
  await withRedis(url, timeoutMs, async () => undefined);
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/** Deletes every key that starts with `prefix` (SCAN + UNLINK); returns how many were deleted. */
export async function deleteKeysWithPrefix(url: string, prefix: string, timeoutMs: number): Promise<number> {
  return withRedis(url, timeoutMs, async (redis) => {
    let cursor = "0";
    let deleted = 0;
    try {
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${escapeGlob(prefix)}*`, "COUNT", SCAN_COUNT);
        cursor = next;
        if (keys.length > 0) deleted += await redis.unlink(...keys);
      } while (cursor !== "0");
    } catch (cause) {
      throw new TestKitError(
        TestKitErrorCode.ResourceFailed,
        `redis at ${redactUrl(url)}: deleting keys under ${prefix} failed: ${describe(cause)}`,
        { cause, context: { service: "redis", prefix } },
      );
    }
    return deleted;
  });
}
