import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createZoneSim,
  type GameModule,
  type LocalZoneSim,
  playerEntityId,
  seededRandom,
  type TickResult,
  type ViewDelta,
  worldConfig,
} from "@meridian/world";

// A 2×1 world: c0_0 is [0, 1000) × [0, 1000), c1_0 is [1000, 2000) × [0, 1000). AOI and ghost margin 100.
// Every movement in every view (`farEvery: 1`): the level of detail has tests of its own.
const config = worldConfig({ name: "t", width: 2_000, height: 1_000, cols: 2, rows: 1, farEvery: 1 });

function sim(cells: string[] = ["c0_0"]): LocalZoneSim {
  return createZoneSim({ config, npcsPerCell: 0, cells });
}

function delta(result: TickResult, accountId: string): ViewDelta {
  const view = result.views.find((v) => v.accountId === accountId);
  assert.ok(view, `a view for ${accountId}`);
  return view.data as ViewDelta;
}

const walk = (dx: number, dy: number) => ({ move: { dx, dy } });

describe("zone sim", () => {
  it("inputs - contiguous sequences only: duplicate, gap, unknown, frozen; the ack follows the ticks", () => {
    const z = sim();
    assert.equal(z.input("9", 1, walk(1, 0)), "unknown_player");
    z.spawnPlayer("1", "ann", 500, 500);
    assert.equal(z.input("1", 2, walk(1, 0)), "gap");
    assert.equal(z.input("1", 1, walk(1, 0)), "applied");
    assert.equal(z.input("1", 1, walk(1, 0)), "duplicate");
    assert.equal(z.input("1", 0, walk(1, 0)), "invalid", "not a sequence number");
    assert.equal(z.input("1", 1.5, walk(1, 0)), "invalid");
    assert.equal(z.input("1", 3, walk(1, 0)), "gap");
    assert.equal(z.input("1", 2, walk(0, 1)), "applied");
    assert.equal(z.snapshot("1")?.lastSeq, 0, "queued, not yet applied");
    const r = z.step();
    assert.equal(r.views[0]?.ack, 2);
    assert.equal(z.snapshot("1")?.lastSeq, 2);
    assert.equal(z.snapshot("1")?.y, 505, "applied in order: the last move holds");
    assert.equal(z.input("1", 2, walk(1, 0)), "duplicate");
    assert.equal(z.input("1", 3, walk(1, 0)), "applied");
  });

  it("inputs - invalid data consumes its sequence number: the stream does not stall", () => {
    const z = sim();
    z.spawnPlayer("1", "ann", 500, 500);
    assert.equal(z.input("1", 1, { fly: true }), "invalid");
    assert.equal(z.input("1", 1, walk(1, 0)), "duplicate");
    assert.equal(z.input("1", 2, walk(1, 0)), "applied");
    assert.equal(z.step().views[0]?.ack, 2);
    assert.equal(z.stats().invalidInputs, 1);
  });

  it("views - a player sees an entity enter, move and leave their interest, and nothing when nothing changed", () => {
    const z = sim();
    z.spawnPlayer("1", "ann", 500, 500);
    z.spawnPlayer("2", "bob", 700, 500);
    const first = delta(z.step(), "1");
    assert.equal(first.full, true);
    assert.equal(first.you, "p:1");
    assert.deepEqual(first.enter, [
      { id: "p:1", kind: "player", x: 500, y: 500, data: { name: "ann", emote: null } },
    ]);
    // bob walks west, into ann's interest (100 units).
    z.input("2", 1, walk(-1, 0));
    const seen: ViewDelta[] = [];
    for (let i = 0; i < 60; i++) seen.push(delta(z.step(), "1"));
    assert.ok(seen.every((d) => !d.full && d.you === undefined));
    const enterAt = seen.findIndex((d) => d.enter.length > 0);
    // 700 - 5k <= 600 first at k = 20.
    assert.equal(enterAt, 19);
    assert.deepEqual(seen[19]?.enter, [
      { id: "p:2", kind: "player", x: 600, y: 500, data: { name: "bob", emote: null } },
    ]);
    assert.deepEqual(seen[20]?.update, [{ id: "p:2", x: 595, y: 500 }]);
    assert.deepEqual(seen[18], { full: false, enter: [], update: [], leave: [], events: [] });
    // He walks through and out on the other side (x < 400) at k = 61.
    for (let i = 0; i < 3; i++) seen.push(delta(z.step(), "1"));
    const leftAt = seen.findIndex((d) => d.leave.length > 0);
    assert.equal(leftAt, 60);
    assert.deepEqual(seen[60]?.leave, ["p:2"]);
    assert.deepEqual(seen[61], { full: false, enter: [], update: [], leave: [], events: [] });
  });

  it("views - a removed entity in the interest leaves", () => {
    const z = sim();
    z.spawnPlayer("1", "ann", 500, 500);
    z.spawnPlayer("2", "bob", 520, 500);
    assert.equal(delta(z.step(), "1").enter.length, 2);
    z.removePlayer("2");
    assert.deepEqual(delta(z.step(), "1").leave, ["p:2"]);
    assert.equal(z.hasPlayer("2"), false);
    assert.equal(z.removePlayer("2"), undefined);
  });

  it("crossings - a player entering a cell not owned is frozen; keep unfreezes, release removes", () => {
    const z = sim();
    z.spawnPlayer("1", "ann", 990, 500);
    z.input("1", 1, walk(1, 0));
    let r = z.step();
    assert.equal(r.crossings.length, 0);
    r = z.step();
    assert.equal(r.crossings.length, 1);
    const c = r.crossings[0];
    assert.equal(c?.accountId, "1");
    assert.equal(c?.cell, "c1_0");
    assert.deepEqual(c?.snapshot, {
      accountId: "1",
      username: "ann",
      x: 1_000,
      y: 500,
      lastSeq: 1,
      state: z.snapshot("1")?.state,
    });
    assert.equal(r.views.length, 0, "frozen players get no view");
    assert.equal(z.input("1", 2, walk(-1, 0)), "frozen");
    r = z.step();
    assert.equal(r.crossings.length, 0, "a crossing is reported once");
    assert.equal(z.snapshot("1")?.x, 1_000, "a frozen player does not move");
    // The handoff failed: the player stays, and the crossing is retried next tick.
    z.keep("1");
    assert.equal(z.input("1", 2, walk(-1, 0)), "applied");
    r = z.step();
    assert.equal(r.crossings.length, 0, "walked back home");
    assert.equal(r.views.length, 1);
    z.input("1", 3, walk(1, 0));
    r = z.step();
    assert.equal(r.crossings.length, 1);
    z.release("1");
    assert.equal(z.hasPlayer("1"), false);
    assert.equal(z.step().views.length, 0);
  });

  it("crossings - losing a cell: its players are crossings, its NPCs go", () => {
    const z = createZoneSim({ config, npcsPerCell: 3, cells: ["c0_0", "c1_0"] });
    z.spawnPlayer("1", "ann", 1_500, 500);
    assert.equal(z.step().crossings.length, 0);
    z.setCells(["c0_0"]);
    assert.equal(z.entityCount(), 4);
    assert.deepEqual(
      z.step().crossings.map((c) => c.cell),
      ["c1_0"],
    );
  });

  it("ghosts - a player near the border in A sees a player in B and hears B's chat", () => {
    const a = createZoneSim({ config, npcsPerCell: 0, cells: ["c0_0"] });
    const b = createZoneSim({ config, npcsPerCell: 0, cells: ["c1_0"] });
    a.spawnPlayer("1", "ann", 950, 500);
    b.spawnPlayer("2", "bob", 1_030, 500);
    b.spawnPlayer("3", "cid", 1_500, 500);
    const exchange = (): { ra: TickResult; rb: TickResult } => {
      const ra = a.step();
      const rb = b.step();
      assert.deepEqual([...ra.ghosts.keys()], ["c1_0"], "A ghosts to its one neighbour");
      assert.deepEqual([...rb.ghosts.keys()], ["c0_0"]);
      const ga = ra.ghosts.get("c1_0");
      const gb = rb.ghosts.get("c0_0");
      assert.ok(ga && gb);
      b.setGhosts("server-a", ga.entities, ga.events);
      a.setGhosts("server-b", gb.entities, gb.events);
      return { ra, rb };
    };
    let { ra, rb } = exchange();
    assert.deepEqual(
      rb.ghosts.get("c0_0")?.entities.map((e) => e.id),
      ["p:2"],
      "only entities within the ghost margin of the neighbour",
    );
    assert.deepEqual(ra.ghosts.get("c1_0")?.entities, [
      { id: "p:1", kind: "player", x: 950, y: 500, data: { name: "ann", emote: null } },
    ]);
    b.input("2", 1, { say: "over here" });
    ({ ra, rb } = exchange());
    assert.deepEqual(delta(ra, "1").enter, [
      { id: "p:2", kind: "player", x: 1_030, y: 500, data: { name: "bob", emote: null } },
    ]);
    assert.deepEqual(delta(rb, "2").events, [
      { from: "p:2", x: 1_030, y: 500, data: { say: "over here", name: "bob" } },
    ]);
    assert.deepEqual(
      delta(rb, "2").enter.map((e) => e.id),
      ["p:1"],
      "and B sees A's player",
    );
    ({ ra, rb } = exchange());
    assert.deepEqual(
      delta(ra, "1").events,
      [{ from: "p:2", x: 1_030, y: 500, data: { say: "over here", name: "bob" } }],
      "A hears B's chat the tick after",
    );
    ({ ra } = exchange());
    assert.deepEqual(delta(ra, "1").events, [], "a ghost event is heard once");
    // bob walks away from the border: his ghost goes, and ann sees him leave.
    b.input("2", 2, walk(1, 0));
    for (let i = 0; i < 20; i++) ({ ra } = exchange());
    assert.equal(a.stats().ghosts, 0);
    assert.equal(b.stats().ghosts, 1);
  });

  it("ghosts - a ghost leaves the view when it walks out; a local entity wins over a ghost of the same id", () => {
    const a = sim(["c0_0"]);
    a.spawnPlayer("1", "ann", 950, 500);
    a.step();
    a.setGhosts(
      "b",
      [{ id: "p:2", kind: "player", x: 1_020, y: 500, data: { name: "bob", emote: null } }],
      [],
    );
    assert.deepEqual(
      delta(a.step(), "1").enter.map((e) => e.id),
      ["p:2"],
    );
    a.setGhosts(
      "b",
      [{ id: "p:2", kind: "player", x: 1_030, y: 500, data: { name: "bob", emote: "sit" } }],
      [],
    );
    assert.deepEqual(delta(a.step(), "1").update, [
      { id: "p:2", x: 1_030, y: 500, data: { name: "bob", emote: "sit" } },
    ]);
    assert.deepEqual(delta(a.step(), "1").update, [], "unchanged ghosts send nothing");
    // Handed in: bob is local now, and still shown once.
    a.addPlayer({ accountId: "2", username: "bob", x: 990, y: 500, lastSeq: 4, state: null });
    const d = delta(a.step(), "1");
    assert.deepEqual(
      d.update.map((e) => e.id),
      ["p:2"],
    );
    assert.deepEqual(d.enter, []);
    a.removePlayer("2");
    a.setGhosts("b", [], []);
    assert.deepEqual(delta(a.step(), "1").leave, ["p:2"]);
  });

  it("snapshots - addPlayer(snapshot) restores the player exactly, lastSeq included", () => {
    const a = sim(["c0_0", "c1_0"]);
    a.spawnPlayer("1", "ann", 100, 200);
    a.input("1", 1, walk(0.6, 0.8));
    a.input("1", 2, { emote: "bow" });
    a.step();
    const snap = a.snapshot("1");
    assert.ok(snap);
    const copy = structuredClone(snap);
    const b = sim(["c0_0", "c1_0"]);
    b.addPlayer(copy);
    assert.deepEqual(b.snapshot("1"), snap);
    assert.deepEqual(b.snapshots(), a.snapshots());
    assert.equal(b.input("1", 2, walk(0, 0)), "duplicate");
    assert.equal(b.input("1", 3, walk(0, 0)), "applied");
    // Both continue the same way.
    a.input("1", 3, walk(0, 0));
    a.step();
    b.step();
    assert.deepEqual(b.snapshot("1"), a.snapshot("1"));
    // A snapshot is a copy.
    (snap.state as { dx: number }).dx = 42;
    assert.notEqual((a.snapshot("1")?.state as { dx: number } | undefined)?.dx, 42);
    // The first view after a restore is full.
    const d = delta(b.step(), "1");
    assert.equal(d.full, false);
    b.addPlayer(snap);
    assert.equal(delta(b.step(), "1").full, true);
  });

  it("user events - delivered in posting order at the start of the next tick, never inside the tick", () => {
    const log: string[] = [];
    type S = { n: number };
    const game: GameModule<S, { post: number }> = {
      name: "events",
      kinds: ["player"],
      playerKind: "player",
      initialPlayerState: () => ({ n: 0 }),
      restorePlayerState: () => ({ n: 0 }),
      validateInput: (data) => {
        const d = data as { post?: unknown } | null;
        return typeof d?.post === "number" ? { post: d.post } : undefined;
      },
      applyInput(_player, intent, ctx) {
        log.push(`input ${intent.post}`);
        ctx.post(`from input ${intent.post}`);
      },
      systems: [
        (ctx) => {
          log.push(`system ${ctx.tick}`);
          if (ctx.tick === 1) for (const n of [1, 2, 3]) ctx.post(`e${n}`);
        },
        (ctx) => {
          log.push(`system2 ${ctx.tick}`);
        },
      ],
      view: () => null,
      onUserEvent(event, ctx) {
        log.push(`event ${String(event)} @${ctx.tick}`);
        if (event === "e2") ctx.post("posted by e2");
        if (event === "e3") throw new Error("handler failed");
      },
    };
    const z = createZoneSim({ config, game, cells: ["c0_0"] });
    z.spawnPlayer("1", "ann", 10, 10);
    z.input("1", 1, { post: 7 });
    z.step();
    assert.deepEqual(log, ["input 7", "system 1", "system2 1"], "nothing delivered within the tick");
    log.length = 0;
    z.step();
    assert.deepEqual(log, [
      "event from input 7 @2",
      "event e1 @2",
      "event e2 @2",
      "event e3 @2",
      "system 2",
      "system2 2",
    ]);
    assert.equal(z.stats().userEventErrors, 1, "a throwing handler is counted; the next event is delivered");
    log.length = 0;
    z.step();
    assert.deepEqual(log, ["event posted by e2 @3", "system 3", "system2 3"]);
  });

  it("scale - a zone of 5,000 NPCs and 1,000 players steps correctly", () => {
    const big = worldConfig({ name: "big", width: 2_000, height: 2_000, cols: 2, rows: 2, farEvery: 1 });
    const z = createZoneSim({ config: big, npcsPerCell: 5_000, cells: ["c0_0"], random: seededRandom(7) });
    const random = seededRandom(11);
    for (let i = 1; i <= 1_000; i++) z.spawnPlayer(String(i), `p${i}`, random() * 1_000, random() * 1_000);
    assert.equal(z.entityCount(), 6_000);
    let r = z.step();
    assert.equal(r.views.length, 1_000);
    // Every view is right: the first lists exactly the entities within the radius.
    const d = delta(r, "1");
    const me = d.enter.find((e) => e.id === "p:1");
    assert.ok(me);
    for (const e of d.enter) assert.ok(Math.hypot(e.x - me.x, e.y - me.y) <= big.aoiRadius);
    for (let i = 1; i <= 1_000; i++) z.input(String(i), 1, walk(random() * 2 - 1, random() * 2 - 1));
    for (let t = 0; t < 5; t++) r = z.step();
    assert.equal(r.tick, 6);
    assert.ok(r.views.every((v) => v.ack === 1));
    const ghosts = r.ghosts;
    assert.deepEqual([...ghosts.keys()].sort(), ["c0_1", "c1_0", "c1_1"]);
    for (const [cell, batch] of ghosts) {
      for (const e of batch.entities) {
        if (cell === "c1_0") assert.ok(e.x >= 1_000 - big.ghostMargin);
        if (cell === "c0_1") assert.ok(e.y >= 1_000 - big.ghostMargin);
      }
    }
  });

  it("level of detail - far movement every farEvery-th view, near movement every view, never more than farEvery − 1 ticks behind", () => {
    const lod = worldConfig({ name: "t", width: 2_000, height: 1_000, cols: 2, rows: 1, farEvery: 2 });
    assert.equal(lod.detailRadius, 50);
    const z = createZoneSim({ config: lod, npcsPerCell: 0, cells: ["c0_0"] });
    z.spawnPlayer("1", "ann", 500, 500);
    z.spawnPlayer("2", "bob", 580, 500); // far: 80 from ann
    z.spawnPlayer("3", "cy", 520, 500); // near: 20 from ann
    const known = new Map<string, { x: number; y: number }>();
    const apply = (d: ViewDelta): void => {
      for (const e of d.enter) known.set(e.id, { x: e.x, y: e.y });
      for (const u of d.update)
        if (u.x !== undefined && u.y !== undefined) known.set(u.id, { x: u.x, y: u.y });
      for (const id of d.leave) known.delete(id);
    };
    apply(delta(z.step(), "1"));
    z.input("2", 1, walk(0, 1));
    z.input("3", 1, walk(0, 1));
    const farUpdates: boolean[] = [];
    const nearUpdates: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      const d = delta(z.step(), "1");
      apply(d);
      farUpdates.push(d.update.some((u) => u.id === "p:2"));
      nearUpdates.push(d.update.some((u) => u.id === "p:3"));
      const bob = z.snapshot("2");
      const seenBob = known.get("p:2");
      assert.ok(bob && seenBob);
      // At most one step (5 units) behind.
      assert.ok(Math.abs(bob.y - seenBob.y) <= 5, `bob at ${bob.y}, seen at ${seenBob.y}`);
      assert.deepEqual(known.get("p:3"), { x: z.snapshot("3")?.x, y: z.snapshot("3")?.y });
    }
    assert.deepEqual(nearUpdates, [true, true, true, true, true, true]);
    assert.equal(farUpdates.filter(Boolean).length, 3, `far updates ${farUpdates}`);
    assert.ok(
      farUpdates.every((u, i) => u !== farUpdates[i + 1] || i === farUpdates.length - 1),
      "alternating",
    );
    // Bob stops: within farEvery views the player sees where he stands.
    z.input("2", 2, walk(0, 0));
    apply(delta(z.step(), "1"));
    apply(delta(z.step(), "1"));
    assert.deepEqual(known.get("p:2"), { x: 580, y: z.snapshot("2")?.y });
    // And then nothing more about him.
    const quiet = delta(z.step(), "1");
    assert.ok(!quiet.update.some((u) => u.id === "p:2"));
  });

  it("level of detail - an entity coming close after a skipped view is brought up to date at once", () => {
    const lod = worldConfig({ name: "t", width: 2_000, height: 1_000, cols: 2, rows: 1, farEvery: 4 });
    const z = createZoneSim({ config: lod, npcsPerCell: 0, cells: ["c0_0"] });
    z.spawnPlayer("1", "ann", 500, 500);
    z.spawnPlayer("2", "bob", 570, 500); // 70 away, walking west into the detail radius (50)
    const known = new Map<string, number>();
    const apply = (d: ViewDelta): void => {
      for (const e of d.enter) known.set(e.id, e.x);
      for (const u of d.update) if (u.x !== undefined) known.set(u.id, u.x);
    };
    apply(delta(z.step(), "1"));
    z.input("2", 1, walk(-1, 0));
    for (let i = 0; i < 8; i++) {
      apply(delta(z.step(), "1"));
      const x = z.snapshot("2")?.x as number;
      if (x - 500 <= 50) assert.equal(known.get("p:2"), x, `near at ${x}: exact`);
      else assert.ok((known.get("p:2") as number) - x <= 15, "at most farEvery − 1 steps behind");
    }
  });

  it("level of detail - farEvery 1 sends every movement at every view", () => {
    const z = sim();
    z.spawnPlayer("1", "ann", 500, 500);
    z.spawnPlayer("2", "bob", 590, 500);
    z.step();
    z.input("2", 1, walk(0, 1));
    for (let i = 0; i < 4; i++) assert.ok(delta(z.step(), "1").update.some((u) => u.id === "p:2"));
  });

  it("entities - lists the zone's players and NPCs (not ghosts) with their positions", () => {
    const z = createZoneSim({ config, npcsPerCell: 3, cells: ["c0_0"] });
    z.spawnPlayer("1", "ann", 500, 500);
    z.setGhosts("zb", [{ id: "p:9", kind: "player", x: 1010, y: 500, data: null }], []);
    const listed = [...z.entities()];
    assert.equal(listed.length, z.entityCount());
    assert.equal(listed.length, 4);
    assert.deepEqual(
      listed.filter((e) => e.kind === "player").map((e) => ({ id: e.id, x: e.x, y: e.y })),
      [{ id: playerEntityId("1"), x: 500, y: 500 }],
    );
    assert.equal(listed.filter((e) => e.kind !== "player").length, 3);
  });
});
