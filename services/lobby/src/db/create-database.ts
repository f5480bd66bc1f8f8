/**
 * Builds the lobby's kysely instance over a `pg` pool. The pool is owned by the returned kysely:
 * `db.destroy()` ends it.
 */
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./database.js";

/** Default number of Postgres connections in the lobby's pool. */
export const DEFAULT_POOL_SIZE = 10;

/** Options of {@link createDatabase}. */
export interface CreateDatabaseOptions {
  /** `postgres://…` connection URL. */
  readonly url: string;
  /** Connections in the pool. Default {@link DEFAULT_POOL_SIZE}. */
  readonly poolSize?: number;
  /** Called with errors of idle pooled connections (e.g. the server restarted); they are otherwise fatal. */
  readonly onPoolError?: (error: Error) => void;
}

/** A kysely over a fresh `pg.Pool`. */
export function createDatabase(options: CreateDatabaseOptions): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? DEFAULT_POOL_SIZE });
  // An idle client's error is emitted on the pool; unhandled it would crash the process.
  pool.on("error", (error) => options.onPoolError?.(error));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
