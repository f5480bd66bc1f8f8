/**
 * `gateway.accept-banlist`: connections accepted per second by a netengine listener whose accept
 * guard denies the gateway's ban mirror holding 100,000 entries, against the same listener with no
 * guard, measured in the same run.
 *
 * Set-up (not measured): a test context (Redis prefix); the bench writes 100,000 entries
 * (`ban-entries.ts`) into the ban mirror's Redis hash under that prefix; three server children
 * (`../servers/accept-server.ts`) start: `banlist` (guard with per-IP limits off, `deny` = the mirror
 * loaded from Redis as the gateway's BanMirror loads it), `guard` (the same guard without a deny
 * list, for the split) and `none` (`guard: false`, the baseline). Per-IP limits are off in both
 * guarded servers, so against `guard` only the ban check differs; against the baseline the figure
 * also pays the guard's own work (per-IP accounting, the pre-auth timer), as the issue asks.
 *
 * A run: `accept-load.ts` opens and closes connections as fast as the server accepts them
 * (64 at a time, from 256 loopback addresses, none banned), warm-up, then counts the connections
 * the server accepted (and closed) over the duration. Variants alternate, the order rotating; the
 * figure is the ratio of the medians.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { type BenchContext, type Benchmark, type Figure, makeFigure, median } from "../harness.js";
import { ServerProcess } from "../server-process.js";
import { ACCEPT_CONCURRENCY, ACCEPT_SOURCES, startAcceptLoad } from "./accept-load.js";
import { BAN_ENTRIES, banEntries, writeBanMirror } from "./ban-entries.js";
import { withTestContext } from "./gateway-fixture.js";

/** The ratio the guarded accept path should reach (the target). */
export const ACCEPT_TARGET = 0.9;

const server = new URL("../servers/accept-server.ts", import.meta.url);

interface AcceptSample {
  readonly rate: number;
  readonly serverCpu: number;
  readonly loadCpu: number;
}

export const gatewayAcceptBanlistBenchmark: Benchmark = {
  name: "gateway.accept-banlist",
  description: `TCP accepts/s with the ban mirror holding ${BAN_ENTRIES.toLocaleString("en-US")} entries as the accept guard's deny list vs a listener with no guard`,
  run: (ctx) => runAccept(ctx),
};

async function runAccept(ctx: BenchContext): Promise<Figure[]> {
  return withTestContext({ label: "gateway.accept-banlist" }, async (test) => {
    const entries = banEntries();
    const redis = new Redis(test.redis.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    try {
      await writeBanMirror(redis, test.redis.prefix, entries);
    } finally {
      redis.disconnect();
    }
    const variants = [
      { label: "accept-none", args: ["none"] },
      { label: "accept-guard", args: ["guard"] },
      { label: "accept-banlist", args: ["banlist", test.redis.url, test.redis.prefix] },
    ];
    const servers: ServerProcess[] = [];
    test.defer(() => Promise.all(servers.map((s) => s.stop())));
    for (const started of await Promise.allSettled(
      variants.map((v) => ServerProcess.start(v.label, server, v.args, ctx.cpuProfDir)),
    )) {
      if (started.status === "fulfilled") servers.push(started.value);
    }
    if (servers.length !== variants.length) throw new Error("an accept server did not start");
    const samples: AcceptSample[][] = variants.map(() => []);
    for (let run = 0; run < ctx.runs; run++) {
      for (let k = 0; k < variants.length; k++) {
        const index = (k + run) % variants.length;
        const sample = await measureAccepts(servers[index] as ServerProcess, ctx);
        samples[index]?.push(sample);
        ctx.log(
          `  run ${run + 1}/${ctx.runs} ${(variants[index]?.label ?? "").padEnd(15)} ${Math.round(sample.rate).toLocaleString("en-US").padStart(7)} accepts/s` +
            `  server cpu ${sample.serverCpu.toFixed(2)}  load cpu ${sample.loadCpu.toFixed(2)}`,
        );
      }
    }
    const [none, guard, banlist] = samples as [AcceptSample[], AcceptSample[], AcceptSample[]];
    const capacity = (s: AcceptSample[]): number => median(s.map(perCore));
    const rate = (s: AcceptSample[]): number => Math.round(median(s.map((x) => x.rate)));
    return [
      makeFigure({
        name: "gateway.accept-banlist",
        value: capacity(banlist),
        unit: "accepts/s/core",
        baseline: capacity(none),
        target: ACCEPT_TARGET,
        banEntries: entries.length,
        concurrency: ACCEPT_CONCURRENCY,
        sources: ACCEPT_SOURCES,
        runs: banlist.length,
        samples: banlist.map((s) => Math.round(perCore(s))),
        baselineSamples: none.map((s) => Math.round(perCore(s))),
        guardOnly: Math.round(capacity(guard)),
        guardOnlySamples: guard.map((s) => Math.round(perCore(s))),
        rate: rate(banlist),
        baselineRate: rate(none),
        guardOnlyRate: rate(guard),
        serverCpu: round2(median(banlist.map((s) => s.serverCpu))),
        baselineServerCpu: round2(median(none.map((s) => s.serverCpu))),
        loadCpu: round2(median(banlist.map((s) => s.loadCpu))),
        baselineLoadCpu: round2(median(none.map((s) => s.loadCpu))),
      }),
    ];
  });
}

/**
 * Accepts per second of server CPU: the rate one saturated server core would sustain. With one
 * core each, the load generator (a node:net client: a socket object, connect, end, reset per
 * connection) costs more per connection than the server's accept path and is the one that
 * saturates, so the raw rate (reported as `rate`) is mostly the generator's.
 */
function perCore(sample: AcceptSample): number {
  return sample.rate / sample.serverCpu;
}

async function measureAccepts(server: ServerProcess, ctx: BenchContext): Promise<AcceptSample> {
  const load = startAcceptLoad("127.0.0.1", server.port);
  try {
    await sleep(ctx.warmupMs);
    const server0 = await server.cpuUsage();
    const count0 = load.accepted;
    const t0 = performance.now();
    const load0 = process.cpuUsage();
    await sleep(ctx.durationMs);
    const server1 = await server.cpuUsage();
    const count1 = load.accepted;
    const t1 = performance.now();
    const loadUsed = process.cpuUsage(load0);
    if (load.error !== undefined) throw load.error;
    if (count1 === count0) throw new Error(`${server.name}: nothing accepted in ${ctx.durationMs} ms`);
    return {
      rate: ((count1 - count0) * 1000) / (t1 - t0),
      serverCpu: (server1.cpuMicros - server0.cpuMicros) / ((server1.at - server0.at) * 1000),
      loadCpu: (loadUsed.user + loadUsed.system) / ((t1 - t0) * 1000),
    };
  } finally {
    await load.stop();
    await sleep(100);
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
