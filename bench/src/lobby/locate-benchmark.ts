/**
 * `lobby.locate-p99`: the p99 round trip of a lobby `locate` (by account id, of a player whose
 * presence is in Redis) through the real lobby process over NATS, against the p99 of a bare NATS
 * request/reply (`servers/bare-nats-responder.ts`, answering a fixed copy of a real `location`
 * reply) measured in the same run, with the same client connection, request bytes and concurrency.
 *
 * Set-up (not measured): a test context and the lobby process; {@link LOCATE_PLAYERS} accounts created
 * by a login each and put online with the presence contract's own commands (`presenceWriteCommands`,
 * with a TTL outliving the benchmark); one real `locate` reply captured for the bare responder.
 *
 * Measured, per concurrency ({@link LOCATE_CONCURRENCIES}: 1 in flight, the plain round trip; 16, the
 * same under queueing): a closed loop of requests going round the players, warm-up, then every round
 * trip's latency recorded over the duration (at least {@link MIN_LOCATE_SAMPLES}); every reply must be
 * an online `location`. p99 over all samples of a run; variants interleaved run by run (the order
 * rotates); figures are the medians over runs; ratio = lobby p99 / bare p99, target ≤ 1.5 (lower is
 * better).
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  lobbyReplyCodec,
  lobbyRequestCodec,
  lobbySubject,
  type PresenceRecord,
  presenceWriteCommands,
} from "@meridian/protocol";
import type { NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import {
  type BenchContext,
  type Benchmark,
  Better,
  type Figure,
  makeFigure,
  median,
  percentile,
} from "../harness.js";
import { ServerProcess } from "../server-process.js";
import { benchPlayers, loginAll, REQUEST_TIMEOUT_MS, withLobbyFixture } from "./lobby-fixture.js";
import { startCpuWindow } from "./proc-cpu.js";

/** Requests in flight of each figure: 1 (`lobby.locate-p99`) and 16 (`lobby.locate-p99.c16`). */
export const LOCATE_CONCURRENCIES: readonly number[] = [1, 16];
/** Online players the requests go round. */
export const LOCATE_PLAYERS = 16;
/** Fewest latencies per run: the measured window is stretched (up to 4×) until there are this many. */
export const MIN_LOCATE_SAMPLES = 2_000;
/** The ratio the lobby's p99 should stay within against the bare request/reply's. */
export const LOCATE_TARGET = 1.5;
/** Presence TTL of the benchmark's players: longer than any run, so none goes offline meanwhile. */
const PRESENCE_TTL_MS = 15 * 60_000;

/** One measured run of one variant at one concurrency. */
interface LatencySample {
  /** µs. */
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  /** Round trips recorded. */
  readonly count: number;
  /** Round trips per second. */
  readonly rate: number;
  /** Cores the serving process kept busy. */
  readonly serverCpu: number | undefined;
}

type Variant = "bare" | "lobby";

export const lobbyLocateBenchmark: Benchmark = {
  name: "lobby.locate-p99",
  description:
    `p99 of a lobby locate (by id, presence in Redis) over NATS at ${LOCATE_CONCURRENCIES.join(" and ")} in flight ` +
    "(.c16) vs a bare NATS responder replying the same bytes, same client and concurrency",
  run: (ctx) => runLocate(ctx),
};

async function runLocate(ctx: BenchContext): Promise<Figure[]> {
  return withLobbyFixture({ label: "lobby-locate", cpuProfDir: ctx.cpuProfDir }, async (fixture) => {
    const { test, nc, subjects } = fixture;
    const players = benchPlayers("locate", LOCATE_PLAYERS);
    const ids = await loginAll(fixture, players, 8);

    const redis = new Redis(test.redis.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    test.defer(() => redis.quit());
    const now = Date.now();
    for (const [i, accountId] of ids.entries()) {
      const record: PresenceRecord = {
        accountId,
        username: (players[i] as { username: string }).username,
        world: "bench-world",
        zone: `zone-${i % 4}`,
        server: `zone-server-${i % 4}`,
        gateway: "bench-gateway-1",
        since: now,
        updatedAt: now,
      };
      await redis.multi(presenceWriteCommands(test.redis.prefix, record, PRESENCE_TTL_MS)).exec();
    }

    const requestCodec = lobbyRequestCodec("locate");
    const requests = ids.map((accountId) => requestCodec.encode({ t: "locate", accountId }));
    const lobbyLocate = lobbySubject(subjects, "locate");
    const sample = await nc.request(lobbyLocate, requests[0] as Uint8Array, { timeout: REQUEST_TIMEOUT_MS });
    checkLocation(sample.data);

    const bareSubject = `${test.nats.prefix}.bench.bare-locate`;
    const bare = await ServerProcess.start(
      "bare-nats-responder",
      new URL("../servers/bare-nats-responder.ts", import.meta.url),
      [test.nats.url, bareSubject, Buffer.from(sample.data).toString("base64")],
      ctx.cpuProfDir,
    );
    test.defer(() => bare.stop());

    const targets: Record<Variant, { subject: string; pid: number | undefined }> = {
      bare: { subject: bareSubject, pid: bare.pid },
      lobby: { subject: lobbyLocate, pid: fixture.lobby.pid },
    };
    const samples = new Map<string, LatencySample[]>();
    const key = (variant: Variant, concurrency: number): string => `${variant}/${concurrency}`;
    for (let run = 0; run < ctx.runs; run++) {
      for (const concurrency of LOCATE_CONCURRENCIES) {
        const order: Variant[] = run % 2 === 0 ? ["bare", "lobby"] : ["lobby", "bare"];
        for (const variant of order) {
          const target = targets[variant];
          const s = await measureLatency(nc, target.subject, target.pid, requests, concurrency, ctx);
          const list = samples.get(key(variant, concurrency)) ?? [];
          list.push(s);
          samples.set(key(variant, concurrency), list);
          ctx.log(
            `  run ${run + 1}/${ctx.runs} c${String(concurrency).padEnd(3)} ${variant.padEnd(6)}` +
              ` p50 ${s.p50.toFixed(0).padStart(5)} µs  p99 ${s.p99.toFixed(0).padStart(6)} µs` +
              `  p99.9 ${s.p999.toFixed(0).padStart(6)} µs  ${s.count.toLocaleString("en-US").padStart(7)} samples` +
              `  ${Math.round(s.rate).toLocaleString("en-US").padStart(7)} req/s  server cpu ${s.serverCpu?.toFixed(2) ?? "-"}`,
          );
        }
      }
    }

    return LOCATE_CONCURRENCIES.map((concurrency) => {
      const own = samples.get(key("lobby", concurrency)) ?? [];
      const base = samples.get(key("bare", concurrency)) ?? [];
      const cpu = own.flatMap((s) => (s.serverCpu === undefined ? [] : [s.serverCpu]));
      const baseCpu = base.flatMap((s) => (s.serverCpu === undefined ? [] : [s.serverCpu]));
      return makeFigure({
        name: concurrency === 1 ? "lobby.locate-p99" : `lobby.locate-p99.c${concurrency}`,
        value: median(own.map((s) => s.p99)),
        unit: "µs",
        baseline: median(base.map((s) => s.p99)),
        target: LOCATE_TARGET,
        better: Better.Lower,
        concurrency,
        runs: own.length,
        samples: own.map((s) => Math.round(s.p99)),
        baselineSamples: base.map((s) => Math.round(s.p99)),
        // Each run's lobby p99 over the bare p99 measured right beside it: the spread shows how
        // much of a median's ratio is machine noise.
        runRatios: own.map((s, i) => Math.round((s.p99 / (base[i]?.p99 ?? Number.NaN)) * 100) / 100),
        p50: Math.round(median(own.map((s) => s.p50))),
        baselineP50: Math.round(median(base.map((s) => s.p50))),
        p999: Math.round(median(own.map((s) => s.p999))),
        baselineP999: Math.round(median(base.map((s) => s.p999))),
        counts: own.map((s) => s.count),
        baselineCounts: base.map((s) => s.count),
        rate: Math.round(median(own.map((s) => s.rate))),
        baselineRate: Math.round(median(base.map((s) => s.rate))),
        ...(cpu.length === 0 ? {} : { serverCpu: Math.round(median(cpu) * 100) / 100 }),
        ...(baseCpu.length === 0 ? {} : { baselineServerCpu: Math.round(median(baseCpu) * 100) / 100 }),
        replyBytes: sample.data.length,
      });
    });
  });
}

const replyCodec = lobbyReplyCodec("locate");

/** @throws Error unless `data` is an online `location` reply. */
function checkLocation(data: Uint8Array): void {
  const decoded = replyCodec.decode(data);
  if (!decoded.ok || decoded.message.t !== "location" || decoded.message.online !== true) {
    throw new Error(
      `locate: not an online location: ${JSON.stringify(decoded.ok ? decoded.message : decoded.error)}`,
    );
  }
}

/**
 * One run: `concurrency` workers each send a request, await its reply, decode and check it (outside
 * the timed span), and go again; after the warm-up every round trip is recorded.
 */
async function measureLatency(
  nc: NatsConnection,
  subject: string,
  serverPid: number | undefined,
  requests: readonly Uint8Array[],
  concurrency: number,
  ctx: Pick<BenchContext, "warmupMs" | "durationMs">,
): Promise<LatencySample> {
  const latencies: number[] = [];
  let recording = false;
  let running = true;
  let failure: unknown;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (running) {
      const request = requests[next++ % requests.length] as Uint8Array;
      const t0 = performance.now();
      const reply = await nc.request(subject, request, { timeout: REQUEST_TIMEOUT_MS });
      const micros = (performance.now() - t0) * 1000;
      checkLocation(reply.data);
      if (recording) latencies.push(micros);
    }
  };
  const workers = Array.from({ length: concurrency }, () =>
    worker().catch((error: unknown) => {
      failure ??= error;
      running = false;
    }),
  );
  try {
    await sleep(ctx.warmupMs);
    const cpu = startCpuWindow(serverPid);
    const t0 = performance.now();
    recording = true;
    await sleep(ctx.durationMs);
    while (running && latencies.length < MIN_LOCATE_SAMPLES && performance.now() - t0 < 4 * ctx.durationMs) {
      await sleep(20);
    }
    recording = false;
    const elapsed = performance.now() - t0;
    const usage = cpu();
    if (failure !== undefined) throw failure;
    if (latencies.length === 0) throw new Error(`${subject}: no reply in ${Math.round(elapsed)} ms`);
    return {
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      p999: percentile(latencies, 0.999),
      count: latencies.length,
      rate: (latencies.length * 1000) / elapsed,
      serverCpu: usage.process,
    };
  } finally {
    running = false;
    await Promise.all(workers);
  }
}
