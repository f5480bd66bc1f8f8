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
import { createZoneSim } from "@meridian/world";
import { loadConfig } from "./config.js";
import { registerZoneMetrics } from "./telemetry/zone-metrics.js";
import { ZoneServer } from "./zone-server.js";

/** Bound on a graceful shutdown, ms. */
const SHUTDOWN_MS = 10_000;

const start: Boot = boot("gameserver");
const { log } = start;
const config = loadConfigOrExit(start, () => loadConfig());
const telemetryHandle = await startTelemetryOrExit(start, config.telemetry, config.serverId);
const redis = await connectRedisOrExit(start, config.redisUrl, {
  connectionName: config.serverId,
  // The commands of one turn (a tick's checkpoints, a handoff batch's) go to Redis in one write.
  enableAutoPipelining: true,
});
const nc = await connectNatsOrExit(
  start,
  config.natsServers,
  {
    name: config.serverId,
    // No stack capture per request: a burst of handoff offers cost ~130 ms of CPU in traces alone
    // (bench world.handoff-stall); request errors still carry their code and subject.
    noAsyncTraces: true,
  },
  () => redis.disconnect(),
);

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
  start.fail("zone server failed to start", error);
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
  start.fail(`cannot listen for the ops server on port ${config.opsPort}`, error);
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
