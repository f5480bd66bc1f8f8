/**
 * `player_install` from the authority: ownership check by cell epoch, spawn, restore from the
 * checkpoint with epoch + 1, and a resumed session kept as it is.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { CheckpointStore } from "../src/checkpoint/checkpoint-store.js";
import { GameServerErrorCode } from "../src/errors.js";
import type { ZoneServer } from "../src/zone-server.js";
import { type Cluster, createCluster } from "./helpers/cluster.js";
import { FakeGateway, waitFor } from "./helpers/fake-gateway.js";

let cluster: Cluster;
let zone: ZoneServer;
let epoch: number;

before(async () => {
  cluster = await createCluster();
  epoch = await cluster.authority.lease("c0_0", "za");
  zone = await cluster.startZone("za");
});
after(() => cluster.ctx.cleanup());

describe("install", () => {
  it("install - refused WORLD_NOT_OWNER for a cell not held, or under another epoch", async () => {
    const other = await cluster.install("za", { accountId: "201", cell: "c1_0", cellEpoch: 1 });
    assert.equal(other.t === "world_error" && other.code, GameServerErrorCode.NotOwner);
    const stale = await cluster.install("za", { accountId: "201", cell: "c0_0", cellEpoch: epoch + 1 });
    assert.equal(stale.t === "world_error" && stale.code, GameServerErrorCode.NotOwner);
    assert.equal(zone.owns("201"), false);
  });

  it("install - a player with no checkpoint spawns at x, y with epoch 1, and is checkpointed", async () => {
    const reply = await cluster.install("za", {
      accountId: "202",
      cell: "c0_0",
      cellEpoch: epoch,
      x: 42,
      y: 43,
    });
    assert.deepEqual(reply, {
      t: "player_installed",
      accountId: "202",
      server: "za",
      cell: "c0_0",
      epoch: 1,
      ack: 0,
    });
    const snapshot = zone.sim.snapshot("202");
    assert.equal(snapshot?.x, 42);
    assert.equal(snapshot?.y, 43);
    const stored = await cluster.redis.hgetall(cluster.keys.checkpoint("202"));
    assert.equal(stored.epoch, "1");
    assert.equal(stored.gateway, "gw1");
    assert.equal(await cluster.redis.sismember(cluster.keys.cellPlayers("c0_0"), "202"), 1);
  });

  it("install - restores from the checkpoint with its epoch + 1; a new session starts its inputs at 1", async () => {
    const store = new CheckpointStore(cluster.redis, cluster.keys);
    const sessionId = randomUUID();
    const write = await store.write({
      snapshot: { accountId: "203", username: "p203", x: 50, y: 60, lastSeq: 12, state: { dx: 0, dy: 0 } },
      cell: "c0_0",
      cellEpoch: epoch,
      epoch: 7,
      server: "zz",
      gateway: "gw1",
      sessionId,
      online: false,
    });
    assert.equal(write, "ok");
    const resumed = await cluster.install("za", {
      accountId: "203",
      cell: "c0_0",
      cellEpoch: epoch,
      sessionId,
      resumed: true,
    });
    assert.deepEqual(resumed, {
      t: "player_installed",
      accountId: "203",
      server: "za",
      cell: "c0_0",
      epoch: 8,
      ack: 12,
    });
    const snapshot = zone.sim.snapshot("203");
    assert.equal(snapshot?.x, 50);
    assert.equal(snapshot?.y, 60);
    // A fresh login of the same account: the live entity, a higher epoch, inputs from 1 again.
    const fresh = await cluster.install("za", { accountId: "203", cell: "c0_0", cellEpoch: epoch });
    assert.equal(fresh.t === "player_installed" && fresh.epoch, 9);
    assert.equal(fresh.t === "player_installed" && fresh.ack, 0);
  });

  it("install - a resumed session already here keeps its entity and epoch; updates go to the new gateway", async () => {
    const sessionId = randomUUID();
    const first = await cluster.install("za", {
      accountId: "204",
      cell: "c0_0",
      cellEpoch: epoch,
      sessionId,
    });
    assert.equal(first.t === "player_installed" && first.epoch, 1);
    cluster.gateway.send("za", "204", [{ seq: 1, data: { say: "hi" } }]);
    await waitFor("ack 1", () => cluster.gateway.ack("204") === 1);
    const gw2 = new FakeGateway(cluster.nc, cluster.subjects, "gw2");
    await gw2.start();
    cluster.ctx.defer(() => gw2.stop());
    const again = await cluster.install("za", {
      accountId: "204",
      cell: "c0_0",
      cellEpoch: epoch,
      sessionId,
      resumed: true,
      gateway: "gw2",
    });
    assert.deepEqual(again, {
      t: "player_installed",
      accountId: "204",
      server: "za",
      cell: "c0_0",
      epoch: 1,
      ack: 1,
    });
    await waitFor("updates on gw2", () => gw2.updatesFor("204").length > 0);
    assert.equal(gw2.updatesFor("204")[0]?.ack, 1);
  });
});
