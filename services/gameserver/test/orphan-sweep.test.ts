import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type PresenceRecord, presenceKey, presenceWriteCommands } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { Redis } from "ioredis";
import { pino } from "pino";
import { OrphanSweep } from "../src/orphan-sweep.js";
import { createCluster } from "./helpers/cluster.js";

let ctx: TestContext;
let redis: Redis;
const log = pino({ level: "silent" });

before(async () => {
  ctx = await createTestContext({ postgres: false, nats: false });
  redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  ctx.defer(() => redis.quit());
});
after(() => ctx.cleanup());

async function online(accountId: string): Promise<void> {
  const now = Date.now();
  const record: PresenceRecord = {
    accountId,
    username: `p${accountId}`,
    world: "w",
    zone: "c0_0",
    server: "za",
    gateway: "gw",
    since: now,
    updatedAt: now,
  };
  const tx = redis.multi();
  for (const [command, ...args] of presenceWriteCommands(ctx.redis.prefix, record, 60_000))
    tx.call(command, ...args);
  await tx.exec();
}

async function offline(accountId: string): Promise<void> {
  await redis.del(presenceKey(ctx.redis.prefix, accountId));
}

function sweeper(held: Set<string>, orphaned: string[], misses?: number, client: Redis = redis): OrphanSweep {
  return new OrphanSweep(
    client,
    { intervalMs: 0, redisPrefix: ctx.redis.prefix, ...(misses === undefined ? {} : { misses }) },
    () => held,
    (id) => orphaned.push(id),
    log,
  );
}

describe("orphan sweep", () => {
  it("reports a held player only after `misses` sweeps in a row without presence, once", async () => {
    await online("101");
    await online("102");
    const held = new Set(["101", "102", "103"]);
    const orphaned: string[] = [];
    const sweep = sweeper(held, orphaned);
    await sweep.sweep();
    assert.deepEqual(orphaned, [], "one sweep without presence is not enough");
    await sweep.sweep();
    assert.deepEqual(orphaned, ["103"]);
    held.delete("103"); // the zone dropped them
    await sweep.sweep();
    assert.deepEqual(orphaned, ["103"]);
  });

  it("a player whose presence comes back between sweeps starts counting again", async () => {
    await online("201");
    const held = new Set(["201"]);
    const orphaned: string[] = [];
    const sweep = sweeper(held, orphaned, 2);
    await offline("201");
    await sweep.sweep();
    await online("201");
    await sweep.sweep();
    await offline("201");
    await sweep.sweep();
    assert.deepEqual(orphaned, [], "never two misses in a row");
    await sweep.sweep();
    assert.deepEqual(orphaned, ["201"]);
  });

  it("a player no longer held when the answer arrives is not reported", async () => {
    const held = new Set(["301"]);
    const orphaned: string[] = [];
    const sweep = sweeper(held, orphaned, 1);
    const running = sweep.sweep();
    held.delete("301");
    await running;
    assert.deepEqual(orphaned, []);
  });

  it("a Redis failure is no sweep: nothing is reported, nothing thrown", async () => {
    const dead = new Redis({
      port: 1,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    dead.on("error", () => undefined);
    const orphaned: string[] = [];
    const sweep = sweeper(new Set(["401"]), orphaned, 1, dead);
    await sweep.sweep();
    await sweep.sweep();
    assert.deepEqual(orphaned, []);
    dead.disconnect();
  });
});

describe("zone server orphan sweep", () => {
  it("drops (and checkpoints offline) a player whose presence is gone; keeps one with presence", async () => {
    const cluster = await createCluster();
    try {
      const epoch = await cluster.authority.lease("c0_0", "zo");
      const zone = await cluster.startZone("zo", { orphanSweepMs: 50 });
      // The zone's presence keys live under the cluster's prefix, not this file's.
      const write = async (accountId: string) => {
        const now = Date.now();
        const tx = cluster.redis.multi();
        const record: PresenceRecord = {
          accountId,
          username: `p${accountId}`,
          world: cluster.world.name,
          zone: "c0_0",
          server: "zo",
          gateway: "gw",
          since: now,
          updatedAt: now,
        };
        for (const [command, ...args] of presenceWriteCommands(cluster.ctx.redis.prefix, record, 60_000)) {
          tx.call(command, ...args);
        }
        await tx.exec();
      };
      await write("601");
      for (const accountId of ["601", "602"]) {
        const reply = await cluster.install("zo", { accountId, cell: "c0_0", cellEpoch: epoch });
        assert.equal(reply.t, "player_installed");
      }
      const deadline = Date.now() + 10_000;
      while (zone.owns("602") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(zone.owns("602"), false, "the player without presence is dropped");
      assert.equal(zone.owns("601"), true, "the player with presence stays");
      assert.equal(zone.stats().orphansDropped, 1);
      const stored = await cluster.redis.hgetall(cluster.keys.checkpoint("602"));
      assert.equal(stored.online, "0", "checkpointed offline");
    } finally {
      await cluster.ctx.cleanup();
    }
  });
});
