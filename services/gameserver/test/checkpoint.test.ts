/**
 * Checkpoints: the fenced write (stale cell epoch, stale player epoch), cell membership, and a zone
 * server whose lease was taken over having its writes refused.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type Checkpoint, CheckpointStore } from "../src/checkpoint/checkpoint-store.js";
import { type Cluster, createCluster } from "./helpers/cluster.js";

let cluster: Cluster;
let store: CheckpointStore;

before(async () => {
  cluster = await createCluster();
  store = new CheckpointStore(cluster.redis, cluster.keys);
  await store.load();
});
after(() => cluster.ctx.cleanup());

const checkpoint = (
  accountId: string,
  fields: Partial<Omit<Checkpoint, "snapshot">> & { x?: number },
): Omit<Checkpoint, "at" | "seq"> => ({
  snapshot: { accountId, username: `p${accountId}`, x: fields.x ?? 10, y: 10, lastSeq: 3, state: { hp: 5 } },
  cell: "c0_0",
  cellEpoch: 1,
  epoch: 1,
  server: "za",
  gateway: "gw1",
  sessionId: randomUUID(),
  online: true,
  ...fields,
});

describe("checkpoints", () => {
  it("checkpoint - a write under a cell epoch below the current one is refused", async () => {
    await cluster.redis.hset(cluster.keys.cellEpochs, "c0_0", "5");
    assert.equal(await store.write(checkpoint("401", { cellEpoch: 4 })), "stale_cell");
    assert.equal(await cluster.redis.exists(cluster.keys.checkpoint("401")), 0);
    assert.equal(await store.write(checkpoint("401", { cellEpoch: 5 })), "ok");
    const read = await store.read("401");
    assert.equal(read?.cellEpoch, 5);
    assert.deepEqual(read?.snapshot.state, { hp: 5 });
    assert.deepEqual(await store.cellPlayers("c0_0"), ["401"]);
  });

  it("checkpoint - a write with a player epoch below the stored one is refused", async () => {
    await cluster.redis.hset(cluster.keys.cellEpochs, "c1_0", "2");
    assert.equal(await store.write(checkpoint("402", { cell: "c1_0", cellEpoch: 2, epoch: 3 })), "ok");
    assert.equal(
      await store.write(checkpoint("402", { cell: "c1_0", cellEpoch: 2, epoch: 2 })),
      "stale_player",
    );
    assert.equal((await store.read("402"))?.epoch, 3);
  });

  it("checkpoint - an epoch has one owner: the same player epoch from another server is refused", async () => {
    await cluster.redis.hset(cluster.keys.cellEpochs, "c1_1", "1");
    const at = { cell: "c1_1", cellEpoch: 1, epoch: 7 };
    assert.equal(await store.write(checkpoint("404", { ...at, server: "zb" })), "ok");
    assert.equal(
      await store.write(checkpoint("404", { ...at, server: "zb", x: 11 })),
      "ok",
      "its owner goes on",
    );
    assert.equal(await store.write(checkpoint("404", { ...at, server: "zc" })), "stale_player");
    assert.equal(
      await store.write(checkpoint("404", { ...at, epoch: 8, server: "zc" })),
      "ok",
      "a higher epoch wins",
    );
  });

  it("checkpoint - the writes of one turn go in one script call, each with the answer it alone would get", async () => {
    await cluster.redis.hset(cluster.keys.cellEpochs, "c0_1", "3");
    await store.write(checkpoint("451", { cell: "c0_1", cellEpoch: 3, epoch: 5 }));
    const callsBefore = store.scriptCalls;
    // Same turn: 6 writes, among them a stale cell, a stale player, and one player twice (in order).
    const results = await Promise.all([
      store.write(checkpoint("452", { cell: "c0_1", cellEpoch: 3 })),
      store.write(checkpoint("453", { cell: "c0_1", cellEpoch: 2 })),
      store.write(checkpoint("451", { cell: "c0_1", cellEpoch: 3, epoch: 4 })),
      store.write(checkpoint("454", { cell: "c0_1", cellEpoch: 3, epoch: 2 })),
      store.write(checkpoint("454", { cell: "c0_1", cellEpoch: 3, epoch: 1 })),
      store.write(checkpoint("455", { cell: "c0_1", cellEpoch: 3, online: false })),
    ]);
    assert.deepEqual(results, ["ok", "stale_cell", "stale_player", "ok", "stale_player", "ok"]);
    assert.equal(store.scriptCalls - callsBefore, 1, "one script call for the turn");
    assert.equal((await store.read("451"))?.epoch, 5);
    assert.equal((await store.read("454"))?.epoch, 2);
    assert.equal(await store.read("453"), undefined);
    assert.deepEqual((await store.cellPlayers("c0_1")).sort(), ["451", "452", "454"]);
  });

  it("checkpoint - moving cells moves the player between the cells' sets; offline leaves them", async () => {
    await cluster.redis.hset(cluster.keys.cellEpochs, "c0_0", "1", "c1_0", "1");
    await cluster.redis.del(cluster.keys.cellEpochs);
    assert.equal(await store.write(checkpoint("403", {})), "ok");
    assert.equal(await store.write(checkpoint("403", { cell: "c1_0", x: 250, epoch: 2 })), "ok");
    assert.equal(await cluster.redis.sismember(cluster.keys.cellPlayers("c0_0"), "403"), 0);
    assert.equal(await cluster.redis.sismember(cluster.keys.cellPlayers("c1_0"), "403"), 1);
    assert.equal(
      await store.write(checkpoint("403", { cell: "c1_0", x: 250, epoch: 2, online: false })),
      "ok",
    );
    assert.equal(await cluster.redis.sismember(cluster.keys.cellPlayers("c1_0"), "403"), 0);
  });

  it("checkpoint - a zone server whose cell was leased to another has its writes refused", async () => {
    // (No players left from the tests above for za to restore when it gains the cell.)
    await cluster.redis.del(cluster.keys.cellPlayers("c0_0"));
    const epoch = await cluster.authority.lease("c0_0", "za");
    const za = await cluster.startZone("za");
    await cluster.install("za", { accountId: "404", cell: "c0_0", cellEpoch: epoch });
    assert.equal(await za.checkpointAll(), 1);
    // The authority gives the cell to another server; za has not heard of it yet.
    cluster.authority.silent = true;
    await cluster.redis.hset(cluster.keys.cellEpochs, "c0_0", String(epoch + 1));
    assert.equal(await za.checkpointAll(), 0);
    assert.ok(za.stats().checkpointsRefused >= 1);
    assert.equal((await store.read("404"))?.cellEpoch, epoch);
    cluster.authority.silent = false;
  });
});
