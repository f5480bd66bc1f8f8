import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { encodePresence, type PresenceRecord, presenceKey, presenceWriteCommands } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { LobbyErrorCode } from "../src/errors.js";
import { PlayerLocator, type PresenceReader } from "../src/locator/index.js";
import { codeOf } from "./helpers/lobby-test-kit.js";

let ctx: TestContext;
let db: Kysely<Database>;
let redis: Redis;
let locator: PlayerLocator;

before(async () => {
  ctx = await createTestContext();
  db = createDatabase({ url: ctx.postgres.url, poolSize: 5 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
  redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  ctx.defer(() => redis.quit());
  locator = new PlayerLocator(db, redis, ctx.redis.prefix);
});
after(() => ctx.cleanup());

let names = 0;

/** An account with a display name and the key the lobby would store for it. */
async function account(display: string, key = display.toLowerCase()): Promise<string> {
  const row = await db
    .insertInto("accounts")
    .values({ username_display: display, username_key: key })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

function uniqueName(base: string): string {
  names++;
  return `${base}${names}`;
}

function presence(accountId: string, username: string, patch: Partial<PresenceRecord> = {}): PresenceRecord {
  const now = Date.now();
  return {
    accountId,
    username,
    world: "eu-1",
    zone: "z-1-2",
    server: "7",
    gateway: "gw-a",
    since: now,
    updatedAt: now,
    ...patch,
  };
}

/** Writes presence exactly as a gateway does: HSET of the encoded record + PEXPIRE, in one MULTI. */
async function writePresence(record: PresenceRecord, ttlMs?: number): Promise<void> {
  const results = await redis.multi(presenceWriteCommands(ctx.redis.prefix, record, ttlMs)).exec();
  for (const [error] of results ?? []) assert.equal(error, null);
}

/** Counts `hgetall` calls, to show which path touched Redis. */
class CountingReader implements PresenceReader {
  calls = 0;
  hgetall: Redis["hgetall"] = ((key: string) => {
    this.calls++;
    return redis.hgetall(key);
  }) as Redis["hgetall"];
}

describe("locator - online players", () => {
  it("locates an online player by account id with the presence record", async () => {
    const name = uniqueName("Online");
    const id = await account(name);
    const record = presence(id, name, { zone: "z-9-9", server: "12", gateway: "gw-b" });
    await writePresence(record);
    assert.deepEqual(await locator.locate({ accountId: id }), { online: true, ...record });
  });

  it("locates an online player by any case or Unicode variant of the name", async () => {
    const name = uniqueName("Zoë_");
    const id = await account(name, name.toLowerCase());
    const record = presence(id, name);
    await writePresence(record);
    const fullwidth = [...name]
      .map((c) => (/[A-Za-z0-9]/.test(c) ? String.fromCodePoint((c.codePointAt(0) ?? 0) + 0xfee0) : c))
      .join("");
    for (const variant of [
      name,
      name.toUpperCase(),
      `  ${name.toLowerCase()} `,
      name.normalize("NFD"),
      fullwidth,
    ]) {
      assert.deepEqual(await locator.locate({ username: variant }), { online: true, ...record }, variant);
    }
  });

  it("reports null zone and server for a player not yet placed", async () => {
    const name = uniqueName("Lobbyist");
    const id = await account(name);
    await writePresence(presence(id, name, { zone: null, server: null }));
    const where = await locator.locate({ accountId: id });
    assert.equal(where.online, true);
    if (where.online) {
      assert.equal(where.zone, null);
      assert.equal(where.server, null);
    }
  });

  it("answers an online player by name from the name cache and Redis alone after the first lookup", async () => {
    const name = uniqueName("Cached");
    const id = await account(name);
    await writePresence(presence(id, name));
    const reader = new CountingReader();
    const cached = new PlayerLocator(db, reader, ctx.redis.prefix);
    assert.equal((await cached.locate({ username: name })).online, true);
    // The account row is gone from Postgres: only the cache and Redis can answer now.
    await db.deleteFrom("accounts").where("id", "=", id).execute();
    const again = await cached.locate({ username: name.toUpperCase() });
    assert.equal(again.online, true);
    assert.equal(again.accountId, id);
    assert.equal(reader.calls, 2);
    // Once offline, Postgres is asked and the stale entry goes.
    await redis.del(presenceKey(ctx.redis.prefix, id));
    assert.equal(await codeOf(cached.locate({ username: name })), LobbyErrorCode.PlayerUnknown);
  });

  it("repairs a stale cache entry when a name now belongs to another account", async () => {
    const name = uniqueName("Reborn");
    const oldId = await account(name);
    const cached = new PlayerLocator(db, redis, ctx.redis.prefix);
    assert.deepEqual(await cached.locate({ username: name }), {
      online: false,
      accountId: oldId,
      username: name,
    });
    await db.deleteFrom("accounts").where("id", "=", oldId).execute();
    const newId = await account(name);
    await writePresence(presence(newId, name));
    const where = await cached.locate({ username: name });
    assert.equal(where.online, true);
    assert.equal(where.accountId, newId);
  });

  it("works with the name cache disabled", async () => {
    const name = uniqueName("NoCache");
    const id = await account(name);
    await writePresence(presence(id, name));
    const uncached = new PlayerLocator(db, redis, ctx.redis.prefix, { nameCacheSize: 0 });
    assert.equal((await uncached.locate({ username: name })).online, true);
    assert.equal((await uncached.locate({ username: name })).accountId, id);
  });
});

describe("locator - offline and unknown players", () => {
  it("reports a known player without presence as offline, by id and by name", async () => {
    const name = uniqueName("Sleeper");
    const id = await account(name);
    const expected = { online: false, accountId: id, username: name };
    assert.deepEqual(await locator.locate({ accountId: id }), expected);
    assert.deepEqual(await locator.locate({ username: name.toUpperCase() }), expected);
  });

  it("reports a player offline once the presence TTL runs out", async () => {
    const name = uniqueName("Fading");
    const id = await account(name);
    await writePresence(presence(id, name), 150);
    assert.equal((await locator.locate({ accountId: id })).online, true);
    let where = await locator.locate({ accountId: id });
    // Poll until Redis expires the key; the bound only keeps a broken Redis from hanging the run.
    for (let polls = 0; where.online && polls < 400; polls++) {
      await sleep(25);
      where = await locator.locate({ accountId: id });
    }
    assert.deepEqual(where, { online: false, accountId: id, username: name });
    assert.equal((await locator.locate({ username: name })).online, false);
  });

  it("reports a corrupt presence hash as offline, never as an error", async () => {
    const name = uniqueName("Garbled");
    const id = await account(name);
    const key = presenceKey(ctx.redis.prefix, id);
    const other = await account(uniqueName("Other"));
    const corrupt: Record<string, string>[] = [
      { accountId: id }, // partial: a lone refresh after expiry
      {
        v: "1",
        accountId: id,
        username: name,
        world: "w",
        zone: "",
        server: "",
        gateway: "g",
        since: "x",
        updatedAt: "1",
      },
      {
        v: "9",
        accountId: id,
        username: name,
        world: "w",
        zone: "",
        server: "",
        gateway: "g",
        since: "1",
        updatedAt: "1",
      },
    ];
    for (const hash of corrupt) {
      await redis.del(key);
      await redis.hset(key, hash);
      assert.deepEqual(await locator.locate({ accountId: id }), {
        online: false,
        accountId: id,
        username: name,
      });
      assert.equal((await locator.locate({ username: name })).online, false);
    }
    // Another account's record under this key is not this player's presence.
    await redis.del(key);
    await redis.hset(key, encodePresence(presence(other, "Other")));
    assert.equal((await locator.locate({ accountId: id })).online, false);
    // A key of another Redis type is not presence either.
    await redis.del(key);
    await redis.set(key, "online");
    assert.deepEqual(await locator.locate({ accountId: id }), {
      online: false,
      accountId: id,
      username: name,
    });
    await redis.del(key);
  });

  it("refuses an unknown account id or name with LOBBY_PLAYER_UNKNOWN", async () => {
    for (const accountId of [
      "999999999",
      "0",
      "-1",
      "abc",
      "",
      "9223372036854775808",
      42 as unknown as string,
    ]) {
      assert.equal(
        await codeOf(locator.locate({ accountId })),
        LobbyErrorCode.PlayerUnknown,
        String(accountId),
      );
    }
    assert.equal(
      await codeOf(locator.locate({ username: uniqueName("Nobody") })),
      LobbyErrorCode.PlayerUnknown,
    );
  });

  it("refuses an impossible name with LOBBY_INVALID_USERNAME", async () => {
    for (const username of ["ab", "a b c", "x".repeat(33), "bad!name", "", 7 as unknown as string]) {
      assert.equal(
        await codeOf(locator.locate({ username })),
        LobbyErrorCode.InvalidUsername,
        String(username),
      );
    }
  });

  it("refuses a query with both or neither of accountId and username", async () => {
    assert.equal(
      await codeOf(locator.locate({ accountId: "1", username: "abc" } as never)),
      LobbyErrorCode.BadRequest,
    );
    assert.equal(await codeOf(locator.locate({} as never)), LobbyErrorCode.BadRequest);
  });

  it("refuses bad options", () => {
    for (const nameCacheSize of [-1, 1.5, Number.NaN, 1e12]) {
      assert.throws(() => new PlayerLocator(db, redis, ctx.redis.prefix, { nameCacheSize }), {
        code: LobbyErrorCode.InvalidOptions,
      });
    }
  });
});
