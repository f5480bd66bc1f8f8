/**
 * Persisted player state, the zone server's side: players' snapshots go to the lobby, which keeps
 * them in Postgres (`player_state_save`), and come back from it (`player_state_load`) when a player
 * has no Redis checkpoint. Zone servers never talk to Postgres: only to the lobby, over NATS, with
 * their server credential (docs/protocol.md §10, "Persisted player state").
 *
 * - **Never throws into the tick.** Every failure (no lobby, a timeout, a `lobby_error`, an answer
 *   that does not decode) is logged with its context and counted; the Redis checkpoint still holds
 *   the state. Saves that failed are kept (the latest entry per player, at most
 *   {@link DEFAULT_RETRY_LIMIT}) and sent again with the next save, so a lobby that comes back gets
 *   them at the next periodic persist.
 * - **Bounded.** Each request has a timeout ({@link DEFAULT_PERSIST_TIMEOUT_MS}; a load, made inside
 *   an install, {@link DEFAULT_LOAD_TIMEOUT_MS}); a save is split
 *   into batches of at most 500 entries (`PLAYER_STATE_MAX_ENTRIES`) and 512 KiB
 *   (`LOBBY_MAX_MESSAGE_BYTES`).
 * - **In order.** Saves run one after the other in call order, so a periodic save taken before a
 *   logout cannot land after the logout's save of the same player at the same epoch (the lobby's
 *   fence lets equal epochs overwrite).
 */
import {
  encodeMessage,
  LOBBY_MAX_MESSAGE_BYTES,
  type LobbyErrorReply,
  lobbyReplyCodec,
  lobbySubject,
  PLAYER_STATE_MAX_ENTRIES,
  type PlayerStateSaveRequest,
  type Subjects,
} from "@meridian/protocol";
import type { PlayerSnapshot } from "@meridian/world";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { GameServerError, GameServerErrorCode } from "../errors.js";

/** Default period of the persists of every player held (`ZONE_PERSIST_MS`), ms; 0 turns them off. */
export const DEFAULT_PERSIST_MS = 60_000;
/** Default bound on the persist of every player at shutdown, ms. */
export const DEFAULT_PERSIST_STOP_MS = 4_000;
/** Default bound on one lobby request, ms. */
export const DEFAULT_PERSIST_TIMEOUT_MS = 2_000;
/**
 * Default bound on a load, ms: it runs inside an install, which must answer within the authority's
 * attach bound (`AUTHORITY_ATTACH_TIMEOUT_MS`, 1 s).
 */
export const DEFAULT_LOAD_TIMEOUT_MS = 500;
/** Default number of failed entries kept for the next save. */
export const DEFAULT_RETRY_LIMIT = 10_000;

/** Options of {@link PlayerStatePersister}. */
export interface PlayerStatePersisterOptions {
  readonly subjects: Subjects;
  /** The zone server's credential (`ZONE_CREDENTIAL`), issued by the lobby for `world`. */
  readonly credential: string;
  /** The world's name. */
  readonly world: string;
  /** The server's id, for logs. */
  readonly serverId: string;
  /** Bound on one save request, ms. Default {@link DEFAULT_PERSIST_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Bound on one load, ms. Default {@link DEFAULT_LOAD_TIMEOUT_MS}. */
  readonly loadTimeoutMs?: number;
  /** Entries per request, 1–500. Default 500. */
  readonly batchSize?: number;
  /** Failed entries kept for the next save. Default {@link DEFAULT_RETRY_LIMIT}. */
  readonly retryLimit?: number;
}

/** One player to persist: the snapshot and the player's epoch at this server. */
export interface PersistEntry {
  readonly epoch: number;
  readonly snapshot: PlayerSnapshot;
}

/** What a load found. Failures are `failed`, never a throw. */
export type PersistedLoad =
  | { readonly status: "found"; readonly epoch: number; readonly snapshot: PlayerSnapshot }
  | { readonly status: "missing" }
  | { readonly status: "failed"; readonly error: GameServerError };

/** Counters since start. */
export interface PlayerStatePersisterStats {
  /** Entries the lobby wrote. */
  saved: number;
  /** Entries the lobby refused as older than what it holds. */
  stale: number;
  /** Entries of accounts the lobby does not know. */
  unknown: number;
  /** Entries whose state the lobby cannot store as JSON. */
  invalid: number;
  /** Requests (save or load) that failed. */
  failures: number;
  /** Entries given up: larger than a message, or beyond the retry limit. */
  dropped: number;
  /** Entries waiting for the next save after a failure. */
  pending: number;
  /** Loads that found a persisted state. */
  loaded: number;
}

export class PlayerStatePersister {
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #options: Required<PlayerStatePersisterOptions>;
  readonly #saveReplies = lobbyReplyCodec("player_state_save");
  readonly #loadReplies = lobbyReplyCodec("player_state_load");
  /** Entries of failed saves, by account: the latest one of each player. */
  readonly #retry = new Map<string, PersistEntry>();
  readonly #stats: PlayerStatePersisterStats = {
    saved: 0,
    stale: 0,
    unknown: 0,
    invalid: 0,
    failures: 0,
    dropped: 0,
    pending: 0,
    loaded: 0,
  };
  #tail: Promise<unknown> = Promise.resolve();

  constructor(nc: NatsConnection, logger: Logger, options: PlayerStatePersisterOptions) {
    const batchSize = options.batchSize ?? PLAYER_STATE_MAX_ENTRIES;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > PLAYER_STATE_MAX_ENTRIES) {
      throw new GameServerError(
        GameServerErrorCode.InvalidOptions,
        `batchSize must be 1–${PLAYER_STATE_MAX_ENTRIES}`,
      );
    }
    this.#nc = nc;
    this.#log = logger.child({ subsystem: "persist" });
    this.#options = Object.freeze({
      ...options,
      timeoutMs: options.timeoutMs ?? DEFAULT_PERSIST_TIMEOUT_MS,
      loadTimeoutMs: options.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS,
      retryLimit: options.retryLimit ?? DEFAULT_RETRY_LIMIT,
      batchSize,
    });
  }

  /** Counters since start (a copy). */
  stats(): PlayerStatePersisterStats {
    return { ...this.#stats, pending: this.#retry.size };
  }

  /**
   * Persists `entries` (and the entries of earlier failed saves), after the saves already queued.
   * Resolves with whether every batch was answered; never rejects.
   */
  save(entries: readonly PersistEntry[], reason: string): Promise<boolean> {
    const run = this.#tail.then(() => this.#save(entries, reason));
    this.#tail = run.catch(() => undefined);
    return run.catch((error: unknown) => {
      this.#log.error({ err: error, reason }, "persisting player state failed unexpectedly");
      return false;
    });
  }

  /** Resolves when every save queued so far has finished. Never rejects. */
  async idle(): Promise<void> {
    await this.#tail;
  }

  /** The player's persisted state in this world. Never rejects. */
  async load(accountId: string): Promise<PersistedLoad> {
    const { subjects, credential, world, loadTimeoutMs } = this.#options;
    try {
      const msg = await this.#nc.request(
        lobbySubject(subjects, "player_state_load"),
        this.#encodeLoad(credential, world, accountId),
        { timeout: loadTimeoutMs },
      );
      const decoded = this.#loadReplies.decode(msg.data);
      if (!decoded.ok) throw this.#failure("load", "the lobby's answer does not decode", decoded.error);
      const reply = decoded.message;
      if (reply.t === "lobby_error") throw this.#lobbyError("load", reply);
      if (!reply.found || reply.epoch === undefined || reply.snapshot === undefined) {
        return { status: "missing" };
      }
      this.#stats.loaded++;
      const { username, x, y, lastSeq, state } = reply.snapshot;
      return {
        status: "found",
        epoch: reply.epoch,
        snapshot: { accountId, username, x, y, lastSeq, state },
      };
    } catch (caught) {
      const error =
        caught instanceof GameServerError ? caught : this.#failure("load", "no lobby answered", caught);
      this.#stats.failures++;
      this.#log.warn(
        { err: error, code: error.code, accountId, ...error.context },
        "player state load failed",
      );
      return { status: "failed", error };
    }
  }

  #encodeLoad(credential: string, world: string, accountId: string): Uint8Array {
    return encodeMessage({ t: "player_state_load", credential, world, accountId });
  }

  async #save(entries: readonly PersistEntry[], reason: string): Promise<boolean> {
    // The retried entries first, each replaced by a newer entry of the same player.
    const byAccount = new Map(this.#retry);
    this.#retry.clear();
    for (const entry of entries) byAccount.set(entry.snapshot.accountId, entry);
    if (byAccount.size === 0) return true;
    const { subjects, timeoutMs } = this.#options;
    const { parts, dropped } = this.#split([...byAccount.values()]);
    if (dropped > 0) {
      this.#stats.dropped += dropped;
      this.#log.error({ dropped, reason }, "player snapshots larger than a lobby message: not persisted");
    }
    let allOk = dropped === 0;
    for (const [index, { part, bytes }] of parts.entries()) {
      try {
        const msg = await this.#nc.request(lobbySubject(subjects, "player_state_save"), bytes, {
          timeout: timeoutMs,
        });
        const decoded = this.#saveReplies.decode(msg.data);
        if (!decoded.ok) throw this.#failure("save", "the lobby's answer does not decode", decoded.error);
        const reply = decoded.message;
        if (reply.t === "lobby_error") throw this.#lobbyError("save", reply);
        this.#stats.saved += reply.saved;
        this.#stats.stale += reply.stale;
        this.#stats.unknown += reply.unknown;
        this.#stats.invalid += reply.invalid;
        if (reply.unknown > 0 || reply.invalid > 0) {
          this.#log.warn(
            { reason, unknown: reply.unknown, invalid: reply.invalid },
            "the lobby skipped player snapshots (unknown accounts or state with no JSON form)",
          );
        }
      } catch (caught) {
        allOk = false;
        const error =
          caught instanceof GameServerError ? caught : this.#failure("save", "no lobby answered", caught);
        this.#stats.failures++;
        this.#log.warn(
          {
            err: error,
            code: error.code,
            reason,
            entries: part.length,
            batch: index + 1,
            batches: parts.length,
            ...error.context,
          },
          "player state save failed: kept for the next save (the Redis checkpoint holds the state)",
        );
        // A bad request would fail again as is; anything else is worth another try.
        if (error.context.lobbyCode !== "LOBBY_BAD_REQUEST") this.#keep(part);
      }
    }
    return allOk;
  }

  /**
   * Cuts `items` into requests of at most `batchSize` entries and `LOBBY_MAX_MESSAGE_BYTES` bytes,
   * each entry measured once; the rare part still too large (the envelope's share) is halved.
   */
  #split(items: readonly PersistEntry[]): {
    parts: { part: readonly PersistEntry[]; bytes: Uint8Array }[];
    dropped: number;
  } {
    const { credential, world, batchSize } = this.#options;
    const encode = (part: readonly PersistEntry[]) =>
      encodeMessage({ t: "player_state_save", credential, world, entries: part.map(toWire) });
    const budget = LOBBY_MAX_MESSAGE_BYTES - encode([]).length - 5;
    const parts: { part: readonly PersistEntry[]; bytes: Uint8Array }[] = [];
    let dropped = 0;
    const push = (part: readonly PersistEntry[]): void => {
      if (part.length === 0) return;
      const bytes = encode(part);
      if (bytes.length <= LOBBY_MAX_MESSAGE_BYTES) parts.push({ part, bytes });
      else if (part.length > 1) {
        const half = Math.ceil(part.length / 2);
        push(part.slice(0, half));
        push(part.slice(half));
      } else dropped++;
    };
    let part: PersistEntry[] = [];
    let size = 0;
    for (const item of items) {
      const itemBytes = encodeMessage({ t: "", ...toWire(item) }).length;
      if (itemBytes > budget) {
        dropped++;
        continue;
      }
      if (part.length >= batchSize || size + itemBytes > budget) {
        push(part);
        part = [];
        size = 0;
      }
      part.push(item);
      size += itemBytes;
    }
    push(part);
    return { parts, dropped };
  }

  #keep(part: readonly PersistEntry[]): void {
    for (const entry of part) {
      const accountId = entry.snapshot.accountId;
      const newer = this.#retry.get(accountId);
      if (newer === undefined || newer.epoch <= entry.epoch) this.#retry.set(accountId, entry);
    }
    // Over the limit: the oldest kept entries go (insertion order).
    for (const accountId of this.#retry.keys()) {
      if (this.#retry.size <= this.#options.retryLimit) break;
      this.#retry.delete(accountId);
      this.#stats.dropped++;
    }
  }

  #lobbyError(verb: "save" | "load", reply: LobbyErrorReply): GameServerError {
    return new GameServerError(GameServerErrorCode.PersistFailed, `the lobby refused player_state_${verb}`, {
      context: {
        verb,
        lobbyCode: reply.code,
        lobbyMessage: reply.message,
        ...(reply.field === undefined ? {} : { field: reply.field }),
      },
    });
  }

  #failure(verb: "save" | "load", message: string, cause: unknown): GameServerError {
    return new GameServerError(GameServerErrorCode.PersistFailed, `player_state_${verb}: ${message}`, {
      cause,
      context: { verb, world: this.#options.world, serverId: this.#options.serverId },
    });
  }
}

type WireEntry = PlayerStateSaveRequest["entries"][number];

function toWire(entry: PersistEntry): WireEntry {
  const { username, x, y, lastSeq, state } = entry.snapshot;
  return {
    accountId: entry.snapshot.accountId,
    epoch: entry.epoch,
    snapshot: { username, x, y, lastSeq, state: state ?? null },
  };
}
