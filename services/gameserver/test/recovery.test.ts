/**
 * Crash recovery: a zone server dies; the authority leases its cell to another, which restores the
 * players checkpointed there (epoch + 1) and sends their gateways `route_switch`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Cluster, createCluster } from "./helpers/cluster.js";
import { waitFor } from "./helpers/fake-gateway.js";

let cluster: Cluster;

before(async () => {
  cluster = await createCluster();
});
after(() => cluster.ctx.cleanup());

describe("crash recovery", () => {
  it("recovery - a zone that gains a cell restores its checkpointed players and routes them", async () => {
    const epochA = await cluster.authority.lease("c0_0", "za");
    await cluster.authority.lease("c1_0", "zb");
    const za = await cluster.startZone("za");
    const zb = await cluster.startZone("zb");
    await cluster.install("za", { accountId: "601", cell: "c0_0", cellEpoch: epochA, x: 60, y: 70 });
    await cluster.install("za", { accountId: "602", cell: "c0_0", cellEpoch: epochA, x: 80, y: 90 });
    const gw = cluster.gateway;
    gw.send("za", "601", [{ seq: 1, data: { say: "before the crash" } }]);
    await waitFor("ack 1", () => gw.ack("601") === 1);
    assert.equal(await za.checkpointAll(), 2);
    await cluster.crash(za);
    // The authority notices and leases the cell to zb under a new epoch.
    const epochB = await cluster.authority.lease("c0_0", "zb");
    assert.ok(epochB > epochA);
    const routes = await waitFor("two route switches", () => {
      const r = gw.routes.filter((s) => s.server === "zb");
      return r.length === 2 ? r : undefined;
    });
    for (const route of routes) {
      assert.equal(route.zone, "c0_0");
      assert.equal(route.epoch, 2);
    }
    assert.ok(zb.owns("601") && zb.owns("602"));
    assert.equal(zb.sim.snapshot("602")?.x, 80);
    assert.equal(zb.stats().restored, 2);
    // zb acts for the player: the next input applies after the checkpointed one.
    gw.send("zb", "601", [{ seq: 2, data: { say: "after" } }]);
    await waitFor("ack 2 from zb", () =>
      gw.updatesFor("601").some((u) => u.server === "zb" && u.ack === 2 && u.epoch === 2),
    );
    const stored = await cluster.redis.hgetall(cluster.keys.checkpoint("601"));
    assert.equal(stored.server, "zb");
    assert.equal(stored.cellEpoch, String(epochB));
  });
});
