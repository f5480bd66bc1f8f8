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
import { type OpsServer, startOpsServer } from "@meridian/service-kit";
import { getMeter, initTelemetry, type TelemetryHandle, traceLogMixin } from "@meridian/telemetry";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Authority } from "./authority.js";
import { type AuthorityConfig, loadConfig } from "./config.js";
import { ConfigError } from "./errors.js";

/** How long start waits for Redis and NATS before giving up, ms. */
const CONNECT_TIMEOUT_MS = 10_000;

const root = pino({ mixin: traceLogMixin() });
const log = root.child({ name: "authority" });

function fail(what: string, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`authority: ${what}: ${message}\n`);
  log.fatal({ err: error }, what);
  process.exit(1);
}

let config: AuthorityConfig;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`authority: ${error.message}\n`);
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
    serviceInstanceId: config.id,
    ...(config.telemetry.otlpEndpoint === undefined ? {} : { otlpEndpoint: config.telemetry.otlpEndpoint }),
  });
} catch (error) {
  fail("cannot start telemetry", error);
}

const redis = new Redis(config.redisUrl, {
  connectionName: config.id,
  lazyConnect: true,
  maxRetriesPerRequest: 2,
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
    name: config.id,
    timeout: CONNECT_TIMEOUT_MS,
    maxReconnectAttempts: -1,
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
  fail(`cannot listen for the ops server on ${config.opsHost}:${config.opsPort}`, error);
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
