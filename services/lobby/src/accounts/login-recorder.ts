/**
 * Write-behind of what a successful login records: `accounts.last_login_at` and the player's
 * `logins` counter. A login is on the hot path of the lobby (the benchmark: logins per second
 * against the bare hash rate); these two writes are bookkeeping nobody reads within the second, so
 * they are batched: one statement per flush, whatever the number of logins, instead of two per login.
 *
 * A flush runs every `flushMs` (default 1 s) while there is something to write, and on `stop()`.
 * A failed flush is logged and its entries are kept for the next one (nothing is lost while the
 * process lives; a crash loses at most `flushMs` of bookkeeping, never a login).
 *
 * @module
 */
import { type Kysely, sql } from "kysely";
import type { Logger } from "pino";
import type { Database } from "../db/index.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** Default flush period, ms. */
export const DEFAULT_LOGIN_FLUSH_MS = 1_000;

/** Options of {@link LoginRecorder}. */
export interface LoginRecorderOptions {
  /** Flush period, ms (10 ms to 1 min). Default {@link DEFAULT_LOGIN_FLUSH_MS}. */
  readonly flushMs?: number;
  readonly logger?: Logger;
}

/** Batches `last_login_at` and the `logins` counter of successful logins. */
export class LoginRecorder {
  readonly #db: Kysely<Database>;
  readonly #flushMs: number;
  readonly #log: Logger | undefined;
  /** account id → logins since the last flush. */
  #pending = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #stopped = false;

  /** @throws LobbyError `LOBBY_INVALID_OPTIONS` for a bad `flushMs`. */
  constructor(db: Kysely<Database>, options: LoginRecorderOptions = {}) {
    const flushMs = options.flushMs ?? DEFAULT_LOGIN_FLUSH_MS;
    if (!Number.isSafeInteger(flushMs) || flushMs < 10 || flushMs > 60_000) {
      throw new LobbyError(LobbyErrorCode.InvalidOptions, "flushMs must be an integer from 10 to 60000", {
        context: { flushMs },
      });
    }
    this.#db = db;
    this.#flushMs = flushMs;
    this.#log = options.logger;
  }

  /** Logins recorded and not yet written. */
  get pending(): number {
    let n = 0;
    for (const count of this.#pending.values()) n += count;
    return n;
  }

  /** Records one successful login of `accountId` (written at the next flush). */
  record(accountId: string): void {
    this.#pending.set(accountId, (this.#pending.get(accountId) ?? 0) + 1);
    this.#arm();
  }

  /** Starts the flush timer unless it runs (or the recorder stopped). */
  #arm(): void {
    if (this.#timer === undefined && !this.#stopped) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.flush();
      }, this.#flushMs);
      this.#timer.unref();
    }
  }

  /**
   * Writes everything recorded so far, in one statement: `last_login_at = now()` for each account and
   * `logins += n`. Concurrent calls share one flush. Rejects only when the write failed (the entries
   * are then kept for the next flush).
   */
  async flush(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing.catch(() => undefined);
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    this.#flushing = this.#write(batch).finally(() => {
      this.#flushing = undefined;
    });
    try {
      await this.#flushing;
    } catch (error) {
      // Put the batch back (merged with what arrived meanwhile) for the next flush.
      for (const [id, n] of batch) this.#pending.set(id, (this.#pending.get(id) ?? 0) + n);
      this.#log?.warn({ err: error, accounts: batch.size }, "login bookkeeping flush failed; will retry");
      this.#arm();
      throw error;
    }
  }

  /** Stops the timer and writes what is pending. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush().catch(() => undefined);
  }

  async #write(batch: ReadonlyMap<string, number>): Promise<void> {
    // Sorted ids: concurrent flushes of several lobbies lock rows in the same order.
    const ids = [...batch.keys()].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    const counts = ids.map((id) => batch.get(id) ?? 0);
    await sql`
      with logins as (
        select unnest(${ids}::bigint[]) as account_id, unnest(${counts}::bigint[]) as n
      ),
      touched as (
        update accounts set last_login_at = now()
        from logins where accounts.id = logins.account_id
        returning accounts.id
      )
      insert into player_stats (account_id, stat, value)
      select logins.account_id, 'logins', logins.n from logins join touched on touched.id = logins.account_id
      on conflict (account_id, stat) do update
        set value = least(player_stats.value::numeric + excluded.value, ${Number.MAX_SAFE_INTEGER})::bigint
    `.execute(this.#db);
  }
}
