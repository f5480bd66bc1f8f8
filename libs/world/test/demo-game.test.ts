import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  cellBounds,
  createZoneSim,
  DEFAULT_DEMO_PLAYER_SPEED,
  type LocalZoneSim,
  type ViewDelta,
  worldConfig,
} from "@meridian/world";

// A 2×1 world: c0_0 is [0, 1000) × [0, 1000), c1_0 is [1000, 2000) × [0, 1000).
const config = worldConfig({ name: "t", width: 2_000, height: 1_000, cols: 2, rows: 1, farEvery: 1 });
const SPEED = DEFAULT_DEMO_PLAYER_SPEED;

function sim(npcsPerCell = 0): LocalZoneSim {
  return createZoneSim({ config, npcsPerCell, cells: ["c0_0"] });
}

function delta(
  result: { views: readonly { accountId: string; data: unknown }[] },
  accountId: string,
): ViewDelta {
  const view = result.views.find((v) => v.accountId === accountId);
  assert.ok(view, `a view for ${accountId}`);
  return view.data as ViewDelta;
}

describe("demo game", () => {
  it("movement - a player walks at the player speed in the direction sent, until told otherwise", () => {
    const z = sim();
    z.spawnPlayer("1", "ann", 100, 100);
    assert.equal(z.input("1", 1, { move: { dx: 1, dy: 0 } }), "applied");
    const r = z.step();
    assert.deepEqual(r.corrections, []);
    z.step();
    const s = z.snapshot("1");
    assert.equal(s?.x, 100 + 2 * SPEED);
    assert.equal(s?.y, 100);
    z.input("1", 2, { move: { dx: 0, dy: 0 } });
    z.step();
    assert.equal(z.snapshot("1")?.x, 100 + 2 * SPEED, "inputs are applied before movement");
    z.step();
    assert.equal(z.snapshot("1")?.x, 100 + 2 * SPEED);
  });

  it("movement - a speed hack (a long vector, many moves in one tick) moves one speed step, and is counted", () => {
    const z = sim();
    z.spawnPlayer("1", "ann", 100, 100);
    z.input("1", 1, { move: { dx: 100, dy: 0 } });
    const r = z.step();
    assert.deepEqual(r.corrections, ["1"]);
    assert.equal(z.snapshot("1")?.x, 100 + SPEED);
    for (let seq = 2; seq <= 11; seq++) z.input("1", seq, { move: { dx: 0, dy: 1 } });
    const r2 = z.step();
    assert.deepEqual(r2.corrections, [], "ten unit moves are legal intents");
    assert.equal(z.snapshot("1")?.y, 100 + SPEED, "but the player moves once per tick");
    assert.equal(z.stats().corrections, 1);
  });

  it("movement - a claimed position further than a step (teleport) is cut to one step and counted", () => {
    const z = sim();
    z.spawnPlayer("1", "ann", 100, 100);
    z.input("1", 1, { at: { x: 103, y: 104 } });
    assert.deepEqual(z.step().corrections, [], "a claim within one step is honoured");
    assert.deepEqual([z.snapshot("1")?.x, z.snapshot("1")?.y], [103, 104]);
    z.input("1", 2, { at: { x: 900, y: 104 } });
    const r = z.step();
    assert.deepEqual(r.corrections, ["1"]);
    assert.equal(z.snapshot("1")?.x, 103 + SPEED);
    z.step();
    assert.equal(z.snapshot("1")?.x, 103 + SPEED, "a claim does not keep the player walking");
  });

  it("movement - positions stay in the world's bounds", () => {
    const z = sim();
    z.spawnPlayer("1", "ann", 2, 2);
    z.input("1", 1, { move: { dx: -0.6, dy: -0.8 } });
    for (let i = 0; i < 5; i++) z.step();
    assert.deepEqual([z.snapshot("1")?.x, z.snapshot("1")?.y], [0, 0]);
    z.addPlayer({ accountId: "2", username: "bob", x: 5_000, y: -3, lastSeq: 0, state: null });
    const s = z.snapshot("2");
    assert.ok(s !== undefined && s.x < config.width && s.x > config.width - 1 && s.y === 0);
  });

  it("inputs - malformed and unknown intents are invalid", () => {
    const z = sim();
    z.spawnPlayer("1", "ann", 100, 100);
    const bad = [
      null,
      42,
      "move",
      {},
      { move: { dx: "1", dy: 0 } },
      { move: { dx: Number.NaN, dy: 0 } },
      { emote: "moonwalk" },
      { say: "" },
      { say: "x".repeat(201) },
      { say: "bell\u0007" },
      { say: "hi", emote: "wave" },
    ];
    for (const [i, data] of bad.entries()) {
      assert.equal(z.input("1", i + 1, data), "invalid", JSON.stringify(data));
    }
    assert.equal(z.stats().invalidInputs, bad.length);
  });

  it("chat and emotes - heard within the interest radius, not beyond; the emote shows in the view", () => {
    const z = sim();
    z.spawnPlayer("1", "ann", 100, 100);
    z.spawnPlayer("2", "bob", 100 + config.aoiRadius, 100);
    z.spawnPlayer("3", "cid", 100 + config.aoiRadius + 1, 100);
    z.step();
    z.input("1", 1, { say: "  hello  " });
    z.input("1", 2, { emote: "dance" });
    const r = z.step();
    const heard = [
      { from: "p:1", x: 100, y: 100, data: { say: "hello", name: "ann" } },
      { from: "p:1", x: 100, y: 100, data: { emote: "dance", name: "ann" } },
    ];
    assert.deepEqual(delta(r, "1").events, heard, "the speaker hears themselves");
    assert.deepEqual(delta(r, "2").events, heard);
    assert.deepEqual(delta(r, "3").events, []);
    assert.deepEqual(delta(r, "2").update, [{ id: "p:1", data: { name: "ann", emote: "dance" } }]);
  });

  it("NPCs - wander, deterministically given the seed", () => {
    const run = (): string[] => {
      const z = createZoneSim({ config, npcsPerCell: 6, cells: ["c0_0", "c1_0"] });
      assert.equal(z.entityCount(), 12);
      for (let x = 50; x < 2_000; x += 100)
        for (let y = 50; y < 1_000; y += 100) z.spawnPlayer(`${x}_${y}`, "w", x, y);
      const out: string[] = [];
      for (let i = 0; i < 100; i++) out.push(JSON.stringify(z.step().views));
      return out;
    };
    const a = run();
    assert.deepEqual(a, run());
    const moves = a.filter((views) => views.includes('"update":[{')).length;
    assert.ok(moves > 90, "NPCs move every tick");
  });

  it("NPCs - stay inside their home cell", () => {
    const z = createZoneSim({ config, npcsPerCell: 20, cells: ["c0_0", "c1_0"] });
    for (let i = 0; i < 1_000; i++) z.step();
    // Players on a 100-unit lattice see every point of the world.
    let count = 0;
    for (let x = 0; x < 2_000; x += 100) {
      for (let y = 0; y < 1_000; y += 100) {
        const id = `${x}-${y}`;
        z.spawnPlayer(id, id, x + 50, y + 50);
      }
    }
    const r = z.step();
    const seen = new Map<string, { x: number; y: number }>();
    for (const v of r.views)
      for (const e of (v.data as ViewDelta).enter) if (e.kind === "npc") seen.set(e.id, e);
    for (const [id, p] of seen) {
      const cell = id.split(":")[1] as string;
      const b = cellBounds(config, cell);
      assert.ok(p.x >= b.minX && p.x < b.maxX && p.y >= b.minY && p.y < b.maxY, `${id} at ${p.x},${p.y}`);
      count++;
    }
    assert.equal(count, 40, "every NPC is seen by some player");
  });

  it("user events - a wave is answered by nearby NPCs on the next tick, not within the tick", () => {
    // Find the NPC: a player on every 100-unit lattice point sees it.
    const z2 = createZoneSim({ config, npcsPerCell: 1, cells: ["c0_0"] });
    for (let x = 50; x < 1_000; x += 100)
      for (let y = 50; y < 1_000; y += 100) z2.spawnPlayer(`${x}_${y}`, "w", x, y);
    const first = z2.step();
    const where = first.views.flatMap((v) => (v.data as ViewDelta).enter).find((e) => e.kind === "npc");
    assert.ok(where);
    // Next tick the NPC will have moved at most 1.5 units: stand on it and wave.
    z2.spawnPlayer("1", "ann", where.x, where.y);
    z2.input("1", 1, { emote: "wave" });
    const t1 = delta(z2.step(), "1");
    assert.deepEqual(
      t1.events.map((e) => e.from),
      ["p:1"],
      "the NPC does not answer within the tick of the wave",
    );
    const t2 = delta(z2.step(), "1");
    assert.deepEqual(t2.events, [
      { from: where.id, x: t2.events[0]?.x, y: t2.events[0]?.y, data: { emote: "wave", name: "Wanderer 0" } },
    ]);
    assert.deepEqual(delta(z2.step(), "1").events, []);
  });
});
