/**
 * The lobby's composition root: config → Postgres pool and kysely → migrations → ready → graceful
 * shutdown on SIGTERM/SIGINT.
 *
 * This is the first slice: storage and accounts. Serving login over NATS request/reply (and the
 * admin HTTP API, sessions, bans, the server registry…) is wired here in the next slices; until then
 * the process migrates the database, says it is ready, and stays up until told to stop.
 */
import { pino } from "pino";
import { PasswordHasher } from "./accounts/index.js";
import { type LobbyConfig, loadConfig } from "./config.js";
import { createDatabase, migrateToLatest } from "./db/index.js";
import { ConfigError } from "./errors.js";

/** Bound on a graceful shutdown; past it the process exits with code 1. */
export const SHUTDOWN_TIMEOUT_MS = 5_000;

const root = pino();
const log = root.child({ name: "lobby" });

let config: LobbyConfig;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    // Plain text on stderr for the operator, and the structured record in the log.
    process.stderr.write(`lobby: ${error.message}\n`);
    log.fatal({ code: error.code, problems: error.problems }, "invalid configuration");
    process.exit(1);
  }
  throw error;
}

const db = createDatabase({
  url: config.postgresUrl,
  onPoolError: (error) => log.error({ err: error }, "idle Postgres connection failed"),
});
// Built now so that bad parameters fail at start; the login handlers of the next slice take it.
const hasher = new PasswordHasher(config.argon2);

try {
  const { applied } = await migrateToLatest(db);
  log.info({ applied }, applied.length > 0 ? `applied ${applied.length} migration(s)` : "schema up to date");
} catch (error) {
  process.stderr.write(`lobby: ${error instanceof Error ? error.message : String(error)}\n`);
  log.fatal({ err: error }, "migration failed");
  await db.destroy().catch(() => undefined);
  process.exit(1);
}

// Nothing else holds the event loop open yet (the NATS connection will, next slice).
const keepAlive = setInterval(() => undefined, 1 << 30);

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "shutting down");
  setTimeout(() => {
    log.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, "shutdown timed out");
    process.exit(1);
  }, SHUTDOWN_TIMEOUT_MS).unref();
  clearInterval(keepAlive);
  await db.destroy();
  log.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", (signal) => void shutdown(signal));
process.on("SIGINT", (signal) => void shutdown(signal));

log.info(
  { env: config.env, autoCreateAccounts: config.autoCreateAccounts, argon2: hasher.paramsText },
  "lobby ready",
);
