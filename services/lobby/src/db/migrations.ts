/**
 * The lobby's migrations, in code: an ordered record that kysely's {@link Migrator} reads through an
 * in-code provider, so they run the same from `src/` (tsx) and from `dist/` with no file-system
 * scanning. Names sort in application order; never edit an applied migration, add a new one.
 */
import {
  type Kysely,
  type Migration,
  type MigrationProvider,
  type MigrationResult,
  Migrator,
  sql,
} from "kysely";
import { LobbyError, LobbyErrorCode } from "../errors.js";

// Migrations take `Kysely<any>`: they must keep working when the `Database` interface moves on.
// biome-ignore lint/suspicious/noExplicitAny: the schema a migration sees is not the current one.
type AnyDb = Kysely<any>;

const initial: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createTable("accounts")
      .addColumn("id", "bigserial", (c) => c.primaryKey())
      .addColumn("username_display", "text", (c) => c.notNull())
      .addColumn("username_key", "text", (c) => c.notNull().unique())
      .addColumn("email", "text")
      .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .addColumn("last_login_at", "timestamptz")
      .execute();

    await db.schema
      .createTable("credentials")
      .addColumn("account_id", "bigint", (c) => c.primaryKey().references("accounts.id").onDelete("cascade"))
      .addColumn("password_hash", "text", (c) => c.notNull())
      .addColumn("params", "text", (c) => c.notNull())
      .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .execute();

    await db.schema
      .createTable("secret_questions")
      .addColumn("account_id", "bigint", (c) => c.primaryKey().references("accounts.id").onDelete("cascade"))
      .addColumn("question", "text", (c) => c.notNull())
      .addColumn("answer_hash", "text", (c) => c.notNull())
      .addColumn("failed_attempts", "integer", (c) =>
        c.notNull().defaultTo(0).check(sql`failed_attempts >= 0`),
      )
      .addColumn("locked_until", "timestamptz")
      .execute();

    await db.schema
      .createTable("reset_tokens")
      .addColumn("token_hash", "text", (c) => c.primaryKey())
      .addColumn("account_id", "bigint", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
      .addColumn("expires_at", "timestamptz", (c) => c.notNull())
      .addColumn("used_at", "timestamptz")
      .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .execute();
    await db.schema.createIndex("reset_tokens_account_id").on("reset_tokens").column("account_id").execute();

    await db.schema
      .createTable("refresh_tokens")
      .addColumn("token_hash", "text", (c) => c.primaryKey())
      .addColumn("account_id", "bigint", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
      .addColumn("chain_id", "uuid", (c) => c.notNull())
      .addColumn("parent_hash", "text")
      .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .addColumn("expires_at", "timestamptz", (c) => c.notNull())
      .addColumn("revoked_at", "timestamptz")
      .execute();
    await db.schema.createIndex("refresh_tokens_chain_id").on("refresh_tokens").column("chain_id").execute();
    await db.schema
      .createIndex("refresh_tokens_account_id")
      .on("refresh_tokens")
      .column("account_id")
      .execute();

    await db.schema
      .createTable("bans")
      .addColumn("id", "bigserial", (c) => c.primaryKey())
      .addColumn("kind", "text", (c) => c.notNull())
      .addColumn("account_id", "bigint", (c) => c.references("accounts.id").onDelete("cascade"))
      .addColumn("cidr", sql`cidr`)
      .addColumn("reason", "text", (c) => c.notNull())
      .addColumn("issuer", "text", (c) => c.notNull())
      .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .addColumn("expires_at", "timestamptz")
      .addColumn("lifted_at", "timestamptz")
      // The kind decides which target is set; an `ip` ban is one host (a full-length prefix).
      .addCheckConstraint(
        "bans_target",
        sql`(kind = 'account' and account_id is not null and cidr is null)
          or (kind = 'ip' and account_id is null and cidr is not null
              and masklen(cidr) = case family(cidr) when 4 then 32 else 128 end)
          or (kind = 'cidr' and account_id is null and cidr is not null)`,
      )
      .execute();
    await db.schema.createIndex("bans_account_id").on("bans").column("account_id").execute();

    await db.schema
      .createTable("player_stats")
      .addColumn("account_id", "bigint", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
      .addColumn("stat", "text", (c) => c.notNull())
      .addColumn("value", "bigint", (c) => c.notNull().defaultTo(0))
      .addPrimaryKeyConstraint("player_stats_pk", ["account_id", "stat"])
      .execute();
    // The top-N leaderboard reads one stat in descending value order.
    await db.schema
      .createIndex("player_stats_leaderboard")
      .on("player_stats")
      .columns(["stat", "value desc"])
      .execute();

    await db.schema
      .createTable("servers")
      .addColumn("id", "bigserial", (c) => c.primaryKey())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("world", "text", (c) => c.notNull())
      .addColumn("address", "text", (c) => c.notNull())
      .addColumn("port", "integer", (c) => c.notNull().check(sql`port between 1 and 65535`))
      .addColumn("capacity", "integer", (c) => c.notNull().check(sql`capacity >= 0`))
      .addColumn("players", "integer", (c) => c.notNull().defaultTo(0).check(sql`players >= 0`))
      .addColumn("version", "text", (c) => c.notNull())
      .addColumn("tags", sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
      .addColumn("credential_hash", "text", (c) => c.notNull().unique())
      .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .addColumn("revoked_at", "timestamptz")
      .addColumn("last_heartbeat_at", "timestamptz")
      .execute();

    await db.schema
      .createTable("player_state")
      .addColumn("account_id", "bigint", (c) => c.primaryKey().references("accounts.id").onDelete("cascade"))
      .addColumn("world", "text", (c) => c.notNull())
      .addColumn("state", "jsonb", (c) => c.notNull())
      .addColumn("epoch", "bigint", (c) => c.notNull().defaultTo(0))
      .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
      .execute();
  },

  async down(db: AnyDb) {
    for (const table of [
      "player_state",
      "servers",
      "player_stats",
      "bans",
      "refresh_tokens",
      "reset_tokens",
      "secret_questions",
      "credentials",
      "accounts",
    ]) {
      await db.schema.dropTable(table).ifExists().execute();
    }
  },
};

/**
 * Sessions: a refresh token is "used" (rotated) once a successor row names it as `parent_hash`. The
 * unique index makes "at most one successor per token" a database invariant, so a chain can never
 * fork even if a code path forgot its lock, and makes the reuse check an index lookup.
 */
const refreshTokenSuccessor: Migration = {
  async up(db: AnyDb) {
    await db.schema
      .createIndex("refresh_tokens_parent_hash")
      .on("refresh_tokens")
      .column("parent_hash")
      .unique()
      .where(sql.ref("parent_hash"), "is not", null)
      .execute();
  },

  async down(db: AnyDb) {
    await db.schema.dropIndex("refresh_tokens_parent_hash").ifExists().execute();
  },
};

/**
 * Bans: who lifted a ban (an operator, or `expiry`), and the two lookups the ban service makes on
 * live bans: the expiry sweep (`expires_at` of unlifted bans) and "is this target still banned by
 * another ban" on a lift (`cidr` of unlifted bans; account bans use `bans_account_id`).
 */
const banLifecycle: Migration = {
  async up(db: AnyDb) {
    await db.schema.alterTable("bans").addColumn("lifted_by", "text").execute();
    await db.schema
      .createIndex("bans_live_expires_at")
      .on("bans")
      .column("expires_at")
      .where(sql.ref("lifted_at"), "is", null)
      .execute();
    await db.schema
      .createIndex("bans_live_cidr")
      .on("bans")
      .column("cidr")
      .where(sql.ref("lifted_at"), "is", null)
      .execute();
  },

  async down(db: AnyDb) {
    await db.schema.dropIndex("bans_live_cidr").ifExists().execute();
    await db.schema.dropIndex("bans_live_expires_at").ifExists().execute();
    await db.schema.alterTable("bans").dropColumn("lifted_by").execute();
  },
};

/**
 * Server registry: a row exists from the moment an operator issues the credential, before the server
 * has advertised, so the advertised fields become nullable (all four set or none, and a heartbeat only
 * with an advertisement). `revoked_reason` records why a credential was revoked. The listing index
 * serves the browser's order (players desc, id asc) over live-looking rows; the heartbeat index serves
 * the stale sweep.
 */
const serverRegistry: Migration = {
  async up(db: AnyDb) {
    for (const column of ["address", "port", "capacity", "version"]) {
      await db.schema
        .alterTable("servers")
        .alterColumn(column, (c) => c.dropNotNull())
        .execute();
    }
    await db.schema.alterTable("servers").addColumn("revoked_reason", "text").execute();
    await db.schema
      .alterTable("servers")
      .addCheckConstraint("servers_advertised", sql`num_nulls(address, port, capacity, version) in (0, 4)`)
      .execute();
    await db.schema
      .alterTable("servers")
      .addCheckConstraint(
        "servers_heartbeat_advertised",
        sql`last_heartbeat_at is null or address is not null`,
      )
      .execute();
    await db.schema
      .alterTable("servers")
      .addCheckConstraint("servers_players_capacity", sql`capacity is null or players <= capacity`)
      .execute();
    await db.schema
      .createIndex("servers_listing")
      .on("servers")
      .columns(["players desc", "id"])
      .where(sql<boolean>`revoked_at is null and last_heartbeat_at is not null`)
      .execute();
    await db.schema
      .createIndex("servers_last_heartbeat_at")
      .on("servers")
      .column("last_heartbeat_at")
      .where(sql<boolean>`revoked_at is null and last_heartbeat_at is not null`)
      .execute();
  },

  async down(db: AnyDb) {
    await db.schema.dropIndex("servers_last_heartbeat_at").ifExists().execute();
    await db.schema.dropIndex("servers_listing").ifExists().execute();
    for (const check of ["servers_players_capacity", "servers_heartbeat_advertised", "servers_advertised"]) {
      await db.schema.alterTable("servers").dropConstraint(check).ifExists().execute();
    }
    await db.schema.alterTable("servers").dropColumn("revoked_reason").execute();
    // Rows that never advertised cannot satisfy 0001's not-null columns.
    await db.deleteFrom("servers").where("address", "is", null).execute();
    for (const column of ["address", "port", "capacity", "version"]) {
      await db.schema
        .alterTable("servers")
        .alterColumn(column, (c) => c.setNotNull())
        .execute();
    }
  },
};

/**
 * 0005: the leaderboard index gains `account_id`, the tie-break of `StatsService.leaderboard`, so a
 * page is read straight off the index in its final order (no incremental sort of tied values).
 */
const leaderboardTies: Migration = {
  async up(db) {
    await db.schema
      .createIndex("player_stats_leaderboard_ties")
      .on("player_stats")
      .columns(["stat", "value desc", "account_id"])
      .execute();
    await db.schema.dropIndex("player_stats_leaderboard").execute();
  },
  async down(db) {
    await db.schema
      .createIndex("player_stats_leaderboard")
      .on("player_stats")
      .columns(["stat", "value desc"])
      .execute();
    await db.schema.dropIndex("player_stats_leaderboard_ties").execute();
  },
};

/**
 * 0006: persisted player state is per world. Player epochs are a world's own (each world's zone
 * servers advance them in its own Redis), so one row per account would let a save in one world be
 * fenced, or overwritten, by another world's epochs: the primary key becomes `(account_id, world)`.
 * Epochs are never negative.
 */
const playerStatePerWorld: Migration = {
  async up(db) {
    await db.schema.alterTable("player_state").dropConstraint("player_state_pkey").execute();
    await db.schema
      .alterTable("player_state")
      .addPrimaryKeyConstraint("player_state_pk", ["account_id", "world"])
      .execute();
    await db.schema
      .alterTable("player_state")
      .addCheckConstraint("player_state_epoch", sql`epoch >= 0`)
      .execute();
  },
  async down(db) {
    // One row per account again: the most recently written one stays.
    await sql`delete from player_state p using player_state q
      where p.account_id = q.account_id and (p.updated_at, p.world) < (q.updated_at, q.world)`.execute(db);
    await db.schema.alterTable("player_state").dropConstraint("player_state_epoch").execute();
    await db.schema.alterTable("player_state").dropConstraint("player_state_pk").execute();
    await db.schema
      .alterTable("player_state")
      .addPrimaryKeyConstraint("player_state_pkey", ["account_id"])
      .execute();
  },
};

/** Every migration, by name; names sort in the order they apply. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = Object.freeze({
  "0001_initial": initial,
  "0002_refresh_token_successor": refreshTokenSuccessor,
  "0003_ban_lifecycle": banLifecycle,
  "0004_server_registry": serverRegistry,
  "0005_leaderboard_ties": leaderboardTies,
  "0006_player_state_per_world": playerStatePerWorld,
});

/** Serves {@link MIGRATIONS} to kysely's {@link Migrator} (no files are read). */
export class InCodeMigrationProvider implements MigrationProvider {
  readonly #migrations: Readonly<Record<string, Migration>>;

  constructor(migrations: Readonly<Record<string, Migration>> = MIGRATIONS) {
    this.#migrations = migrations;
  }

  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...this.#migrations };
  }
}

/** What {@link migrateToLatest} did. */
export interface MigrationReport {
  /** Names of the migrations applied by this call, in order; empty when already up to date. */
  readonly applied: readonly string[];
}

/**
 * Applies every pending migration. Safe to run concurrently from several lobbies: kysely takes a
 * Postgres advisory lock around the run.
 * @throws LobbyError `LOBBY_MIGRATION` naming the failed migration, with the database error as `cause`.
 */
// biome-ignore lint/suspicious/noExplicitAny: accepts a Kysely of any schema (the migrator does not use it).
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationReport> {
  const migrator = new Migrator({ db, provider: new InCodeMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  const done = (results ?? [])
    .filter((r: MigrationResult) => r.status === "Success")
    .map((r) => r.migrationName);
  if (error !== undefined) {
    const failed = (results ?? []).find((r) => r.status === "Error")?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    throw new LobbyError(
      LobbyErrorCode.Migration,
      failed === undefined ? `migration failed: ${reason}` : `migration ${failed} failed: ${reason}`,
      { cause: error, context: { failed, applied: done } },
    );
  }
  return Object.freeze({ applied: Object.freeze(done) });
}
