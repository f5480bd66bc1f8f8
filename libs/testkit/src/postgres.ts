import { Client } from "pg";
import { describe, redactUrl, serviceUnavailable, TestKitError, TestKitErrorCode } from "./errors.js";

/** A database of one test run. */
export interface PostgresTestResource {
  /** URL of the run's own database: connect here. */
  readonly url: string;
  /** Its name, `meridian_t_<runId>`. */
  readonly database: string;
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `adminUrl` with its database replaced by `database`. */
export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

async function withAdmin<T>(
  adminUrl: string,
  timeoutMs: number,
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({ connectionString: adminUrl, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => {
    // a dropped connection also rejects the pending query, which is what reports it
  });
  try {
    await client.connect();
  } catch (cause) {
    await client.end().catch(() => undefined);
    throw serviceUnavailable("postgres", adminUrl, cause);
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates `database` through the admin URL and returns the URL to reach it. */
export async function createDatabase(adminUrl: string, database: string, timeoutMs: number): Promise<string> {
  await withAdmin(adminUrl, timeoutMs, async (client) => {
    try {
      await client.query(`CREATE DATABASE ${quoteIdentifier(database)}`);
    } catch (cause) {
      throw new TestKitError(
        TestKitErrorCode.ResourceFailed,
        `postgres at ${redactUrl(adminUrl)}: CREATE DATABASE ${database} failed: ${describe(cause)}`,
        { cause, context: { service: "postgres", database } },
      );
    }
  });
  return databaseUrl(adminUrl, database);
}

/** Drops `database` (`WITH (FORCE)`: connections still open to it are ended). */
export async function dropDatabase(adminUrl: string, database: string, timeoutMs: number): Promise<void> {
  await withAdmin(adminUrl, timeoutMs, async (client) => {
    try {
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)} WITH (FORCE)`);
    } catch (cause) {
      throw new TestKitError(
        TestKitErrorCode.ResourceFailed,
        `postgres at ${redactUrl(adminUrl)}: DROP DATABASE ${database} failed: ${describe(cause)}`,
        { cause, context: { service: "postgres", database } },
      );
    }
  });
}
