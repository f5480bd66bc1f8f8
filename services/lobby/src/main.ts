/**
 * The lobby's composition root: config → Postgres (migrations applied) → Redis → NATS → the lobby's
 * services and its NATS request/reply server → ready. SIGTERM/SIGINT: stop taking requests, answer
 * those in flight, close the connections, exit 0 (or 1 past {@link SHUTDOWN_TIMEOUT_MS}).
 *
 * A dependency that cannot be reached at start is a clear one-line error on stderr and exit code 1;
 * once running, the NATS and Redis clients reconnect on their own and requests that need a missing
 * dependency are answered `LOBBY_UNAVAILABLE`.
 *
 * Telemetry (`MERIDIAN_TELEMETRY=on`): each NATS request is a span (child of the caller's, from the
 * request's headers); the admin server's `/metrics` serves the Prometheus text.
 */
import { createSubjects } from "@meridian/protocol";
import {
  type Boot,
  boot,
  connectNatsOrExit,
  connectRedisOrExit,
  loadConfigOrExit,
  startTelemetryOrExit,
} from "@meridian/service-kit";
import { getMeter } from "@meridian/telemetry";
import { PasswordHasher } from "./accounts/index.js";
import { AdminHttpServer } from "./admin/index.js";
import { loadConfig, MeridianEnv } from "./config.js";
import { createDatabase, migrateToLatest } from "./db/index.js";
import { Lobby } from "./lobby.js";
import { LogMailer } from "./mail/index.js";

/** Bound on a graceful shutdown; past it the process exits with code 1. */
export const SHUTDOWN_TIMEOUT_MS = 5_000;

const start: Boot = boot("lobby");
const { log } = start;
const config = loadConfigOrExit(start, () => loadConfig());
const telemetryHandle = await startTelemetryOrExit(start, config.telemetry, config.instanceId);

const db = createDatabase({
  url: config.postgresUrl,
  onPoolError: (error) => log.error({ err: error }, "idle Postgres connection failed"),
});
const hasher = new PasswordHasher(config.argon2);

try {
  const { applied } = await migrateToLatest(db);
  log.info({ applied }, applied.length > 0 ? `applied ${applied.length} migration(s)` : "schema up to date");
} catch (error) {
  await db.destroy().catch(() => undefined);
  start.fail("migration failed", error);
}

const redis = await connectRedisOrExit(
  start,
  config.redisUrl,
  {
    connectionName: config.instanceId,
    // Commands issued in the same event-loop turn (a login's nonce, throttle and session writes from
    // concurrent requests) share one write to Redis.
    enableAutoPipelining: true,
  },
  () => db.destroy().catch(() => undefined),
);
const nc = await connectNatsOrExit(start, config.natsServers, { name: config.instanceId }, async () => {
  redis.disconnect();
  await db.destroy().catch(() => undefined);
});

const lobby = new Lobby(
  {
    db,
    redis,
    nc,
    subjects: createSubjects({ prefix: config.subjectPrefix }),
    redisPrefix: config.redisPrefix,
    hasher,
    mailer: new LogMailer(log),
    logger: log,
  },
  {
    autoCreateAccounts: config.autoCreateAccounts,
    requireTls: config.requireTls,
    adminToken: config.adminToken,
    loginThrottle: config.loginThrottle,
    maxAccountsPerIpPerHour: config.maxAccountsPerIpPerHour,
    recovery: config.recovery,
    serverHeartbeatTimeoutMs: config.serverHeartbeatTimeoutMs,
    presenceCache: config.presenceCache.maxEntries === 0 ? false : config.presenceCache,
  },
);
try {
  await lobby.start();
} catch (error) {
  await nc.close().catch(() => undefined);
  redis.disconnect();
  await db.destroy().catch(() => undefined);
  start.fail("lobby failed to start", error);
}

if (telemetryHandle.enabled) {
  // Read when scraped: requests and error replies per verb (logins are `verb="login"`).
  const meter = getMeter("lobby");
  const base = { "meridian.instance": config.instanceId };
  const requests = meter.createObservableCounter("meridian.lobby.requests", {
    description: "NATS requests served, by verb",
  });
  const errors = meter.createObservableCounter("meridian.lobby.errors", {
    description: "lobby_error replies, by verb and code",
  });
  meter.addBatchObservableCallback(
    (result) => {
      for (const [verb, c] of Object.entries(lobby.server.counters())) {
        result.observe(requests, c.requests, { ...base, verb });
        for (const [code, n] of Object.entries(c.errors)) result.observe(errors, n, { ...base, verb, code });
      }
    },
    [requests, errors],
  );
}

let stopping = false;
const admin = new AdminHttpServer(lobby, {
  ...config.adminHttp,
  logger: log,
  ready: () => lobby.serving && !stopping,
  metrics: () => telemetryHandle.metricsText(),
});
let adminAddress: { host: string; port: number };
try {
  adminAddress = await admin.start();
} catch (error) {
  await lobby.stop();
  await nc.close().catch(() => undefined);
  redis.disconnect();
  await db.destroy().catch(() => undefined);
  start.fail(`cannot listen for the admin API on ${config.adminHttp.host}:${config.adminHttp.port}`, error);
}

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "shutting down");
  setTimeout(() => {
    log.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, "shutdown timed out");
    process.exit(1);
  }, SHUTDOWN_TIMEOUT_MS).unref();
  // Readiness turns false first (`stopping`), then requests stop being taken.
  await Promise.all([admin.stop(), lobby.stop()]);
  await nc.drain().catch((error: unknown) => log.warn({ err: error }, "NATS drain failed"));
  await redis.quit().catch(() => redis.disconnect());
  await db.destroy();
  await telemetryHandle
    .shutdown()
    .catch((error: unknown) => log.warn({ err: error }, "telemetry flush failed"));
  log.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", (signal) => void shutdown(signal));
process.on("SIGINT", (signal) => void shutdown(signal));

if (config.env === MeridianEnv.Development && !config.requireTls) {
  log.warn("development mode: password logins are accepted without TLS (LOBBY_REQUIRE_TLS=false)");
}
log.info(
  {
    id: config.instanceId,
    env: config.env,
    autoCreateAccounts: config.autoCreateAccounts,
    requireTls: config.requireTls,
    argon2: hasher.paramsText,
    subjects: `${config.subjectPrefix}.svc.lobby.*`,
    admin: `http://${adminAddress.host}:${adminAddress.port}`,
    telemetry: telemetryHandle.enabled,
  },
  "lobby ready",
);
