/**
 * `netengine.tcp-echo` and `netengine.ws-echo`: echo throughput of netengine against the best
 * bare echo, both measured in the same run.
 *
 * Every server runs in its own child process (see `servers/`); the load generator runs in the bench
 * process, so the two never share an event loop (two cores: one each). Each run opens 100
 * connections that keep 64 frames of 32 bytes in flight, warms up, then counts echoed frames over
 * the measured duration. Variants are interleaved run by run (the order rotates) and the figures
 * are medians; ratio = netengine / baseline.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type BenchContext, type Benchmark, type Figure, makeFigure, median } from "../harness.js";
import type { EchoLoad, EchoLoadOptions } from "../load/echo-load.js";
import { startTcpEchoLoad } from "../load/tcp-echo-load.js";
import { startRawWsEchoLoad } from "../load/ws-raw-echo-load.js";
import { ServerProcess } from "../server-process.js";

/** Connections of every echo run. */
export const ECHO_CONNECTIONS = 100;
/** Frames each connection keeps in flight (the pipelining depth) by default. */
export const ECHO_WINDOW = 64;
/**
 * A shallower depth, reported beside the default: at 16 frames in flight the bare echo runs at the
 * ~2 M frames/s scale TOOLCHAIN.md quotes, where syscalls weigh more against per-frame work.
 */
export const ECHO_SHALLOW_WINDOW = 16;
/** Payload bytes of every frame. */
export const ECHO_PAYLOAD_BYTES = 32;
/** The ratio netengine should reach against the bare echo. */
export const ECHO_TARGET = 0.8;

/** A server to measure: a file under `servers/` and its arguments. */
interface EchoVariant {
  /** Short label for progress lines and CPU profile names. */
  readonly label: string;
  readonly entry: URL;
  readonly args: readonly string[];
}

interface EchoBenchmarkSpec {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly startLoad: (options: EchoLoadOptions) => Promise<EchoLoad>;
  /** Frames in flight per connection. Default {@link ECHO_WINDOW}. */
  readonly window?: number;
  readonly baseline: EchoVariant;
  /** Figures to report: each one's variant measured against the baseline. */
  readonly figures: readonly { readonly name: string; readonly variant: EchoVariant }[];
}

/** One measured run of one variant. */
export interface EchoSample {
  /** Echoed frames per second. */
  readonly rate: number;
  /** CPU share of the server process over the measured time (1 = one core busy). */
  readonly serverCpu: number;
  /** CPU share of the load generator (the bench process). */
  readonly loadCpu: number;
  /**
   * Echoed frames per write syscall of the server (how well it batched), or undefined where the
   * platform does not count syscalls.
   */
  readonly framesPerWrite: number | undefined;
}

const server = (file: string): URL => new URL(`../servers/${file}`, import.meta.url);

export function echoBenchmark(spec: EchoBenchmarkSpec): Benchmark {
  return {
    name: spec.name,
    description: spec.description,
    run: (ctx) => runEcho(spec, ctx),
  };
}

async function runEcho(spec: EchoBenchmarkSpec, ctx: BenchContext): Promise<Figure[]> {
  const variants = [spec.baseline, ...spec.figures.map((f) => f.variant)];
  const servers = await startAll(variants, ctx);
  try {
    const samples = new Map<EchoVariant, EchoSample[]>(variants.map((v) => [v, []]));
    for (let run = 0; run < ctx.runs; run++) {
      // Rotate the order so no variant always runs first (or right after the same neighbour).
      for (let k = 0; k < variants.length; k++) {
        const index = (k + run) % variants.length;
        const variant = variants[index] as EchoVariant;
        const sample = await measureEcho(
          servers[index] as ServerProcess,
          spec.startLoad,
          ctx,
          spec.window ?? ECHO_WINDOW,
        );
        samples.get(variant)?.push(sample);
        ctx.log(
          `  run ${run + 1}/${ctx.runs} ${variant.label.padEnd(22)} ${Math.round(sample.rate).toLocaleString("en-US").padStart(11)} ${spec.unit}` +
            `  server cpu ${sample.serverCpu.toFixed(2)}  load cpu ${sample.loadCpu.toFixed(2)}` +
            (sample.framesPerWrite === undefined ? "" : `  frames/write ${sample.framesPerWrite.toFixed(1)}`),
        );
      }
    }
    const base = samples.get(spec.baseline) ?? [];
    return spec.figures.map(({ name, variant }) => {
      const own = samples.get(variant) ?? [];
      return makeFigure({
        name,
        value: median(own.map((s) => s.rate)),
        unit: spec.unit,
        baseline: median(base.map((s) => s.rate)),
        target: ECHO_TARGET,
        window: spec.window ?? ECHO_WINDOW,
        runs: own.length,
        samples: own.map((s) => Math.round(s.rate)),
        baselineSamples: base.map((s) => Math.round(s.rate)),
        serverCpu: round2(median(own.map((s) => s.serverCpu))),
        baselineServerCpu: round2(median(base.map((s) => s.serverCpu))),
        loadCpu: round2(median(own.map((s) => s.loadCpu))),
        baselineLoadCpu: round2(median(base.map((s) => s.loadCpu))),
        serverNsPerFrame: Math.round(median(own.map(nsPerFrame))),
        baselineServerNsPerFrame: Math.round(median(base.map(nsPerFrame))),
        ...batching("serverFramesPerWrite", own),
        ...batching("baselineServerFramesPerWrite", base),
      });
    });
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

async function startAll(variants: readonly EchoVariant[], ctx: BenchContext): Promise<ServerProcess[]> {
  const results = await Promise.allSettled(
    variants.map((v) => ServerProcess.start(v.label, v.entry, v.args, ctx.cpuProfDir)),
  );
  const started = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(started.map((s) => s.stop()));
    throw failed.reason;
  }
  return started;
}

/** One run: start the load, warm up, count echoed frames over the duration, stop the load. */
export async function measureEcho(
  server: ServerProcess,
  startLoad: (options: EchoLoadOptions) => Promise<EchoLoad>,
  ctx: Pick<BenchContext, "warmupMs" | "durationMs">,
  window: number = ECHO_WINDOW,
): Promise<EchoSample> {
  const load = await startLoad({
    host: "127.0.0.1",
    port: server.port,
    connections: ECHO_CONNECTIONS,
    window,
    payloadBytes: ECHO_PAYLOAD_BYTES,
  });
  try {
    await sleep(ctx.warmupMs);
    const server0 = await server.cpuUsage();
    const count0 = load.echoed;
    const t0 = performance.now();
    const load0 = process.cpuUsage();
    await sleep(ctx.durationMs);
    const server1 = await server.cpuUsage();
    const count1 = load.echoed;
    const t1 = performance.now();
    const loadUsed = process.cpuUsage(load0);
    if (load.error !== undefined) throw load.error;
    if (count1 === count0) throw new Error(`${server.name}: nothing echoed in ${ctx.durationMs} ms`);
    const writes = server1.writes - server0.writes;
    return {
      rate: ((count1 - count0) * 1000) / (t1 - t0),
      framesPerWrite: server0.writes < 0 || writes <= 0 ? undefined : (count1 - count0) / writes,
      serverCpu: (server1.cpuMicros - server0.cpuMicros) / ((server1.at - server0.at) * 1000),
      loadCpu: (loadUsed.user + loadUsed.system) / ((t1 - t0) * 1000),
    };
  } finally {
    await load.stop();
    // Let the server finish closing the sessions before the next run starts.
    await sleep(100);
  }
}

/**
 * Server CPU time per echoed frame. Less sensitive to a busy machine than the rate (a server
 * that gets half a core echoes half as much at about the same cost per frame), though batching
 * still varies with load: a slower server reads more frames per syscall.
 */
function nsPerFrame(sample: EchoSample): number {
  return (sample.serverCpu * 1e9) / sample.rate;
}

/** `{ [key]: median frames per write }`, or nothing when syscalls were not counted. */
function batching(key: string, samples: readonly EchoSample[]): Record<string, number> {
  const values = samples.flatMap((s) => (s.framesPerWrite === undefined ? [] : [s.framesPerWrite]));
  return values.length === 0 ? {} : { [key]: Math.round(median(values) * 10) / 10 };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

const netengineTcp = (guarded: boolean): EchoVariant => ({
  label: guarded ? "netengine-tcp-guarded" : "netengine-tcp",
  entry: server("netengine-echo.ts"),
  args: guarded ? ["tcp", "guarded"] : ["tcp"],
});

export const tcpEchoBenchmark = echoBenchmark({
  name: "netengine.tcp-echo",
  description:
    "length-prefixed TCP echo, 32-byte frames, 100 connections × 64 in flight: netengine (guard off; " +
    ".guarded: default guard) vs a bare node:net echo writing once per read",
  unit: "frames/s",
  startLoad: startTcpEchoLoad,
  baseline: { label: "bare-tcp", entry: server("bare-tcp-echo.ts"), args: [] },
  figures: [
    { name: "netengine.tcp-echo", variant: netengineTcp(false) },
    { name: "netengine.tcp-echo.guarded", variant: netengineTcp(true) },
  ],
});

export const tcpEchoShallowBenchmark = echoBenchmark({
  name: "netengine.tcp-echo.depth16",
  description:
    "as netengine.tcp-echo with 16 frames in flight per connection instead of 64 (baseline measured " +
    "at the same depth)",
  unit: "frames/s",
  startLoad: startTcpEchoLoad,
  window: ECHO_SHALLOW_WINDOW,
  baseline: { label: "bare-tcp", entry: server("bare-tcp-echo.ts"), args: [] },
  figures: [{ name: "netengine.tcp-echo.depth16", variant: netengineTcp(false) }],
});

export const wsEchoBenchmark = echoBenchmark({
  name: "netengine.ws-echo",
  description:
    "WebSocket echo, 32-byte binary messages, 100 connections × 64 in flight: netengine (guard off) " +
    "vs a bare ws server corked per read",
  unit: "msgs/s",
  startLoad: startRawWsEchoLoad,
  baseline: { label: "bare-ws", entry: server("bare-ws-echo.ts"), args: [] },
  figures: [
    {
      name: "netengine.ws-echo",
      variant: { label: "netengine-ws", entry: server("netengine-echo.ts"), args: ["ws"] },
    },
  ],
});
