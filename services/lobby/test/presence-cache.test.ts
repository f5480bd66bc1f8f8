import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type PresenceRecord, presenceKey, presenceWriteCommands } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { Redis, type RedisOptions } from "ioredis";
import type { Kysely } from "kysely";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { PlayerLocator } from "../src/locator/index.js";
import { PresenceCache } from "../src/locator/presence-cache.js";

let ctx: TestContext;
let db: Kysely<Database>;
/** The lobby's client (the cache duplicates it). */
let redis: Redis;
/** Another client: a gateway writing presence. */
let writer: Redis;

before(async () => {
  ctx = await createTestContext();
  db = createDatabase({ url: ctx.postgres.url, poolSize: 3 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
  redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1, connectionName: "lobby-test" });
  writer = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  ctx.defer(() => redis.quit());
  ctx.defer(() => writer.quit());
});
after(() => ctx.cleanup());

let keys = 0;
const key = (): string => `${ctx.redis.prefix}pc:${++keys}`;

async function open(options: { maxEntries?: number; maxAgeMs?: number } = {}): Promise<PresenceCache> {
  const cache = new PresenceCache(redis, options);
  ctx.defer(() => cache.close());
  await cache.start();
  assert.equal(cache.stats().tracking, true, "tracking set up");
  return cache;
}

/** Polls `read` until `done` holds (invalidations travel on another connection). */
async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(v)}`);
    await sleep(10);
  }
}

describe("presence cache", () => {
  it("answers a read again from memory, the same hash", async () => {
    const cache = await open();
    const k = key();
    await writer.hset(k, { a: "1" });
    assert.deepEqual(await cache.hgetall(k), { a: "1" });
    assert.deepEqual(await cache.hgetall(k), { a: "1" });
    const s = cache.stats();
    assert.equal(s.misses, 1);
    assert.equal(s.hits, 1);
  });

  it("forgets a hash another client changes, deletes or lets expire; a missing key is cached until created", async () => {
    const cache = await open();
    const k = key();
    await writer.hset(k, { a: "1" });
    await cache.hgetall(k);
    await writer.hset(k, { a: "2" });
    await until(
      "the change",
      () => cache.hgetall(k),
      (h) => h.a === "2",
    );
    await writer.del(k);
    await until(
      "the delete",
      () => cache.hgetall(k),
      (h) => Object.keys(h).length === 0,
    );
    // Missing now, and cached as missing: its creation is heard too.
    const missesBefore = cache.stats().misses;
    await cache.hgetall(k);
    await writer.hset(k, { a: "3" });
    await until(
      "the creation",
      () => cache.hgetall(k),
      (h) => h.a === "3",
    );
    assert.ok(cache.stats().misses > missesBefore);
    await writer.pexpire(k, 30);
    await until(
      "the expiry",
      () => cache.hgetall(k),
      (h) => Object.keys(h).length === 0,
    );
    assert.ok(cache.stats().invalidations >= 4);
  });

  it("shares one Redis read between concurrent reads of a key", async () => {
    const cache = await open();
    const k = key();
    await writer.hset(k, { a: "1" });
    const [x, y, z] = await Promise.all([cache.hgetall(k), cache.hgetall(k), cache.hgetall(k)]);
    assert.deepEqual([x, y, z], [{ a: "1" }, { a: "1" }, { a: "1" }]);
    assert.equal(cache.stats().misses, 1);
  });

  it("keeps at most maxEntries hashes, dropping the least recently read", async () => {
    const cache = await open({ maxEntries: 2 });
    const [a, b, c] = [key(), key(), key()];
    for (const k of [a, b, c]) await writer.hset(k, { k });
    await cache.hgetall(a);
    await cache.hgetall(b);
    await cache.hgetall(a); // a is now the most recent
    await cache.hgetall(c); // drops b
    assert.equal(cache.stats().entries, 2);
    const misses = cache.stats().misses;
    await cache.hgetall(a);
    assert.equal(cache.stats().misses, misses, "a still cached");
    await cache.hgetall(b);
    assert.equal(cache.stats().misses, misses + 1, "b was dropped");
  });

  it("a lost invalidation connection: answers are at most maxAgeMs old, caching stops, and it comes back", async () => {
    const cache = await open({ maxAgeMs: 100 });
    const k = key();
    await writer.hset(k, { a: "1" });
    await cache.hgetall(k);
    // Kill the subscriber: Redis can no longer tell this cache about changes.
    const list = String(await writer.call("CLIENT", "LIST", "TYPE", "pubsub"));
    const line = list.split("\n").find((l) => l.includes("name=lobby-test-invalidations-"));
    const id = /(?:^|\s)id=(\d+)/.exec(line ?? "")?.[1];
    assert.ok(id, "the subscriber is listed");
    await writer.call("CLIENT", "KILL", "ID", id);
    await writer.hset(k, { a: "2" });
    // Not heard (the subscriber is gone): seen once the entry is too old, or the loss noticed.
    await until(
      "the change, unheard",
      () => cache.hgetall(k),
      (h) => h.a === "2",
    );
    await until(
      "tracking again",
      async () => cache.stats().tracking,
      (t) => t,
    );
    await cache.hgetall(k);
    await writer.hset(k, { a: "3" });
    await until(
      "changes heard again",
      () => cache.hgetall(k),
      (h) => h.a === "3",
    );
  });

  it("a read started after an invalidation does not join an older read in flight", async () => {
    // The reader's replies arrive late (a busy connection): Redis ran the first HGETALL before the write.
    const slow = {
      options: redis.options,
      duplicate: (options: Partial<RedisOptions>) => {
        const client = redis.duplicate(options);
        if (String(options.connectionName).endsWith("-presence")) {
          const hgetall = client.hgetall.bind(client) as (key: string) => Promise<Record<string, string>>;
          Object.assign(client, {
            hgetall: async (key: string) => {
              const hash = await hgetall(key);
              await sleep(150);
              return hash;
            },
          });
        }
        return client;
      },
    } as unknown as Redis;
    const cache = new PresenceCache(slow);
    ctx.defer(() => cache.close());
    await cache.start();
    const k = key();
    await writer.hset(k, { a: "1" });
    const first = cache.hgetall(k);
    await sleep(20);
    const before = cache.stats().invalidations;
    await writer.hset(k, { a: "2" });
    await until(
      "the invalidation",
      async () => cache.stats().invalidations,
      (n) => n > before,
    );
    assert.deepEqual(await cache.hgetall(k), { a: "2" }, "a read after the invalidation asks Redis again");
    assert.deepEqual(await first, { a: "1" }, "the older read answers what it read");
    assert.deepEqual(await cache.hgetall(k), { a: "2" }, "and its answer was not cached");
  });

  it("after the subscriber reconnects, invalidations go to the new connection, not a lingering old one", async () => {
    const client = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1, connectionName: "lobby-relink" });
    ctx.defer(() => client.quit());
    const cache = new PresenceCache(client);
    ctx.defer(() => cache.close());
    await cache.start();
    const list = String(await writer.call("CLIENT", "LIST", "TYPE", "pubsub"));
    const line = list.split("\n").find((l) => / name=lobby-relink-invalidations-/.test(l)) ?? "";
    const name = / name=(\S+)/.exec(line)?.[1] ?? "";
    const id = /(?:^|\s)id=(\d+)/.exec(line)?.[1] ?? "";
    assert.ok(name !== "" && id !== "", "the subscriber is listed");
    // An older connection of the same name that the server still holds (half-open after a partition).
    const ghost = new Redis(ctx.redis.url, { connectionName: name, protocol: 2 });
    ctx.defer(() => ghost.disconnect());
    await ghost.subscribe("__redis__:invalidate");
    await writer.call("CLIENT", "KILL", "ID", id);
    await until(
      "tracking dropped",
      async () => cache.stats().tracking,
      (t) => !t,
    );
    await until(
      "tracking again",
      async () => cache.stats().tracking,
      (t) => t,
    );
    const k = key();
    await writer.hset(k, { a: "1" });
    await cache.hgetall(k);
    const before = cache.stats().invalidations;
    await writer.hset(k, { a: "2" });
    await until(
      "the invalidation, heard by this cache",
      async () => cache.stats().invalidations,
      (n) => n > before,
    );
    assert.deepEqual(await cache.hgetall(k), { a: "2" });
  });

  it("refuses a bad maxEntries or maxAgeMs", () => {
    assert.throws(() => new PresenceCache(redis, { maxEntries: 0 }), /maxEntries must be a positive integer/);
    assert.throws(() => new PresenceCache(redis, { maxAgeMs: 0 }), /maxAgeMs must be a positive number/);
  });
});

describe("locator through the presence cache", () => {
  it("follows a player going online, moving, offline and online again", async () => {
    const cache = await open();
    const locator = new PlayerLocator(db, cache, ctx.redis.prefix);
    const row = await db
      .insertInto("accounts")
      .values({ username_display: "Cached", username_key: "cached" })
      .returning("id")
      .executeTakeFirstOrThrow();
    const accountId = row.id;
    const record = (zone: string): PresenceRecord => {
      const now = Date.now();
      return {
        accountId,
        username: "Cached",
        world: "w",
        zone,
        server: "s",
        gateway: "g",
        since: now,
        updatedAt: now,
      };
    };
    const write = async (r: PresenceRecord) => {
      const pipeline = writer.multi();
      for (const [command, ...args] of presenceWriteCommands(ctx.redis.prefix, r, 60_000)) {
        pipeline.call(command, ...args);
      }
      await pipeline.exec();
    };
    assert.equal((await locator.locate({ accountId })).online, false);
    await write(record("z1"));
    const online = await until(
      "online",
      () => locator.locate({ accountId }),
      (l) => l.online,
    );
    assert.equal(online.online && online.zone, "z1");
    await write(record("z2"));
    await until(
      "moved",
      () => locator.locate({ accountId }),
      (l) => l.online && l.zone === "z2",
    );
    await writer.del(presenceKey(ctx.redis.prefix, accountId));
    await until(
      "offline",
      () => locator.locate({ accountId }),
      (l) => !l.online,
    );
    await write(record("z3"));
    await until(
      "online again",
      () => locator.locate({ accountId }),
      (l) => l.online && l.zone === "z3",
    );
    assert.ok(cache.stats().hits + cache.stats().misses > 0);
  });
});
