/**
 * The lobby's Postgres schema as kysely sees it: one interface per table, keyed by table name in
 * {@link Database}. Column types follow what `pg` returns: `bigint`/`bigserial` as decimal strings
 * (they may exceed 2^53), `timestamptz` as `Date`, `jsonb` as parsed JSON, `text[]` as `string[]`,
 * `cidr` as its text form. The migrations in `migrations.ts` create exactly these.
 */
import type { BanKind } from "@meridian/protocol";
import type { ColumnType, Insertable, Selectable } from "kysely";

/** A `bigint` column: read as a decimal string, written as a string, number or bigint. */
export type Int8 = ColumnType<string, string | number | bigint, string | number | bigint>;
/** A `bigserial` column: generated on insert. */
export type Serial8 = ColumnType<string, string | number | bigint | undefined, never>;
/** A `timestamptz` column. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A `timestamptz not null default now()` column. */
export type CreatedAt = ColumnType<Date, Date | string | undefined, Date | string>;

/** Ban kinds (a whole account, one IP address, or a CIDR range): part of the gateway contract. */
export { BanKind } from "@meridian/protocol";

/** `accounts`: one row per player account. */
export interface AccountsTable {
  id: Serial8;
  /** The name as the player typed it (trimmed, NFKC), shown to others. */
  username_display: string;
  /** The normalised name (NFKC, lower-cased), unique: case and Unicode variants are one name. */
  username_key: string;
  email: string | null;
  created_at: CreatedAt;
  last_login_at: Timestamp | null;
}

/** `credentials`: the account's argon2id password hash. */
export interface CredentialsTable {
  account_id: Int8;
  /** The PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). */
  password_hash: string;
  /** The parameters it was made with, `m=…,t=…,p=…`, for queries and audits. */
  params: string;
  updated_at: CreatedAt;
}

/** `secret_questions`: the recovery question and its hashed normalised answer. */
export interface SecretQuestionsTable {
  account_id: Int8;
  question: string;
  answer_hash: string;
  failed_attempts: ColumnType<number, number | undefined, number>;
  locked_until: Timestamp | null;
}

/** `reset_tokens`: single-use password reset tokens, stored hashed. */
export interface ResetTokensTable {
  token_hash: string;
  account_id: Int8;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  created_at: CreatedAt;
}

/** `refresh_tokens`: session resume/refresh tokens, stored hashed, rotated along a chain. */
export interface RefreshTokensTable {
  token_hash: string;
  account_id: Int8;
  /** Every token of one login shares its chain; reuse of a rotated token revokes the chain. */
  chain_id: string;
  /** The token this one replaced; null for the first of a chain. */
  parent_hash: string | null;
  created_at: CreatedAt;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
}

/** `bans`: by account, IP or CIDR range. Postgres is the source of truth; Redis mirrors it. */
export interface BansTable {
  id: Serial8;
  kind: BanKind;
  account_id: Int8 | null;
  /** For `ip` a host prefix (`/32` or `/128`), for `cidr` a network; null for `account`. */
  cidr: string | null;
  reason: string;
  issuer: string;
  created_at: CreatedAt;
  expires_at: Timestamp | null;
  lifted_at: Timestamp | null;
  /** Who lifted it: the operator given to `lift`, or `expiry` (migration 0003). */
  lifted_by: string | null;
}

/** `player_stats`: counters reported by game servers, one row per (account, stat). */
export interface PlayerStatsTable {
  account_id: Int8;
  stat: string;
  value: ColumnType<string, string | number | bigint | undefined, string | number | bigint>;
}

/**
 * `servers`: the durable part of the server registry (the server browser). A row is created when an
 * operator issues a credential; `address`, `port`, `capacity` and `version` are null until the server
 * advertises (all four set or none, migration 0004), and `last_heartbeat_at` needs an advertisement.
 */
export interface ServersTable {
  id: Serial8;
  name: string;
  world: string;
  address: string | null;
  port: number | null;
  capacity: number | null;
  players: ColumnType<number, number | undefined, number>;
  version: string | null;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  /** SHA-256 (hex) of the server credential the lobby issued; unique. The credential is never stored. */
  credential_hash: string;
  created_at: CreatedAt;
  revoked_at: Timestamp | null;
  /** Why the credential was revoked (migration 0004). */
  revoked_reason: string | null;
  last_heartbeat_at: Timestamp | null;
}

/**
 * `player_state`: persisted player state, one row per account and world (primary key since
 * migration 0006), fenced by `epoch` (`world-state/player-state-store.ts`).
 */
export interface PlayerStateTable {
  account_id: Int8;
  world: string;
  state: ColumnType<unknown, string, string>;
  epoch: ColumnType<string, string | number | bigint | undefined, string | number | bigint>;
  updated_at: CreatedAt;
}

/** Every table of the lobby's database. */
export interface Database {
  accounts: AccountsTable;
  credentials: CredentialsTable;
  secret_questions: SecretQuestionsTable;
  reset_tokens: ResetTokensTable;
  refresh_tokens: RefreshTokensTable;
  bans: BansTable;
  player_stats: PlayerStatsTable;
  servers: ServersTable;
  player_state: PlayerStateTable;
}

/** The table names, in creation order. */
export const TABLE_NAMES: readonly (keyof Database)[] = Object.freeze([
  "accounts",
  "credentials",
  "secret_questions",
  "reset_tokens",
  "refresh_tokens",
  "bans",
  "player_stats",
  "servers",
  "player_state",
]);

export type AccountRow = Selectable<AccountsTable>;
export type NewAccountRow = Insertable<AccountsTable>;
