/**
 * Persisted player state: what the lobby keeps of each player per world between sessions, on
 * `player_state(account_id, world, state jsonb, epoch bigint, updated_at)` (primary key
 * `(account_id, world)` since migration 0006). Zone servers write it over NATS (`player_state_save`)
 * on logout, periodically and at shutdown, and read it (`player_state_load`) to restore a player whose
 * Redis checkpoint is gone. Postgres belongs to the lobby: zone servers never connect to it.
 *
 * - **One statement per batch.** The entries travel as one `jsonb` parameter, unpacked by
 *   `jsonb_to_recordset`, joined to `accounts` and upserted by one `INSERT … ON CONFLICT DO UPDATE`:
 *   atomic without an explicit transaction, and never near Postgres's bind-parameter limit.
 * - **Fenced by epoch.** A row is replaced only by an entry of an **equal or higher** player epoch
 *   (`WHERE player_state.epoch <= excluded.epoch`): a former owner's late save cannot overwrite the
 *   newer owner's. Equal epochs pass, as in the Redis checkpoint script: the periodic save of the
 *   current owner repeats its epoch. A refused entry is counted `stale`, not an error.
 * - **Unknown accounts are skipped and counted** (`unknown`), not an error: one account deleted
 *   between a player's logout and the next periodic save must not block every other player of the
 *   batch (unlike `stats_report`, whose increments are all or nothing). The accounts of the batch are
 *   locked `FOR KEY SHARE` by the statement, so a concurrent delete waits instead of failing it.
 * - **Unstorable state is skipped and counted** (`invalid`): the snapshot is stored as JSON, and a
 *   value with no JSON form (binary, a non-finite number, U+0000 in a string, which `jsonb` cannot
 *   hold, more than {@link MAX_STATE_DEPTH} levels) would fail the whole statement.
 * - **Duplicates in a batch**: the highest epoch of an account wins (the later entry on a tie); the
 *   others count as `stale`. So `saved + stale + unknown + invalid` is always the batch's length.
 * - **Rows go in account-id order**, so concurrent batches lock shared rows in the same order and
 *   cannot deadlock.
 */
import { type Kysely, sql } from "kysely";
import type { Database } from "../db/database.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** Deepest nesting of arrays and objects a stored snapshot may have. */
export const MAX_STATE_DEPTH = 64;

/** A player's snapshot as a zone server hands it over (and gets it back). */
export interface PersistedSnapshot {
  readonly username: string;
  readonly x: number;
  readonly y: number;
  readonly lastSeq: number;
  readonly state: unknown;
}

/** One entry of a save. */
export interface PlayerStateEntry {
  /** `accounts.id`, a decimal string. */
  readonly accountId: string;
  /** The player's ownership epoch at the writer: a safe integer ≥ 0. */
  readonly epoch: number;
  readonly snapshot: PersistedSnapshot;
}

/** What a save did: each entry is counted exactly once. */
export interface PlayerStateSaveResult {
  readonly saved: number;
  readonly stale: number;
  readonly unknown: number;
  readonly invalid: number;
}

/** A stored row. */
export interface StoredPlayerState {
  readonly epoch: number;
  readonly snapshot: PersistedSnapshot;
  readonly updatedAt: Date;
}

/** Reads and writes `player_state`. */
export class PlayerStateStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Saves `entries` in `world` in one statement, fenced by epoch (see the module's doc).
   * @throws LobbyError `LOBBY_BAD_REQUEST` (`field` `epoch`) for an epoch that is not a safe integer ≥ 0.
   */
  async save(world: string, entries: readonly PlayerStateEntry[]): Promise<PlayerStateSaveResult> {
    const rows: { i: number; account_id: string; epoch: number; snapshot: PersistedSnapshot }[] = [];
    let invalid = 0;
    entries.forEach((entry, i) => {
      if (!Number.isSafeInteger(entry.epoch) || entry.epoch < 0) {
        throw new LobbyError(LobbyErrorCode.BadRequest, "epoch must be a safe integer ≥ 0", {
          context: { field: "epoch", accountId: entry.accountId },
        });
      }
      const snapshot = {
        username: entry.snapshot.username,
        x: entry.snapshot.x,
        y: entry.snapshot.y,
        lastSeq: entry.snapshot.lastSeq,
        state: entry.snapshot.state ?? null,
      };
      if (!isStorable(snapshot, 0)) invalid++;
      else rows.push({ i, account_id: entry.accountId, epoch: entry.epoch, snapshot });
    });
    if (rows.length === 0) return { saved: 0, stale: 0, unknown: 0, invalid };
    const payload = JSON.stringify(rows);
    const { rows: result } = await sql<{ known: number; saved: number }>`
      with input as (
        select e.i, e.account_id, e.epoch, e.snapshot
        from jsonb_to_recordset(${payload}::jsonb) as e(i integer, account_id bigint, epoch bigint, snapshot jsonb)
      ),
      known as (
        select input.i, input.account_id, input.epoch, input.snapshot
        from input join accounts a on a.id = input.account_id
        for key share of a
      ),
      latest as (
        select distinct on (account_id) account_id, epoch, snapshot
        from known
        order by account_id, epoch desc, i desc
      ),
      written as (
        insert into player_state as p (account_id, world, state, epoch, updated_at)
        select account_id, ${world}, snapshot, epoch, now() from latest order by account_id
        on conflict (account_id, world) do update
          set state = excluded.state, epoch = excluded.epoch, updated_at = excluded.updated_at
          where p.epoch <= excluded.epoch
        returning 1
      )
      select (select count(*) from known)::integer as known, (select count(*) from written)::integer as saved
    `.execute(this.#db);
    const known = Number(result[0]?.known ?? 0);
    const saved = Number(result[0]?.saved ?? 0);
    return { saved, stale: known - saved, unknown: rows.length - known, invalid };
  }

  /**
   * The player's state in `world`, or undefined when none is stored there (a row of another world
   * is not this world's state).
   * @throws LobbyError `LOBBY_UNAVAILABLE` when the stored row is not a snapshot (written by other means).
   */
  async load(world: string, accountId: string): Promise<StoredPlayerState | undefined> {
    const row = await this.#db
      .selectFrom("player_state")
      .select(["epoch", "state", "updated_at"])
      .where("account_id", "=", accountId)
      .where("world", "=", world)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    const epoch = Number(row.epoch);
    const snapshot = asSnapshot(row.state);
    if (!Number.isSafeInteger(epoch) || epoch < 0 || snapshot === undefined) {
      throw new LobbyError(LobbyErrorCode.Unavailable, "a stored player state is not a snapshot", {
        context: { accountId, world, epoch: row.epoch },
      });
    }
    return { epoch, snapshot, updatedAt: row.updated_at };
  }
}

/** Whether `value` survives JSON and `jsonb` unchanged (see the module's doc). */
function isStorable(value: unknown, depth: number): boolean {
  if (value === null || typeof value === "boolean") return true;
  if (typeof value === "string") return !value.includes("\u0000");
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object" || depth >= MAX_STATE_DEPTH) return false;
  if (Array.isArray(value)) return value.every((item) => isStorable(item, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  for (const [key, item] of Object.entries(value)) {
    if (key.includes("\u0000") || !isStorable(item, depth + 1)) return false;
  }
  return true;
}

function asSnapshot(value: unknown): PersistedSnapshot | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { username, x, y, lastSeq, state } = value as Record<string, unknown>;
  if (typeof username !== "string" || typeof x !== "number" || typeof y !== "number") return undefined;
  if (typeof lastSeq !== "number" || !Number.isSafeInteger(lastSeq) || lastSeq < 0) return undefined;
  return { username, x, y, lastSeq, state: state ?? null };
}
