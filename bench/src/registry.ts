/**
 * Every benchmark the harness knows, in the order they run. To add one, write a module exporting a
 * {@link Benchmark} (name starting with its package: `lobby.login`, `netengine.…`) and list it here.
 *
 * @module
 */
import { gatewayAcceptBanlistBenchmark } from "./gateway/accept-benchmark.js";
import { gatewayIdleMemoryBenchmark } from "./gateway/idle-memory-benchmark.js";
import { gatewayRelayBenchmark } from "./gateway/relay-benchmark.js";
import type { Benchmark } from "./harness.js";
import { lobbyLocateBenchmark } from "./lobby/locate-benchmark.js";
import { lobbyLoginBenchmark } from "./lobby/login-benchmark.js";
import { tcpEchoBenchmark, tcpEchoShallowBenchmark, wsEchoBenchmark } from "./netengine/echo-benchmarks.js";
import { opsTelemetryRelayBenchmark } from "./ops/telemetry-relay-benchmark.js";
import { opsTelemetryTickBenchmark } from "./ops/telemetry-tick-benchmark.js";
import { worldHandoffStallBenchmark } from "./world/handoff-benchmark.js";
import {
  worldMaxEntitiesBenchmark,
  worldTick1kBenchmark,
  worldTick5kBenchmark,
  worldTick10kBenchmark,
} from "./world/tick-benchmarks.js";

export const benchmarks: readonly Benchmark[] = [
  tcpEchoBenchmark,
  tcpEchoShallowBenchmark,
  wsEchoBenchmark,
  lobbyLoginBenchmark,
  lobbyLocateBenchmark,
  gatewayRelayBenchmark,
  gatewayAcceptBanlistBenchmark,
  gatewayIdleMemoryBenchmark,
  worldTick1kBenchmark,
  worldTick5kBenchmark,
  worldTick10kBenchmark,
  worldMaxEntitiesBenchmark,
  worldHandoffStallBenchmark,
  opsTelemetryRelayBenchmark,
  opsTelemetryTickBenchmark,
];
