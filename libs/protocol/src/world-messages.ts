import { Type } from "@sinclair/typebox";
import { createCodec, type MessageCodec } from "./message-codec.js";
import { defineMessage, type MessageOf, MessageRegistry } from "./message-registry.js";
import type { Subjects } from "./subjects.js";

/*
 * The contract between gateways and the world (zone servers, and the authority that places players),
 * over NATS. The gateway holds the player's connection for the whole session; zone servers come and
 * go behind it. docs/protocol.md ("Gateway and world over NATS") is the normative description.
 *
 *   gateway ── svc.world.attach (request) ──────────────► world: which server owns this player?
 *   gateway ── zone.<server>.inputs  (zone_inputs) ─────► the owning zone server
 *   gateway ── zone.<server>.detach  (player_detach) ───► the owning zone server
 *   zone    ── gw.<gateway>.updates  (gateway_updates) ─► the gateway holding the players
 *   zone    ── gw.<gateway>.routes   (route_switch) ────► the gateway, after a handoff
 *
 * Inputs carry a per-player sequence number (1, 2, 3…, across reconnects). The gateway keeps the
 * inputs a zone has not acknowledged (each update carries `ack`, the last applied sequence) and
 * re-sends them to the new owner after a route switch. A zone server applies a player's input only
 * when its `seq` is exactly `lastApplied + 1`: it drops a duplicate (≤ lastApplied) and also any
 * input past a hole (> lastApplied + 1), which the gateway re-sends once it learns the route (an
 * owner that lost a player and got them back, A → B → A, would otherwise apply inputs over the
 * hole left by those B received). The gateway never forwards a hole of its own. So an input is never
 * lost and never applied twice, whichever way a switch and an input race.
 */

/** Service name of world requests: `<prefix>.svc.world.<verb>`. */
export const WORLD_SERVICE = "world";
/** The queue group of `svc.world.*` responders (authority instances, or zone servers in tests). */
export const WORLD_QUEUE_GROUP = "world";
/** Channel of a zone server's inbox for inputs: `<prefix>.zone.<server>.inputs`. */
export const ZONE_INPUTS_CHANNEL = "inputs";
/** Channel of a zone server's inbox for detaches: `<prefix>.zone.<server>.detach`. */
export const ZONE_DETACH_CHANNEL = "detach";
/** Channel of a gateway's inbox for updates: `<prefix>.gw.<gateway>.updates`. */
export const GATEWAY_UPDATES_CHANNEL = "updates";
/** Channel of a gateway's inbox for route switches: `<prefix>.gw.<gateway>.routes`. */
export const GATEWAY_ROUTES_CHANNEL = "routes";
/** Largest world message on NATS, bytes: half of NATS's default `max_payload`. */
export const WORLD_MAX_MESSAGE_BYTES = 512 * 1024;

const UINT32_MAX = 0xffff_ffff;
const INT53 = Number.MAX_SAFE_INTEGER;
const Id = Type.String({ pattern: "^[1-9][0-9]{0,18}$" });
/** A server, zone or gateway id: one NATS subject token. */
const Token = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" });
/** A per-player input sequence number: 1 to 2^32 − 1 (0 means "none yet" in `ack`). */
const Seq = Type.Integer({ minimum: 1, maximum: UINT32_MAX });
const Ack = Type.Integer({ minimum: 0, maximum: UINT32_MAX });
/** An ownership epoch (fencing token): only a route with a higher epoch replaces the current one. */
const Epoch = Type.Integer({ minimum: 0, maximum: INT53 });
/** Game-defined content: any MessagePack value; the game module validates it. */
const GameData = Type.Unknown();

// ---- client ⇄ gateway ----

/**
 * Client → gateway, once logged in: one player input. `seq` is the player's input sequence: 1 for
 * the first input of the session, then one more per input, continuing across resumes. `data` is the
 * game's (an intent such as "move north"; the zone server validates and applies it).
 */
export const Input = defineMessage("input", Type.Object({ seq: Seq, data: GameData }));
export type Input = MessageOf<typeof Input>;

/**
 * Gateway → client: the world as the player's zone server sees it this tick. `ack` is the last input
 * sequence the server applied (inputs after it may still be in flight); `data` is the game's delta.
 */
export const Update = defineMessage(
  "update",
  Type.Object({
    /** The zone server's tick number. */
    tick: Type.Integer({ minimum: 0, maximum: INT53 }),
    ack: Ack,
    data: GameData,
  }),
);
export type Update = MessageOf<typeof Update>;

// ---- gateway ⇄ world over NATS ----

/**
 * Gateway → world (`svc.world.attach`, request): place a player who just logged in or resumed.
 * Answered `player_attached` by the authority (which knows who owns the player's cell), or
 * `world_error`. A resume (same `sessionId`) keeps the player's entity, epoch and last applied input;
 * when it comes from another gateway, the owner sends the player's updates to that gateway from then
 * on (`gw.<gateway>.updates`). A new `sessionId` for the account replaces the old session.
 */
export const PlayerAttach = defineMessage(
  "player_attach",
  Type.Object({
    accountId: Id,
    sessionId: Type.String({ minLength: 36, maxLength: 36 }),
    username: Type.String({ maxLength: 64 }),
    /** The gateway holding the connection: where updates go (`gw.<gateway>.updates`). */
    gateway: Token,
    /** True when the session continues (resume), false after a fresh login. */
    resumed: Type.Boolean(),
  }),
);
export type PlayerAttach = MessageOf<typeof PlayerAttach>;

/** World → gateway: the player's route. */
export const PlayerAttached = defineMessage(
  "player_attached",
  Type.Object({
    accountId: Id,
    /** The zone server that owns the player: inputs go to `zone.<server>.inputs`. */
    server: Token,
    /** The zone (cell group) the player is in, for presence. */
    zone: Token,
    epoch: Epoch,
    /** The last input sequence the owner applied for this session (0: none). */
    ack: Ack,
    /** The world's name, for presence. */
    world: Token,
  }),
);
export type PlayerAttached = MessageOf<typeof PlayerAttached>;

/** World → gateway: a world request failed (`WORLD_*` codes, see docs/protocol.md). */
export const WorldError = defineMessage(
  "world_error",
  Type.Object({
    code: Type.String({ minLength: 1, maxLength: 64 }),
    message: Type.String({ maxLength: 1024 }),
  }),
);
export type WorldError = MessageOf<typeof WorldError>;

/**
 * The codes of `world_error.code` and of a refused `handoff_accept.reason` (docs/protocol.md, "The
 * world inside", `WORLD_*` codes). They travel on the wire as strings: a receiver branches on the
 * code, never on the message, and treats a code it does not know as a failure of the request.
 * (`@meridian/world`'s local `WORLD_INVALID_CONFIG` and `WORLD_OUT_OF_BOUNDS` never travel.)
 */
export const WorldErrorCode = {
  /**
   * Authority → zone server, on `zone_register` and `zone_heartbeat`: the credential is unknown or
   * revoked at the lobby, another server id holds it, or the server is quarantined (also for an
   * impossible heartbeat). The zone server drops every player, stops ticking and exits; it does not
   * retry.
   */
  Unauthorized: "WORLD_UNAUTHORIZED",
  /**
   * Authority → zone server, on `zone_register`: the request or the credential names another world
   * than the authority serves. The zone server stops, as for `WORLD_UNAUTHORIZED` (a
   * misconfiguration, not a transient failure).
   */
  Unknown: "WORLD_UNKNOWN",
  /**
   * Authority → zone server, on `zone_heartbeat`: this leader does not know the server (never
   * registered with it: a new leader; or its lease expired). The zone server registers again at
   * once and keeps the players of the cells that come back under the same epoch.
   */
  ZoneUnknown: "WORLD_ZONE_UNKNOWN",
  /**
   * Authority → gateway, on `player_attach`: no zone server owns the player's cell, or its owner did
   * not install the player (no answer, or a refusal). The gateway keeps the player logged in without
   * a place and attaches again on the next resume. Also authority → zone server on `zone_register`
   * when the lobby cannot verify the credential now, or the authority stopped leading: retry later.
   */
  Unavailable: "WORLD_UNAVAILABLE",
  /**
   * Zone server → authority, on `player_install`; zone server → zone server, in
   * `handoff_accept.reason`: the server does not hold the cell under the given `cellEpoch` (the cell
   * moved, or its lease has not arrived yet), or the player is frozen for a handoff out. The
   * authority retries the install once against its map as it is then; the offering zone server
   * keeps (unfreezes) the player and offers again at a later tick.
   */
  NotOwner: "WORLD_NOT_OWNER",
  /**
   * Zone server → zone server, in `handoff_accept.reason`: the target holds the player under a
   * higher player epoch, or its fenced checkpoint of the player was refused; the offering server
   * does not unfreeze but settles by the checkpoint (a checkpoint at the offer's epoch or above by
   * another server: the player was taken). Zone server → authority, on `player_install`: the
   * install's checkpoint was refused (the authority answers the gateway `WORLD_UNAVAILABLE`).
   */
  StaleEpoch: "WORLD_STALE_EPOCH",
  /**
   * Zone server → authority on `player_install`, zone server → zone server in
   * `handoff_accept.reason`: the server holds its `capacity` of players. The authority answers the
   * gateway `WORLD_UNAVAILABLE`; the offering server keeps the player and offers again later.
   */
  Full: "WORLD_FULL",
  /**
   * Authority → any requester: a request that failed to decode or came on the wrong subject
   * (`zone_register`, `zone_heartbeat`, `player_attach`). Zone server → zone server, in
   * `handoff_accept.reason`: an offer whose `state` is not a player snapshot. It is a bug or a
   * version mismatch, to be logged: a zone server's request is not answered again differently (the
   * offering server keeps the player, and the next tick's crossing offers again).
   */
  BadRequest: "WORLD_BAD_REQUEST",
} as const;
export type WorldErrorCode = (typeof WorldErrorCode)[keyof typeof WorldErrorCode];

/** One input as a gateway forwards it. */
const ForwardedInput = Type.Object({ accountId: Id, seq: Seq, data: GameData });

/**
 * Gateway → zone server (`zone.<server>.inputs`, publish): the inputs of the gateway's players
 * owned by that server, batched per event-loop turn, in arrival order per player. Re-sent inputs
 * (after a route switch) are ordinary entries; the server drops any `seq` it already applied.
 */
export const ZoneInputs = defineMessage(
  "zone_inputs",
  Type.Object({
    gateway: Token,
    inputs: Type.Array(ForwardedInput, { minItems: 1, maxItems: 10_000 }),
  }),
);
export type ZoneInputs = MessageOf<typeof ZoneInputs>;

/** Why a gateway lets go of a player. */
export const DetachReason = {
  /** The player logged out. */
  Logout: "logout",
  /** The connection dropped and the resume grace period ran out. */
  GraceExpired: "grace_expired",
  /** The session was revoked or banned. */
  Kicked: "kicked",
} as const;
export type DetachReason = (typeof DetachReason)[keyof typeof DetachReason];

/**
 * Gateway → zone server (`zone.<server>.detach`, publish): the player's session ended; the server
 * removes the player's entity (after checkpointing it). A server also drops a player whose gateway
 * has not re-attached it within the grace period (the gateway may have died).
 */
export const PlayerDetach = defineMessage(
  "player_detach",
  Type.Object({
    accountId: Id,
    sessionId: Type.String({ minLength: 36, maxLength: 36 }),
    gateway: Token,
    reason: Type.Union([
      Type.Literal(DetachReason.Logout),
      Type.Literal(DetachReason.GraceExpired),
      Type.Literal(DetachReason.Kicked),
    ]),
  }),
);
export type PlayerDetach = MessageOf<typeof PlayerDetach>;

/**
 * Zone server → gateway (`gw.<gateway>.updates`, publish): one tick's updates for the gateway's
 * players the server owns, batched: one message per gateway per tick, whatever the player count.
 */
export const GatewayUpdates = defineMessage(
  "gateway_updates",
  Type.Object({
    server: Token,
    tick: Type.Integer({ minimum: 0, maximum: INT53 }),
    updates: Type.Array(
      Type.Object({
        accountId: Id,
        /**
         * The server's ownership epoch of this player: the gateway drops updates from a stale owner
         * (lower epoch, or another server than the route's) and keeps those of the next owner that
         * arrive before its `route_switch`. Per entry: players of one message have their own epochs.
         */
        epoch: Epoch,
        ack: Ack,
        data: GameData,
      }),
      { maxItems: 10_000 },
    ),
  }),
);
export type GatewayUpdates = MessageOf<typeof GatewayUpdates>;

/**
 * Zone server or authority → gateway (`gw.<gateway>.routes`, publish): the player is now owned by
 * `server` (a handoff, or a reassignment after a crash). The gateway applies it only when `epoch` is
 * above the route's current epoch, then re-sends the inputs the old owner had not acknowledged.
 */
export const RouteSwitch = defineMessage(
  "route_switch",
  Type.Object({ accountId: Id, server: Token, zone: Token, world: Token, epoch: Epoch }),
);
export type RouteSwitch = MessageOf<typeof RouteSwitch>;

/** What a gateway accepts on its inboxes (`gw.<gateway>.updates` and `.routes`). */
export const GatewayInbox = new MessageRegistry([GatewayUpdates, RouteSwitch]);
/** What a zone server accepts on its inboxes (`zone.<server>.inputs` and `.detach`). */
export const ZoneInbox = new MessageRegistry([ZoneInputs, PlayerDetach]);
/** What a `svc.world.attach` responder accepts. */
export const WorldRequests = new MessageRegistry([PlayerAttach]);
/** What a `svc.world.attach` caller accepts as the answer. */
export const WorldReplies = new MessageRegistry([PlayerAttached, WorldError]);

/** Codec of a gateway's inboxes. */
export function gatewayInboxCodec(): MessageCodec<typeof GatewayUpdates | typeof RouteSwitch> {
  return createCodec({ registry: GatewayInbox, maxMessageBytes: WORLD_MAX_MESSAGE_BYTES });
}

/** Codec of a zone server's inboxes. */
export function zoneInboxCodec(): MessageCodec<typeof ZoneInputs | typeof PlayerDetach> {
  return createCodec({ registry: ZoneInbox, maxMessageBytes: WORLD_MAX_MESSAGE_BYTES });
}

/** Codec of `svc.world.attach` requests (the world side decodes with it). */
export function worldRequestCodec(): MessageCodec<typeof PlayerAttach> {
  return createCodec({ registry: WorldRequests, maxMessageBytes: WORLD_MAX_MESSAGE_BYTES });
}

/** Codec of `svc.world.attach` replies (the gateway decodes with it). */
export function worldReplyCodec(): MessageCodec<typeof PlayerAttached | typeof WorldError> {
  return createCodec({ registry: WorldReplies, maxMessageBytes: WORLD_MAX_MESSAGE_BYTES });
}

/** The subject of a world request: `<prefix>.svc.world.<verb>` (today only `attach`). */
export function worldSubject(subjects: Subjects, verb: "attach"): string {
  return subjects.service(WORLD_SERVICE, verb);
}
