/**
 * The zone server's composition root: config → Redis → NATS → the zone server (inboxes subscribed,
 * registered with the authority, ticking) → ready. SIGTERM/SIGINT: stop ticking, checkpoint every
 * player, stop heartbeating (the leases lapse: the protocol has no deregistration), close NATS and
 * Redis, exit 0 — or 1 past the shutdown bound.
 *
 * A dependency that cannot be reached at start is a clear one-line error on stderr and exit code 1.
 * The authority refusing the credential (`WORLD_UNAUTHORIZED`) drops every player and exits 1.
 *
 * Ops: `ZONE_OPS_PORT` (default 0: an ephemeral port, logged) serves `/healthz`, `/readyz` (NATS,
 * Redis, started; not the authority's answer: zones keep ticking on their leases without it) and `/metrics` (Prometheus text while `MERIDIAN_TELEMETRY=on`).
 */
import { createSubjects } from "@meridian/protocol";
import { type OpsServer, startOpsServer } from "@meridian/service-kit";
import { initTelemetry, type TelemetryHandle, traceLogMixin } from "@meridian/telemetry";
import { createZoneSim } from "@meridian/world";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { type GameServerConfig, loadConfig } from "./config.js";
import { ConfigError } from "./errors.js";
import { registerZoneMetrics } from "./telemetry/zone-metrics.js";
import { ZoneServer } from "./zone-server.js";

/** How long start waits for Redis and NATS before giving up, ms. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Bound on a graceful shutdown, ms. */
const SHUTDOWN_MS = 10_000;

const root = pino({ mixin: traceLogMixin() });
const log = root.child({ name: "gameserver" });

function fail(what: string, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`gameserver: ${what}: ${message}\n`);
  log.fatal({ err: error }, what);
  process.exit(1);
}

let config: GameServerConfig;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`gameserver: ${error.message}\n`);
    log.fatal({ code: error.code, problems: error.problems }, "invalid configuration");
    process.exit(1);
  }
  throw error;
}

let telemetryHandle: TelemetryHandle;
try {
  telemetryHandle = await initTelemetry({
    enabled: config.telemetry.enabled,
    serviceName: config.telemetry.serviceName,
    hotSampleEvery: config.telemetry.hotSampleEvery,
    serviceInstanceId: config.serverId,
    ...(config.telemetry.otlpEndpoint === undefined ? {} : { otlpEndpoint: config.telemetry.otlpEndpoint }),
  });
} catch (error) {
  fail("cannot start telemetry", error);
}

const redis = new Redis(config.redisUrl, {
  connectionName: config.serverId,
  lazyConnect: true,
  maxRetriesPerRequest: 2,
  // The commands of one turn (a tick's checkpoints, a handoff batch's) go to Redis in one write.
  enableAutoPipelining: true,
  connectTimeout: CONNECT_TIMEOUT_MS,
});
redis.on("error", (error: Error) => log.warn({ err: error }, "Redis connection error"));
try {
  await redis.connect();
} catch (error) {
  fail(`cannot reach Redis at ${config.redisUrl}`, error);
}

let nc: NatsConnection;
try {
  nc = await connect({
    servers: [...config.natsServers],
    name: config.serverId,
    timeout: CONNECT_TIMEOUT_MS,
    maxReconnectAttempts: -1,
    // No stack capture per request: a burst of handoff offers cost ~130 ms of CPU in traces alone
    // (bench world.handoff-stall); request errors still carry their code and subject.
    noAsyncTraces: true,
  });
} catch (error) {
  redis.disconnect();
  fail(`cannot reach NATS at ${config.natsServers.join(",")}`, error);
}
void (async () => {
  for await (const status of nc.status()) {
    if (status.type === "disconnect" || status.type === "reconnect" || status.type === "error") {
      log.warn({ nats: status.type }, "NATS status");
    }
  }
})();

const subjects = createSubjects({ prefix: config.subjectPrefix });
const zone = new ZoneServer(
  {
    nc,
    redis,
    logger: log,
    createSim: (world) => createZoneSim({ config: world }),
    onFatal: (error) => {
      process.stderr.write(`gameserver: ${error.code}: ${error.message}; exiting\n`);
      void nc
        .close()
        .catch(() => undefined)
        .finally(() => {
          redis.disconnect();
          process.exit(1);
        });
    },
  },
  {
    serverId: config.serverId,
    credential: config.credential,
    capacity: config.capacity,
    world: config.world,
    subjects,
    redisPrefix: config.redisPrefix,
    checkpointMs: config.checkpointMs,
    persistMs: config.persistMs,
    persistence: config.persistence,
    history: config.history,
    observerHz: config.observerHz,
    orphanSweepMs: config.orphanSweepMs,
  },
);
try {
  await zone.start();
} catch (error) {
  await nc.close().catch(() => undefined);
  redis.disconnect();
  fail("zone server failed to start", error);
}
if (telemetryHandle.enabled) registerZoneMetrics(zone);

let stopping = false;
let ops: OpsServer;
try {
  ops = await startOpsServer({
    port: config.opsPort,
    checks: {
      started: () => !stopping,
      nats: () => nc.rtt(),
      redis: () => redis.ping(),
    },
    metrics: () => telemetryHandle.metricsText(),
    logger: log,
  });
} catch (error) {
  await zone.stop();
  await nc.close().catch(() => undefined);
  redis.disconnect();
  fail(`cannot listen for the ops server on port ${config.opsPort}`, error);
}

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal, players: zone.stats().players }, "shutting down");
  setTimeout(() => {
    log.error({ timeoutMs: SHUTDOWN_MS }, "shutdown timed out");
    process.exit(1);
  }, SHUTDOWN_MS).unref();
  await zone.stop();
  await nc.drain().catch((error: unknown) => log.warn({ err: error }, "NATS drain failed"));
  await redis.quit().catch(() => redis.disconnect());
  await ops.close();
  await telemetryHandle
    .shutdown()
    .catch((error: unknown) => log.warn({ err: error }, "telemetry flush failed"));
  const { players, handoffsOut, handoffsIn, tick } = zone.stats();
  log.info({ players, handoffsOut, handoffsIn, tick }, "stopped");
  process.exit(0);
}
process.on("SIGTERM", (signal) => void shutdown(signal));
process.on("SIGINT", (signal) => void shutdown(signal));

log.info(
  {
    id: config.serverId,
    env: config.env,
    world: config.world.name,
    tickHz: config.world.tickHz,
    cells: zone.cells(),
    registered: zone.stats().registered,
    opsPort: ops.port,
    telemetry: telemetryHandle.enabled,
    subjects: `${config.subjectPrefix}.>`,
  },
  "zone ready",
);
