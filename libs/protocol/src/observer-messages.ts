import { Type } from "@sinclair/typebox";
import { ProtocolError, ProtocolErrorCode } from "./errors.js";
import { createCodec, type DecodeResult, type MessageCodec } from "./message-codec.js";
import { defineMessage, type MessageOf, MessageRegistry } from "./message-registry.js";
import type { Subjects } from "./subjects.js";
import { WORLD_MAX_MESSAGE_BYTES } from "./world-messages.js";

/*
 * The observer contract: what zone servers publish for tools that watch the world live (the
 * operator console's map, dashboards, tests), over NATS. Fire-and-forget events on core NATS: no
 * subscriber, no cost beyond one publish; a receiver that misses one waits for the next.
 * docs/protocol.md ("The observer feed", §13) is the normative description.
 *
 *   zone ── evt.world.<world>.zone.<server>.snapshot (zone_snapshot, a few times a second) ──► observers
 *   zone ── evt.world.<world>.zone.<server>.handoff  (zone_handoff, at each handoff out)    ──► observers
 *
 * The world map itself (which server owns which cell) is the authority's `world_map` on
 * `evt.world.<world>.map` (zone-messages.ts); observers read it as it is.
 */

/** Channel of a zone's snapshots: `<prefix>.evt.world.<world>.zone.<server>.snapshot`. */
export const OBSERVER_SNAPSHOT_CHANNEL = "snapshot";
/** Channel of a zone's handoff events: `<prefix>.evt.world.<world>.zone.<server>.handoff`. */
export const OBSERVER_HANDOFF_CHANNEL = "handoff";
/** Default rate of `zone_snapshot`, per second (a zone server's `ZONE_OBSERVER_HZ`). */
export const DEFAULT_OBSERVER_HZ = 4;
/** Most entities listed in one `zone_snapshot` (`entityCount` still counts them all). */
export const OBSERVER_MAX_ENTITIES = 20_000;
/** Most distinct entity kinds in one `zone_snapshot`. */
export const OBSERVER_MAX_KINDS = 64;

const INT53 = Number.MAX_SAFE_INTEGER;
const Token = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });
const Cell = Type.String({ pattern: "^c[0-9]{1,3}_[0-9]{1,3}$" });
const Epoch = Type.Integer({ minimum: 0, maximum: INT53 });
const Ms = Type.Integer({ minimum: 0, maximum: INT53 });
const Count = Type.Integer({ minimum: 0, maximum: 100_000_000 });
const Duration = Type.Number({ minimum: 0, maximum: 1_000_000 });
const EntityId = Type.String({ minLength: 1, maxLength: 64 });

/**
 * Zone server → observers (`evt.world.<world>.zone.<server>.snapshot`, publish, `ZONE_OBSERVER_HZ`
 * times a second): the server's load, health and entities now.
 *
 * Entities are columns of equal length (`ids`, `k`, `x`, `y`): entity `i` is `ids[i]`, of kind
 * `kinds[k[i]]`, at (`x[i]`, `y[i]`) in world units (the reference server rounds to whole units).
 * A player's id is its account id. Leases are columns too (`cells`, `cellEpochs`, `leaseExpiresAt`).
 * Columns of unequal length are refused as `PROTO_INVALID_MESSAGE` by {@link observerCodec}.
 */
export const ZoneSnapshot = defineMessage(
  "zone_snapshot",
  Type.Object({
    server: Token,
    world: Token,
    /** 1 for the server's first snapshot, then one more per snapshot (a receiver sees gaps and restarts). */
    seq: Type.Integer({ minimum: 1, maximum: INT53 }),
    /** When the snapshot was taken: ms since the epoch, the server's clock. */
    at: Ms,
    /** The simulation's tick number. */
    tick: Epoch,
    /** The world's size in world units and its grid of cells (so an observer needs no configuration). */
    width: Type.Number({ exclusiveMinimum: 0, maximum: 1e9 }),
    height: Type.Number({ exclusiveMinimum: 0, maximum: 1e9 }),
    cols: Type.Integer({ minimum: 1, maximum: 1000 }),
    rows: Type.Integer({ minimum: 1, maximum: 1000 }),
    /** The world's tick rate, per second. */
    tickHz: Type.Number({ minimum: 0, maximum: 10_000 }),
    /** Mean duration of the ticks since the previous snapshot, ms (0 when none ran). */
    tickMs: Duration,
    /** p99 of the tick durations since the previous snapshot, ms (bucket upper bound; 0 when none ran). */
    tickP99Ms: Duration,
    /** Ticks dropped since the server started because it fell behind. */
    ticksSkipped: Count,
    /** Registered with the authority now. */
    registered: Type.Boolean(),
    /** The highest authority leader epoch the server has taken leases from (-1: none yet). */
    leaderEpoch: Type.Integer({ minimum: -1, maximum: INT53 }),
    /** Cells leased now. */
    cells: Type.Array(Cell, { maxItems: 65_536 }),
    /** Each leased cell's epoch. */
    cellEpochs: Type.Array(Epoch, { maxItems: 65_536 }),
    /** When each lease ends unless a heartbeat renews it: ms since the epoch, the authority's clock. */
    leaseExpiresAt: Type.Array(Ms, { maxItems: 65_536 }),
    /** Players owned now (including those frozen for a handoff out). */
    players: Count,
    /** Handoffs out and in since the server started. */
    handoffsOut: Count,
    handoffsIn: Count,
    /** Entities simulated now (players and NPCs): all of them, even when the columns list fewer. */
    entityCount: Count,
    /** The entity kinds `k` indexes (`"player"`, `"npc"` in the demo game). */
    kinds: Type.Array(Type.String({ minLength: 1, maxLength: 32 }), { maxItems: OBSERVER_MAX_KINDS }),
    ids: Type.Array(EntityId, { maxItems: OBSERVER_MAX_ENTITIES }),
    k: Type.Array(Type.Integer({ minimum: 0, maximum: OBSERVER_MAX_KINDS - 1 }), {
      maxItems: OBSERVER_MAX_ENTITIES,
    }),
    x: Type.Array(Type.Number(), { maxItems: OBSERVER_MAX_ENTITIES }),
    y: Type.Array(Type.Number(), { maxItems: OBSERVER_MAX_ENTITIES }),
  }),
);
export type ZoneSnapshot = MessageOf<typeof ZoneSnapshot>;

/**
 * Zone server → observers (`evt.world.<world>.zone.<server>.handoff`, publish): a player crossed
 * from this server (`server`) to `to`, which accepted it. Published by the source once, when the
 * handoff is settled as accepted (also when settled by the checkpoint after lost answers).
 */
export const ZoneHandoff = defineMessage(
  "zone_handoff",
  Type.Object({
    /** The source: the server that handed the player off (and publishes this). */
    server: Token,
    world: Token,
    /** The target: the player's owner from now on. */
    to: Token,
    /** The player's entity id (its account id). */
    entity: EntityId,
    /** The cell the player entered. */
    cell: Cell,
    /** The player's ownership epoch at the target. */
    epoch: Epoch,
    /** Freeze → settled at the source, ms. */
    stallMs: Duration,
    /** When it settled: ms since the epoch, the source's clock. */
    at: Ms,
  }),
);
export type ZoneHandoff = MessageOf<typeof ZoneHandoff>;

/** What an observer accepts on `evt.world.<world>.zone.*.*`. */
export const ObserverEvents = new MessageRegistry([ZoneSnapshot, ZoneHandoff]);

/** The column groups of a `zone_snapshot` that must have equal lengths. */
const COLUMNS = [
  ["ids", "k", "x", "y"],
  ["cells", "cellEpochs", "leaseExpiresAt"],
] as const;

/**
 * The observer codec: {@link ObserverEvents} under {@link WORLD_MAX_MESSAGE_BYTES}, and on decode,
 * beyond the schemas, the columns of a `zone_snapshot` checked for equal lengths and every `k`
 * checked against `kinds` (`PROTO_INVALID_MESSAGE`, `context.path` naming the column). Never
 * throws on decode; `encode` throws `PROTO_TOO_LARGE` past the limit.
 */
export function observerCodec(): MessageCodec<typeof ZoneSnapshot | typeof ZoneHandoff> {
  const codec = createCodec({ registry: ObserverEvents, maxMessageBytes: WORLD_MAX_MESSAGE_BYTES });
  return Object.freeze({
    maxMessageBytes: codec.maxMessageBytes,
    encode: codec.encode,
    decode(bytes: Uint8Array): DecodeResult<ZoneSnapshot | ZoneHandoff> {
      const result = codec.decode(bytes);
      if (!result.ok || result.message.t !== "zone_snapshot") return result;
      const problem = snapshotProblem(result.message);
      return problem === undefined ? result : { ok: false, error: problem };
    },
  });
}

/** Why a schema-valid snapshot is still inconsistent, or undefined. */
function snapshotProblem(snapshot: ZoneSnapshot): ProtocolError | undefined {
  for (const group of COLUMNS) {
    const length = snapshot[group[0]].length;
    for (const column of group) {
      if (snapshot[column].length !== length) {
        return new ProtocolError(
          ProtocolErrorCode.InvalidMessage,
          `message zone_snapshot: column ${column} has ${snapshot[column].length} entries, ${group[0]} has ${length}`,
          { context: { type: "zone_snapshot", path: `/${column}` } },
        );
      }
    }
  }
  const bad = snapshot.k.findIndex((kind) => kind >= snapshot.kinds.length);
  if (bad !== -1) {
    return new ProtocolError(
      ProtocolErrorCode.InvalidMessage,
      `message zone_snapshot: k[${bad}] names no entry of kinds`,
      { context: { type: "zone_snapshot", path: `/k/${bad}` } },
    );
  }
  return undefined;
}

/**
 * `<prefix>.evt.world.<world>.zone.<server>.<channel>`: where a zone publishes its observer events.
 * @throws ProtocolError `PROTO_INVALID_SUBJECT` when `world` or `server` is not one subject token.
 */
export function observerSubject(
  subjects: Subjects,
  world: string,
  server: string,
  channel: typeof OBSERVER_SNAPSHOT_CHANNEL | typeof OBSERVER_HANDOFF_CHANNEL,
): string {
  assertToken(world, "world");
  assertToken(server, "zone server id");
  return subjects.event(`world.${world}.zone.${server}.${channel}`);
}

/**
 * `<prefix>.evt.world.<world>.zone.>`: every observer event of every zone server of `world`.
 * @throws ProtocolError `PROTO_INVALID_SUBJECT` when `world` is not one subject token.
 */
export function observerWildcard(subjects: Subjects, world: string): string {
  assertToken(world, "world");
  return `${subjects.event(`world.${world}.zone`)}.>`;
}

function assertToken(value: string, what: string): void {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) {
    throw new ProtocolError(
      ProtocolErrorCode.InvalidSubject,
      `${what} ${JSON.stringify(value)} must be one subject token of letters, digits, _ and -`,
      { context: { what, value } },
    );
  }
}
