/**
 * `world.handoff-stall-p50` and `world.handoff-stall-p99` (issue 6): the stall a crossing player sees
 * when 1,000 players cross a border in the same tick, between two real zone server processes.
 *
 * Set-up (not measured): a test context (Redis key prefix, NATS subject prefix); a 2 × 1 world of
 * 2,000 × 4,000 units (two cells of 1,000 × 4,000; 20 Hz, interest radius 100, the demo game with its
 * 8 NPCs per cell); {@link BenchAuthority} leasing `c0_0` to `za` and `c1_0` to `zb`; the two
 * servers (`services/gameserver/src/main.ts`, spawned by path, `ZONE_CAPACITY` 5,000, checkpoints at
 * the default 5 s); the fake gateway `bgw` ({@link CrossingGateway}); {@link CROSSERS} players
 * installed on `za` with `player_install` as the authority would, standing 2 units west of the border
 * (x = 998) every 4 units along it, and {@link STAYERS} players on each server far from the border
 * (they make each server publish a `gateway_updates` every tick).
 *
 * A run: every crosser gets one input `{ at: { x: border ± 2, y } }` (one `zone_inputs` to their
 * owner), so all of them step over the border in the same tick of the source server and are frozen
 * there: 1,000 concurrent handoffs (offer → the target's install and checkpoint → `route_switch` →
 * accept). Runs alternate direction (za → zb, zb → za, …).
 *
 * **The stall of one crossing** = arrival at the gateway of the target's `route_switch` − arrival of
 * the source's first `gateway_updates` of the tick that froze the player (the tick after the last one
 * whose message carried them). The source publishes that message right after the `step()` that froze
 * the player and before it sends the offers, so the start is the freeze plus the encoding of one small
 * message and one NATS hop; both ends are timestamped by the same clock. (The server's own
 * freeze → accept histogram, `ZoneServer.stats().handoffStallMs`, is in-process only.)
 *
 * Baselines, in the same run: for the p50, the p50 round trip of a bare NATS request/reply
 * (`servers/bare-nats-responder.ts` answering a `handoff_accept`, requested with a real offer's
 * bytes, 1 in flight), measured right before each burst; for the p99, the tick length (50 ms).
 * Targets: p50 ratio ≤ 4, p99 ratio ≤ 1. Figures are medians over runs.
 *
 * @module
 */

import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createSubjects, encodeMessage, type HandoffOffer, worldKeys } from "@meridian/protocol";
import type { SpawnedProcess, TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { withTestContext } from "../gateway/gateway-fixture.js";
import {
  type BenchContext,
  type Benchmark,
  Better,
  type Figure,
  makeFigure,
  median,
  percentile,
} from "../harness.js";
import { CHILD_EXEC_ARGV, ServerProcess, ZONE_V8_FLAGS } from "../server-process.js";
import { CrossingGateway } from "./crossing-gateway.js";
import { BenchAuthority } from "./fake-authority.js";

/** Players crossing in each run. */
export const CROSSERS = 1_000;
/** Players on each server that never cross. */
export const STAYERS = 10;
/** Target ratios: stall p50 against the bare request/reply p50, stall p99 against the tick. */
export const STALL_P50_TARGET = 4;
export const STALL_P99_TARGET = 1;

const WORLD = { width: 2_000, height: 4_000, cols: 2, rows: 1, tickHz: 20, aoiRadius: 100 } as const;
const BORDER = WORLD.width / WORLD.cols;
const TICK_MS = 1_000 / WORLD.tickHz;
const SERVERS = ["za", "zb"] as const;
const CELLS = { za: "c0_0", zb: "c1_0" } as const;
const GATEWAY = "bgw";
const GAMESERVER_DIR = fileURLToPath(new URL("../../../services/gameserver/", import.meta.url));
const ZONE_READY = /"msg":"zone ready"/;
const INSTALL_CONCURRENCY = 32;
const BARE_WARMUP = 200;
const BARE_SAMPLES = 2_000;
const CROSSING_TIMEOUT_MS = 30_000;

type Server = (typeof SERVERS)[number];

interface Player {
  readonly accountId: string;
  readonly y: number;
  owner: Server;
  epoch: number;
  seq: number;
}

interface RunResult {
  readonly stalls: number[];
  /** Last update from the source → first update from the target, per player, ms. */
  readonly gaps: number[];
  readonly bareP50: number;
  readonly bareP99: number;
  /** Distinct freeze ticks (1: every crossing in the same tick). */
  readonly freezeTicks: number;
  /** Input sent → last route_switch, ms. */
  readonly burstMs: number;
  /** Highest tick p99 the source / target reported in a heartbeat during the burst, ms. */
  readonly sourceTickP99: number;
  readonly targetTickP99: number;
}

export const worldHandoffStallBenchmark: Benchmark = {
  name: "world.handoff-stall",
  description:
    `stall per crossing (freeze on the source → route_switch at the gateway) with ${CROSSERS} concurrent crossings ` +
    "between two real zone servers: p50 vs a bare NATS request/reply p50, p99 vs the 50 ms tick",
  run: (ctx) => runHandoff(ctx),
};

async function runHandoff(ctx: BenchContext): Promise<Figure[]> {
  return withTestContext({ label: "world.handoff-stall" }, async (test) => {
    const world = `hw${test.runId}`.slice(0, 32);
    const subjects = createSubjects({ prefix: test.nats.prefix });
    const keys = worldKeys(test.redis.prefix, world);
    const nc = await connect({ servers: [test.nats.url], name: "bench-handoff" });
    test.defer(() => nc.close());
    const redis = new Redis(test.redis.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    test.defer(() => redis.quit());

    const authority = new BenchAuthority(nc, redis, { subjects, world, keys });
    await authority.start();
    test.defer(() => authority.stop());
    for (const server of SERVERS) await authority.lease(CELLS[server], server);
    const gateway = new CrossingGateway(nc, subjects, GATEWAY);
    await gateway.start();
    test.defer(() => gateway.stop());

    const zones = await Promise.all(SERVERS.map((id) => startZone(test, world, id, ctx.cpuProfDir)));

    // The bare baseline answers what a target answers, to what a source sends.
    const sampleOffer: HandoffOffer = {
      t: "handoff_offer",
      handoffId: "00000000-0000-4000-8000-000000000000",
      accountId: "1000000",
      sessionId: "00000000-0000-4000-8000-000000000001",
      username: "walker1000000",
      gateway: GATEWAY,
      fromServer: "za",
      cell: CELLS.zb,
      cellEpoch: 1,
      playerEpoch: 2,
      lastSeq: 1,
      tick: 100,
      state: {
        accountId: "1000000",
        username: "walker1000000",
        x: BORDER + 2,
        y: 2,
        lastSeq: 1,
        state: { dx: 0, dy: 0, target: null, emote: null, emoteUntil: 0, home: null },
      },
    };
    const bareSubject = `${test.nats.prefix}.bench.bare-handoff`;
    const bare = await ServerProcess.start(
      "bare-nats-responder",
      new URL("../servers/bare-nats-responder.ts", import.meta.url),
      [
        test.nats.url,
        bareSubject,
        Buffer.from(
          encodeMessage({ t: "handoff_accept", handoffId: sampleOffer.handoffId, accepted: true }),
        ).toString("base64"),
      ],
      ctx.cpuProfDir,
    );
    test.defer(() => bare.stop());
    const bareRequest = encodeMessage(sampleOffer);

    // Players: the crossers on za at the border, stayers on both.
    const crossers: Player[] = Array.from({ length: CROSSERS }, (_, i) => ({
      accountId: String(1_000_000 + i),
      y: 2 + (i * WORLD.height) / CROSSERS,
      owner: "za",
      epoch: 0,
      seq: 0,
    }));
    const stayers = SERVERS.flatMap((server, s) =>
      Array.from({ length: STAYERS }, (_, i) => ({
        server,
        accountId: String(2_000_000 + s * 1_000 + i),
        x: server === "za" ? BORDER / 2 : BORDER * 1.5,
        y: ((i + 0.5) * WORLD.height) / STAYERS,
      })),
    );
    const installs = [
      ...crossers.map((p) => ({
        server: "za" as Server,
        accountId: p.accountId,
        x: BORDER - 2,
        y: p.y,
        player: p,
      })),
      ...stayers.map((s) => ({ ...s, player: undefined })),
    ];
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: INSTALL_CONCURRENCY }, async () => {
        while (next < installs.length) {
          const job = installs[next++] as (typeof installs)[number];
          const reply = await authority.install({
            server: job.server,
            accountId: job.accountId,
            cell: CELLS[job.server],
            gateway: GATEWAY,
            x: job.x,
            y: job.y,
          });
          if (job.player !== undefined) job.player.epoch = reply.epoch;
        }
      }),
    );
    ctx.log(`  installed ${installs.length} players in ${Math.round(performance.now() - t0)} ms`);
    await waitFor("every crosser's first view", 15_000, () =>
      crossers.every((p) => gateway.lastSeen(p.owner, p.accountId) !== undefined),
    );
    await sleep(500);

    const results: RunResult[] = [];
    for (let run = 0; run < ctx.runs; run++) {
      const bareLatencies = await measureBare(nc, bareSubject, bareRequest);
      const result = await crossAll(gateway, crossers, bareLatencies, authority);
      results.push(result);
      const source = run % 2 === 0 ? "za" : "zb";
      ctx.log(
        `  run ${run + 1}/${ctx.runs} ${source} → ${source === "za" ? "zb" : "za"}: stall p50 ${percentile(result.stalls, 0.5).toFixed(2)} ms` +
          `  p99 ${percentile(result.stalls, 0.99).toFixed(2)} ms  max ${Math.max(...result.stalls).toFixed(1)} ms` +
          `  (bare req/reply p50 ${result.bareP50.toFixed(3)} ms)  update gap p50 ${percentile(result.gaps, 0.5).toFixed(1)} ms` +
          `  p99 ${percentile(result.gaps, 0.99).toFixed(1)} ms  freeze ticks ${result.freezeTicks}  burst ${Math.round(result.burstMs)} ms` +
          `  tick p99 source ${Math.round(result.sourceTickP99)} ms target ${Math.round(result.targetTickP99)} ms`,
      );
      await sleep(1_000);
    }

    // The servers' own counts, from their shutdown lines.
    const counts: Record<string, unknown> = {};
    for (const [i, zone] of zones.entries()) {
      await zone.stop("SIGTERM");
      const line = /^\{[^\n]*"msg":"stopped"[^\n]*$/m.exec(zone.output())?.[0];
      if (line !== undefined) {
        const { handoffsOut, handoffsIn } = JSON.parse(line) as { handoffsOut?: number; handoffsIn?: number };
        counts[SERVERS[i] as string] = { handoffsOut, handoffsIn };
      }
    }

    const p50s = results.map((r) => percentile(r.stalls, 0.5));
    const p99s = results.map((r) => percentile(r.stalls, 0.99));
    const bareP50s = results.map((r) => r.bareP50);
    const r3 = (n: number): number => Number(n.toPrecision(3));
    const common = {
      crossers: CROSSERS,
      runs: results.length,
      freezeTicks: results.map((r) => r.freezeTicks),
      burstMs: results.map((r) => Math.round(r.burstMs)),
      sourceTickP99Ms: results.map((r) => Math.round(r.sourceTickP99)),
      targetTickP99Ms: results.map((r) => Math.round(r.targetTickP99)),
      gapP50: r3(median(results.map((r) => percentile(r.gaps, 0.5)))),
      gapP99: r3(median(results.map((r) => percentile(r.gaps, 0.99)))),
      serverCounts: counts,
    };
    return [
      makeFigure({
        name: "world.handoff-stall-p50",
        value: median(p50s),
        unit: "ms",
        baseline: median(bareP50s),
        target: STALL_P50_TARGET,
        better: Better.Lower,
        ...common,
        samples: p50s.map(r3),
        baselineSamples: bareP50s.map(r3),
        baselineP99: r3(median(results.map((r) => r.bareP99))),
      }),
      makeFigure({
        name: "world.handoff-stall-p99",
        value: median(p99s),
        unit: "ms",
        baseline: TICK_MS,
        target: STALL_P99_TARGET,
        better: Better.Lower,
        baselineKind: "tick length",
        ...common,
        samples: p99s.map(r3),
        max: r3(median(results.map((r) => Math.max(...r.stalls)))),
      }),
    ];
  });
}

async function startZone(
  test: TestContext,
  world: string,
  id: Server,
  cpuProfDir: string | undefined,
): Promise<SpawnedProcess> {
  const execArgv = [...CHILD_EXEC_ARGV, ...ZONE_V8_FLAGS];
  if (cpuProfDir !== undefined) execArgv.push("--cpu-prof", `--cpu-prof-dir=${join(cpuProfDir, id)}`);
  return test.spawnProcess({
    command: process.execPath,
    args: [...execArgv, "src/main.ts"],
    cwd: GAMESERVER_DIR,
    env: {
      MERIDIAN_ENV: "development",
      MERIDIAN_REDIS_URL: test.redis.url,
      MERIDIAN_REDIS_PREFIX: test.redis.prefix,
      MERIDIAN_NATS_URL: test.nats.url,
      MERIDIAN_SUBJECT_PREFIX: test.nats.prefix,
      ZONE_SERVER_ID: id,
      ZONE_CREDENTIAL: "bench-credential",
      ZONE_CAPACITY: "5000",
      // The fake gateway writes no presence: the sweep for players whose gateway is gone is off.
      ZONE_ORPHAN_SWEEP_MS: "0",
      // No lobby here: no Postgres persistence.
      ZONE_PERSISTENCE: "0",
      WORLD_NAME: world,
      WORLD_WIDTH: String(WORLD.width),
      WORLD_HEIGHT: String(WORLD.height),
      WORLD_COLS: String(WORLD.cols),
      WORLD_ROWS: String(WORLD.rows),
      WORLD_TICK_HZ: String(WORLD.tickHz),
      WORLD_AOI_RADIUS: String(WORLD.aoiRadius),
    },
    readyPattern: ZONE_READY,
    timeoutMs: 60_000,
  });
}

/** One burst: every crosser steps over the border in one tick of its owner; resolves with the stalls. */
async function crossAll(
  gateway: CrossingGateway,
  crossers: Player[],
  bare: readonly number[],
  authority: BenchAuthority,
): Promise<RunResult> {
  const source = (crossers[0] as Player).owner;
  const target: Server = source === "za" ? "zb" : "za";
  const destX = source === "za" ? BORDER + 2 : BORDER - 2;
  if (crossers.some((p) => p.owner !== source)) throw new Error("crossers are not all on one server");
  const inputs = crossers.map((p) => ({
    accountId: p.accountId,
    seq: p.seq + 1,
    data: { at: { x: destX, y: p.y } },
  }));
  const sentAt = performance.now();
  gateway.send(source, inputs);
  const switched = (p: Player): boolean => {
    const route = gateway.route(p.accountId);
    return route !== undefined && route.epoch > p.epoch && route.server === target;
  };
  await waitFor(`${crossers.length} route_switch to ${target}`, CROSSING_TIMEOUT_MS, () =>
    crossers.every(switched),
  );
  const lastRouteAt = Math.max(...crossers.map((p) => gateway.route(p.accountId)?.at ?? 0));
  await waitFor(`first views from ${target}`, CROSSING_TIMEOUT_MS, () =>
    crossers.every((p) => {
      const route = gateway.route(p.accountId);
      return route !== undefined && gateway.firstUpdateAt(target, route.epoch, p.accountId) !== undefined;
    }),
  );
  const stalls: number[] = [];
  const gaps: number[] = [];
  const freezeTicks = new Set<number>();
  for (const p of crossers) {
    const route = gateway.route(p.accountId) as { epoch: number; at: number };
    const last = gateway.lastSeen(source, p.accountId);
    const frozen = last === undefined ? undefined : gateway.firstAfter(source, last.tick);
    const firstView = gateway.firstUpdateAt(target, route.epoch, p.accountId);
    if (last === undefined || frozen === undefined || firstView === undefined) {
      throw new Error(`player ${p.accountId}: no freeze tick seen from ${source}`);
    }
    freezeTicks.add(frozen.tick);
    stalls.push(route.at - frozen.at);
    gaps.push(firstView - last.at);
    p.owner = target;
    p.epoch = route.epoch;
    p.seq++;
  }
  // The servers' own tick p99s (heartbeats every 100 ms) from the input to 300 ms after the last switch.
  await sleep(300);
  const tickP99 = (server: Server): number =>
    Math.max(
      0,
      ...authority.tickP99
        .filter((h) => h.server === server && h.at >= sentAt && h.at <= lastRouteAt + 300)
        .map((h) => h.ms),
    );
  return {
    stalls,
    gaps,
    sourceTickP99: tickP99(source),
    targetTickP99: tickP99(target),
    bareP50: percentile(bare, 0.5),
    bareP99: percentile(bare, 0.99),
    freezeTicks: freezeTicks.size,
    burstMs: lastRouteAt - sentAt,
  };
}

/** Round trips of a bare NATS request/reply, 1 in flight, ms. */
async function measureBare(nc: NatsConnection, subject: string, request: Uint8Array): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < BARE_WARMUP + BARE_SAMPLES; i++) {
    const t0 = performance.now();
    await nc.request(subject, request, { timeout: 5_000 });
    if (i >= BARE_WARMUP) out.push(performance.now() - t0);
  }
  return out;
}

async function waitFor(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
}
