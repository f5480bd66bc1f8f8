/**
 * Presence writes (libs/protocol `presence.ts` is the contract): the whole record with a TTL at
 * login, resume and every move; a guarded refresh every TTL / {@link PRESENCE_REFRESH_DIVISOR}; a
 * guarded clear at logout, kick or grace expiry.
 *
 * The refresh is guarded like the clear: it rewrites the record only when the key is absent or still
 * holds this gateway's record (`gateway` and `since`), so a gateway whose player resumed elsewhere
 * does not overwrite the other gateway's record; it learns of it instead (the refresh returns false).
 *
 * @module
 */
import {
  DEFAULT_PRESENCE_TTL_MS,
  encodePresence,
  PRESENCE_CLEAR_SCRIPT,
  type PresenceRecord,
  presenceKey,
  presenceWriteCommands,
} from "@meridian/protocol";
import { measureRedis } from "@meridian/telemetry";
import type { Redis } from "ioredis";

/**
 * Rewrites a presence record only when the key is absent or still holds the writer's record:
 * `KEYS[1]` the key, `ARGV[1]` gateway, `ARGV[2]` since, `ARGV[3]` TTL ms, then field/value pairs.
 * Returns 1 when written, 0 when another writer owns the key.
 */
export const PRESENCE_REFRESH_SCRIPT = `local v = redis.call('HMGET', KEYS[1], 'gateway', 'since')
if v[1] and (v[1] ~= ARGV[1] or v[2] ~= ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/** Presence reads and writes under one key prefix. */
export class PresenceStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #ttlMs: number;

  constructor(redis: Redis, options: { redisPrefix: string; ttlMs?: number }) {
    this.#redis = redis;
    this.#prefix = options.redisPrefix;
    this.#ttlMs = options.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Writes the whole record (`HSET` + `PEXPIRE` in one `MULTI`). */
  async write(record: PresenceRecord): Promise<void> {
    const results = await measureRedis("gateway", "presence.write", () =>
      this.#redis.multi(presenceWriteCommands(this.#prefix, record, this.#ttlMs)).exec(),
    );
    const failed = results?.find(([error]) => error !== null)?.[0];
    if (failed) throw failed;
  }

  /** Deletes the record if it still is this writer's (`gateway`, `since`). True when deleted. */
  async clear(accountId: string, gateway: string, since: number): Promise<boolean> {
    const key = presenceKey(this.#prefix, accountId);
    const deleted = await measureRedis("gateway", "presence.clear", () =>
      this.#redis.eval(PRESENCE_CLEAR_SCRIPT, 1, key, gateway, String(since)),
    );
    return Number(deleted) === 1;
  }

  /**
   * Refreshes many records in one pipeline (`updatedAt` should be now). Resolves with, per record,
   * true (written), false (another writer owns the key) or an Error.
   */
  async refresh(records: readonly PresenceRecord[]): Promise<(boolean | Error)[]> {
    if (records.length === 0) return [];
    const pipeline = this.#redis.pipeline();
    for (const record of records) {
      const fields = Object.entries(encodePresence(record)).flat();
      pipeline.eval(
        PRESENCE_REFRESH_SCRIPT,
        1,
        presenceKey(this.#prefix, record.accountId),
        record.gateway,
        String(record.since),
        String(this.#ttlMs),
        ...fields,
      );
    }
    const results = (await measureRedis("gateway", "presence.refresh", () => pipeline.exec())) ?? [];
    return records.map((_, i) => {
      const [error, value] = results[i] ?? [new Error("no result"), null];
      return error !== null ? error : Number(value) === 1;
    });
  }
}
