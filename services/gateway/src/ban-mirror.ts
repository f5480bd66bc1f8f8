/**
 * The gateway's in-memory mirror of the lobby's address bans, for the accept guard (`deny`).
 *
 * Source of truth: the Redis hash `banKeys(prefix).addresses` (canonical CIDR text → expiry in ms,
 * `0` = permanent) and its `version`, written by the lobby in one `MULTI` per change. The mirror
 * loads the hash at start, applies the lobby's change notices (`evt.ban.changed`, JSON) as they
 * arrive (NATS: a ban written anywhere reaches every gateway in milliseconds), reloads when it sees a
 * version gap or a `resync`, and reloads every `resyncMs` anyway (a notice lost while NATS was down).
 * Timed entries leave the mirror at their expiry on the local clock, without asking Redis.
 *
 * Lookups ({@link BanMirror.has}) are synchronous and in memory: netengine's {@link AddressList}.
 *
 * @module
 */
import { AddressList, type AddressListSource, type ParsedIp, parseCidr } from "@meridian/netengine";
import {
  BAN_CHANGED_TOPIC,
  type BanChangedNotice,
  BanKind,
  BanNoticeOp,
  banKeys,
  type Subjects,
} from "@meridian/protocol";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
import type { Logger } from "pino";

/** Options of {@link BanMirror}. */
export interface BanMirrorOptions {
  /** Redis key prefix of the cluster (the lobby's `MERIDIAN_REDIS_PREFIX`). */
  readonly redisPrefix: string;
  /** Period of the full reload, ms. Default 30000. */
  readonly resyncMs?: number;
  /** Wall clock, ms since the epoch (entries' expiries are epoch times). Default `Date.now`. */
  readonly now?: () => number;
}

/** Told of an address entry that became listed (to close live connections it covers). */
export type BanListedListener = (entry: string) => void;

/** Min-heap of [expiry, entry], lazily pruned (an entry whose expiry changed is skipped when popped). */
class ExpiryHeap {
  #items: [number, string][] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): [number, string] | undefined {
    return this.#items[0];
  }

  reset(items: [number, string][]): void {
    this.#items = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  push(item: [number, string]): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((items[parent] as [number, string])[0] <= item[0]) break;
      items[i] = items[parent] as [number, string];
      i = parent;
    }
    items[i] = item;
  }

  pop(): [number, string] | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      this.#down(0);
    }
    return top;
  }

  #down(start: number): void {
    const items = this.#items;
    const n = items.length;
    let i = start;
    const item = items[i] as [number, string];
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (
        child + 1 < n &&
        (items[child + 1] as [number, string])[0] < (items[child] as [number, string])[0]
      ) {
        child++;
      }
      if ((items[child] as [number, string])[0] >= item[0]) break;
      items[i] = items[child] as [number, string];
      i = child;
    }
    items[i] = item;
  }
}

/** Canonical CIDR text of an entry, or undefined when it does not parse. */
function canonical(entry: string): string | undefined {
  try {
    return parseCidr(entry.trim()).text;
  } catch {
    return undefined;
  }
}

/** Largest delay setTimeout honours. */
const MAX_TIMER_MS = 0x7fff_ffff;

/**
 * The address-ban mirror. `start()` loads and subscribes; `stop()` unsubscribes and stops the timers.
 * Implements netengine's {@link AddressListSource}: pass it as the accept guard's `deny`.
 */
export class BanMirror implements AddressListSource {
  readonly #redis: Redis;
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #keys: ReturnType<typeof banKeys>;
  readonly #log: Logger;
  readonly #resyncMs: number;
  readonly #now: () => number;
  readonly #list = new AddressList();
  /** Canonical entry → expiry (0 = permanent). */
  readonly #expiries = new Map<string, number>();
  readonly #heap = new ExpiryHeap();
  readonly #listeners = new Set<BanListedListener>();
  #version = -1;
  #sub: Subscription | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #expiryAt = Number.POSITIVE_INFINITY;
  #loading: Promise<void> | undefined;
  #reloadAgain = false;
  #stopped = false;
  #reloads = 0;

  constructor(
    deps: { redis: Redis; nc: NatsConnection; subjects: Subjects; logger: Logger },
    options: BanMirrorOptions,
  ) {
    this.#redis = deps.redis;
    this.#nc = deps.nc;
    this.#subject = deps.subjects.event(BAN_CHANGED_TOPIC);
    this.#keys = banKeys(options.redisPrefix);
    this.#log = deps.logger;
    this.#resyncMs = options.resyncMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /** Whether `ip` is covered by a live entry. Synchronous, in memory. */
  has(ip: ParsedIp): boolean {
    return this.#list.has(ip);
  }

  /** Live entries (addresses and ranges). */
  get size(): number {
    return this.#list.size;
  }

  /** The mirror's version (the lobby's `bans:version` it last saw); -1 before the first load. */
  get version(): number {
    return this.#version;
  }

  /** Full reloads done so far (start, resyncs, gaps), for stats and tests. */
  get reloads(): number {
    return this.#reloads;
  }

  /** The live entries, canonical CIDR text. */
  entries(): string[] {
    return this.#list.entries();
  }

  /** Registers a listener told of every entry that becomes listed (by a notice or a reload). */
  onListed(listener: BanListedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Subscribes to the notices, then loads the mirror; resolves once it is loaded. */
  async start(): Promise<void> {
    this.#sub = this.#nc.subscribe(this.#subject, {
      callback: (error, msg) => {
        if (error !== null) {
          this.#log.warn({ err: error }, "ban notice subscription failed");
          return;
        }
        this.#onNotice(msg.data);
      },
    });
    await this.reload();
    this.#resyncTimer = setInterval(() => {
      this.reload().catch((error: unknown) => this.#log.warn({ err: error }, "ban mirror resync failed"));
    }, this.#resyncMs);
    this.#resyncTimer.unref();
  }

  /** Unsubscribes and stops the timers. Idempotent. */
  stop(): void {
    this.#stopped = true;
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    if (this.#resyncTimer !== undefined) clearInterval(this.#resyncTimer);
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#resyncTimer = undefined;
    this.#expiryTimer = undefined;
  }

  /**
   * Reloads the whole mirror from Redis (`version` and `HGETALL` in one `MULTI`). Concurrent calls
   * share one load; a notice that arrives meanwhile triggers one more load after it.
   */
  reload(): Promise<void> {
    if (this.#loading !== undefined) {
      this.#reloadAgain = true;
      return this.#loading;
    }
    this.#loading = (async () => {
      try {
        do {
          this.#reloadAgain = false;
          await this.#loadOnce();
        } while (this.#reloadAgain && !this.#stopped);
      } finally {
        this.#loading = undefined;
      }
    })();
    return this.#loading;
  }

  async #loadOnce(): Promise<void> {
    const results = await this.#redis.multi().get(this.#keys.version).hgetall(this.#keys.addresses).exec();
    if (results === null) throw new Error("ban mirror load: transaction aborted");
    const [versionResult, hashResult] = results;
    if (versionResult?.[0]) throw versionResult[0];
    if (hashResult?.[0]) throw hashResult[0];
    const version = Number(versionResult?.[1] ?? 0);
    const hash = (hashResult?.[1] ?? {}) as Record<string, string>;
    const now = this.#now();
    const next = new Map<string, number>();
    let skipped = 0;
    for (const [entry, raw] of Object.entries(hash)) {
      const expiry = Number(raw);
      const text = canonical(entry);
      if (text === undefined || !Number.isSafeInteger(expiry) || expiry < 0) {
        skipped++;
        continue;
      }
      if (expiry !== 0 && expiry <= now) continue;
      next.set(text, expiry);
    }
    if (skipped > 0) this.#log.warn({ skipped }, "ban mirror: skipped unparsable entries");
    const previous = this.#expiries;
    const added: string[] = [];
    for (const entry of next.keys()) if (!previous.has(entry)) added.push(entry);
    this.#list.replaceAll(next.keys());
    previous.clear();
    const timed: [number, string][] = [];
    for (const [entry, expiry] of next) {
      previous.set(entry, expiry);
      if (expiry !== 0) timed.push([expiry, entry]);
    }
    this.#heap.reset(timed);
    this.#version = Number.isSafeInteger(version) ? version : 0;
    this.#reloads++;
    this.#armExpiry();
    for (const entry of added) this.#emitListed(entry);
  }

  #onNotice(data: Uint8Array): void {
    let notice: BanChangedNotice;
    try {
      notice = JSON.parse(new TextDecoder().decode(data)) as BanChangedNotice;
    } catch (error) {
      this.#log.warn({ err: error }, "ban notice is not JSON; reloading");
      this.#scheduleReload();
      return;
    }
    if (typeof notice !== "object" || notice === null || !Number.isSafeInteger(notice.version)) {
      this.#scheduleReload();
      return;
    }
    if (this.#loading !== undefined) {
      // The load in flight may have read Redis before this change: load again after it.
      this.#reloadAgain = true;
    }
    if (notice.op === BanNoticeOp.Resync) {
      this.#scheduleReload();
      return;
    }
    if (notice.version <= this.#version) return; // already in what we loaded
    const gap = this.#version >= 0 && notice.version !== this.#version + 1;
    this.#version = notice.version;
    if ((notice.kind === BanKind.Ip || notice.kind === BanKind.Cidr) && typeof notice.target === "string") {
      const entry = canonical(notice.target);
      if (entry === undefined) {
        this.#log.warn({ target: notice.target }, "ban notice: unparsable target");
      } else if (notice.listed === true) {
        const expiry = typeof notice.expiresAt === "number" ? notice.expiresAt : 0;
        if (expiry === 0 || expiry > this.#now()) this.#set(entry, expiry);
        else this.#remove(entry);
      } else {
        this.#remove(entry);
      }
    }
    if (gap) this.#scheduleReload();
  }

  #scheduleReload(): void {
    if (this.#stopped) return;
    this.reload().catch((error: unknown) => this.#log.warn({ err: error }, "ban mirror reload failed"));
  }

  #set(entry: string, expiry: number): void {
    const isNew = !this.#expiries.has(entry);
    this.#expiries.set(entry, expiry);
    if (isNew) this.#list.add(entry);
    if (expiry !== 0) {
      this.#heap.push([expiry, entry]);
      this.#armExpiry();
    }
    this.#emitListed(entry);
  }

  #remove(entry: string): void {
    if (!this.#expiries.delete(entry)) return;
    this.#list.remove(entry);
  }

  #emitListed(entry: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(entry);
      } catch (error) {
        this.#log.error({ err: error }, "ban listener threw");
      }
    }
  }

  /** Sets the timer for the earliest expiry (lazy entries are dropped as they surface). */
  #armExpiry(): void {
    if (this.#stopped) return;
    let top = this.#heap.peek();
    while (top !== undefined && this.#expiries.get(top[1]) !== top[0]) {
      this.#heap.pop();
      top = this.#heap.peek();
    }
    if (top === undefined) return;
    if (this.#expiryTimer !== undefined && this.#expiryAt <= top[0]) return;
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#expiryAt = top[0];
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, top[0] - this.#now()));
    this.#expiryTimer = setTimeout(() => this.#expire(), delay);
    this.#expiryTimer.unref();
  }

  #expire(): void {
    this.#expiryTimer = undefined;
    this.#expiryAt = Number.POSITIVE_INFINITY;
    const now = this.#now();
    for (let top = this.#heap.peek(); top !== undefined && top[0] <= now; top = this.#heap.peek()) {
      this.#heap.pop();
      if (this.#expiries.get(top[1]) === top[0]) this.#remove(top[1]);
    }
    this.#armExpiry();
  }
}
