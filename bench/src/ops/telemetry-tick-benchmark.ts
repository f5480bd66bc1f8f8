/**
 * `ops.telemetry-tick`: the cost of a zone server's tick with telemetry on (traces and metrics,
 * exported over OTLP/HTTP to a local sink) against the same zone server with telemetry off, under the
 * same load at the same time. Target: within 5 % (ratio ≤ 1.05: lower is better).
 *
 * Set-up (not measured): a test context; two worlds of one 2,000 × 2,000 cell each (20 Hz, interest
 * radius 100, the demo game with its NPCs), each on its own NATS subject prefix with its own
 * {@link BenchAuthority} and {@link CrossingGateway}; two real zone server processes
 * (`services/gameserver/src/main.ts`, spawned by path, as `world.handoff-stall` does), one with
 * `MERIDIAN_TELEMETRY=on` and `OTEL_EXPORTER_OTLP_ENDPOINT` at the sink, one with it off;
 * {@link TICK_PLAYERS} players installed on each.
 *
 * Load: every 50 ms (one tick) the loaded side's gateway sends one `zone_inputs` with one move per
 * player to its zone server (with telemetry on: each tick recorded in the tick histogram,
 * checkpoints in the Redis histogram, metrics exported; these batches carry no trace context, as
 * most of a gateway's do not: it traces one batch in `MERIDIAN_TELEMETRY_SAMPLE_EVERY`). Both servers
 * get the same load at the same time, the order of the two sends alternating every tick, in two
 * phases with the roles of the two server slots swapped (fresh processes and players). **The
 * figure** is each server's CPU per tick over the same window (its process's CPU time ÷ the ticks in
 * it at 20 Hz), which covers the tick and everything its inputs and updates cost; the ratio is on ÷
 * off of the medians over runs.
 *
 * @module
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createSubjects, worldKeys } from "@meridian/protocol";
import type { SpawnedProcess, TestContext } from "@meridian/testkit";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { withTestContext } from "../gateway/gateway-fixture.js";
import { type BenchContext, type Benchmark, Better, type Figure, makeFigure, median } from "../harness.js";
import { processCpuMicros } from "../lobby/proc-cpu.js";
import { CHILD_EXEC_ARGV, ZONE_V8_FLAGS } from "../server-process.js";
import { CrossingGateway } from "../world/crossing-gateway.js";
import { BenchAuthority } from "../world/fake-authority.js";
import { startOtlpSink } from "./otlp-sink.js";

/** Players on each zone server. */
export const TICK_PLAYERS = 1_000;
/** On / off CPU per tick should be at most this (the "within 5 %"). */
export const TELEMETRY_TICK_TARGET = 1.05;

const WORLD = { width: 2_000, height: 2_000, cols: 1, rows: 1, tickHz: 20, aoiRadius: 100 } as const;
const TICK_MS = 1_000 / WORLD.tickHz;
const CELL = "c0_0";
const GAMESERVER_DIR = fileURLToPath(new URL("../../../services/gameserver/", import.meta.url));
const ZONE_READY = /"msg":"zone ready"/;
const INSTALL_CONCURRENCY = 32;
const MOVES = [-1, 0, 1] as const;
/** Shortest measured window, ms: the process CPU clock counts in 10 ms steps. */
const MIN_MEASURE_MS = 5_000;

type Variant = "on" | "off";

interface Side {
  readonly variant: Variant;
  readonly server: string;
  readonly gateway: CrossingGateway;
  readonly authority: BenchAuthority;
  readonly process: SpawnedProcess;
  readonly accounts: readonly string[];
  seq: number;
}

export const opsTelemetryTickBenchmark: Benchmark = {
  name: "ops.telemetry-tick",
  description:
    `zone server CPU per tick with telemetry on (traces + metrics, OTLP export) vs off, ${TICK_PLAYERS} players ` +
    "each sending one move per tick, two real zone servers side by side",
  run: (ctx) => runTelemetryTick(ctx),
};

async function runTelemetryTick(ctx: BenchContext): Promise<Figure[]> {
  return withTestContext({ label: "ops.telemetry-tick" }, async (test) => {
    const sink = await startOtlpSink();
    test.defer(() => sink.close());
    const nc = await connect({ servers: [test.nats.url], name: "bench-telemetry-tick" });
    test.defer(() => nc.close());
    const redis = new Redis(test.redis.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    test.defer(() => redis.quit());

    // Two phases with the roles swapped between the two slots (a, b): a slot's own bias (its place in
    // the send order, the scheduler) weighs on both variants alike. Telemetry off on both showed such
    // a bias of 3–7 % for one slot.
    const samples = new Map<Variant, number[]>([
      ["on", []],
      ["off", []],
    ]);
    const tickP99s = new Map<Variant, number[]>([
      ["on", []],
      ["off", []],
    ]);
    for (const phase of [0, 1]) {
      const variants: readonly Variant[] = phase === 0 ? ["on", "off"] : ["off", "on"];
      const sides = await Promise.all(
        variants.map((variant, i) =>
          startSide(test, nc, redis, variant, `${"ab"[i]}${phase}`, sink.endpoint, ctx),
        ),
      );
      const t0 = performance.now();
      await Promise.all(sides.map((side) => installAll(side)));
      ctx.log(
        `  phase ${phase + 1}/2 (slot a ${variants[0]}, slot b ${variants[1]}): installed ${TICK_PLAYERS} players on each zone server in ${Math.round(performance.now() - t0)} ms`,
      );
      let step = 0;
      const load = setInterval(() => {
        step++;
        for (let k = 0; k < sides.length; k++) send(sides[(k + step) % sides.length] as Side, step);
      }, TICK_MS);
      try {
        await sleep(ctx.warmupMs);
        for (let run = 0; run < ctx.runs; run++) {
          const pids = sides.map((side) => side.process.pid ?? 0);
          const cpu0 = pids.map((pid) => processCpuMicros(pid) ?? 0);
          const t1 = performance.now();
          await sleep(Math.max(ctx.durationMs, MIN_MEASURE_MS));
          const ticks = (performance.now() - t1) / TICK_MS;
          const perTick = pids.map((pid, i) => ((processCpuMicros(pid) ?? 0) - (cpu0[i] ?? 0)) / ticks);
          sides.forEach((side, i) => {
            samples.get(side.variant)?.push(perTick[i] ?? 0);
          });
          ctx.log(
            `  phase ${phase + 1} run ${run + 1}/${ctx.runs}  ` +
              sides
                .map((side, i) => `telemetry ${side.variant} ${(perTick[i] ?? 0).toFixed(0)} µs CPU/tick`)
                .join("  "),
          );
        }
      } finally {
        clearInterval(load);
      }
      for (const side of sides) {
        const own = side.authority.tickP99.filter((t) => t.server === side.server).map((t) => t.ms);
        if (own.length > 0) tickP99s.get(side.variant)?.push(median(own));
      }
      await Promise.all(sides.map((side) => side.process.stop()));
    }
    const on = samples.get("on") ?? [];
    const off = samples.get("off") ?? [];
    const tickP99 = (variant: Variant) => round1(median(tickP99s.get(variant) ?? [0]));
    const traces = sink.received.get("/v1/traces");
    return [
      makeFigure({
        name: "ops.telemetry-tick",
        value: round1(median(on)),
        unit: "µs CPU/tick",
        baseline: round1(median(off)),
        target: TELEMETRY_TICK_TARGET,
        better: Better.Lower,
        baselineKind: "the same zone server, telemetry off",
        players: TICK_PLAYERS,
        runs: on.length,
        samples: on.map(round1),
        baselineSamples: off.map(round1),
        tickP99Ms: tickP99("on"),
        baselineTickP99Ms: tickP99("off"),
        otlpTraceExports: traces?.requests ?? 0,
        otlpTraceBytes: traces?.bytes ?? 0,
      }),
    ];
  });
}

/** One move per player of `side` (one `zone_inputs`). */
function send(side: Side, step: number): void {
  side.seq++;
  side.gateway.send(
    side.server,
    side.accounts.map((accountId, i) => ({
      accountId,
      seq: side.seq,
      data: { move: { dx: MOVES[(i + step) % 3], dy: MOVES[(i * 7 + step) % 3] } },
    })),
  );
}

async function startSide(
  test: TestContext,
  nc: Awaited<ReturnType<typeof connect>>,
  redis: Redis,
  variant: Variant,
  slot: string,
  endpoint: string,
  ctx: BenchContext,
): Promise<Side> {
  const prefix = `${test.nats.prefix}.${slot}`;
  const world = `tt${slot}${test.runId}`.slice(0, 32);
  const server = `ztel-${slot}`;
  const subjects = createSubjects({ prefix });
  const authority = new BenchAuthority(nc, redis, {
    subjects,
    world,
    keys: worldKeys(test.redis.prefix, world),
  });
  await authority.start();
  test.defer(() => authority.stop());
  await authority.lease(CELL, server);
  const gateway = new CrossingGateway(nc, subjects, `bgw-${variant}`);
  await gateway.start();
  test.defer(() => gateway.stop());
  const execArgv = [...CHILD_EXEC_ARGV, ...ZONE_V8_FLAGS];
  if (ctx.cpuProfDir !== undefined)
    execArgv.push("--cpu-prof", `--cpu-prof-dir=${join(ctx.cpuProfDir, server)}`);
  const process = await test.spawnProcess({
    command: globalThis.process.execPath,
    args: [...execArgv, "src/main.ts"],
    cwd: GAMESERVER_DIR,
    env: {
      MERIDIAN_ENV: "development",
      MERIDIAN_REDIS_URL: test.redis.url,
      MERIDIAN_REDIS_PREFIX: test.redis.prefix,
      MERIDIAN_NATS_URL: test.nats.url,
      MERIDIAN_SUBJECT_PREFIX: prefix,
      ZONE_SERVER_ID: server,
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
      MERIDIAN_TELEMETRY: variant,
      ...(variant === "on" ? { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint } : {}),
    },
    readyPattern: ZONE_READY,
    timeoutMs: 60_000,
  });
  const accounts = Array.from({ length: TICK_PLAYERS }, (_, i) => String(3_000_000 + i));
  return { variant, server, gateway, authority, process, accounts, seq: 0 };
}

async function installAll(side: Side): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: INSTALL_CONCURRENCY }, async () => {
      while (next < side.accounts.length) {
        const i = next++;
        await side.authority.install({
          server: side.server,
          accountId: side.accounts[i] as string,
          cell: CELL,
          gateway: side.gateway.id,
          x: 100 + ((i * 37) % 1_800),
          y: 100 + ((i * 53) % 1_800),
        });
      }
    }),
  );
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
