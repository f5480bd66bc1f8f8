/**
 * `gateway.idle-memory`: resident memory per idle WebSocket connection of the real gateway process
 * holding 10,000 of them, against a bare `ws` server holding as many, measured in the same run.
 *
 * Each run starts a fresh server process of each kind (memory a process gave back to the allocator
 * is not given back to the system, so a second round in the same process would look cheaper): the
 * gateway (`gateway-fixture.ts`, on a test context's Redis and NATS; no lobby: nobody logs in) and the
 * bare echo (`../servers/bare-ws-echo.ts`). Then, per server: a warm-up of
 * {@link WARMUP_CONNECTIONS} connections opened, greeted and closed (code paths compiled, pools
 * made); a pause; its RSS read from /proc; {@link IDLE_CONNECTIONS} WebSocket connections opened
 * from {@link IDLE_SOURCES} loopback addresses (10 each), each sending one binary message (the gateway's
 * `hello`, so the pre-auth deadline does not prune it) and waiting for the answer (`hello_ok`; the
 * bare server echoes it), so every connection is confirmed open; a pause of the run's duration; the
 * RSS read again. Bytes per connection = ΔRSS / connections. The connections are opened in rounds of
 * one per source address every {@link ROUND_MS} ms: under the gateway's per-IP limits (netengine's
 * defaults, 32 open and 16 new per second per address) with room to spare. Heartbeat and idle
 * timeouts are far above a run (see `BENCH_GATEWAY_ENV`), so the connections stay idle and open.
 *
 * The ratio is gateway / bare (`better: "lower"`): the figure is met at or below the target.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { TestContext } from "@meridian/testkit";
import { type BenchContext, type Benchmark, Better, type Figure, makeFigure, median } from "../harness.js";
import { loopbackSource } from "../load/echo-load.js";
import { CHILD_EXEC_ARGV } from "../server-process.js";
import { HELLO, hello } from "./gateway-client.js";
import { startGateway, withTestContext } from "./gateway-fixture.js";
import { INSPECTOR_URL, InspectorSession } from "./inspector-session.js";
import { RawWsConnection } from "./raw-ws-client.js";

/** Idle connections held by each server. */
export const IDLE_CONNECTIONS = 10_000;
/** Source addresses: 1,000, so 10 connections each, a third of the 32 per address the gateway allows. */
export const IDLE_SOURCES = 1000;
/**
 * One new connection per source address every this many ms: 5 per second per address, a third of
 * the gateway's 16, so that accepts bunched by a busy server (a GC pause) stay under the limit.
 */
export const ROUND_MS = 200;
/** Connections opened and closed before the first RSS reading. */
export const WARMUP_CONNECTIONS = 500;
/** The ratio the gateway should stay at or below (the target). */
export const IDLE_MEMORY_TARGET = 1.25;
/** Pause after the warm-up, before the first RSS reading, ms. */
const SETTLE_MS = 1000;

export const gatewayIdleMemoryBenchmark: Benchmark = {
  name: "gateway.idle-memory",
  description: `RSS per idle WebSocket connection (after hello) of the gateway holding ${IDLE_CONNECTIONS.toLocaleString("en-US")} vs a bare ws server holding as many`,
  run: (ctx) => runIdleMemory(ctx),
};

/** A server to fill: its pid, its port and how a connection is greeted. */
interface Target {
  readonly label: string;
  readonly pid: number;
  readonly port: number;
  /** A session on the server's inspector: full GCs before each reading, JS heap in use. */
  readonly inspector: InspectorSession;
  greet(conn: RawWsConnection): Promise<void>;
  stop(): Promise<void>;
}

const INSPECT = "--inspect=127.0.0.1:0";
const BENCH_DIR = fileURLToPath(new URL("../../", import.meta.url));
const LISTENING = /^listening (\d+)$/m;

async function startGatewayTarget(test: TestContext, run: number, ctx: BenchContext): Promise<Target> {
  const gateway = await startGateway(test, {
    id: `bench-gw-idle-${run}`,
    cpuProfDir: ctx.cpuProfDir,
    execArgv: [INSPECT],
  });
  try {
    const url = (await gateway.process.waitForOutput(INSPECTOR_URL))[1] as string;
    return {
      label: "gateway",
      pid: gateway.process.pid,
      port: gateway.wsPort,
      inspector: await InspectorSession.connect(url),
      greet: async (conn) => {
        await hello(conn);
      },
      stop: gateway.stop,
    };
  } catch (error) {
    await gateway.stop();
    throw error;
  }
}

/**
 * The bare `ws` server (`../servers/bare-ws-echo.ts`, its default: echo, corked per read), spawned on
 * the test context (not forked) so that it can run with `--inspect` like the gateway.
 */
async function startBareTarget(test: TestContext): Promise<Target> {
  const bare = await test.spawnProcess({
    command: process.execPath,
    args: [...CHILD_EXEC_ARGV, INSPECT, "src/servers/bare-ws-echo.ts"],
    cwd: BENCH_DIR,
    readyPattern: LISTENING,
    timeoutMs: 30_000,
  });
  try {
    const port = Number((await bare.waitForOutput(LISTENING))[1]);
    const url = (await bare.waitForOutput(INSPECTOR_URL))[1] as string;
    return {
      label: "bare-ws",
      pid: bare.pid,
      port,
      inspector: await InspectorSession.connect(url),
      greet: async (conn) => {
        conn.send(HELLO);
        await conn.next(30_000);
      },
      stop: async () => {
        await bare.stop();
      },
    };
  } catch (error) {
    await bare.stop();
    throw error;
  }
}

interface MemorySample {
  readonly bytesPerConnection: number;
  /** JS heap in use (after a full GC) per connection: the part of RSS that is JavaScript objects. */
  readonly heapBytesPerConnection: number;
  readonly rssBeforeMb: number;
  readonly rssAfterMb: number;
  readonly openSeconds: number;
}

async function runIdleMemory(ctx: BenchContext): Promise<Figure[]> {
  return withTestContext({ label: "gateway.idle-memory" }, async (test) => {
    const samples = new Map<string, MemorySample[]>([
      ["gateway", []],
      ["bare-ws", []],
    ]);
    for (let run = 0; run < ctx.runs; run++) {
      const order = run % 2 === 0 ? ["gateway", "bare-ws"] : ["bare-ws", "gateway"];
      for (const label of order) {
        const target =
          label === "gateway" ? await startGatewayTarget(test, run, ctx) : await startBareTarget(test);
        const stop = async (): Promise<void> => {
          target.inspector.close();
          await target.stop();
        };
        try {
          const sample = await measureIdle(target, ctx);
          samples.get(label)?.push(sample);
          ctx.log(
            `  run ${run + 1}/${ctx.runs} ${label.padEnd(8)} ${Math.round(sample.bytesPerConnection).toLocaleString("en-US").padStart(7)} B/connection` +
              `  (JS heap ${Math.round(sample.heapBytesPerConnection).toLocaleString("en-US")})  RSS ${sample.rssBeforeMb.toFixed(1)} → ${sample.rssAfterMb.toFixed(1)} MB  (opened in ${sample.openSeconds.toFixed(1)} s)`,
          );
        } finally {
          await stop();
        }
      }
    }
    const own = samples.get("gateway") ?? [];
    const base = samples.get("bare-ws") ?? [];
    const mb = (s: MemorySample[], key: "rssBeforeMb" | "rssAfterMb"): number =>
      Math.round(median(s.map((x) => x[key])) * 10) / 10;
    return [
      makeFigure({
        name: "gateway.idle-memory",
        value: median(own.map((s) => s.bytesPerConnection)),
        unit: "B/connection",
        baseline: median(base.map((s) => s.bytesPerConnection)),
        target: IDLE_MEMORY_TARGET,
        better: Better.Lower,
        connections: IDLE_CONNECTIONS,
        sources: IDLE_SOURCES,
        runs: own.length,
        samples: own.map((s) => Math.round(s.bytesPerConnection)),
        baselineSamples: base.map((s) => Math.round(s.bytesPerConnection)),
        heapBytesPerConnection: Math.round(median(own.map((s) => s.heapBytesPerConnection))),
        baselineHeapBytesPerConnection: Math.round(median(base.map((s) => s.heapBytesPerConnection))),
        rssBeforeMb: mb(own, "rssBeforeMb"),
        rssAfterMb: mb(own, "rssAfterMb"),
        baselineRssBeforeMb: mb(base, "rssBeforeMb"),
        baselineRssAfterMb: mb(base, "rssAfterMb"),
      }),
    ];
  });
}

/** Resident set size of `pid`, bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  if (match === null) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** Opens `count` greeted connections, one per source address per round. Closes them all on failure. */
async function openGreeted(target: Target, count: number): Promise<RawWsConnection[]> {
  const conns: RawWsConnection[] = [];
  const pending: Promise<void>[] = [];
  let failure: unknown;
  for (let start = 0; start < count && failure === undefined; start += IDLE_SOURCES) {
    const roundStarted = performance.now();
    for (let i = start; i < Math.min(count, start + IDLE_SOURCES); i++) {
      pending.push(
        (async () => {
          const conn = await RawWsConnection.open({
            host: "127.0.0.1",
            port: target.port,
            localAddress: loopbackSource(i % IDLE_SOURCES),
            timeoutMs: 30_000,
          });
          conns.push(conn);
          await target.greet(conn);
        })().catch((error: unknown) => {
          failure ??= error;
        }),
      );
    }
    await sleep(Math.max(0, ROUND_MS - (performance.now() - roundStarted)));
  }
  await Promise.all(pending);
  if (failure !== undefined) {
    await Promise.all(conns.map((c) => c.destroy()));
    throw failure;
  }
  const broken = conns.find((c) => c.failure !== undefined);
  if (broken !== undefined) {
    await Promise.all(conns.map((c) => c.destroy()));
    throw new Error(`${target.label}: a connection failed: ${broken.failure?.message}`);
  }
  return conns;
}

async function measureIdle(target: Target, ctx: BenchContext): Promise<MemorySample> {
  const warm = await openGreeted(target, WARMUP_CONNECTIONS);
  await Promise.all(warm.map((c) => c.destroy()));
  await sleep(SETTLE_MS);
  await target.inspector.collectGarbage();
  const before = rssBytes(target.pid);
  const heapBefore = await target.inspector.heapUsed();
  const t0 = performance.now();
  const conns = await openGreeted(target, IDLE_CONNECTIONS);
  const openSeconds = (performance.now() - t0) / 1000;
  try {
    await sleep(ctx.durationMs);
    const broken = conns.find((c) => c.failure !== undefined);
    if (broken !== undefined)
      throw new Error(`${target.label}: an idle connection failed: ${broken.failure?.message}`);
    await target.inspector.collectGarbage();
    const after = rssBytes(target.pid);
    const heapAfter = await target.inspector.heapUsed();
    return {
      bytesPerConnection: (after - before) / IDLE_CONNECTIONS,
      heapBytesPerConnection: (heapAfter - heapBefore) / IDLE_CONNECTIONS,
      rssBeforeMb: before / 2 ** 20,
      rssAfterMb: after / 2 ** 20,
      openSeconds,
    };
  } finally {
    await Promise.all(conns.map((c) => c.destroy()));
  }
}
