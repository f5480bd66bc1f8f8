/**
 * `lobby.login`: password logins per second through the real lobby process over NATS, against the
 * raw argon2id verify rate with the same parameters, thread pool and concurrency, in the same run.
 *
 * Set-up (not measured): a fresh test database, Redis prefix and NATS prefix; the lobby process
 * (`services/lobby/src/main.ts`) with OWASP's argon2id parameters (m = 19 MiB, t = 2, p = 1, its
 * defaults, given explicitly so the baseline is sure to match), `UV_THREADPOOL_SIZE` = 4 on both
 * sides, throttle and creation limits raised out of the way (and every player on its own address);
 * {@link LOGIN_ACCOUNTS} accounts created by a first login each.
 *
 * Measured: a closed loop of {@link LOGIN_CONCURRENCY} logins in flight, each an existing account's
 * correct password with a fresh nonce (accounts taken round robin, so no two concurrent logins touch
 * the same rows). Every reply must be a `session`. Baseline: {@link LOGIN_CONCURRENCY} argon2id
 * verifies in flight in a child process (`servers/argon2-verify.ts`). The two are interleaved run by
 * run (the order rotates), figures are medians; ratio = lobby / baseline, target ≥ 0.9.
 *
 * Why 8 in flight: the hash runs on libuv's pool of 4 threads; 2 cores saturate with 2 hashes at
 * once. A lobby login spends part of its time in Redis, Postgres and NATS round trips with no hash
 * running, so twice the pool's size in flight keeps all 4 pool threads fed (4 hashing, 4 waiting or in
 * I/O) while a request is between hashes: the lobby is measured at saturation, not at its latency.
 * The baseline runs the same 8 on the same 4 threads (4 verifying, 4 queued): the same saturation.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type BenchContext, type Benchmark, type Figure, makeFigure, median } from "../harness.js";
import { Argon2Baseline, type Argon2Sample } from "./argon2-baseline.js";
import {
  type BenchPlayer,
  benchPlayers,
  type LobbyFixture,
  lobbyRequest,
  loginAll,
  loginRequest,
  OWASP_ARGON2,
  THREADPOOL_SIZE,
  withLobbyFixture,
} from "./lobby-fixture.js";
import { type CpuBreakdown, startCpuBreakdown, startCpuWindow } from "./proc-cpu.js";

/** Logins (and baseline verifies) in flight: twice libuv's pool of {@link THREADPOOL_SIZE} (see the module docs). */
export const LOGIN_CONCURRENCY = 2 * THREADPOOL_SIZE;
/** Accounts the measured logins go round: many more than in flight, so concurrent logins never share rows. */
export const LOGIN_ACCOUNTS = 64;
/** The ratio the lobby should reach against the bare hash rate. */
export const LOGIN_TARGET = 0.9;

/** One measured run of the lobby. */
interface LobbySample {
  /** Successful logins per second. */
  readonly rate: number;
  /** Cores the lobby process kept busy (main thread and its hashing threads). */
  readonly lobbyCpu: number | undefined;
  /** Cores the whole machine kept busy (the lobby, Postgres, Redis, NATS, the bench). */
  readonly machineCpu: number | undefined;
  /** Cores the bench process (the load) kept busy. */
  readonly benchCpu: number;
  /** CPU ms per login by group (`lobby.main`, `lobby.threads`, `postgres`, `redis`, `nats`, `bench`, `other`). */
  readonly cpuMsPerLogin: CpuBreakdown;
}

export const lobbyLoginBenchmark: Benchmark = {
  name: "lobby.login",
  description:
    `password logins/s through the lobby over NATS, ${LOGIN_CONCURRENCY} in flight, argon2id m=19 MiB t=2 p=1, ` +
    `vs raw argon2id verifies/s with the same parameters, threads and concurrency in a child process`,
  run: (ctx) => runLogin(ctx),
};

async function runLogin(ctx: BenchContext): Promise<Figure[]> {
  const params = OWASP_ARGON2;
  return withLobbyFixture(
    {
      label: "lobby-login",
      cpuProfDir: ctx.cpuProfDir,
      env: {
        LOBBY_ARGON2_MEMORY_KIB: String(params.memoryKib),
        LOBBY_ARGON2_TIME_COST: String(params.timeCost),
        LOBBY_ARGON2_PARALLELISM: String(params.parallelism),
        LOBBY_AUTO_CREATE_ACCOUNTS: "true",
        LOBBY_MAX_ACCOUNTS_PER_IP_PER_HOUR: "100000",
        LOBBY_LOGIN_FREE_ATTEMPTS: "1000",
        LOBBY_LOGIN_IP_FREE_ATTEMPTS: "1000000",
      },
    },
    async (fixture) => {
      const paramsText = `m=${params.memoryKib},t=${params.timeCost},p=${params.parallelism}`;
      if (fixture.ready.argon2 !== paramsText) {
        throw new Error(
          `the lobby hashes with ${String(fixture.ready.argon2)}, the baseline with ${paramsText}`,
        );
      }
      const baseline = await Argon2Baseline.start("argon2-baseline", params, THREADPOOL_SIZE, ctx.cpuProfDir);
      fixture.test.defer(() => baseline.stop());

      const players = benchPlayers("login", LOGIN_ACCOUNTS);
      const t0 = performance.now();
      await loginAll(fixture, players, LOGIN_CONCURRENCY);
      ctx.log(`  created ${players.length} accounts in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

      const lobbySamples: LobbySample[] = [];
      const baseSamples: Argon2Sample[] = [];
      for (let run = 0; run < ctx.runs; run++) {
        const order = run % 2 === 0 ? (["baseline", "lobby"] as const) : (["lobby", "baseline"] as const);
        for (const variant of order) {
          if (variant === "baseline") {
            const s = await baseline.measure(LOGIN_CONCURRENCY, ctx.warmupMs, ctx.durationMs);
            baseSamples.push(s);
            ctx.log(
              `  run ${run + 1}/${ctx.runs} ${"argon2-verify".padEnd(14)} ${s.rate.toFixed(1).padStart(7)} verifies/s` +
                `  cpu ${s.cpu.toFixed(2)}  ${s.cpuMsPerVerify.toFixed(2)} cpu-ms/verify`,
            );
          } else {
            const s = await measureLogins(fixture, players, ctx);
            lobbySamples.push(s);
            ctx.log(
              `  run ${run + 1}/${ctx.runs} ${"lobby".padEnd(14)} ${s.rate.toFixed(1).padStart(7)} logins/s  ` +
                `  lobby cpu ${fmt(s.lobbyCpu)}  machine cpu ${fmt(s.machineCpu)}  bench cpu ${s.benchCpu.toFixed(2)}` +
                `  cpu-ms/login ${Object.entries(s.cpuMsPerLogin)
                  .map(([group, ms]) => `${group} ${ms.toFixed(2)}`)
                  .join(", ")}`,
            );
          }
        }
      }
      const lobbyRate = median(lobbySamples.map((s) => s.rate));
      const baseRate = median(baseSamples.map((s) => s.rate));
      const lobbyCpu = medianOf(lobbySamples.map((s) => s.lobbyCpu));
      const machineCpu = medianOf(lobbySamples.map((s) => s.machineCpu));
      return [
        makeFigure({
          name: "lobby.login",
          value: lobbyRate,
          unit: "logins/s",
          baseline: baseRate,
          target: LOGIN_TARGET,
          concurrency: LOGIN_CONCURRENCY,
          threadpool: THREADPOOL_SIZE,
          argon2: paramsText,
          runs: lobbySamples.length,
          samples: lobbySamples.map((s) => round1(s.rate)),
          baselineSamples: baseSamples.map((s) => round1(s.rate)),
          lobbyCpu: round2(lobbyCpu),
          machineCpu: round2(machineCpu),
          baselineCpu: round2(median(baseSamples.map((s) => s.cpu))),
          // CPU per login: the lobby process alone, and the machine's (Postgres, Redis, NATS, load).
          lobbyCpuMsPerLogin: round2(lobbyCpu === undefined ? undefined : (lobbyCpu * 1000) / lobbyRate),
          machineCpuMsPerLogin: round2(
            machineCpu === undefined ? undefined : (machineCpu * 1000) / lobbyRate,
          ),
          baselineCpuMsPerVerify: round2(median(baseSamples.map((s) => s.cpuMsPerVerify))),
          // Where the machine's CPU went per login (medians over runs): the lobby's event loop and
          // its other threads (the argon2 pool, GC), the backing services, the load generator.
          cpuMsPerLogin: medianBreakdown(lobbySamples.map((s) => s.cpuMsPerLogin)),
        }),
      ];
    },
  );
}

/** One run: the closed loop of logins, warm-up, then successful logins counted over the duration. */
async function measureLogins(
  fixture: LobbyFixture,
  players: readonly BenchPlayer[],
  ctx: Pick<BenchContext, "warmupMs" | "durationMs">,
): Promise<LobbySample> {
  let completed = 0;
  let next = 0;
  let running = true;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (running) {
      const player = players[next++ % players.length] as BenchPlayer;
      const result = await lobbyRequest(fixture.nc, fixture.subjects, "login", loginRequest(player));
      if (!result.ok || result.message.t !== "session") {
        throw new Error(
          `login of ${player.username} failed: ${JSON.stringify(result.ok ? result.message : result.error)}`,
        );
      }
      completed++;
    }
  };
  const workers = Array.from({ length: LOGIN_CONCURRENCY }, () =>
    worker().catch((error: unknown) => {
      failure ??= error;
      running = false;
    }),
  );
  try {
    await sleep(ctx.warmupMs);
    const count0 = completed;
    const t0 = performance.now();
    const cpu = startCpuWindow(fixture.lobby.pid);
    const breakdown = startCpuBreakdown(fixture.lobby.pid, "lobby");
    await sleep(ctx.durationMs);
    const count1 = completed;
    const elapsed = performance.now() - t0;
    const usage = cpu();
    const used = breakdown();
    if (failure !== undefined) throw failure;
    const logins = Math.max(1, count1 - count0);
    return {
      cpuMsPerLogin: Object.fromEntries(
        Object.entries(used).map(([group, micros]) => [group, micros / 1000 / logins]),
      ),
      rate: ((count1 - count0) * 1000) / elapsed,
      lobbyCpu: usage.process,
      machineCpu: usage.machine,
      benchCpu: usage.bench,
    };
  } finally {
    running = false;
    await Promise.all(workers);
  }
}

function medianOf(values: readonly (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : median(known);
}

function medianBreakdown(breakdowns: readonly CpuBreakdown[]): Record<string, number> {
  const groups = new Set(breakdowns.flatMap((b) => Object.keys(b)));
  return Object.fromEntries(
    [...groups].sort().map((group) => [group, round2(median(breakdowns.map((b) => b[group] ?? 0))) ?? 0]),
  );
}

function fmt(n: number | undefined): string {
  return n === undefined ? "-" : n.toFixed(2);
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function round2(n: number | undefined): number | null {
  return n === undefined ? null : Math.round(n * 100) / 100;
}
