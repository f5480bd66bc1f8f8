/**
 * `gateway.relay`: messages per second relayed client → gateway → NATS → zone server → gateway →
 * client, against a bare `ws` echo corked once per event-loop turn, measured in the same run.
 *
 * Set-up (not measured): a test context with a fresh database, the real lobby process on it
 * (`../lobby/lobby-fixture.ts`), the real gateway process (`gateway-fixture.ts`), a zone responder
 * (`../servers/zone-responder.ts`: answers `svc.world.attach`, echoes each input as the player's
 * update, one `gateway_updates` per `zone_inputs`) and the bare echo (`../servers/bare-ws-echo.ts
 * per-turn`). {@link RELAY_CLIENTS} WebSocket clients connect to the gateway, each from its own
 * loopback address, say `hello` and log in with a fresh account (the lobby creates it); as many
 * connect to the bare echo.
 *
 * A run: every client keeps {@link RELAY_WINDOW} inputs in flight (`relay-load.ts`), warm-up, then
 * replies (updates, or echoed inputs) are counted over the duration; then the clients stop sending
 * and wait for every input in flight. Subject and baseline runs alternate (the order rotates); the
 * figure is the ratio of the medians. Sequences continue from run to run on the same connections.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type BenchContext, type Benchmark, type Figure, makeFigure, median } from "../harness.js";
import { loopbackSource, openAll } from "../load/echo-load.js";
import { benchPlayers, withLobbyFixture } from "../lobby/lobby-fixture.js";
import { processCpuMicros, startCpuBreakdown } from "../lobby/proc-cpu.js";
import { ServerProcess } from "../server-process.js";
import { hello, login } from "./gateway-client.js";
import { startGateway } from "./gateway-fixture.js";
import { RawWsConnection } from "./raw-ws-client.js";
import { INPUT_PAYLOAD_BYTES, RelayLoad, ReplyKind } from "./relay-load.js";

/**
 * Clients (players) of every run: 100, as the echo benchmarks' connections. Enough that the
 * gateway's per-turn batching is exercised (one `zone_inputs` per turn carries many players'
 * inputs, one `gateway_updates` many players' updates), few enough that the logins (argon2id, in
 * the lobby) take about a second.
 */
export const RELAY_CLIENTS = 100;
/**
 * Inputs each client keeps in flight: 16 (1,600 in all). A player sends a handful of inputs per
 * tick, and a round trip here spans a few ticks' worth; 16 is the echo benchmarks' shallow depth, far
 * below the gateway's 256 unacknowledged inputs per player, and keeps both servers busy (the bare
 * echo's batching per turn saturates well below it).
 */
export const RELAY_WINDOW = 16;
/** The ratio the gateway should reach (the target). */
export const RELAY_TARGET = 0.3;
const ZONE_SERVER_ID = "bench-zone-1";
const GATEWAY_ID = "bench-gw-relay";

const server = (file: string): URL => new URL(`../servers/${file}`, import.meta.url);

interface RelaySample {
  readonly rate: number;
  /** Cores used by each process group over the measured time. */
  readonly cores: Readonly<Record<string, number>>;
}

export const gatewayRelayBenchmark: Benchmark = {
  name: "gateway.relay",
  description:
    `inputs relayed client → gateway → NATS → zone → gateway → client, ${RELAY_CLIENTS} WebSocket clients × ` +
    `${RELAY_WINDOW} in flight, vs a bare ws echo corked per event-loop turn`,
  run: (ctx) => runRelay(ctx),
};

async function runRelay(ctx: BenchContext): Promise<Figure[]> {
  return withLobbyFixture(
    {
      label: "gateway-relay-lobby",
      cpuProfDir: ctx.cpuProfDir,
      env: {
        LOBBY_AUTO_CREATE_ACCOUNTS: "true",
        LOBBY_MAX_ACCOUNTS_PER_IP_PER_HOUR: "100000",
        LOBBY_LOGIN_FREE_ATTEMPTS: "1000",
        LOBBY_LOGIN_IP_FREE_ATTEMPTS: "1000000",
      },
    },
    async (fixture) => {
      const { test } = fixture;
      const [zone, echo, gateway] = await Promise.all([
        ServerProcess.start(
          "zone-responder",
          server("zone-responder.ts"),
          [test.nats.url, test.nats.prefix, ZONE_SERVER_ID],
          ctx.cpuProfDir,
        ).then((s) => {
          test.defer(() => s.stop());
          return s;
        }),
        ServerProcess.start("bare-ws-per-turn", server("bare-ws-echo.ts"), ["per-turn"], ctx.cpuProfDir).then(
          (s) => {
            test.defer(() => s.stop());
            return s;
          },
        ),
        startGateway(test, { id: GATEWAY_ID, cpuProfDir: ctx.cpuProfDir }),
      ]);

      const t0 = performance.now();
      const players = benchPlayers("relay", RELAY_CLIENTS);
      const gatewayConns = await openAll(
        RELAY_CLIENTS,
        async (i) => {
          const conn = await RawWsConnection.open({
            host: "127.0.0.1",
            port: gateway.wsPort,
            localAddress: loopbackSource(i),
          });
          try {
            const player = players[i] as (typeof players)[number];
            const nonce = await hello(conn);
            await login(conn, nonce, player.username, player.password);
            return conn;
          } catch (error) {
            void conn.destroy();
            throw error;
          }
        },
        (conn) => void conn.destroy(),
      );
      test.defer(() => Promise.all(gatewayConns.map((c) => c.destroy())));
      ctx.log(
        `  ${RELAY_CLIENTS} clients logged in through the gateway (fresh accounts) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      const echoConns = await openAll(
        RELAY_CLIENTS,
        (i) => RawWsConnection.open({ host: "127.0.0.1", port: echo.port, localAddress: loopbackSource(i) }),
        (conn) => void conn.destroy(),
      );
      test.defer(() => Promise.all(echoConns.map((c) => c.destroy())));

      const variants = [
        {
          label: "gateway",
          load: new RelayLoad(gatewayConns, ReplyKind.Update, RELAY_WINDOW, "gateway"),
          pid: gateway.process.pid,
        },
        {
          label: "bare-ws-per-turn",
          load: new RelayLoad(echoConns, ReplyKind.Echo, RELAY_WINDOW, "bare echo"),
          pid: echo.pid,
        },
      ] as const;
      const samples = new Map<string, RelaySample[]>(variants.map((v) => [v.label, []]));
      for (let run = 0; run < ctx.runs; run++) {
        for (let k = 0; k < variants.length; k++) {
          const variant = variants[(k + run) % variants.length] as (typeof variants)[number];
          const sample = await measureRelay(variant.load, variant.pid ?? 0, variant.label, ctx, {
            zone: zone.pid,
            lobby: fixture.lobby.pid,
          });
          samples.get(variant.label)?.push(sample);
          ctx.log(
            `  run ${run + 1}/${ctx.runs} ${variant.label.padEnd(17)} ${Math.round(sample.rate).toLocaleString("en-US").padStart(9)} msgs/s  ` +
              Object.entries(sample.cores)
                .map(([group, cores]) => `${group} ${cores.toFixed(2)}`)
                .join("  "),
          );
        }
      }
      const own = samples.get("gateway") ?? [];
      const base = samples.get("bare-ws-per-turn") ?? [];
      return [
        makeFigure({
          name: "gateway.relay",
          value: median(own.map((s) => s.rate)),
          unit: "msgs/s",
          baseline: median(base.map((s) => s.rate)),
          target: RELAY_TARGET,
          clients: RELAY_CLIENTS,
          window: RELAY_WINDOW,
          inputBytes: INPUT_PAYLOAD_BYTES,
          runs: own.length,
          samples: own.map((s) => Math.round(s.rate)),
          baselineSamples: base.map((s) => Math.round(s.rate)),
          cores: medianCores(own),
          baselineCores: medianCores(base),
          gatewayUsPerMsg: round3(median(own.map((s) => ((s.cores.gateway ?? 0) * 1e6) / s.rate))),
          baselineServerUsPerMsg: round3(median(base.map((s) => ((s.cores.server ?? 0) * 1e6) / s.rate))),
        }),
      ];
    },
  );
}

/** One run: start sending, warm up, count over the duration (with CPU by process), pause and drain. */
async function measureRelay(
  load: RelayLoad,
  pid: number,
  label: string,
  ctx: BenchContext,
  others: Readonly<Record<string, number | undefined>>,
): Promise<RelaySample> {
  load.start();
  try {
    await sleep(ctx.warmupMs);
    const counted0 = load.counters.received;
    const t0 = performance.now();
    const breakdown = startCpuBreakdown(pid, "server");
    const others0 = Object.entries(others).map(([name, p]) => [name, p, p && processCpuMicros(p)] as const);
    await sleep(ctx.durationMs);
    const counted1 = load.counters.received;
    const t1 = performance.now();
    const used = breakdown();
    if (load.counters.error !== undefined) throw load.counters.error;
    if (counted1 === counted0) throw new Error(`${label}: nothing relayed in ${ctx.durationMs} ms`);
    const elapsedMicros = (t1 - t0) * 1000;
    const cores: Record<string, number> = {};
    cores[label === "gateway" ? "gateway" : "server"] =
      ((used["server.main"] ?? 0) + (used["server.threads"] ?? 0)) / elapsedMicros;
    cores.bench = (used.bench ?? 0) / elapsedMicros;
    cores.nats = (used.nats ?? 0) / elapsedMicros;
    cores.redis = (used.redis ?? 0) / elapsedMicros;
    let named = 0;
    for (const [name, p, before] of others0) {
      const after = p && processCpuMicros(p);
      if (before === undefined || after === undefined) continue;
      cores[name] = (after - before) / elapsedMicros;
      named += cores[name] ?? 0;
    }
    // The rest of the machine: processes outside this benchmark (another job on the box).
    cores.other = Math.max(0, (used.other ?? 0) / elapsedMicros - named);
    for (const key of Object.keys(cores)) cores[key] = Math.round((cores[key] ?? 0) * 100) / 100;
    return { rate: ((counted1 - counted0) * 1000) / (t1 - t0), cores };
  } finally {
    await load.pause();
    await sleep(100);
  }
}

function medianCores(samples: readonly RelaySample[]): Record<string, number> {
  const keys = new Set(samples.flatMap((s) => Object.keys(s.cores)));
  const out: Record<string, number> = {};
  for (const key of keys) out[key] = round2(median(samples.map((s) => s.cores[key] ?? 0)));
  return out;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
