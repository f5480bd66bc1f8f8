/**
 * The authority's state in Redis, every write fenced by the leader's token.
 *
 * - `worldKeys(…).cellEpochs` (the contract's hash cell → epoch): the fencing token of each cell.
 *   Zone servers' checkpoint scripts compare against it, so raising it is what fences a stale owner.
 * - `<prefix>world:<world>:authority:owners` (the authority's own hash cell → server id, `""` for
 *   none): the owners of the last committed map, read back by the next leader after a failover.
 *
 * {@link WorldStore.commit} changes owners and raises the epochs of those cells in ONE script that
 * first checks the leader key still holds the caller's token: owners and epochs are never seen out of
 * step, and a deposed leader's write is refused (`AUTHORITY_NOT_LEADER`) without touching anything.
 *
 * @module
 */
import { worldKeys } from "@meridian/protocol";
import type { Redis } from "ioredis";
import { AuthorityError, AuthorityErrorCode } from "../errors.js";

/** The authority's owners hash (not part of the contract: only authorities read it). */
export function ownersKey(prefix: string, world: string): string {
  return `${prefix}world:${world}:authority:owners`;
}

/**
 * KEYS leader, cellEpochs, owners; ARGV token, then (cell, server) pairs (`""` = no owner).
 * Returns the new epochs in order, or the error reply NOT_LEADER.
 */
const COMMIT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('NOT_LEADER') end
local out = {}
for i = 2, #ARGV, 2 do
  out[#out + 1] = redis.call('HINCRBY', KEYS[2], ARGV[i], 1)
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
return out`;

/** One owner change. */
export interface OwnerChange {
  readonly cell: string;
  /** The new owner; `null` withdraws the cell. */
  readonly server: string | null;
}

/** What a new leader reads back. */
export interface StoredWorld {
  /** cell → epoch (0 for a cell never leased). */
  readonly epochs: ReadonlyMap<string, number>;
  /** cell → owner of the last committed map (absent or `null`: none). */
  readonly owners: ReadonlyMap<string, string | null>;
}

/** Fenced reads and writes of the world's ownership state. */
export class WorldStore {
  readonly #redis: Redis;
  readonly #keys: ReturnType<typeof worldKeys>;
  readonly #owners: string;

  constructor(redis: Redis, options: { readonly redisPrefix: string; readonly world: string }) {
    this.#redis = redis;
    this.#keys = worldKeys(options.redisPrefix, options.world);
    this.#owners = ownersKey(options.redisPrefix, options.world);
  }

  /**
   * Applies `changes` (each raises its cell's epoch by one) while `token` still holds the leader key.
   * Resolves with the new epochs, by cell.
   * @throws AuthorityError `AUTHORITY_NOT_LEADER` when the key holds another value (nothing written).
   */
  async commit(token: string, changes: readonly OwnerChange[]): Promise<Map<string, number>> {
    const args: string[] = [token];
    for (const change of changes) args.push(change.cell, change.server ?? "");
    let result: unknown;
    try {
      result = await this.#redis.eval(
        COMMIT,
        3,
        this.#keys.leader,
        this.#keys.cellEpochs,
        this.#owners,
        ...args,
      );
    } catch (error) {
      if (error instanceof Error && error.message.includes("NOT_LEADER")) {
        throw new AuthorityError(AuthorityErrorCode.NotLeader, "the leader key is no longer ours", {
          cause: error,
        });
      }
      throw error;
    }
    const epochs = new Map<string, number>();
    (result as number[]).forEach((epoch, i) => {
      const change = changes[i];
      if (change !== undefined) epochs.set(change.cell, Number(epoch));
    });
    return epochs;
  }

  /** Reads the cell epochs and the last committed owners. */
  async load(): Promise<StoredWorld> {
    const [epochs, owners] = await Promise.all([
      this.#redis.hgetall(this.#keys.cellEpochs),
      this.#redis.hgetall(this.#owners),
    ]);
    return {
      epochs: new Map(Object.entries(epochs).map(([cell, epoch]) => [cell, Number(epoch)])),
      owners: new Map(Object.entries(owners).map(([cell, server]) => [cell, server === "" ? null : server])),
    };
  }
}
