import { Type } from "@sinclair/typebox";
import { createCodec, type MessageCodec } from "./message-codec.js";
import { defineMessage, type MessageOf, MessageRegistry } from "./message-registry.js";
import type { Subjects } from "./subjects.js";
import { WORLD_MAX_MESSAGE_BYTES, WorldError } from "./world-messages.js";

/*
 * The world's inside: the authority ⇄ zone servers and zone ⇄ zone contract over NATS (the gateway's
 * side is world-messages.ts). docs/protocol.md ("The world inside") is the normative description.
 *
 *   zone      ── svc.authority.zone_register / zone_heartbeat ──► authority (leader only)
 *   authority ── evt.world.<world>.map (world_map) ─────────────► zone servers, gateways, tools
 *   authority ── zone.<server>.install (player_install) ────────► the owner of the player's cell
 *   zone A    ── zone.<B>.handoff (handoff_offer) ──────────────► zone B (the new owner)
 *   zone      ── zone.<neighbour>.ghosts (ghost_batch) ─────────► neighbouring cells' owners
 *
 * Two kinds of fencing token:
 * - a **cell epoch**, raised by the authority each time it leases a cell to a (new) server; a zone
 *   server acts for a cell only under its current lease, and writes that carry a lower cell epoch
 *   (a checkpoint, a handoff) are refused;
 * - a **player epoch** (the ownership epoch of world-messages.ts), raised at every handoff or
 *   restore, which the gateways fence routes and updates with.
 * The authority's own leadership has a `leaderEpoch`: zone servers ignore leases from a lower one.
 */

/** The authority's service name: `<prefix>.svc.authority.<verb>`. */
export const AUTHORITY_SERVICE = "authority";
/** Channel of a zone server's inbox for installs: `<prefix>.zone.<server>.install`. */
export const ZONE_INSTALL_CHANNEL = "install";
/** Channel of a zone server's inbox for handoff offers: `<prefix>.zone.<server>.handoff`. */
export const ZONE_HANDOFF_CHANNEL = "handoff";
/** Channel of a zone server's inbox for ghosts: `<prefix>.zone.<server>.ghosts`. */
export const ZONE_GHOSTS_CHANNEL = "ghosts";

const INT53 = Number.MAX_SAFE_INTEGER;
const Id = Type.String({ pattern: "^[1-9][0-9]{0,18}$" });
const Token = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });
/** A cell id of the world's grid: `c<col>_<row>` (`@meridian/world`). */
const Cell = Type.String({ pattern: "^c[0-9]{1,3}_[0-9]{1,3}$" });
const Epoch = Type.Integer({ minimum: 0, maximum: INT53 });
const Ms = Type.Integer({ minimum: 0, maximum: INT53 });
const Seq = Type.Integer({ minimum: 0, maximum: 0xffff_ffff });
const SessionId = Type.String({ minLength: 36, maxLength: 36 });
const GameData = Type.Unknown();

// ---- authority: registration, leases, the world map ----

/**
 * Zone server → authority (`svc.authority.zone_register`, request): join a world with a server
 * credential issued by the lobby's registry. Answered `zone_registered` or `world_error`
 * (`WORLD_UNAUTHORIZED` for an unknown or revoked credential, `WORLD_UNKNOWN` for another world).
 */
export const ZoneRegister = defineMessage(
  "zone_register",
  Type.Object({
    /** The server's id: one subject token, unique in the cluster (its inbox is `zone.<serverId>.*`). */
    serverId: Token,
    credential: Type.String({ minLength: 1, maxLength: 128 }),
    world: Token,
    /** Players the server will hold at most (the authority balances cells by it). */
    capacity: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  }),
);
export type ZoneRegister = MessageOf<typeof ZoneRegister>;

export const ZoneRegistered = defineMessage(
  "zone_registered",
  Type.Object({
    serverId: Token,
    /** Heartbeat at least this often, ms; a lease lasts `leaseMs` from the heartbeat that renewed it. */
    heartbeatMs: Ms,
    leaseMs: Ms,
    leaderEpoch: Epoch,
  }),
);
export type ZoneRegistered = MessageOf<typeof ZoneRegistered>;

/**
 * Zone server → authority (`svc.authority.zone_heartbeat`, request): alive, with its load. Answered
 * `zone_leases` (the cells the server holds now, each with its epoch and expiry) or `world_error`
 * (`WORLD_ZONE_UNKNOWN`: register again; `WORLD_UNAUTHORIZED`: the credential was revoked — the
 * server drops everything and stops).
 */
export const ZoneHeartbeat = defineMessage(
  "zone_heartbeat",
  Type.Object({
    serverId: Token,
    world: Token,
    players: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
    /** The p99 tick duration over the last heartbeat period, ms (load balancing, health). */
    tickP99Ms: Type.Optional(Type.Number({ minimum: 0, maximum: 1_000_000 })),
  }),
);
export type ZoneHeartbeat = MessageOf<typeof ZoneHeartbeat>;

const Lease = Type.Object({
  cell: Cell,
  /** The cell's epoch under this lease: raised each time the cell changes owner. */
  epoch: Epoch,
  /**
   * When the lease ends unless renewed, ms since the epoch (the authority's clock). Zone servers
   * compare it with their own clock, with no skew allowance: clocks must be synchronised.
   */
  expiresAt: Ms,
});

export const ZoneLeases = defineMessage(
  "zone_leases",
  Type.Object({ serverId: Token, leaderEpoch: Epoch, leases: Type.Array(Lease, { maxItems: 65_536 }) }),
);
export type ZoneLeases = MessageOf<typeof ZoneLeases>;

/**
 * Authority → everyone (`evt.world.<world>.map`, publish): the whole world map — which server owns
 * each cell, under which epoch — on every change and every few seconds. Zone servers route handoffs
 * and ghosts by it; gateways and tools may watch it. A receiver keeps the highest `version` of the
 * highest `leaderEpoch`.
 */
export const WorldMap = defineMessage(
  "world_map",
  Type.Object({
    world: Token,
    leaderEpoch: Epoch,
    version: Epoch,
    cells: Type.Array(Type.Object({ cell: Cell, server: Type.Union([Token, Type.Null()]), epoch: Epoch }), {
      maxItems: 65_536,
    }),
  }),
);
export type WorldMap = MessageOf<typeof WorldMap>;

// ---- placing a player ----

/**
 * Authority → owner of the player's cell (`zone.<server>.install`, request): take this player. The
 * owner restores the player from their checkpoint (or creates them at `x`, `y`), keeps the entity of
 * a resumed session as it is, and answers `player_installed` (its player epoch and last applied
 * input) or `world_error` (`WORLD_NOT_OWNER`: the cell moved meanwhile; the authority retries).
 * Also `WORLD_FULL` (at capacity) and `WORLD_STALE_EPOCH` (the install's checkpoint was refused):
 * see `WorldErrorCode` (world-messages.ts).
 */
export const PlayerInstall = defineMessage(
  "player_install",
  Type.Object({
    accountId: Id,
    sessionId: SessionId,
    username: Type.String({ maxLength: 64 }),
    gateway: Token,
    resumed: Type.Boolean(),
    cell: Cell,
    /** The cell's epoch the authority leased it under (the owner refuses a stale one). */
    cellEpoch: Epoch,
    /** Where to put a player with no checkpoint. */
    x: Type.Number(),
    y: Type.Number(),
  }),
);
export type PlayerInstall = MessageOf<typeof PlayerInstall>;

export const PlayerInstalled = defineMessage(
  "player_installed",
  Type.Object({ accountId: Id, server: Token, cell: Cell, epoch: Epoch, ack: Seq }),
);
export type PlayerInstalled = MessageOf<typeof PlayerInstalled>;

// ---- handoff ----

/**
 * Zone A → zone B (`zone.<B>.handoff`, request): the player crossed into a cell B owns. Idempotent
 * by `handoffId` (a retried offer gets the same answer). B installs the player at `playerEpoch`
 * (A's epoch + 1) with its state and last applied input, sends the gateway `route_switch`, and
 * answers `handoff_accept`. From A's `accepted: true` on, A only forwards inputs that still reach it
 * (to `zone.<B>.inputs`); if B refuses or does not answer, A keeps the player and retries.
 * No answer is not a refusal, though: B may have accepted with the answer lost, so A keeps the player
 * frozen, re-sends the same offer, and after its last attempt lets the player's checkpoint decide
 * (docs/protocol.md §12, "Handoff"). `state` is the player's snapshot as the game server defines it
 * (`@meridian/world`'s `PlayerSnapshot` for `services/gameserver`).
 */
/** The fields of one handoff offer (in `handoff_offer`, and each entry of `handoff_offers`). */
const HandoffOfferFields = {
  handoffId: Type.String({ minLength: 36, maxLength: 36 }),
  accountId: Id,
  sessionId: SessionId,
  username: Type.String({ maxLength: 64 }),
  gateway: Token,
  fromServer: Token,
  /** The cell the player entered, and its epoch as A knows it from the world map. */
  cell: Cell,
  cellEpoch: Epoch,
  /** The player's ownership epoch at B: A's + 1. */
  playerEpoch: Epoch,
  /** The last input sequence A applied: B applies from `lastSeq + 1`. */
  lastSeq: Seq,
  /** A's tick when it froze the player (stall measurement). */
  tick: Type.Integer({ minimum: 0, maximum: INT53 }),
  /** The game's state of the player's entity. */
  state: GameData,
};

export const HandoffOffer = defineMessage("handoff_offer", Type.Object(HandoffOfferFields));
export type HandoffOffer = MessageOf<typeof HandoffOffer>;

/** Most offers in one `handoff_offers`. */
export const MAX_HANDOFF_BATCH = 1_000;

/**
 * Zone A → zone B (`zone.<B>.handoff`, request): every offer A makes to B in one tick, in one
 * request (1,000 players crossing one border at once are one message, not 1,000 requests). Each
 * entry is a `handoff_offer` without `t`, with the same meaning and idempotence; `trace`, when
 * present, is the W3C `traceparent` of that player's handoff (a batch carries many players'
 * traces, so per-entry context replaces the NATS header a single offer carries). B answers
 * `handoff_answers` with one `handoff_accept` (without `t`) per entry, in order.
 */
export const HandoffOffers = defineMessage(
  "handoff_offers",
  Type.Object({
    fromServer: Token,
    offers: Type.Array(
      Type.Object({
        ...HandoffOfferFields,
        trace: Type.Optional(Type.String({ minLength: 55, maxLength: 128 })),
      }),
      { minItems: 1, maxItems: MAX_HANDOFF_BATCH },
    ),
  }),
);
export type HandoffOffers = MessageOf<typeof HandoffOffers>;

export const HandoffAccept = defineMessage(
  "handoff_accept",
  Type.Object({
    handoffId: Type.String({ minLength: 36, maxLength: 36 }),
    accepted: Type.Boolean(),
    /** Why not (`WORLD_NOT_OWNER`, `WORLD_STALE_EPOCH`, `WORLD_FULL`, also `WORLD_BAD_REQUEST`), when refused. */
    reason: Type.Optional(Type.String({ maxLength: 64 })),
  }),
);
export type HandoffAccept = MessageOf<typeof HandoffAccept>;

/** Zone B → zone A: the answers to a `handoff_offers`, one per offer, in the offers' order. */
export const HandoffAnswers = defineMessage(
  "handoff_answers",
  Type.Object({
    answers: Type.Array(
      Type.Object({
        handoffId: Type.String({ minLength: 36, maxLength: 36 }),
        accepted: Type.Boolean(),
        reason: Type.Optional(Type.String({ maxLength: 64 })),
      }),
      { maxItems: MAX_HANDOFF_BATCH },
    ),
  }),
);
export type HandoffAnswers = MessageOf<typeof HandoffAnswers>;

// ---- ghosts ----

/**
 * Zone → the owner of a neighbouring cell (`zone.<server>.ghosts`, publish, every tick): read-only
 * copies of the entities within the ghost margin of that cell, so players on either side see each
 * other (and chat and emote across the border). Replaces the previous batch from the same server.
 */
export const GhostBatch = defineMessage(
  "ghost_batch",
  Type.Object({
    server: Token,
    world: Token,
    tick: Type.Integer({ minimum: 0, maximum: INT53 }),
    entities: Type.Array(
      Type.Object({
        id: Type.String({ minLength: 1, maxLength: 64 }),
        kind: Type.String({ minLength: 1, maxLength: 32 }),
        x: Type.Number(),
        y: Type.Number(),
        data: GameData,
      }),
      { maxItems: 100_000 },
    ),
    /** Chat and emotes said near the border this tick, for the neighbour's players in range. */
    events: Type.Optional(Type.Array(GameData, { maxItems: 10_000 })),
  }),
);
export type GhostBatch = MessageOf<typeof GhostBatch>;

/** What the authority accepts. */
export const AuthorityRequests = new MessageRegistry([ZoneRegister, ZoneHeartbeat]);
/** What a zone server accepts from the authority as answers. */
export const AuthorityReplies = new MessageRegistry([ZoneRegistered, ZoneLeases, WorldError]);
/** What a zone server accepts on `zone.<server>.install|handoff|ghosts`. */
export const ZoneControl = new MessageRegistry([PlayerInstall, HandoffOffer, HandoffOffers, GhostBatch]);
/** Answers to `player_install` and `handoff_offer`. */
export const ZoneControlReplies = new MessageRegistry([
  PlayerInstalled,
  HandoffAccept,
  HandoffAnswers,
  WorldError,
]);
/** The world map event. */
export const WorldMapEvents = new MessageRegistry([WorldMap]);

const codec = <D extends Parameters<typeof createCodec>[0]["registry"]>(registry: D) =>
  createCodec({ registry, maxMessageBytes: WORLD_MAX_MESSAGE_BYTES });

export function authorityRequestCodec(): MessageCodec<typeof ZoneRegister | typeof ZoneHeartbeat> {
  return codec(AuthorityRequests);
}
export function authorityReplyCodec(): MessageCodec<
  typeof ZoneRegistered | typeof ZoneLeases | typeof WorldError
> {
  return codec(AuthorityReplies);
}
export function zoneControlCodec(): MessageCodec<
  typeof PlayerInstall | typeof HandoffOffer | typeof HandoffOffers | typeof GhostBatch
> {
  return codec(ZoneControl);
}
export function zoneControlReplyCodec(): MessageCodec<
  typeof PlayerInstalled | typeof HandoffAccept | typeof HandoffAnswers | typeof WorldError
> {
  return codec(ZoneControlReplies);
}
export function worldMapCodec(): MessageCodec<typeof WorldMap> {
  return codec(WorldMapEvents);
}

/** `<prefix>.svc.authority.<verb>`. */
export function authoritySubject(subjects: Subjects, verb: "zone_register" | "zone_heartbeat"): string {
  return subjects.service(AUTHORITY_SERVICE, verb);
}

/** `<prefix>.evt.world.<world>.map`. */
export function worldMapSubject(subjects: Subjects, world: string): string {
  return subjects.event(`world.${world}.map`);
}

// ---- Redis: checkpoints and cell membership ----

/**
 * Redis keys of the world's state under a key prefix (`<prefix>world:<world>:…`):
 * - `checkpoint(accountId)`: hash, the player's last checkpoint, written by the player's owner at
 *   install, at a handoff (the source at the freeze, the target before accepting), every few seconds,
 *   at detach and at shutdown. Fields, all strings:
 *   `state` (the game's state, JSON), `x`, `y` (position), `username`, `cell` (the held cell the
 *   player is checkpointed in), `cellEpoch` (the writer's lease epoch of that cell), `epoch` (the
 *   player's ownership epoch at the writer), `seq` (last input sequence applied), `server` (the
 *   writer), `gateway` (the gateway holding the player's connection: where a restore sends
 *   `route_switch`), `session` (the session id: a new session restarts its inputs at 1), `online`
 *   (`"1"` while the player is online and in `cellPlayers(cell)`, `"0"` after detach), `at` (ms
 *   since the epoch). Written by one script that refuses a write whose `cellEpoch` is below
 *   `cellEpochs[cell]` (a server whose lease was reassigned) or whose `epoch` is below the stored one
 *   (the former owner of a handed-off player), and moves the account between cells' sets;
 * - `cellPlayers(cell)`: set of the account ids checkpointed online in the cell (restored by the
 *   server that gains the cell after a crash);
 * - `cellEpochs`: hash cell → current epoch, raised (`HINCRBY`) by the authority at every change of
 *   the cell's owner;
 * - `owners`: hash cell → owning server id (`""`: none), the owners of the authority's last committed
 *   map, written with `cellEpochs` in one fenced script and read back by the next leader after a
 *   failover (only authorities read it);
 * - `leader`: the authority leader's lock `{"id","leaderEpoch"}` (taken when absent, with a TTL; its
 *   exact value is the leader's fencing token);
 * - `leaderEpoch`: counter, `INCR` on every takeover.
 */
export function worldKeys(prefix: string, world: string) {
  const base = `${prefix}world:${world}:`;
  return Object.freeze({
    checkpoint: (accountId: string) => `${base}checkpoint:${accountId}`,
    cellPlayers: (cell: string) => `${base}cell:${cell}:players`,
    cellEpochs: `${base}cell-epochs`,
    owners: `${base}authority:owners`,
    leader: `${base}authority:leader`,
    leaderEpoch: `${base}authority:leader-epoch`,
  });
}
export type WorldKeys = ReturnType<typeof worldKeys>;
