/**
 * Inputs and updates: contiguous application, acknowledgement in `gateway_updates` with the player's
 * epoch, and the detach rules (docs/protocol.md §11).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
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

const say = (seq: number) => ({ seq, data: { say: `hello ${seq}` } });

describe("inputs", () => {
  it("inputs - applied only contiguously, acknowledged per player with its epoch", async () => {
    const reply = await cluster.install("za", { accountId: "101", cell: "c0_0", cellEpoch: epoch });
    assert.equal(reply.t, "player_installed");
    assert.equal(reply.t === "player_installed" && reply.epoch, 1);
    const gw = cluster.gateway;
    gw.send("za", "101", [say(1), say(2)]);
    gw.send("za", "101", [say(4)]); // past a hole: dropped
    await waitFor("ack 2", () => gw.ack("101") === 2);
    gw.send("za", "101", [say(2), say(3), say(4), say(5)]); // a duplicate, then the hole filled
    await waitFor("ack 5", () => gw.ack("101") === 5);
    const stats = zone.stats();
    assert.equal(stats.inputsApplied, 5);
    assert.equal(stats.inputsRefused, 2); // the early 4 (gap) and the re-sent 2 (duplicate)
    const updates = gw.updatesFor("101");
    assert.ok(updates.every((u) => u.server === "za" && u.epoch === 1));
    // Acks never go back.
    for (let i = 1; i < updates.length; i++) {
      assert.ok((updates[i]?.ack ?? 0) >= (updates[i - 1]?.ack ?? 0));
    }
  });

  it("inputs - one gateway_updates per gateway per tick, each entry with its own epoch", async () => {
    const gw2 = new FakeGateway(cluster.nc, cluster.subjects, "gw2");
    await gw2.start();
    cluster.ctx.defer(() => gw2.stop());
    await cluster.install("za", { accountId: "102", cell: "c0_0", cellEpoch: epoch, gateway: "gw2" });
    await cluster.install("za", { accountId: "103", cell: "c0_0", cellEpoch: epoch, gateway: "gw2" });
    await waitFor(
      "updates for both",
      () => gw2.updatesFor("102").length > 3 && gw2.updatesFor("103").length > 3,
    );
    const byTick = new Map<number, number>();
    for (const u of gw2.updates) byTick.set(u.tick, (byTick.get(u.tick) ?? 0) + 1);
    // Both players' entries travel in the same messages: no more messages than ticks.
    assert.ok((gw2.messages.get("za") ?? 0) <= byTick.size);
    assert.ok(cluster.gateway.updates.every((u) => u.accountId !== "102"));
  });

  it("detach - ignored from another gateway or session; removes and checkpoints otherwise", async () => {
    const sessionId = randomUUID();
    await cluster.install("za", { accountId: "104", cell: "c0_0", cellEpoch: epoch, sessionId });
    const gw = cluster.gateway;
    gw.send("za", "104", [say(1)]);
    await waitFor("ack 1", () => gw.ack("104") === 1);
    gw.detach("za", "104", sessionId, "gw-other");
    gw.detach("za", "104", randomUUID());
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.ok(zone.owns("104"));
    gw.detach("za", "104", sessionId);
    await waitFor("removed", () => !zone.owns("104"));
    let stored: Record<string, string> = {};
    for (let i = 0; i < 100 && stored.online !== "0"; i++) {
      stored = await cluster.redis.hgetall(cluster.keys.checkpoint("104"));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(stored.online, "0");
    assert.equal(stored.seq, "1");
    assert.equal(await cluster.redis.sismember(cluster.keys.cellPlayers("c0_0"), "104"), 0);
  });
});
