/**
 * Players' checkpoints in Redis (`worldKeys` of libs/protocol): one hash per player and, per cell, the
 * set of players checkpointed there while online (what a server that gains the cell after a crash
 * restores).
 *
 * Writes are **fenced** by one Lua script, atomically:
 * - refused (`stale_cell`) when the cell's current epoch in `cellEpochs` (written by the authority
 *   when it leases the cell) is above the cell epoch the writer holds: a server that lost its lease
 *   cannot overwrite the new owner's state;
 * - refused (`stale_player`) when the stored checkpoint has a higher player epoch: the former owner of
 *   a player handed off (whose cell lease is still valid) cannot overwrite the new owner's write;
 *   and when it has the SAME player epoch from another server: an epoch has one owner, so of two
 *   servers that took a player at the same epoch (a crash restore racing a handoff), the first
 *   write wins and the other learns it must drop its copy.
 *
 * The script also moves the player between cells' sets (from the stored checkpoint's cell to the new
 * one, or out when the player went offline). It builds the previous cell's set key from the key
 * template it is given, which assumes one Redis (not Cluster), as the rest of Meridian does.
 */
import type { WorldKeys } from "@meridian/protocol";
import { measureRedis } from "@meridian/telemetry";
import type { PlayerSnapshot } from "@meridian/world";
import type { Redis } from "ioredis";

const WRITE_SCRIPT = `
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current and tonumber(current) > tonumber(ARGV[2]) then return 0 end
local prevEpoch = redis.call('HGET', KEYS[1], 'epoch')
if prevEpoch and tonumber(prevEpoch) > tonumber(ARGV[3]) then return -1 end
if prevEpoch and tonumber(prevEpoch) == tonumber(ARGV[3]) then
  local prevServer = redis.call('HGET', KEYS[1], 'server')
  if prevServer and prevServer ~= ARGV[8] then return -1 end
end
local prevCell = redis.call('HGET', KEYS[1], 'cell')
if prevCell and prevCell ~= ARGV[1] then
  redis.call('SREM', ARGV[5] .. prevCell .. ARGV[6], ARGV[7])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
if ARGV[4] == '1' then
  redis.call('SADD', KEYS[3], ARGV[7])
else
  redis.call('SREM', KEYS[3], ARGV[7])
end
return 1
`;

/**
 * The same fenced write for many players in one call (KEYS[1] the cell epochs, then per player its
 * checkpoint key and its cell's set; ARGV[1] the player count, ARGV[2] the arguments per player, then
 * per player the arguments of WRITE_SCRIPT). One result per player, in order: exactly what as many
 * WRITE_SCRIPT calls in that order would return (a script runs atomically, so a player listed twice is
 * written twice, in order).
 */
const WRITE_MANY_SCRIPT = `
local n = tonumber(ARGV[1])
local stride = tonumber(ARGV[2])
local out = {}
for i = 0, n - 1 do
  local a = 2 + i * stride
  local kCheckpoint = KEYS[2 + i * 2]
  local kSet = KEYS[3 + i * 2]
  local result = 1
  local current = redis.call('HGET', KEYS[1], ARGV[a + 1])
  if current and tonumber(current) > tonumber(ARGV[a + 2]) then
    result = 0
  else
    local prevEpoch = redis.call('HGET', kCheckpoint, 'epoch')
    if prevEpoch and tonumber(prevEpoch) > tonumber(ARGV[a + 3]) then
      result = -1
    elseif prevEpoch and tonumber(prevEpoch) == tonumber(ARGV[a + 3]) then
      local prevServer = redis.call('HGET', kCheckpoint, 'server')
      if prevServer and prevServer ~= ARGV[a + 8] then result = -1 end
    end
  end
  if result == 1 then
    local prevCell = redis.call('HGET', kCheckpoint, 'cell')
    if prevCell and prevCell ~= ARGV[a + 1] then
      redis.call('SREM', ARGV[a + 5] .. prevCell .. ARGV[a + 6], ARGV[a + 7])
    end
    redis.call('HSET', kCheckpoint, unpack(ARGV, a + 9, a + stride))
    if ARGV[a + 4] == '1' then
      redis.call('SADD', kSet, ARGV[a + 7])
    else
      redis.call('SREM', kSet, ARGV[a + 7])
    end
  end
  out[i + 1] = result
end
return out
`;

/** Most writes in one WRITE_MANY_SCRIPT call (bounds how long Redis runs one script). */
const MAX_WRITES_PER_CALL = 256;

/** A write waiting for the end of the turn. */
interface PendingWrite {
  readonly keys: readonly [string, string];
  readonly args: readonly string[];
  readonly resolve: (result: number) => void;
  readonly reject: (error: unknown) => void;
}

/** A player's checkpoint as stored. */
export interface Checkpoint {
  readonly snapshot: PlayerSnapshot;
  readonly cell: string;
  /** The cell's epoch the writer held. */
  readonly cellEpoch: number;
  /** The player's ownership epoch at the writer. */
  readonly epoch: number;
  /** The last input sequence applied (= `snapshot.lastSeq`). */
  readonly seq: number;
  /** The writing server. */
  readonly server: string;
  /** The gateway holding the player's connection at the time (route_switch after a restore). */
  readonly gateway: string;
  /** The player's session at the time (a new session starts its inputs at 1). */
  readonly sessionId: string;
  /** Whether the player was online (in the cell's set); false once detached. */
  readonly online: boolean;
  /** When written, ms since the epoch. */
  readonly at: number;
}

/** The outcome of a fenced write. */
export type CheckpointWriteResult = "ok" | "stale_cell" | "stale_player";

export class CheckpointStore {
  readonly #redis: Redis;
  readonly #keys: WorldKeys;
  readonly #setHead: string;
  readonly #setTail: string;
  #sha: string | undefined;
  #shaMany: string | undefined;
  /** Writes of the current turn: sent together when it ends (one script call per 256). */
  #pending: PendingWrite[] = [];
  #scriptCalls = 0;

  constructor(redis: Redis, keys: WorldKeys) {
    this.#redis = redis;
    this.#keys = keys;
    const [head, tail] = keys.cellPlayers("\u0000").split("\u0000");
    this.#setHead = head ?? "";
    this.#setTail = tail ?? "";
  }

  /** Script calls made for writes so far (a turn's writes share calls). */
  get scriptCalls(): number {
    return this.#scriptCalls;
  }

  /** Loads the script (optional: a write loads it when Redis does not know it). */
  async load(): Promise<void> {
    this.#sha = String(await this.#redis.script("LOAD", WRITE_SCRIPT));
    this.#shaMany = String(await this.#redis.script("LOAD", WRITE_MANY_SCRIPT));
  }

  /**
   * Writes `checkpoint`, fenced (see the module's doc). Writes made in the same turn of the event
   * loop (a tick's periodic checkpoints, a handoff batch's installs) reach Redis in one script call.
   */
  async write(
    checkpoint: Omit<Checkpoint, "at" | "seq"> & { readonly at?: number },
  ): Promise<CheckpointWriteResult> {
    const { snapshot } = checkpoint;
    const fields = [
      "state",
      JSON.stringify(snapshot.state ?? null),
      "x",
      String(snapshot.x),
      "y",
      String(snapshot.y),
      "username",
      snapshot.username,
      "cell",
      checkpoint.cell,
      "cellEpoch",
      String(checkpoint.cellEpoch),
      "epoch",
      String(checkpoint.epoch),
      "seq",
      String(snapshot.lastSeq),
      "server",
      checkpoint.server,
      "gateway",
      checkpoint.gateway,
      "session",
      checkpoint.sessionId,
      "online",
      checkpoint.online ? "1" : "0",
      "at",
      String(checkpoint.at ?? Date.now()),
    ];
    const keys = [
      this.#keys.checkpoint(snapshot.accountId),
      this.#keys.cellEpochs,
      this.#keys.cellPlayers(checkpoint.cell),
    ];
    const args = [
      checkpoint.cell,
      String(checkpoint.cellEpoch),
      String(checkpoint.epoch),
      checkpoint.online ? "1" : "0",
      this.#setHead,
      this.#setTail,
      snapshot.accountId,
      checkpoint.server,
      ...fields,
    ];
    const result = await new Promise<number>((resolve, reject) => {
      this.#pending.push({ keys: [keys[0] as string, keys[2] as string], args, resolve, reject });
      if (this.#pending.length === 1) process.nextTick(() => this.#flush());
    });
    return result === 1 ? "ok" : result === 0 ? "stale_cell" : "stale_player";
  }

  /** Sends the turn's writes: one alone as WRITE_SCRIPT, more in WRITE_MANY_SCRIPT calls. */
  #flush(): void {
    const pending = this.#pending;
    this.#pending = [];
    if (pending.length === 1) {
      const only = pending[0] as PendingWrite;
      const [checkpointKey, setKey] = only.keys;
      this.#run([checkpointKey, this.#keys.cellEpochs, setKey], [...only.args]).then(
        (result) => only.resolve(Number(result)),
        only.reject,
      );
      return;
    }
    for (let i = 0; i < pending.length; i += MAX_WRITES_PER_CALL) {
      const part = pending.slice(i, i + MAX_WRITES_PER_CALL);
      const keys: string[] = [this.#keys.cellEpochs];
      const stride = (part[0] as PendingWrite).args.length;
      const args = [String(part.length), String(stride)];
      for (const write of part) {
        keys.push(write.keys[0], write.keys[1]);
        args.push(...write.args);
      }
      measureRedis("gameserver", "checkpoint.write_many", () =>
        this.#runScript(WRITE_MANY_SCRIPT, () => this.#shaMany, keys, args),
      ).then(
        (results) => {
          const list = Array.isArray(results) ? results : [];
          part.forEach((write, k) => {
            write.resolve(Number(list[k] ?? Number.NaN));
          });
        },
        (error: unknown) => {
          for (const write of part) write.reject(error);
        },
      );
    }
  }

  /** The player's checkpoint, or undefined (none, or unreadable). */
  async read(accountId: string): Promise<Checkpoint | undefined> {
    const hash = await this.#redis.hgetall(this.#keys.checkpoint(accountId));
    return parseCheckpoint(accountId, hash);
  }

  /** The players checkpointed online in `cell`. */
  async cellPlayers(cell: string): Promise<string[]> {
    return this.#redis.smembers(this.#keys.cellPlayers(cell));
  }

  #run(keys: string[], args: string[]): Promise<unknown> {
    return measureRedis("gameserver", "checkpoint.write", () =>
      this.#runScript(WRITE_SCRIPT, () => this.#sha, keys, args),
    );
  }

  async #runScript(
    script: string,
    sha: () => string | undefined,
    keys: string[],
    args: string[],
  ): Promise<unknown> {
    this.#scriptCalls++;
    const known = sha();
    if (known !== undefined) {
      try {
        return await this.#redis.evalsha(known, keys.length, ...keys, ...args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      }
    }
    const result = await this.#redis.eval(script, keys.length, ...keys, ...args);
    void this.load().catch(() => undefined);
    return result;
  }
}

function parseCheckpoint(accountId: string, hash: Record<string, string>): Checkpoint | undefined {
  const x = Number(hash.x);
  const y = Number(hash.y);
  const seq = Number(hash.seq);
  const epoch = Number(hash.epoch);
  const cellEpoch = Number(hash.cellEpoch);
  if (
    hash.cell === undefined ||
    ![x, y, seq, epoch, cellEpoch].every(Number.isFinite) ||
    !Number.isSafeInteger(seq) ||
    !Number.isSafeInteger(epoch)
  ) {
    return undefined;
  }
  let state: unknown = null;
  try {
    state = JSON.parse(hash.state ?? "null");
  } catch {
    return undefined;
  }
  return {
    snapshot: { accountId, username: hash.username ?? "", x, y, lastSeq: seq, state },
    cell: hash.cell,
    cellEpoch,
    epoch,
    seq,
    server: hash.server ?? "",
    gateway: hash.gateway ?? "",
    sessionId: hash.session ?? "",
    online: hash.online === "1",
    at: Number(hash.at) || 0,
  };
}
