/**
 * The authority's composition root: config → Redis → NATS → the authority (campaigns for the leader
 * key; leads or stands by) → ready. SIGTERM/SIGINT: give the leader key up at once (a standby takes
 * over within a third of its TTL instead of a whole TTL), close NATS and Redis, exit 0 — or 1 past
 * `AUTHORITY_SHUTDOWN_MS`.
 *
 * A dependency that cannot be reached at start is a clear one-line error on stderr and exit code 1;
 * once running, the NATS and Redis clients reconnect on their own (while Redis is unreachable the
 * leader steps down before its key can expire: see `leadership/leader-election.ts`).
 *
 * Ops: `AUTHORITY_OPS_PORT` serves `/healthz`, `/readyz` (NATS, Redis, started; a standby is ready:
 * it must be running to take over) and `/metrics` (Prometheus text while `MERIDIAN_TELEMETRY=on`).
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
import { getMeter } from "@meridian/telemetry";
import { Authority } from "./authority.js";
import { loadConfig } from "./config.js";

const start: Boot = boot("authority");
const { log } = start;
const config = loadConfigOrExit(start, () => loadConfig());
const telemetryHandle = await startTelemetryOrExit(start, config.telemetry, config.id);
const redis = await connectRedisOrExit(start, config.redisUrl, { connectionName: config.id });
const nc = await connectNatsOrExit(start, config.natsServers, { name: config.id }, () => redis.disconnect());

const subjects = createSubjects({ prefix: config.subjectPrefix });
const authority = new Authority(
  { redis, nc, logger: log },
  {
    id: config.id,
    world: config.world,
    redisPrefix: config.redisPrefix,
    subjects,
    leaseMs: config.leaseMs,
    heartbeatMs: config.heartbeatMs,
    leaderTtlMs: config.leaderTtlMs,
    verifyMs: config.verifyMs,
    quarantineMs: config.quarantineMs,
    attachTimeoutMs: config.attachTimeoutMs,
    lobbyTimeoutMs: config.lobbyTimeoutMs,
    spawn: config.spawn,
  },
);
authority.start();
if (telemetryHandle.enabled) {
  // Read when scraped: whether this instance leads, and the zone servers it leases cells to.
  const meter = getMeter("authority");
  const base = { "meridian.instance": config.id };
  meter
    .createObservableGauge("meridian.authority.leader", { description: "1 while this authority leads" })
    .addCallback((result) => result.observe(authority.isLeader ? 1 : 0, base));
  meter
    .createObservableGauge("meridian.authority.zone_servers", { description: "Zone servers registered" })
    .addCallback((result) => result.observe(authority.stats().term?.servers.length ?? 0, base));
}

let stopping = false;
let ops: OpsServer;
try {
  ops = await startOpsServer({
    port: config.opsPort,
    host: config.opsHost,
    checks: {
      started: () => !stopping,
      nats: () => nc.rtt(),
      redis: () => redis.ping(),
    },
    metrics: () => telemetryHandle.metricsText(),
    logger: log,
  });
} catch (error) {
  await authority.stop();
  await nc.close().catch(() => undefined);
  redis.disconnect();
  start.fail(`cannot listen for the ops server on ${config.opsHost}:${config.opsPort}`, error);
}

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal, leader: authority.isLeader }, "shutting down");
  setTimeout(() => {
    log.error({ timeoutMs: config.shutdownMs }, "shutdown timed out");
    process.exit(1);
  }, config.shutdownMs).unref();
  await authority.stop();
  await nc.drain().catch((error: unknown) => log.warn({ err: error }, "NATS drain failed"));
  await redis.quit().catch(() => redis.disconnect());
  await ops.close();
  await telemetryHandle
    .shutdown()
    .catch((error: unknown) => log.warn({ err: error }, "telemetry flush failed"));
  log.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", (signal) => void shutdown(signal));
process.on("SIGINT", (signal) => void shutdown(signal));

log.info(
  {
    id: config.id,
    env: config.env,
    world: config.world.name,
    grid: `${config.world.cols}x${config.world.rows}`,
    leaseMs: config.leaseMs,
    heartbeatMs: config.heartbeatMs,
    leaderTtlMs: config.leaderTtlMs,
    opsPort: ops.port,
    telemetry: telemetryHandle.enabled,
    subjects: `${config.subjectPrefix}.svc.authority.*`,
  },
  "authority ready",
);
