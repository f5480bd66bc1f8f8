/**
 * Leader election over one Redis key, with fencing.
 *
 * The leader key (`worldKeys(prefix, world).leader`) holds `{"id":…,"leaderEpoch":…}` with a
 * time-to-live. Taking it is one script: only when the key is absent, `INCR` the world's
 * `leaderEpoch` counter and `SET` the key with the new epoch (`PX ttl`), so every takeover has a
 * strictly higher `leaderEpoch` than every earlier leader. The leader renews the key every third of
 * the TTL with a compare-and-renew script (only while it still holds exactly its own value); a
 * standby tries to take it just as often, and so takes over at most a third of a TTL after the key
 * expires.
 *
 * The key's exact value is the leader's **fencing token** ({@link LeaderTerm.token}): every write the
 * authority makes to Redis is a script that first checks the key still holds that token
 * (`world-store.ts`), so a deposed leader — paused by GC, partitioned, or just slow to notice — can
 * never overwrite its successor's state.
 *
 * The leader also fences itself in memory: when it cannot renew (Redis unreachable) for two thirds
 * of a TTL since its last successful renewal began, it steps down before the key can expire and a
 * standby can take it.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { Logger } from "pino";

/** Takes the key when absent: KEYS leader, leaderEpoch; ARGV id, ttlMs. Returns the token or nil. */
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local epoch = redis.call('INCR', KEYS[2])
local token = '{"id":"' .. ARGV[1] .. '","leaderEpoch":' .. epoch .. '}'
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token`;

/** Renews the key only while it holds exactly our token: KEYS leader; ARGV token, ttlMs. 1 or 0. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;

/** Deletes the key only while it holds exactly our token: KEYS leader; ARGV token. 1 or 0. */
const RESIGN = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`;

/** One leadership: from taking the key to losing or giving it up. */
export interface LeaderTerm {
  /** The leader key's exact value: the fencing token of every Redis write of this term. */
  readonly token: string;
  /** Strictly higher than every earlier term's (the world's `leaderEpoch` counter). */
  readonly leaderEpoch: number;
}

/** Why a term ended. */
export const DeposedReason = {
  /** Another instance holds the key (ours expired). */
  Lost: "lost",
  /** Redis did not answer renewals for too long: stepped down before the key could expire. */
  Unreachable: "unreachable",
  /** Gave the key up (shutdown, or a failed start of the term). */
  Resigned: "resigned",
} as const;
export type DeposedReason = (typeof DeposedReason)[keyof typeof DeposedReason];

/** What the election tells its owner. */
export interface LeaderListener {
  /** This instance became the leader. */
  elected(term: LeaderTerm): void;
  /** The term ended; called once per term, before any later `elected`. */
  deposed(term: LeaderTerm, reason: DeposedReason): void;
}

export interface LeaderElectionOptions {
  /** This instance's id, written in the key (one NATS token: no quoting needed). */
  readonly id: string;
  /** The leader key and the epoch counter (`worldKeys(…).leader` / `.leaderEpoch`). */
  readonly leaderKey: string;
  readonly epochKey: string;
  /** The key's time-to-live, ms; renewed (or tried) every third of it. */
  readonly ttlMs: number;
}

/** Parses a leader key's value. */
export function parseLeaderToken(value: string | null): { id: string; leaderEpoch: number } | undefined {
  if (value === null) return undefined;
  try {
    const parsed = JSON.parse(value) as { id?: unknown; leaderEpoch?: unknown };
    if (typeof parsed.id === "string" && Number.isSafeInteger(parsed.leaderEpoch)) {
      return { id: parsed.id, leaderEpoch: parsed.leaderEpoch as number };
    }
  } catch {
    // not ours
  }
  return undefined;
}

/** Campaigns for the leader key, renews it while held, and reports terms to a {@link LeaderListener}. */
export class LeaderElection {
  readonly #redis: Redis;
  readonly #options: LeaderElectionOptions;
  readonly #log: Logger;
  readonly #listener: LeaderListener;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #stopped = true;
  #term: LeaderTerm | undefined;
  /** When the last successful renewal (or the acquisition) was sent. */
  #lastOkAt = 0;

  constructor(redis: Redis, options: LeaderElectionOptions, logger: Logger, listener: LeaderListener) {
    this.#redis = redis;
    this.#options = Object.freeze({ ...options });
    this.#log = logger.child({ subsystem: "leader-election" });
    this.#listener = listener;
  }

  /** The current term, while this instance leads. */
  get term(): LeaderTerm | undefined {
    return this.#term;
  }

  /** Starts campaigning: tries at once, then every third of the TTL. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    const period = Math.max(50, Math.floor(this.#options.ttlMs / 3));
    this.#timer = setInterval(() => void this.#tick(), period);
    void this.#tick();
  }

  /** Stops campaigning and gives the key up if held (deletes it only while it is still ours). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.resign();
  }

  /** Gives the key up now (it stays campaigning unless stopped). */
  async resign(): Promise<void> {
    const term = this.#term;
    if (term === undefined) return;
    this.#end(term, DeposedReason.Resigned);
    try {
      await this.#redis.eval(RESIGN, 1, this.#options.leaderKey, term.token);
    } catch (error) {
      this.#log.warn({ err: error }, "could not delete the leader key; it expires on its own");
    }
  }

  async #tick(): Promise<void> {
    if (this.#busy || this.#stopped) return;
    this.#busy = true;
    try {
      if (this.#term === undefined) await this.#campaign();
      else await this.#renew(this.#term);
    } finally {
      this.#busy = false;
    }
  }

  async #campaign(): Promise<void> {
    const { leaderKey, epochKey, id, ttlMs } = this.#options;
    const sentAt = Date.now();
    let token: unknown;
    try {
      token = await this.#redis.eval(ACQUIRE, 2, leaderKey, epochKey, id, String(ttlMs));
    } catch (error) {
      this.#log.warn({ err: error }, "campaign failed: Redis unreachable");
      return;
    }
    if (typeof token !== "string") return;
    if (this.#stopped) {
      await this.#redis.eval(RESIGN, 1, leaderKey, token).catch(() => undefined);
      return;
    }
    const parsed = parseLeaderToken(token);
    if (parsed === undefined) return;
    this.#lastOkAt = sentAt;
    this.#term = Object.freeze({ token, leaderEpoch: parsed.leaderEpoch });
    this.#log.info({ leaderEpoch: parsed.leaderEpoch }, "elected leader");
    this.#listener.elected(this.#term);
  }

  async #renew(term: LeaderTerm): Promise<void> {
    const sentAt = Date.now();
    let renewed: unknown;
    try {
      renewed = await this.#redis.eval(
        RENEW,
        1,
        this.#options.leaderKey,
        term.token,
        String(this.#options.ttlMs),
      );
    } catch (error) {
      const silentMs = Date.now() - this.#lastOkAt;
      this.#log.warn({ err: error, silentMs }, "leader renewal failed");
      if (silentMs >= (this.#options.ttlMs * 2) / 3) this.#end(term, DeposedReason.Unreachable);
      return;
    }
    if (this.#term !== term) return;
    if (renewed === 1) this.#lastOkAt = sentAt;
    else this.#end(term, DeposedReason.Lost);
  }

  #end(term: LeaderTerm, reason: DeposedReason): void {
    if (this.#term !== term) return;
    this.#term = undefined;
    this.#log.warn({ leaderEpoch: term.leaderEpoch, reason }, "no longer leader");
    this.#listener.deposed(term, reason);
  }
}
