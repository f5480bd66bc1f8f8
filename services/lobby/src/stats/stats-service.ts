/**
 * Player statistics: counters that game servers report (playtime, logins and game-defined ones),
 * per-player reads and a top-N leaderboard, on `player_stats(account_id, stat, value bigint)`.
 *
 * - **Reports are batches, applied all or nothing.** A batch is validated whole before any I/O, its
 *   entries merged per (account, stat), and written by one multi-row `INSERT … ON CONFLICT DO UPDATE
 *   SET value = player_stats.value + excluded.value` fed by `unnest` (one statement whatever the size,
 *   so atomic without an explicit transaction and never near Postgres's bind-parameter limit). Rows
 *   go in a deterministic order (account id numerically, then stat name), so concurrent reporters
 *   lock shared rows in the same order and cannot deadlock; increments commute, so concurrent
 *   batches sum exactly.
 * - **Counters only go up.** A delta is a safe integer ≥ 0 (0 creates the row with 0); a negative one
 *   is refused (`LOBBY_INVALID_STAT`): a correction is an operator's job, not a game server's.
 * - **Values saturate at `Number.MAX_SAFE_INTEGER`** (2^53 − 1) on write, so every value the lobby
 *   reads is an exact JavaScript number and the `bigint` column never overflows; no realistic counter
 *   gets there (2^53 seconds of playtime is 285 million years). A value written past it by other means
 *   reads clamped to ±2^53 − 1.
 * - **An unknown account fails the whole batch** (`LOBBY_PLAYER_UNKNOWN`, the foreign-key violation
 *   mapped, `context.accountIds` listing the unknown ones); nothing is applied. An entry with no
 *   increments writes nothing and so proves nothing about its account.
 * - **Leaderboard ranks are standard competition ranks** ("1224"): a player's rank is 1 + the number
 *   of players with a strictly greater value, so ties share a rank and the next rank skips. Rows are
 *   ordered by value descending, ties by account id ascending (numerically), which makes paging with
 *   `offset` stable. The query walks the index `player_stats_leaderboard_ties (stat, value desc,
 *   account_id)` (migration 0005) in its final order and stops after `offset + limit` rows.
 */
import { type Kysely, sql } from "kysely";
import type { Database } from "../db/database.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** Stats the lobby and every game know. Game-defined stats use any other valid name. */
export const WellKnownStat = {
  /** Seconds played, reported by game servers. */
  PlaytimeSeconds: "playtime_s",
  /** Successful logins, incremented by the lobby at login. */
  Logins: "logins",
} as const;
export type WellKnownStat = (typeof WellKnownStat)[keyof typeof WellKnownStat];

/** A stat name: a lower-case letter, then up to 63 lower-case letters, digits, `_` or `.`. */
export const STAT_NAME_PATTERN = /^[a-z][a-z0-9_.]{0,63}$/;
/** Most stats in one entry of a report. */
export const MAX_STATS_PER_ENTRY = 64;
/** Most entries in one report. */
export const MAX_ENTRIES_PER_REPORT = 1_000;
/** Default {@link LeaderboardQuery.limit}. */
export const DEFAULT_LEADERBOARD_LIMIT = 10;
/** Largest {@link LeaderboardQuery.limit}. */
export const MAX_LEADERBOARD_LIMIT = 100;
/** Largest {@link LeaderboardQuery.offset}: deeper pages cost a scan of offset + limit index entries. */
export const MAX_LEADERBOARD_OFFSET = 10_000;
/** Where counters saturate: `Number.MAX_SAFE_INTEGER`. */
export const MAX_STAT_VALUE = Number.MAX_SAFE_INTEGER;

/** One player's increments in a report. */
export interface StatReportEntry {
  /** `accounts.id`, decimal string. An account may appear in several entries; they add up. */
  readonly accountId: string;
  /** Stat name → how much to add (a safe integer ≥ 0); at most {@link MAX_STATS_PER_ENTRY} stats. */
  readonly increments: Readonly<Record<string, number>>;
}

/** What a report did. */
export interface StatReportResult {
  /** How many (account, stat) counters were incremented (after merging duplicates). */
  readonly counters: number;
}

/** A page of a leaderboard. */
export interface LeaderboardQuery {
  /** Rows to return, 1–{@link MAX_LEADERBOARD_LIMIT}. Default {@link DEFAULT_LEADERBOARD_LIMIT}. */
  readonly limit?: number;
  /** Rows to skip, 0–{@link MAX_LEADERBOARD_OFFSET}. Default 0. */
  readonly offset?: number;
}

/** One row of a leaderboard. */
export interface LeaderboardRow {
  /** Standard competition rank: 1 + the number of players with a greater value. */
  readonly rank: number;
  /** `accounts.id`, decimal string. */
  readonly accountId: string;
  /** The display name. */
  readonly username: string;
  readonly value: number;
}

const ACCOUNT_ID = /^[1-9][0-9]{0,18}$/;
const MAX_BIGINT = 9_223_372_036_854_775_807n;
const SAFE_MAX = BigInt(MAX_STAT_VALUE);
const FOREIGN_KEY_VIOLATION = "23503";

function isAccountId(value: unknown): value is string {
  return typeof value === "string" && ACCOUNT_ID.test(value) && BigInt(value) <= MAX_BIGINT;
}

function invalidStat(field: string, message: string, context: Record<string, unknown> = {}): LobbyError {
  return new LobbyError(LobbyErrorCode.InvalidStat, `invalid stat ${field}: ${message}`, {
    context: { field, ...context },
  });
}

function unknownPlayers(accountIds: readonly string[], cause?: unknown): LobbyError {
  return new LobbyError(LobbyErrorCode.PlayerUnknown, "no such player", {
    cause,
    context: { accountIds: accountIds.slice(0, 20) },
  });
}

function assertStatName(stat: unknown, context: Record<string, unknown> = {}): asserts stat is string {
  if (typeof stat !== "string" || !STAT_NAME_PATTERN.test(stat)) {
    throw invalidStat("stat", "a stat name is a-z then up to 63 of a-z, 0-9, _ and .", {
      ...context,
      stat: typeof stat === "string" ? stat.slice(0, 80) : undefined,
    });
  }
}

/** A `bigint` column's decimal text as a number, clamped to the safe range. */
function toNumber(value: string): number {
  const big = BigInt(value);
  if (big > SAFE_MAX) return MAX_STAT_VALUE;
  if (big < -SAFE_MAX) return -MAX_STAT_VALUE;
  return Number(big);
}

function compareIds(a: string, b: string): number {
  // Canonical decimals without leading zeros: shorter is smaller, equal lengths compare as text.
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Game servers' counters per player, per-player reads and leaderboards. */
export class StatsService {
  readonly #db: Kysely<Database>;

  /** @param db the lobby's kysely (reads `accounts`, reads and writes `player_stats`). */
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Applies a batch of increments from a game server, all or nothing (see the module docs).
   * @throws LobbyError `LOBBY_INVALID_STAT` before any I/O, with `context.field`: `entries` (not an
   * array, empty is fine, more than {@link MAX_ENTRIES_PER_REPORT}, an entry not an object),
   * `increments` (not an object, more than {@link MAX_STATS_PER_ENTRY} stats), `stat` (a bad name),
   * `delta` (not a safe integer ≥ 0); `context.index` is the entry. `LOBBY_PLAYER_UNKNOWN` for a
   * malformed account id (before any I/O) or an unknown one (`context.accountIds`); nothing applied.
   */
  async report(entries: readonly StatReportEntry[]): Promise<StatReportResult> {
    const merged = this.#validate(entries);
    if (merged.size === 0) return Object.freeze({ counters: 0 });
    const rows = [...merged].sort(([a], [b]) => compareIds(a, b));
    const accountIds: string[] = [];
    const stats: string[] = [];
    const values: string[] = [];
    for (const [accountId, increments] of rows) {
      for (const stat of [...increments.keys()].sort()) {
        accountIds.push(accountId);
        stats.push(stat);
        values.push(String(increments.get(stat)));
      }
    }
    try {
      await sql`
        insert into player_stats (account_id, stat, value)
        select r.account_id, r.stat, r.value
        from unnest(${accountIds}::bigint[], ${stats}::text[], ${values}::bigint[])
          with ordinality as r(account_id, stat, value, n)
        order by r.n
        on conflict (account_id, stat)
        do update set value = least(player_stats.value::numeric + excluded.value, ${MAX_STAT_VALUE})::bigint
      `.execute(this.#db);
    } catch (error) {
      if ((error as { code?: unknown }).code === FOREIGN_KEY_VIOLATION) {
        throw unknownPlayers(await this.#missing(rows.map(([id]) => id)), error);
      }
      throw error;
    }
    return Object.freeze({ counters: stats.length });
  }

  /**
   * Adds `by` to one stat of one player (the lobby counts `logins` this way).
   * @throws LobbyError as {@link report}.
   */
  async increment(accountId: string, stat: string, by = 1): Promise<void> {
    await this.report([{ accountId, increments: { [stat]: by } }]);
  }

  /**
   * Every stat of a player, by name (sorted); `{}` for a player with none.
   * @throws LobbyError `LOBBY_PLAYER_UNKNOWN` for an unknown or malformed account id.
   */
  async get(accountId: string): Promise<Record<string, number>> {
    if (!isAccountId(accountId)) throw unknownPlayers([String(accountId).slice(0, 32)]);
    const rows = await this.#db
      .selectFrom("accounts")
      .leftJoin("player_stats", "player_stats.account_id", "accounts.id")
      .select(["player_stats.stat", "player_stats.value"])
      .where("accounts.id", "=", accountId)
      .orderBy("player_stats.stat")
      .execute();
    if (rows.length === 0) throw unknownPlayers([accountId]);
    const result: Record<string, number> = {};
    for (const { stat, value } of rows) {
      if (stat !== null && value !== null) result[stat] = toNumber(value);
    }
    return result;
  }

  /**
   * A page of the leaderboard of `stat`: value descending, ties by account id, standard competition
   * ranks. Players without the stat are not listed.
   * @throws LobbyError `LOBBY_INVALID_STAT` with `context.field` `stat`, `limit` or `offset`.
   */
  async leaderboard(stat: string, query: LeaderboardQuery = {}): Promise<LeaderboardRow[]> {
    assertStatName(stat);
    const limit = query.limit ?? DEFAULT_LEADERBOARD_LIMIT;
    const offset = query.offset ?? 0;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LEADERBOARD_LIMIT) {
      throw invalidStat("limit", `must be an integer from 1 to ${MAX_LEADERBOARD_LIMIT}`);
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > MAX_LEADERBOARD_OFFSET) {
      throw invalidStat("offset", `must be an integer from 0 to ${MAX_LEADERBOARD_OFFSET}`);
    }
    // The window's order (value desc) is a prefix of the page's, so one ordered walk of the index
    // feeds both, and the limit stops it after offset + limit rows; names are joined to the page only.
    const { rows } = await sql<{ rank: string; account_id: string; username: string; value: string }>`
      with page as (
        select account_id, value, rank() over (order by value desc) as rank
        from player_stats
        where stat = ${stat}
        order by value desc, account_id
        offset ${offset} limit ${limit}
      )
      select page.rank, page.account_id, accounts.username_display as username, page.value
      from page join accounts on accounts.id = page.account_id
      order by page.value desc, page.account_id
    `.execute(this.#db);
    return rows.map((row) =>
      Object.freeze({
        rank: Number(row.rank),
        accountId: String(row.account_id),
        username: row.username,
        value: toNumber(String(row.value)),
      }),
    );
  }

  /** Validates a whole batch and merges it: account id → stat → summed delta (saturated). */
  #validate(entries: readonly StatReportEntry[]): Map<string, Map<string, bigint>> {
    if (!Array.isArray(entries)) throw invalidStat("entries", "must be an array");
    if (entries.length > MAX_ENTRIES_PER_REPORT) {
      throw invalidStat("entries", `at most ${MAX_ENTRIES_PER_REPORT} entries per report`, {
        count: entries.length,
      });
    }
    const merged = new Map<string, Map<string, bigint>>();
    entries.forEach((entry: unknown, index) => {
      if (typeof entry !== "object" || entry === null)
        throw invalidStat("entries", "not an object", { index });
      const { accountId, increments } = entry as Partial<StatReportEntry>;
      if (!isAccountId(accountId)) throw unknownPlayers([String(accountId).slice(0, 32)]);
      if (typeof increments !== "object" || increments === null || Array.isArray(increments)) {
        throw invalidStat("increments", "must be an object of stat → delta", { index });
      }
      const pairs = Object.entries(increments);
      if (pairs.length > MAX_STATS_PER_ENTRY) {
        throw invalidStat("increments", `at most ${MAX_STATS_PER_ENTRY} stats per entry`, {
          index,
          count: pairs.length,
        });
      }
      let stats = merged.get(accountId);
      for (const [stat, delta] of pairs) {
        assertStatName(stat, { index });
        if (typeof delta !== "number" || !Number.isSafeInteger(delta) || delta < 0) {
          throw invalidStat("delta", "must be a safe integer ≥ 0 (counters only go up)", { index, stat });
        }
        if (stats === undefined) {
          stats = new Map();
          merged.set(accountId, stats);
        }
        const sum = (stats.get(stat) ?? 0n) + BigInt(delta);
        stats.set(stat, sum > SAFE_MAX ? SAFE_MAX : sum);
      }
    });
    return merged;
  }

  /** Which of `accountIds` no account has (after a foreign-key violation). */
  async #missing(accountIds: readonly string[]): Promise<string[]> {
    const found = await this.#db
      .selectFrom("accounts")
      .select("id")
      .where("id", "in", [...accountIds])
      .execute();
    const known = new Set(found.map((row) => row.id));
    return accountIds.filter((id) => !known.has(id));
  }
}
