/**
 * An in-process cache of presence hashes kept exact by Redis itself: server-assisted client-side
 * caching (`CLIENT TRACKING`, Redis ≥ 6). A locate of a player whose presence was read before is
 * answered from memory, with no Redis round trip: the lobby's `locate` then costs about one NATS
 * request/reply.
 *
 * How it stays true:
 * - Reads go through a connection of their own with tracking on, redirected to a second connection
 *   (RESP2, subscribed to `__redis__:invalidate`): Redis remembers every key that connection read
 *   (present or missing) and, when one changes, expires or is deleted, sends its name to the
 *   subscriber once. The cache forgets it and the next read asks Redis again (and is tracked again).
 *   A flush (a nil message) forgets everything.
 * - A read in flight when its key's invalidation arrives is answered but not cached (the reply may
 *   predate the change), and reads started after the invalidation do not join it: they ask Redis
 *   again. Otherwise concurrent reads of one key share one Redis read.
 * - Whenever either connection drops (or tracking cannot be set up, e.g. a Redis older than 6) the
 *   cache empties and reads go straight to Redis until tracking is set up again on the new
 *   connections. Noticing a drop takes a moment (a killed connection's close arrives after the
 *   kill; a silent network partition until TCP gives up), and changes made meanwhile are not heard:
 *   so no entry is used when older than `maxAgeMs` (default 1 s), which bounds how stale an answer
 *   can be whatever happens to the invalidations. Normally they make answers exact.
 *
 * - The reader redirects to the newest connection of the subscriber's name (client ids only grow):
 *   an old one the server still holds half-open after a partition does not get the invalidations.
 *
 * It offers `hgetall` like an ioredis client, so the locator reads through it unchanged.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** Default {@link PresenceCacheOptions.maxEntries}: 100,000 presence hashes (a few tens of MB at most). */
export const DEFAULT_PRESENCE_CACHE_ENTRIES = 100_000;
/** Default {@link PresenceCacheOptions.maxAgeMs}: 1 s. */
export const DEFAULT_PRESENCE_CACHE_MAX_AGE_MS = 1_000;
/** The channel Redis publishes invalidations on (RESP2 redirect). */
export const INVALIDATE_CHANNEL = "__redis__:invalidate";

/** Options of {@link PresenceCache}. */
export interface PresenceCacheOptions {
  /** Most hashes kept (least recently read are dropped first). Default {@link DEFAULT_PRESENCE_CACHE_ENTRIES}. */
  readonly maxEntries?: number;
  /**
   * Oldest entry used, ms: the bound on staleness when invalidations are lost before the loss is
   * noticed. Default {@link DEFAULT_PRESENCE_CACHE_MAX_AGE_MS}.
   */
  readonly maxAgeMs?: number;
  readonly logger?: Logger;
}

/** Counters of a {@link PresenceCache}. */
export interface PresenceCacheStats {
  readonly entries: number;
  readonly hits: number;
  readonly misses: number;
  readonly invalidations: number;
  /** Whether invalidations are being received (reads are cached). */
  readonly tracking: boolean;
}

type Hash = Record<string, string>;

interface Entry {
  readonly hash: Hash;
  /** `performance.now()` when read from Redis. */
  readonly at: number;
}

export class PresenceCache {
  readonly #reader: Redis;
  readonly #subscriber: Redis;
  /** The subscriber's connection name, unique: the reader finds its client id by it. */
  readonly #subscriberName: string;
  readonly #max: number;
  readonly #maxAgeMs: number;
  readonly #log: Logger | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Hash>>();
  #tracking = false;
  /** Bumped by every drop and set-up: a set-up that lost a race does not turn tracking on. */
  #generation = 0;
  #closed = false;
  #hits = 0;
  #misses = 0;
  #invalidations = 0;

  /**
   * @param redis the lobby's client: two connections are made from its options (`duplicate`).
   * @throws LobbyError `LOBBY_INVALID_OPTIONS` for a bad `maxEntries`.
   */
  constructor(redis: Redis, options: PresenceCacheOptions = {}) {
    const max = options.maxEntries ?? DEFAULT_PRESENCE_CACHE_ENTRIES;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new LobbyError(
        LobbyErrorCode.InvalidOptions,
        `maxEntries must be a positive integer, got ${max}`,
        {
          context: { problems: ["maxEntries"] },
        },
      );
    }
    const maxAgeMs = options.maxAgeMs ?? DEFAULT_PRESENCE_CACHE_MAX_AGE_MS;
    if (!Number.isFinite(maxAgeMs) || maxAgeMs <= 0) {
      throw new LobbyError(
        LobbyErrorCode.InvalidOptions,
        `maxAgeMs must be a positive number, got ${maxAgeMs}`,
        {
          context: { problems: ["maxAgeMs"] },
        },
      );
    }
    this.#max = max;
    this.#maxAgeMs = maxAgeMs;
    this.#log = options.logger;
    const name = redis.options.connectionName ?? "lobby";
    this.#subscriberName = `${name}-invalidations-${randomBytes(6).toString("hex")}`;
    this.#reader = redis.duplicate({ lazyConnect: true, connectionName: `${name}-presence` });
    // RESP2: invalidations arrive as pub/sub messages (RESP3 would send `invalidate` pushes, which
    // ioredis does not surface).
    this.#subscriber = redis.duplicate({
      lazyConnect: true,
      protocol: 2,
      connectionName: this.#subscriberName,
    });
    this.#subscriber.on("messageBuffer", (channel: Buffer, message: unknown) => {
      if (channel.toString() === INVALIDATE_CHANNEL) this.#invalidate(message);
    });
    for (const client of [this.#reader, this.#subscriber]) {
      client.on("error", (error: Error) =>
        this.#log?.debug({ err: error }, "presence cache connection error"),
      );
      client.on("close", () => this.#drop("connection closed"));
      // A reconnected connection has no tracking (reader) or a new client id (subscriber).
      client.on("ready", () => void this.#setUp());
    }
  }

  /** Connects both connections and sets tracking up. Never rejects: without tracking, reads are not cached. */
  async start(): Promise<void> {
    await Promise.all(
      [this.#reader, this.#subscriber].map((client) =>
        client.status === "wait" ? client.connect().catch(() => undefined) : undefined,
      ),
    );
    await this.#setUp();
  }

  /** The presence hash at `key` (empty when there is none), from memory when it is tracked. */
  hgetall(key: string): Promise<Hash> {
    if (!this.#tracking) return this.#reader.hgetall(key);
    const cached = this.#entries.get(key);
    if (cached !== undefined) {
      this.#entries.delete(key);
      if (performance.now() - cached.at <= this.#maxAgeMs) {
        this.#hits++;
        // Most recently used last.
        this.#entries.set(key, cached);
        return Promise.resolve(cached.hash);
      }
    }
    const pending = this.#inflight.get(key);
    if (pending !== undefined) return pending;
    this.#misses++;
    const generation = this.#generation;
    const at = performance.now();
    const read: Promise<Hash> = this.#reader.hgetall(key).then(
      (hash) => {
        // Cached only if still the key's read in flight and not invalidated meanwhile.
        const current = this.#inflight.get(key) === read;
        if (current) this.#inflight.delete(key);
        if (current && this.#tracking && generation === this.#generation) this.#store(key, { hash, at });
        return hash;
      },
      (error: unknown) => {
        if (this.#inflight.get(key) === read) this.#inflight.delete(key);
        throw error;
      },
    );
    this.#inflight.set(key, read);
    return read;
  }

  stats(): PresenceCacheStats {
    return {
      entries: this.#entries.size,
      hits: this.#hits,
      misses: this.#misses,
      invalidations: this.#invalidations,
      tracking: this.#tracking,
    };
  }

  /** Closes both connections (reads after this fail as ioredis does on a closed client). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#drop("closed");
    await Promise.all(
      [this.#reader, this.#subscriber].map(async (client) => {
        if (client.status === "wait" || client.status === "end") return client.disconnect();
        await client.quit().catch(() => client.disconnect());
      }),
    );
  }

  #store(key: string, entry: Entry): void {
    this.#entries.set(key, entry);
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  #invalidate(message: unknown): void {
    if (message === null || message === undefined) {
      // FLUSHDB / FLUSHALL.
      this.#invalidations++;
      this.#entries.clear();
      // Reads in flight may predate the flush: not cached, and not joined by later reads.
      this.#inflight.clear();
      return;
    }
    const keys = Array.isArray(message) ? message : [message];
    for (const raw of keys) {
      const key = String(raw);
      this.#invalidations++;
      this.#entries.delete(key);
      // A read in flight may have run before the change: not cached, and a later read asks again.
      this.#inflight.delete(key);
    }
  }

  #drop(why: string): void {
    this.#generation++;
    if (this.#tracking) this.#log?.warn({ why }, "presence cache off until tracking is set up again");
    this.#tracking = false;
    this.#entries.clear();
    this.#inflight.clear();
  }

  async #setUp(): Promise<void> {
    if (this.#closed || this.#reader.status !== "ready" || this.#subscriber.status !== "ready") return;
    this.#drop("setting up");
    const generation = this.#generation;
    try {
      await this.#subscriber.subscribe(INVALIDATE_CHANNEL);
      // A subscribed RESP2 connection cannot run CLIENT ID: the reader looks it up by name.
      const list = String(await this.#reader.call("CLIENT", "LIST", "TYPE", "pubsub"));
      // The newest connection of that name (ids only grow): an old one may linger half-open after a
      // partition until the server gives up on it, and must not receive the invalidations.
      let id: string | undefined;
      for (const line of list.split("\n")) {
        if (!line.includes(` name=${this.#subscriberName} `)) continue;
        const found = /(?:^|\s)id=(\d+)/.exec(line)?.[1];
        if (found !== undefined && (id === undefined || Number(found) > Number(id))) id = found;
      }
      if (id === undefined) throw new Error(`subscriber ${this.#subscriberName} not in CLIENT LIST`);
      await this.#reader.client("TRACKING", "OFF");
      await this.#reader.client("TRACKING", "ON", "REDIRECT", id);
    } catch (error) {
      this.#log?.warn(
        { err: error },
        "presence cache: CLIENT TRACKING unavailable, presence reads go to Redis",
      );
      return;
    }
    if (generation !== this.#generation || this.#closed) return;
    this.#tracking = true;
    this.#log?.debug("presence cache tracking");
  }
}
