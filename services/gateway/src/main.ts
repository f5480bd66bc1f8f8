/**
 * The gateway's composition root: config → Redis → NATS → the gateway (ban mirror loaded, notices
 * subscribed, listeners bound) → ready. SIGTERM/SIGINT: stop accepting, `bye 4203` to every player
 * (reconnect elsewhere and resume), close NATS and Redis, exit 0 — or 1 past `GATEWAY_SHUTDOWN_MS`.
 *
 * A dependency that cannot be reached at start is a clear one-line error on stderr and exit code 1;
 * once running, the NATS and Redis clients reconnect on their own (a login while no lobby answers is
 * `LOBBY_UNAVAILABLE`).
 *
 * Ops: `GATEWAY_OPS_PORT` serves `/healthz`, `/readyz` (NATS, Redis, started) and `/metrics`
 * (Prometheus text while `MERIDIAN_TELEMETRY=on`); telemetry is flushed on shutdown.
 */
import { createSubjects } from "@meridian/protocol";
import {
  type Boot,
  boot,
  connectNatsOrExit,
  connectRedisOrExit,
  loadConfigOrExit,
  type OpsServer,
  startOpsServer,
  startTelemetryOrExit,
} from "@meridian/service-kit";
import { loadConfig } from "./config.js";
import { Gateway } from "./gateway.js";
import { Router } from "./routing/index.js";
import { registerGatewayMetrics } from "./telemetry/gateway-metrics.js";

const start: Boot = boot("gateway");
const { log } = start;
const config = loadConfigOrExit(start, () => loadConfig());
const telemetryHandle = await startTelemetryOrExit(start, config.telemetry, config.id);
const redis = await connectRedisOrExit(start, config.redisUrl, { connectionName: config.id });
const nc = await connectNatsOrExit(start, config.natsServers, { name: config.id }, () => redis.disconnect());

const subjects = createSubjects({ prefix: config.subjectPrefix });
// Routing to the world over NATS: players are placed by `svc.world.attach`; with no world running
// (no responders) a login still succeeds, without a place.
const router = new Router(nc, { gatewayId: config.id, subjects, logger: log });
await router.start();

const gateway = new Gateway(
  { redis, nc, logger: log, router },
  {
    id: config.id,
    redisPrefix: config.redisPrefix,
    subjectPrefix: subjects.prefix,
    host: config.host,
    tcpPort: config.tcpPort,
    wsPort: config.wsPort,
    ...(config.tls === undefined ? {} : { tls: config.tls }),
    trustProxyTls: config.trustProxyTls,
    world: config.world,
    resumeGraceMs: config.resumeGraceMs,
    maxMessageBytes: config.maxMessageBytes,
    rateMsgsPerS: config.rateMsgsPerS,
    rateBytesPerS: config.rateBytesPerS,
    maxViolations: config.maxViolations,
    heartbeatMs: config.heartbeatMs,
    preAuthMs: config.preAuthMs,
    banResyncMs: config.banResyncMs,
    guard: {
      maxConnectionsPerIp: config.perIp.maxConnections,
      maxNewConnectionsPerIpPerSecond: config.perIp.newPerSecond,
    },
    lobbyTimeoutMs: config.lobbyTimeoutMs,
    shutdownMs: config.shutdownMs,
  },
);
try {
  await gateway.start();
} catch (error) {
  await nc.close().catch(() => undefined);
  redis.disconnect();
  start.fail("gateway failed to start", error);
}
if (telemetryHandle.enabled)
  registerGatewayMetrics(
    config.id,
    () => gateway.stats(),
    () => router.stats(),
  );

let stopping = false;
let ops: OpsServer;
try {
  ops = await startOpsServer({
    port: config.opsPort,
    host: config.host,
    checks: {
      started: () => !stopping && !gateway.stopping,
      nats: () => nc.rtt(),
      redis: () => redis.ping(),
    },
    metrics: () => telemetryHandle.metricsText(),
    logger: log,
  });
} catch (error) {
  await gateway.stop();
  await nc.close().catch(() => undefined);
  redis.disconnect();
  start.fail(`cannot listen for the ops server on ${config.host}:${config.opsPort}`, error);
}

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal, players: gateway.stats().players }, "shutting down");
  setTimeout(() => {
    log.error({ timeoutMs: config.shutdownMs }, "shutdown timed out");
    process.exit(1);
  }, config.shutdownMs).unref();
  await gateway.stop();
  await router.stop();
  await nc.drain().catch((error: unknown) => log.warn({ err: error }, "NATS drain failed"));
  await ops.close();
  await redis.quit().catch(() => redis.disconnect());
  await telemetryHandle
    .shutdown()
    .catch((error: unknown) => log.warn({ err: error }, "telemetry flush failed"));
  log.info({ stats: gateway.stats() }, "stopped");
  process.exit(0);
}
process.on("SIGTERM", (signal) => void shutdown(signal));
process.on("SIGINT", (signal) => void shutdown(signal));

if (!config.tls && !config.trustProxyTls) {
  log.warn(
    "no TLS: password logins travel in clear text (set GATEWAY_TLS_CERT/KEY, or GATEWAY_TRUST_PROXY_TLS behind a TLS proxy)",
  );
}
log.info(
  {
    id: config.id,
    env: config.env,
    tcpPort: gateway.ports.tcp,
    wsPort: gateway.ports.ws,
    opsPort: ops.port,
    telemetry: telemetryHandle.enabled,
    tls: config.tls !== undefined,
    bans: gateway.bans.size,
    subjects: `${config.subjectPrefix}.>`,
  },
  "gateway ready",
);
