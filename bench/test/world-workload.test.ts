/**
 * The world tick workloads: the baseline must move the same entities as the zone does (same spawns,
 * same inputs, same random source), or the ratio would compare different work.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BareTickWorkload, ZoneTickWorkload } from "../src/world/tick-workload.js";

describe("world tick workloads", () => {
  it("workloads - the baseline holds the same entities and moves the players as the zone does", () => {
    const zone = new ZoneTickWorkload(500);
    const bare = new BareTickWorkload(500);
    assert.equal(zone.entities, 500);
    assert.equal(bare.entities, 500);
    assert.equal(zone.players, 100);
    assert.equal(bare.players, 100);
    for (let t = 0; t < 60; t++) {
      const cost = zone.tick();
      bare.tick();
      assert.ok(cost.messages > 0, "the zone encodes what it would send every tick");
    }
    for (let i = 0; i < zone.players; i++) {
      const a = zone.playerPosition(i);
      const b = bare.playerPosition(i);
      assert.ok(a !== undefined && b !== undefined);
      assert.ok(
        Math.abs(a.x - b.x) < 1e-9 && Math.abs(a.y - b.y) < 1e-9,
        `player ${i}: ${JSON.stringify([a, b])}`,
      );
    }
  });
});
