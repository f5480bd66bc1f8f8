/**
 * A zone server dies mid-crossings, in real processes (as world-e2e.test.ts: lobby, authority, one
 * gateway, four zone servers on a 2×2 world, history on). 50 bots start in one cell, near its
 * corner, and walk out across its borders; the cell's server is SIGKILLed while they cross. The
 * spec (issue 6): all 50 are owned again within 5 s, none lost or duplicated, and none loses more
 * progress than one checkpoint interval (`ZONE_CHECKPOINT_MS`, 1 s here).
 *
 * The second test is `todo`: after the restore, a player's inputs must flow again. They do not (the
 * known limitation of docs/protocol.md §11, "Crash restore below the gateway's acknowledgement"):
 * the restored owner starts at the checkpoint's input, the gateway (and the client) already trimmed
 * the inputs up to a higher ack and re-sends only above it, and the new owner drops those as past a
 * hole: the player's stream stalls until the session is re-established.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { Walkers } from "./helpers/world-bots.js";
import { checkWorld, type HistoryRecord } from "./helpers/world-checker.js";
import { sleep, startWorldCluster, until } from "./helpers/world-cluster.js";

const BOTS = 50;
const WORLD = { width: 800, height: 800, cols: 2, rows: 2, tickHz: 20, aoiRadius: 60 };
const CHECKPOINT_MS = 1_000;
const INPUT_MS = 250;
/** The spec's bound on re-ownership. */
const REOWN_MS = 5_000;

const now = () => performance.timeOrigin + performance.now();

/** What the first test saw, for the second. */
let stalledAfterRestore: string[] | undefined;

it("world crash - SIGKILL of a zone server holding 50 crossing players: re-owned within 5 s, none lost or duplicated, progress lost ≤ one checkpoint", {
  timeout: 300_000,
}, async () => {
  const cluster = await startWorldCluster({
    world: WORLD,
    zones: 4,
    spawn: { x: 360, y: 360 },
    checkpointMs: CHECKPOINT_MS,
    leaseMs: 2_000,
  });
  const walkers = new Walkers({
    url: cluster.gatewayUrl,
    count: BOTS,
    prefix: `k${cluster.ctx.runId}`.replace(/[^A-Za-z0-9]/g, "").slice(0, 12),
    world: WORLD,
    inputIntervalMs: INPUT_MS,
    loginsPerSecond: 20,
    waitForWalk: true,
  });
  try {
    await until(
      "one cell per zone server",
      () => cluster.owners.size === 4 && new Set(cluster.owners.values()).size === 4,
      60_000,
    );
    const victim = cluster.owners.get("c0_0") ?? "";
    const proc = cluster.zones.get(victim);
    assert.ok(proc !== undefined);
    await walkers.start();
    // Every bot is on the victim (the spawn cell) and has had an update.
    await until("every bot seen in the spawn cell", () => walkers.bots.every((b) => b.updates > 0), 30_000);
    const before = latestHeld(cluster.history, victim);
    assert.equal(before.size, BOTS, "the victim holds every bot");

    walkers.walk();
    // About 30 units from the borders at 5 a tick: the first crossings start after ~6 ticks.
    await sleep(600);
    const killAt = now();
    await proc.stop("SIGKILL");
    const heldAtKill = latestHeld(cluster.history, victim);
    const lastVictimAt = latestRecord(cluster.history, victim)?.at ?? killAt;

    // Keep walking a while after the restore, then let the inputs settle.
    await sleep(8_000);
    walkers.stopWalking();
    const behind = await walkers.drain(10_000);
    await sleep(1_000);

    const history = [...cluster.history];
    const report = checkWorld(
      history,
      walkers.bots.map((b) => b.record()),
      { allowRestoreRegress: true, requireBorderVisibility: false },
    );

    // Re-ownership: each bot's first tenure on a live server after the kill (or one that began before).
    const ownedAgainMs = new Map<string, number>();
    const restoredAt = new Map<string, number>();
    for (const record of history) {
      if (record.server === victim) continue;
      for (const event of record.events) {
        const [kind, accountId, , seq, at, via] = event as [string, string, number, number, number, string];
        if (kind === "own" && via === "restore" && !restoredAt.has(accountId)) restoredAt.set(accountId, seq);
        // After the victim's last tick: a handoff it started may complete just before the kill.
        if (
          kind !== "own" ||
          at < lastVictimAt ||
          ownedAgainMs.has(accountId) ||
          !heldAtKill.has(accountId)
        ) {
          continue;
        }
        ownedAgainMs.set(accountId, Math.max(0, at - killAt));
      }
    }
    const lost = [...heldAtKill.keys()].filter((id) => !ownedAgainMs.has(id));
    const reownMs = Math.max(0, ...ownedAgainMs.values());
    // Owned exactly once at the end: every live server's last record.
    const owners = new Map<string, string[]>();
    for (const server of cluster.zones.keys()) {
      if (server === victim) continue;
      for (const [id, , , frozen] of latestRecord(history, server)?.players ?? []) {
        if (frozen === 0) owners.set(id, [...(owners.get(id) ?? []), server]);
      }
    }
    const notOwned = walkers.bots.filter((b) => (owners.get(b.accountId)?.length ?? 0) === 0);
    const twice = walkers.bots.filter((b) => (owners.get(b.accountId)?.length ?? 0) > 1);
    const regress = [...report.regress.values()];
    const maxRegress = Math.max(0, ...regress);
    // Progress lost in time: from when the bot saw the first input the restore lost acknowledged, to the kill.
    const killWall = killAt;
    let maxLostMs = 0;
    for (const bot of walkers.bots) {
      const baseline = restoredAt.get(bot.accountId);
      if (baseline === undefined) continue;
      const firstLost = [...bot.ackAt]
        .filter(([ack, at]) => ack > baseline && at <= killWall)
        .map(([, at]) => at);
      if (firstLost.length > 0) maxLostMs = Math.max(maxLostMs, killWall - Math.min(...firstLost));
    }
    const stalled = behind.map((b) => `${b.accountId}: ack ${b.acks.at(-1)} of ${b.lastSent}`);
    const summary = {
      bots: BOTS,
      victim,
      heldAtKill: heldAtKill.size,
      frozenAtKill: [...heldAtKill.values()].filter((f) => f === 1).length,
      restores: report.restores,
      handoffs: report.handoffs,
      reownMsMax: Math.round(reownMs),
      lostPlayers: lost.length,
      ownedAtEnd: walkers.bots.length - notOwned.length,
      ownedTwiceAtEnd: twice.length,
      maxRegressInputs: maxRegress,
      restoredRegressing: regress.filter((r) => r > 0).length,
      maxProgressLostMs: Math.round(maxLostMs),
      stalledAfterRestore: stalled.length,
      inputsChecked: report.inputsChecked,
      violations: report.violations.length,
    };
    process.stdout.write(`WORLD_CRASH ${JSON.stringify(summary)}\n`);
    if (report.violations.length > 0)
      process.stdout.write(`WORLD_CRASH violations ${JSON.stringify(report.violations.slice(0, 12))}\n`);
    if (stalled.length > 0)
      process.stdout.write(`WORLD_CRASH stalled ${JSON.stringify(stalled.slice(0, 12))}\n`);

    assert.ok(heldAtKill.size > 0, "the victim held players at the kill");
    assert.deepEqual(lost, [], "every player held by the victim is owned again");
    assert.ok(reownMs <= REOWN_MS, `owned again within ${REOWN_MS} ms (took ${Math.round(reownMs)} ms)`);
    assert.deepEqual(
      notOwned.map((b) => b.accountId),
      [],
      "every bot owned at the end",
    );
    // "Owned twice" from each server's LAST record is not a proof (the records are up to a tick
    // apart, and the bots keep crossing): duplicates are the checker's property (c), asserted below
    // through its violations; `ownedTwiceAtEnd` stays in the summary as information.
    stalledAfterRestore = [...stalled, ...report.violations.filter((v) => v.startsWith("inputs:"))];
    // Inputs of restored players after the restore: the todo test below (protocol §11 limitation).
    const restored = new Set(report.regress.keys());
    const others = report.violations.filter(
      (v) => !v.startsWith("inputs:") || ![...restored].some((id) => v.includes(` ${id}:`)),
    );
    assert.deepEqual(
      others,
      [],
      "the checker's violations (ownership, duplicates, history, other players' inputs)",
    );
    // One checkpoint interval of inputs, plus the ones in flight (a tick and a round trip).
    assert.ok(
      maxRegress <= CHECKPOINT_MS / INPUT_MS + 2,
      `progress lost ≤ one checkpoint (${maxRegress} inputs)`,
    );
  } finally {
    await walkers.close().catch(() => undefined);
    await cluster.ctx.cleanup();
  }
});

it("world crash - after a restore, the restored players' inputs are applied again", () => {
  assert.ok(stalledAfterRestore !== undefined, "the crash test ran");
  assert.deepEqual(stalledAfterRestore.slice(0, 10), [], "players whose inputs stalled after the restore");
});

function latestRecord(history: readonly HistoryRecord[], server: string): HistoryRecord | undefined {
  let latest: HistoryRecord | undefined;
  for (const record of history) {
    if (record.server === server && (latest === undefined || record.tick > latest.tick)) latest = record;
  }
  return latest;
}

/** The players in `server`'s latest record: account id → frozen (1) or not (0). */
function latestHeld(history: readonly HistoryRecord[], server: string): Map<string, number> {
  return new Map((latestRecord(history, server)?.players ?? []).map(([id, , , frozen]) => [id, frozen]));
}
