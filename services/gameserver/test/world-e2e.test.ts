/**
 * The world end to end, in real processes: the lobby, the authority, one gateway and four zone
 * servers on a 2×2 world (one cell each), with bots (real clients over TCP) walking on persistent
 * headings across the borders. The zone servers publish their history (`ZONE_HISTORY=1`); the
 * checker (helpers/world-checker.ts) proves from it and the bots' records: exclusive ownership at
 * every tick, every input applied exactly once in order, no duplicated entity, and players near a
 * border seeing entities across it.
 *
 * `npm test` runs a short variant (40 bots, 15 s); `MERIDIAN_E2E_FULL=1` runs the full one
 * (200 bots, 60 s). `MERIDIAN_E2E_BOTS` / `MERIDIAN_E2E_SECONDS` override either.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { type Walker, Walkers } from "./helpers/world-bots.js";
import { checkWorld } from "./helpers/world-checker.js";
import { sleep, startWorldCluster, until } from "./helpers/world-cluster.js";

const FULL = process.env.MERIDIAN_E2E_FULL === "1";
const BOTS = Number(process.env.MERIDIAN_E2E_BOTS ?? (FULL ? 200 : 40));
const SECONDS = Number(process.env.MERIDIAN_E2E_SECONDS ?? (FULL ? 60 : 15));
/** 800 × 800 in 2 × 2 cells of 400: a bot (5 units a tick at 20 Hz) crosses a border every few seconds. */
const WORLD = { width: 800, height: 800, cols: 2, rows: 2, tickHz: 20, aoiRadius: 60 };

it(`world e2e - ${BOTS} bots roam a 2×2 world of four zone servers for ${SECONDS} s: ownership, inputs, entities, borders`, {
  timeout: (SECONDS + 240) * 1000,
}, async () => {
  const cluster = await startWorldCluster({
    world: WORLD,
    zones: 4,
    spawn: { x: 400, y: 400 },
    checkpointMs: 1_000,
    leaseMs: 3_000,
  });
  const walkers = new Walkers({
    url: cluster.gatewayUrl,
    count: BOTS,
    prefix: `w${cluster.ctx.runId}`.replace(/[^A-Za-z0-9]/g, "").slice(0, 12),
    world: WORLD,
    inputIntervalMs: 250,
    loginsPerSecond: 20,
  });
  try {
    // Every cell owned, each by its own server.
    await until(
      "one cell per zone server",
      () => cluster.owners.size === 4 && new Set(cluster.owners.values()).size === 4,
      60_000,
    );
    await walkers.start();
    const started = Date.now();
    await sleep(SECONDS * 1000);
    walkers.stopWalking();
    const walkedMs = Date.now() - started;
    const behind = await walkers.drain(30_000);
    assert.deepEqual(
      behind.map((b) => `${b.username}: ack ${b.acks.at(-1)} of ${b.lastSent}`),
      [],
      "every bot's inputs acknowledged",
    );
    // The records of the ticks that applied the last inputs are on their way.
    await sleep(1_000);

    const report = checkWorld(
      [...cluster.history],
      walkers.bots.map((b) => b.record()),
    );
    const crossings = walkers.bots.map((b: Walker) => Math.max(0, b.fullViews - 1));
    const summary = {
      bots: BOTS,
      walkedMs,
      records: report.records,
      missingRecords: report.missingRecords,
      players: report.players,
      ownedSteps: report.ownedSteps,
      handoffs: report.handoffs,
      ownerChanges: report.ownerChanges,
      crossingsSeenByBots: crossings.reduce((a, b) => a + b, 0),
      minCrossingsPerBot: Math.min(...crossings),
      inputsChecked: report.inputsChecked,
      nearBorderUpdates: report.nearBorder,
      sawAcrossUpdates: report.sawAcross,
      violations: report.violations.length,
    };
    process.stdout.write(`WORLD_E2E ${JSON.stringify(summary)}\n`);
    assert.deepEqual(report.violations, [], "the checker's violations");
    assert.equal(report.players, BOTS, "every bot was owned by a zone server");
    assert.ok(report.handoffs >= BOTS, `bots crossed borders (${report.handoffs} handoffs)`);
    assert.ok(summary.minCrossingsPerBot >= 1, "every bot crossed at least one border");
  } finally {
    await walkers.close().catch(() => undefined);
    await cluster.ctx.cleanup();
  }
});
