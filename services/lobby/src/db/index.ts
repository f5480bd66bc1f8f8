export { type CreateDatabaseOptions, createDatabase, DEFAULT_POOL_SIZE } from "./create-database.js";
export {
  type AccountRow,
  type AccountsTable,
  BanKind,
  type BansTable,
  type CredentialsTable,
  type Database,
  type NewAccountRow,
  type PlayerStateTable,
  type PlayerStatsTable,
  type RefreshTokensTable,
  type ResetTokensTable,
  type SecretQuestionsTable,
  type ServersTable,
  TABLE_NAMES,
} from "./database.js";
export { InCodeMigrationProvider, MIGRATIONS, type MigrationReport, migrateToLatest } from "./migrations.js";
