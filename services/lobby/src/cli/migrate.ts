/**
 * `migrate`: applies the lobby's pending migrations to `MERIDIAN_POSTGRES_URL` and prints what it
 * did. Exits 0 when the schema is up to date, 1 with a clear message on stderr otherwise.
 *
 *   node --conditions=meridian-source --import tsx services/lobby/src/cli/migrate.ts
 */
import { loadConfig } from "../config.js";
import { createDatabase, migrateToLatest } from "../db/index.js";

async function run(): Promise<number> {
  let url: string;
  try {
    url = loadConfig().postgresUrl;
  } catch (error) {
    process.stderr.write(`migrate: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  const db = createDatabase({ url, poolSize: 1 });
  try {
    const { applied } = await migrateToLatest(db);
    if (applied.length === 0) process.stdout.write("migrate: schema already up to date\n");
    for (const name of applied) process.stdout.write(`migrate: applied ${name}\n`);
    return 0;
  } catch (error) {
    // A LobbyError's message already names the failed migration and the database's reason.
    process.stderr.write(`migrate: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await db.destroy().catch(() => undefined);
  }
}

process.exitCode = await run();
