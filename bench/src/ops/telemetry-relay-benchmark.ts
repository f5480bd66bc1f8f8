/**
 * `ops.telemetry-relay`: the gateway's relay rate with telemetry on (traces and metrics, spans
 * exported over OTLP/HTTP to a local sink) against the same gateway with telemetry off, measured in
 * the same run. Target: within 5 % (ratio ≥ 0.95).
 *
 * Set-up (not measured), as `gateway.relay` (`../gateway/relay-benchmark.ts`): a test context with a
 * fresh database, the real lobby process, the zone responder (`../servers/zone-responder.ts`), and
 * two real gateway processes: `MERIDIAN_TELEMETRY=on` with `OTEL_EXPORTER_OTLP_ENDPOINT` at
 * {@link startOtlpSink}'s sink, and `off`. {@link TELEMETRY_RELAY_CLIENTS} WebSocket clients log in
 * through each (fresh accounts).
 *
 * A run: every client of one gateway keeps {@link TELEMETRY_RELAY_WINDOW} inputs in flight
 * (`relay-load.ts`); warm-up, then updates are counted over the duration. With telemetry on, each
 * `zone_inputs` the gateway publishes is a `gateway.inputs.publish` span whose context travels in
 * the message's NATS headers. On and off runs alternate (the order rotates); the figure is the
 * ratio of the medians.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { hello, login } from "../gateway/gateway-client.js";
import { startGateway } from "../gateway/gateway-fixture.js";
import { RawWsConnection } from "../gateway/raw-ws-client.js";
import { INPUT_PAYLOAD_BYTES, RelayLoad, ReplyKind } from "../gateway/relay-load.js";
import { type BenchContext, type Benchmark, type Figure, makeFigure, median } from "../harness.js";
import { loopbackSource, openAll } from "../load/echo-load.js";
import { benchPlayers, withLobbyFixture } from "../lobby/lobby-fixture.js";
import { processCpuMicros } from "../lobby/proc-cpu.js";
import { ServerProcess } from "../server-process.js";
import { startOtlpSink } from "./otlp-sink.js";

/** Clients per gateway: 100, as `gateway.relay`. */
export const TELEMETRY_RELAY_CLIENTS = 100;
/** Inputs each client keeps in flight: 16, as `gateway.relay`. */
export const TELEMETRY_RELAY_WINDOW = 16;
/** On / off should be at least this (the "within 5 %"). */
export const TELEMETRY_TARGET = 0.95;
const ZONE_SERVER_ID = "bench-zone-telemetry";

interface Sample {
  readonly rate: number;
  /** Gateway CPU per relayed message, µs. */
  readonly usPerMsg: number;
}

export const opsTelemetryRelayBenchmark: Benchmark = {
  name: "ops.telemetry-relay",
  description:
    `gateway relay rate with telemetry on (traces + metrics, OTLP export) vs off, ${TELEMETRY_RELAY_CLIENTS} ` +
    `WebSocket clients × ${TELEMETRY_RELAY_WINDOW} in flight each, in the same run`,
  run: (ctx) => runTelemetryRelay(ctx),
};

async function runTelemetryRelay(ctx: BenchContext): Promise<Figure[]> {
  return withLobbyFixture(
    {
      label: "ops-telemetry-relay-lobby",
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
      const sink = await startOtlpSink();
      test.defer(() => sink.close());
      const zone = await ServerProcess.start(
        "zone-responder",
        new URL("../servers/zone-responder.ts", import.meta.url),
        [test.nats.url, test.nats.prefix, ZONE_SERVER_ID],
        ctx.cpuProfDir,
      );
      test.defer(() => zone.stop());
      const [on, off] = await Promise.all([
        startGateway(test, {
          id: "bench-gw-telemetry-on",
          cpuProfDir: ctx.cpuProfDir,
          env: { MERIDIAN_TELEMETRY: "on", OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint },
        }),
        startGateway(test, {
          id: "bench-gw-telemetry-off",
          cpuProfDir: ctx.cpuProfDir,
          env: { MERIDIAN_TELEMETRY: "off" },
        }),
      ]);
      const connect = async (label: string, port: number, offset: number) => {
        const players = benchPlayers(label, TELEMETRY_RELAY_CLIENTS);
        const conns = await openAll(
          TELEMETRY_RELAY_CLIENTS,
          async (i) => {
            const conn = await RawWsConnection.open({
              host: "127.0.0.1",
              port,
              localAddress: loopbackSource(offset + i),
            });
            try {
              const player = players[i] as (typeof players)[number];
              await login(conn, await hello(conn), player.username, player.password);
              return conn;
            } catch (error) {
              void conn.destroy();
              throw error;
            }
          },
          (conn) => void conn.destroy(),
        );
        test.defer(() => Promise.all(conns.map((c) => c.destroy())));
        return conns;
      };
      const t0 = performance.now();
      const onConns = await connect("telon", on.wsPort, 0);
      const offConns = await connect("teloff", off.wsPort, TELEMETRY_RELAY_CLIENTS);
      ctx.log(
        `  ${2 * TELEMETRY_RELAY_CLIENTS} clients logged in through the two gateways in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      const variants = [
        {
          label: "on",
          load: new RelayLoad(onConns, ReplyKind.Update, TELEMETRY_RELAY_WINDOW, "telemetry on"),
          pid: on.process.pid ?? 0,
        },
        {
          label: "off",
          load: new RelayLoad(offConns, ReplyKind.Update, TELEMETRY_RELAY_WINDOW, "telemetry off"),
          pid: off.process.pid ?? 0,
        },
      ] as const;
      const samples = new Map<string, Sample[]>([
        ["on", []],
        ["off", []],
      ]);
      for (let run = 0; run < ctx.runs; run++) {
        for (let k = 0; k < variants.length; k++) {
          const variant = variants[(k + run) % variants.length] as (typeof variants)[number];
          const sample = await measure(variant.load, variant.pid, variant.label, ctx);
          samples.get(variant.label)?.push(sample);
          ctx.log(
            `  run ${run + 1}/${ctx.runs} telemetry ${variant.label.padEnd(3)} ${Math.round(sample.rate).toLocaleString("en-US").padStart(9)} msgs/s  ` +
              `gateway ${sample.usPerMsg.toFixed(2)} µs/msg`,
          );
        }
      }
      const onSamples = samples.get("on") ?? [];
      const offSamples = samples.get("off") ?? [];
      const traces = sink.received.get("/v1/traces");
      return [
        makeFigure({
          name: "ops.telemetry-relay",
          value: median(onSamples.map((s) => s.rate)),
          unit: "msgs/s",
          baseline: median(offSamples.map((s) => s.rate)),
          target: TELEMETRY_TARGET,
          baselineKind: "the same gateway, telemetry off",
          clients: TELEMETRY_RELAY_CLIENTS,
          window: TELEMETRY_RELAY_WINDOW,
          inputBytes: INPUT_PAYLOAD_BYTES,
          runs: onSamples.length,
          samples: onSamples.map((s) => Math.round(s.rate)),
          baselineSamples: offSamples.map((s) => Math.round(s.rate)),
          gatewayUsPerMsg: round3(median(onSamples.map((s) => s.usPerMsg))),
          baselineGatewayUsPerMsg: round3(median(offSamples.map((s) => s.usPerMsg))),
          otlpTraceExports: traces?.requests ?? 0,
          otlpTraceBytes: traces?.bytes ?? 0,
        }),
      ];
    },
  );
}

async function measure(load: RelayLoad, pid: number, label: string, ctx: BenchContext): Promise<Sample> {
  load.start();
  try {
    await sleep(ctx.warmupMs);
    const counted0 = load.counters.received;
    const cpu0 = processCpuMicros(pid) ?? 0;
    const t0 = performance.now();
    await sleep(ctx.durationMs);
    const counted1 = load.counters.received;
    const t1 = performance.now();
    const cpu1 = processCpuMicros(pid) ?? 0;
    if (load.counters.error !== undefined) throw load.counters.error;
    const relayed = counted1 - counted0;
    if (relayed === 0) throw new Error(`telemetry ${label}: nothing relayed in ${ctx.durationMs} ms`);
    return { rate: (relayed * 1000) / (t1 - t0), usPerMsg: (cpu1 - cpu0) / relayed };
  } finally {
    await load.pause();
    await sleep(100);
  }
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
