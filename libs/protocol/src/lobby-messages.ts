import { Type } from "@sinclair/typebox";
import { createCodec, type MessageCodec } from "./message-codec.js";
import { defineMessage, type MessageOf, MessageRegistry } from "./message-registry.js";
import type { Subjects } from "./subjects.js";

/*
 * The lobby's NATS request/reply contract: one subject per verb, `<prefix>.svc.lobby.<verb>`, served
 * by every lobby instance in the queue group `lobby`. A request is one MessagePack map of the verb's
 * request type; the reply is either the verb's reply type or `lobby_error`. One subject per verb lets
 * NATS permissions say who may call what (gateways: login…; zone servers: stats_report…; operators'
 * tools: ban…). docs/protocol.md ("Lobby over NATS") is the normative description.
 *
 * The schemas check shapes and bounds; the lobby checks meaning (a username that normalises to
 * nothing, a CIDR that does not parse…) and answers `lobby_error` with a code and a field.
 */

/** The service name in lobby subjects. */
export const LOBBY_SERVICE = "lobby";
/** The NATS queue group every lobby instance joins: each request is served by one instance. */
export const LOBBY_QUEUE_GROUP = "lobby";

const INT53 = Number.MAX_SAFE_INTEGER;

/** `accounts.id` (and other bigserial ids): a decimal string, 1–19 digits. */
const Id = Type.String({ pattern: "^[1-9][0-9]{0,18}$" });
/** A username as typed: the lobby normalises it (NFKC, case-folded) and checks 3–32 characters. */
const Username = Type.String({ minLength: 1, maxLength: 128 });
/** A password: at most 1 KiB of UTF-8 (the lobby checks the byte length; 1024 characters bound it first). */
const Password = Type.String({ minLength: 1, maxLength: 1024 });
/** An opaque session, reset or server credential token: 43 base64url characters (256 bits). */
const Token = Type.String({ minLength: 1, maxLength: 128 });
/** A per-connection nonce issued by a gateway (see `makeLoginNonce`). */
const Nonce = Type.String({ minLength: 1, maxLength: 128 });
/** Milliseconds since the Unix epoch. */
const EpochMs = Type.Integer({ minimum: 0, maximum: INT53 });
/** An administrator's credential (`LOBBY_ADMIN_TOKEN`). */
const AdminToken = Type.String({ minLength: 1, maxLength: 256 });
/** A session (refresh-token chain) id: a uuid. */
const SessionId = Type.String({ minLength: 36, maxLength: 36 });
/**
 * Whether the player's connection is TLS (or wss), end to end or terminated by a trusted proxy. Every
 * verb that carries a password, an answer or a token the player holds says so: with
 * `LOBBY_REQUIRE_TLS` the lobby refuses them from plain connections (`LOBBY_INSECURE_TRANSPORT`).
 */
const Tls = Type.Boolean();

/** The tokens of a session: given once to the client; the lobby keeps only their hashes. */
const SessionFields = {
  accountId: Id,
  /** The session (refresh-token chain) id, a uuid: what a revocation notice names. */
  sessionId: SessionId,
  accessToken: Token,
  accessExpiresAt: EpochMs,
  refreshToken: Token,
  refreshExpiresAt: EpochMs,
};

const ServerEntryFields = Type.Object({
  id: Id,
  name: Type.String({ maxLength: 64 }),
  world: Type.String({ maxLength: 32 }),
  address: Type.String({ maxLength: 253 }),
  port: Type.Integer({ minimum: 1, maximum: 65_535 }),
  capacity: Type.Integer({ minimum: 0, maximum: INT53 }),
  players: Type.Integer({ minimum: 0, maximum: INT53 }),
  version: Type.String({ maxLength: 32 }),
  tags: Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16 }),
  lastHeartbeatAt: EpochMs,
});

const BanFields = Type.Object({
  id: Id,
  kind: Type.Union([Type.Literal("account"), Type.Literal("ip"), Type.Literal("cidr")]),
  accountId: Type.Union([Id, Type.Null()]),
  target: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
  reason: Type.String({ maxLength: 500 }),
  issuer: Type.String({ maxLength: 200 }),
  createdAt: EpochMs,
  expiresAt: Type.Union([EpochMs, Type.Null()]),
  liftedAt: Type.Union([EpochMs, Type.Null()]),
  liftedBy: Type.Union([Type.String({ maxLength: 200 }), Type.Null()]),
});

/** Stat name: lowercase, digits, `_` and `.`, starting with a letter, at most 64 characters. */
const StatName = Type.String({ pattern: "^[a-z][a-z0-9_.]{0,63}$" });

// ---- replies shared by several verbs ----

/** Any verb: the request failed. `code` is a `LOBBY_*` code (see docs/protocol.md). */
export const LobbyErrorReply = defineMessage(
  "lobby_error",
  Type.Object({
    code: Type.String({ minLength: 1, maxLength: 64 }),
    message: Type.String({ maxLength: 1024 }),
    /** `LOBBY_THROTTLED`, `LOBBY_CREATION_LIMITED`, `LOBBY_RECOVERY_LOCKED`: when to try again. */
    retryAfterMs: Type.Optional(Type.Integer({ minimum: 0, maximum: INT53 })),
    /** `LOBBY_WRONG_ANSWER`: guesses left before the question locks. */
    attemptsLeft: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    /** `LOBBY_ACCOUNT_BANNED`: the ban's reason, shown to the player. */
    reason: Type.Optional(Type.String({ maxLength: 500 })),
    /** `LOBBY_ACCOUNT_BANNED`: when the ban ends; absent for a permanent ban. */
    expiresAt: Type.Optional(EpochMs),
    /** Validation codes: the request field at fault. */
    field: Type.Optional(Type.String({ maxLength: 64 })),
    /** `LOBBY_BAD_REQUEST`: the decoder's `PROTO_*` code (too large, malformed, invalid, unknown type). */
    protocolCode: Type.Optional(Type.String({ maxLength: 64 })),
  }),
);
export type LobbyErrorReply = MessageOf<typeof LobbyErrorReply>;

/** A verb that has nothing to return succeeded. */
export const LobbyOk = defineMessage("lobby_ok", Type.Object({}));
export type LobbyOk = MessageOf<typeof LobbyOk>;

/** A new session: `login`, `recover`. */
export const SessionReply = defineMessage(
  "session",
  Type.Object({
    ...SessionFields,
    /** The display form of the username. */
    username: Type.String({ maxLength: 64 }),
    /** True when this login created the account (auto-create). */
    created: Type.Boolean(),
  }),
);
export type SessionReply = MessageOf<typeof SessionReply>;

// ---- sessions ----

/**
 * Gateway → lobby: a player's password login. `nonce` is what the client sent in its `login`;
 * `connectionNonce` is what the gateway issued on that connection (in `hello_ok`). The lobby accepts
 * a nonce once, only when both match and it is fresh: a captured login replayed on another connection,
 * or again, is refused (`LOBBY_LOGIN_NONCE_INVALID`, `LOBBY_LOGIN_REPLAYED`).
 */
export const LoginRequest = defineMessage(
  "login",
  Type.Object({
    username: Username,
    password: Password,
    nonce: Nonce,
    connectionNonce: Nonce,
    /** The player's address as the gateway saw it (throttling, creation limit). */
    ip: Type.String({ minLength: 2, maxLength: 64 }),
    tls: Tls,
    /** The gateway's id, for logs. */
    gateway: Type.String({ minLength: 1, maxLength: 64 }),
  }),
);
export type LoginRequest = MessageOf<typeof LoginRequest>;

/** Gateway → lobby: rotate a refresh token (resume). The old token is spent; reuse revokes the chain. */
export const RefreshRequest = defineMessage("refresh", Type.Object({ refreshToken: Token, tls: Tls }));
export type RefreshRequest = MessageOf<typeof RefreshRequest>;

/** The new token pair of a `refresh`. */
export const RefreshReply = defineMessage(
  "refreshed",
  Type.Object({ ...SessionFields, username: Type.String({ maxLength: 64 }) }),
);
export type RefreshReply = MessageOf<typeof RefreshReply>;

/** Gateway → lobby: whose is this access token? */
export const ValidateRequest = defineMessage("validate", Type.Object({ accessToken: Token }));
export type ValidateRequest = MessageOf<typeof ValidateRequest>;

export const ValidateReply = defineMessage("identity", Type.Object({ accountId: Id, sessionId: SessionId }));
export type ValidateReply = MessageOf<typeof ValidateReply>;

/**
 * Who a session verb acts for: exactly one of `accessToken` (the caller holds the player's token) and
 * `sessionId` (a gateway acting for the player logged in on its connection; NATS permissions must let
 * only gateways publish these subjects). A `sessionId` must name a live session.
 */
const Actor = {
  accessToken: Type.Optional(Token),
  sessionId: Type.Optional(SessionId),
};

/** Gateway → lobby: end this session (every gateway is told). Replies `lobby_ok`. */
export const LogoutRequest = defineMessage("logout", Type.Object({ ...Actor }));
export type LogoutRequest = MessageOf<typeof LogoutRequest>;

/** Change the password: every session of the account ends. Replies `lobby_ok`. */
export const ChangePasswordRequest = defineMessage(
  "change_password",
  Type.Object({ ...Actor, oldPassword: Password, newPassword: Password, tls: Tls }),
);
export type ChangePasswordRequest = MessageOf<typeof ChangePasswordRequest>;

// ---- recovery ----

/**
 * Set (or replace) the secret question and answer, and optionally the email that reset tokens go to
 * (`null` removes it; absent leaves it). Replies `lobby_ok`.
 */
export const SetRecoveryRequest = defineMessage(
  "set_recovery",
  Type.Object({
    ...Actor,
    tls: Tls,
    question: Type.String({ minLength: 1, maxLength: 200 }),
    answer: Type.String({ minLength: 1, maxLength: 1024 }),
    email: Type.Optional(Type.Union([Type.String({ minLength: 3, maxLength: 254 }), Type.Null()])),
  }),
);
export type SetRecoveryRequest = MessageOf<typeof SetRecoveryRequest>;

/** What is this account's secret question? */
export const RecoveryQuestionRequest = defineMessage(
  "recovery_question",
  Type.Object({ username: Username }),
);
export type RecoveryQuestionRequest = MessageOf<typeof RecoveryQuestionRequest>;

export const RecoveryQuestionReply = defineMessage(
  "recovery_question_is",
  Type.Object({ question: Type.String({ maxLength: 200 }) }),
);
export type RecoveryQuestionReply = MessageOf<typeof RecoveryQuestionReply>;

/** Answer the secret question and set a new password; replies `session` (a fresh login). */
export const RecoverRequest = defineMessage(
  "recover",
  Type.Object({
    username: Username,
    answer: Type.String({ minLength: 1, maxLength: 1024 }),
    newPassword: Password,
    tls: Tls,
  }),
);
export type RecoverRequest = MessageOf<typeof RecoverRequest>;

/**
 * Mail a reset token to the account's email. Replies `lobby_ok` whether or not the account exists or
 * has an email (no account oracle).
 */
export const ResetRequestRequest = defineMessage("reset_request", Type.Object({ username: Username }));
export type ResetRequestRequest = MessageOf<typeof ResetRequestRequest>;

/** Spend a mailed reset token to set a new password; every session of the account ends. Replies `lobby_ok`. */
export const ResetRequest = defineMessage(
  "reset",
  Type.Object({ token: Token, newPassword: Password, tls: Tls }),
);
export type ResetRequest = MessageOf<typeof ResetRequest>;

// ---- locator and stats ----

/** Where is this player? Give exactly one of `accountId` and `username`. */
export const LocateRequest = defineMessage(
  "locate",
  Type.Object({ accountId: Type.Optional(Id), username: Type.Optional(Username) }),
);
export type LocateRequest = MessageOf<typeof LocateRequest>;

export const LocateReply = defineMessage(
  "location",
  Type.Object({
    accountId: Id,
    username: Type.String({ maxLength: 64 }),
    online: Type.Boolean(),
    /** The rest only when online. */
    world: Type.Optional(Type.String({ maxLength: 64 })),
    zone: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
    server: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
    gateway: Type.Optional(Type.String({ maxLength: 64 })),
    since: Type.Optional(EpochMs),
  }),
);
export type LocateReply = MessageOf<typeof LocateReply>;

/** Zone server → lobby: add to players' counters, in one transaction. Replies `stats_applied`. */
export const StatsReportRequest = defineMessage(
  "stats_report",
  Type.Object({
    /** The reporting server's credential (issued by the lobby). */
    credential: Token,
    entries: Type.Array(
      Type.Object({
        accountId: Id,
        /** Counters only go up: each delta 0 to 2^53 − 1; at most 64 stats per entry. */
        increments: Type.Record(StatName, Type.Integer({ minimum: 0, maximum: INT53 }), {
          additionalProperties: false,
          maxProperties: 64,
        }),
      }),
      { minItems: 1, maxItems: 1000 },
    ),
  }),
);
export type StatsReportRequest = MessageOf<typeof StatsReportRequest>;

export const StatsReportReply = defineMessage(
  "stats_applied",
  Type.Object({ entries: Type.Integer({ minimum: 0 }) }),
);
export type StatsReportReply = MessageOf<typeof StatsReportReply>;

/** One player's counters. */
export const StatsGetRequest = defineMessage("stats_get", Type.Object({ accountId: Id }));
export type StatsGetRequest = MessageOf<typeof StatsGetRequest>;

export const StatsReply = defineMessage(
  "stats",
  Type.Object({ accountId: Id, stats: Type.Record(Type.String(), Type.Integer()) }),
);
export type StatsReply = MessageOf<typeof StatsReply>;

/** The top players by one counter. */
export const LeaderboardRequest = defineMessage(
  "leaderboard",
  Type.Object({
    stat: StatName,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  }),
);
export type LeaderboardRequest = MessageOf<typeof LeaderboardRequest>;

export const LeaderboardReply = defineMessage(
  "leaderboard_is",
  Type.Object({
    stat: StatName,
    rows: Type.Array(
      Type.Object({
        rank: Type.Integer({ minimum: 1 }),
        accountId: Id,
        username: Type.String({ maxLength: 64 }),
        value: Type.Integer(),
      }),
      { maxItems: 100 },
    ),
  }),
);
export type LeaderboardReply = MessageOf<typeof LeaderboardReply>;

// ---- persisted player state ----

/** A world's name, as zone servers and the registry know it. */
const WorldName = Type.String({ minLength: 1, maxLength: 64 });
/** A player's ownership epoch in a world (zone servers advance it at every change of owner). */
const PlayerEpoch = Type.Integer({ minimum: 0, maximum: INT53 });

/**
 * What the lobby keeps of a player between sessions: the zone server's snapshot of the player's
 * entity. `state` is the game's and is stored as JSON: it must have a JSON form (no binary, no
 * non-finite number, no U+0000 in a string, at most 64 levels deep), or the entry is skipped.
 */
export const PlayerStateSnapshot = Type.Object({
  /** The display name at the time. */
  username: Type.String({ maxLength: 64 }),
  x: Type.Number(),
  y: Type.Number(),
  /** The last input sequence applied (of the session that was playing). */
  lastSeq: Type.Integer({ minimum: 0, maximum: 4_294_967_295 }),
  /** The game's state of the player's entity. */
  state: Type.Unknown(),
});

/** Most entries in one `player_state_save`. */
export const PLAYER_STATE_MAX_ENTRIES = 500;

/**
 * Zone server → lobby: persist players' state in Postgres, fenced by player epoch: a stored row is
 * replaced only by an entry of an equal or higher epoch (older entries are counted `stale`). Entries
 * of accounts that do not exist are skipped and counted `unknown`; entries whose state has no JSON
 * form are skipped and counted `invalid`. Replies `player_state_saved`.
 */
export const PlayerStateSaveRequest = defineMessage(
  "player_state_save",
  Type.Object({
    /** The saving server's credential (issued by the lobby for `world`). */
    credential: Token,
    world: WorldName,
    entries: Type.Array(Type.Object({ accountId: Id, epoch: PlayerEpoch, snapshot: PlayerStateSnapshot }), {
      minItems: 1,
      maxItems: PLAYER_STATE_MAX_ENTRIES,
    }),
  }),
);
export type PlayerStateSaveRequest = MessageOf<typeof PlayerStateSaveRequest>;

/** What a `player_state_save` did: every entry is counted once in one of the four. */
export const PlayerStateSaveReply = defineMessage(
  "player_state_saved",
  Type.Object({
    /** Rows written (new, or replacing an equal or lower epoch). */
    saved: Type.Integer({ minimum: 0 }),
    /** Entries not written: the stored epoch is higher, or the same account came twice at a higher epoch. */
    stale: Type.Integer({ minimum: 0 }),
    /** Entries of an account id that does not exist. */
    unknown: Type.Integer({ minimum: 0 }),
    /** Entries whose state cannot be stored as JSON. */
    invalid: Type.Integer({ minimum: 0 }),
  }),
);
export type PlayerStateSaveReply = MessageOf<typeof PlayerStateSaveReply>;

/** Zone server → lobby: a player's persisted state in `world`. Replies `player_state`. */
export const PlayerStateLoadRequest = defineMessage(
  "player_state_load",
  Type.Object({ credential: Token, world: WorldName, accountId: Id }),
);
export type PlayerStateLoadRequest = MessageOf<typeof PlayerStateLoadRequest>;

/** The persisted state, when `found`: `epoch`, `snapshot` and `updatedAt` are present exactly then. */
export const PlayerStateLoadReply = defineMessage(
  "player_state",
  Type.Object({
    accountId: Id,
    world: WorldName,
    found: Type.Boolean(),
    epoch: Type.Optional(PlayerEpoch),
    snapshot: Type.Optional(PlayerStateSnapshot),
    /** When the row was last written, ms since the Unix epoch. */
    updatedAt: Type.Optional(EpochMs),
  }),
);
export type PlayerStateLoadReply = MessageOf<typeof PlayerStateLoadReply>;

// ---- server registry ----

/** Game server → lobby: (re)advertise in the server browser. Replies `server`. */
export const ServerAdvertiseRequest = defineMessage(
  "server_advertise",
  Type.Object({
    credential: Token,
    address: Type.String({ minLength: 1, maxLength: 253 }),
    port: Type.Integer({ minimum: 1, maximum: 65_535 }),
    capacity: Type.Integer({ minimum: 0, maximum: INT53 }),
    players: Type.Integer({ minimum: 0, maximum: INT53 }),
    version: Type.String({ minLength: 1, maxLength: 32 }),
    tags: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 16 })),
  }),
);
export type ServerAdvertiseRequest = MessageOf<typeof ServerAdvertiseRequest>;

/** Game server → lobby: still alive, with this many players. Replies `server`. */
export const ServerHeartbeatRequest = defineMessage(
  "server_heartbeat",
  Type.Object({ credential: Token, players: Type.Integer({ minimum: 0, maximum: INT53 }) }),
);
export type ServerHeartbeatRequest = MessageOf<typeof ServerHeartbeatRequest>;

export const ServerReply = defineMessage("server", Type.Object({ server: ServerEntryFields }));
export type ServerReply = MessageOf<typeof ServerReply>;

/** Anyone → lobby: the server browser, filtered and paged. Replies `server_page`. */
export const ServerListRequest = defineMessage(
  "server_list",
  Type.Object({
    world: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    tag: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    hasRoom: Type.Optional(Type.Boolean()),
    versionPrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  }),
);
export type ServerListRequest = MessageOf<typeof ServerListRequest>;

export const ServerPageReply = defineMessage(
  "server_page",
  Type.Object({
    servers: Type.Array(ServerEntryFields, { maxItems: 200 }),
    nextCursor: Type.Union([Type.String({ maxLength: 256 }), Type.Null()]),
  }),
);
export type ServerPageReply = MessageOf<typeof ServerPageReply>;

/** Operator or authority → lobby: revoke a server's credential at once (it is pruned). Replies `lobby_ok`. */
export const ServerRevokeRequest = defineMessage(
  "server_revoke",
  Type.Object({
    adminToken: AdminToken,
    serverId: Id,
    reason: Type.String({ minLength: 1, maxLength: 500 }),
  }),
);
export type ServerRevokeRequest = MessageOf<typeof ServerRevokeRequest>;

/**
 * Authority → lobby: whose is this server credential? Answered `server_verified` (the server's id,
 * name and world as registered) or `lobby_error` (`LOBBY_SERVER_UNKNOWN`, `LOBBY_SERVER_REVOKED`).
 * The authority admits zone servers by it and re-checks it on every lease renewal.
 */
export const ServerVerifyRequest = defineMessage("server_verify", Type.Object({ credential: Token }));
export type ServerVerifyRequest = MessageOf<typeof ServerVerifyRequest>;

export const ServerVerifiedReply = defineMessage(
  "server_verified",
  Type.Object({
    serverId: Id,
    name: Type.String({ maxLength: 64 }),
    world: Type.String({ maxLength: 32 }),
  }),
);
export type ServerVerifiedReply = MessageOf<typeof ServerVerifiedReply>;

// ---- bans ----

/** Operator → lobby: ban an account, an address or a range. Replies `ban`. */
export const BanRequest = defineMessage(
  "ban",
  Type.Object({
    adminToken: AdminToken,
    kind: Type.Union([Type.Literal("account"), Type.Literal("ip"), Type.Literal("cidr")]),
    accountId: Type.Optional(Id),
    target: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    reason: Type.String({ minLength: 1, maxLength: 500 }),
    issuer: Type.String({ minLength: 1, maxLength: 200 }),
    expiresAt: Type.Optional(EpochMs),
  }),
);
export type BanRequest = MessageOf<typeof BanRequest>;

/** Operator → lobby: lift a ban. Replies `ban` (the lifted ban). */
export const UnbanRequest = defineMessage(
  "unban",
  Type.Object({ adminToken: AdminToken, banId: Id, issuer: Type.String({ minLength: 1, maxLength: 200 }) }),
);
export type UnbanRequest = MessageOf<typeof UnbanRequest>;

export const BanReply = defineMessage("ban_is", Type.Object({ ban: BanFields }));
export type BanReply = MessageOf<typeof BanReply>;

/**
 * Gateway → lobby: the ban mirror (a full resync), one page at a time: entries `offset` to
 * `offset + limit − 1` of both lists. Replies `ban_snapshot`; the caller pages on while `more`, and
 * starts again if `version` changed between pages.
 */
export const BanSnapshotRequest = defineMessage(
  "ban_snapshot_get",
  Type.Object({
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: INT53 })),
    /** Entries per list per page, 1–5000. Default 5000. */
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5_000 })),
  }),
);
export type BanSnapshotRequest = MessageOf<typeof BanSnapshotRequest>;

export const BanSnapshotReply = defineMessage(
  "ban_snapshot",
  Type.Object({
    version: Type.Integer({ minimum: 0 }),
    addresses: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 5_000 }),
    accounts: Type.Array(Id, { maxItems: 5_000 }),
    /** Whether either list has entries past this page. */
    more: Type.Boolean(),
  }),
);
export type BanSnapshotReply = MessageOf<typeof BanSnapshotReply>;

// ---- the verb table ----

/**
 * Every lobby verb: subject token → request and success reply. Every verb may also reply
 * `lobby_error`.
 */
export const LobbyVerbs = {
  login: { request: LoginRequest, reply: SessionReply },
  refresh: { request: RefreshRequest, reply: RefreshReply },
  validate: { request: ValidateRequest, reply: ValidateReply },
  logout: { request: LogoutRequest, reply: LobbyOk },
  change_password: { request: ChangePasswordRequest, reply: LobbyOk },
  set_recovery: { request: SetRecoveryRequest, reply: LobbyOk },
  recovery_question: { request: RecoveryQuestionRequest, reply: RecoveryQuestionReply },
  recover: { request: RecoverRequest, reply: SessionReply },
  reset_request: { request: ResetRequestRequest, reply: LobbyOk },
  reset: { request: ResetRequest, reply: LobbyOk },
  locate: { request: LocateRequest, reply: LocateReply },
  stats_report: { request: StatsReportRequest, reply: StatsReportReply },
  stats_get: { request: StatsGetRequest, reply: StatsReply },
  leaderboard: { request: LeaderboardRequest, reply: LeaderboardReply },
  player_state_save: { request: PlayerStateSaveRequest, reply: PlayerStateSaveReply },
  player_state_load: { request: PlayerStateLoadRequest, reply: PlayerStateLoadReply },
  server_advertise: { request: ServerAdvertiseRequest, reply: ServerReply },
  server_heartbeat: { request: ServerHeartbeatRequest, reply: ServerReply },
  server_list: { request: ServerListRequest, reply: ServerPageReply },
  server_revoke: { request: ServerRevokeRequest, reply: LobbyOk },
  server_verify: { request: ServerVerifyRequest, reply: ServerVerifiedReply },
  ban: { request: BanRequest, reply: BanReply },
  unban: { request: UnbanRequest, reply: BanReply },
  ban_snapshot: { request: BanSnapshotRequest, reply: BanSnapshotReply },
} as const;

/** A lobby verb: the last token of its subject. */
export type LobbyVerb = keyof typeof LobbyVerbs;
/** The request message of verb `V`. */
export type LobbyRequestOf<V extends LobbyVerb> = MessageOf<(typeof LobbyVerbs)[V]["request"]>;
/** The success reply of verb `V`. */
export type LobbyReplyOf<V extends LobbyVerb> = MessageOf<(typeof LobbyVerbs)[V]["reply"]>;

/** Every verb, in table order. */
export const LOBBY_VERBS = Object.freeze(Object.keys(LobbyVerbs) as LobbyVerb[]);

/** The subject of a lobby verb: `<prefix>.svc.lobby.<verb>`. */
export function lobbySubject(subjects: Subjects, verb: LobbyVerb): string {
  return subjects.service(LOBBY_SERVICE, verb);
}

/**
 * Largest lobby request or reply, in bytes: 512 KiB, half of NATS's default `max_payload` (1 MiB),
 * so a limit breach is the lobby's clear `LOBBY_BAD_REQUEST`, not a NATS publish error. A stats
 * report of 1,000 players with a few counters each is well under it; larger reports are split.
 */
export const LOBBY_MAX_MESSAGE_BYTES = 512 * 1024;

type RequestDefinition<V extends LobbyVerb> = (typeof LobbyVerbs)[V]["request"];
type ReplyDefinition<V extends LobbyVerb> = (typeof LobbyVerbs)[V]["reply"] | typeof LobbyErrorReply;

/** The codec the lobby decodes verb `V`'s requests with (its registry holds that request only). */
export function lobbyRequestCodec<V extends LobbyVerb>(verb: V): MessageCodec<RequestDefinition<V>> {
  const definition: RequestDefinition<V> = LobbyVerbs[verb].request;
  return createCodec({
    registry: new MessageRegistry([definition]),
    maxMessageBytes: LOBBY_MAX_MESSAGE_BYTES,
  });
}

/** The codec a caller decodes verb `V`'s replies with: its success reply or `lobby_error`. */
export function lobbyReplyCodec<V extends LobbyVerb>(verb: V): MessageCodec<ReplyDefinition<V>> {
  const definition: (typeof LobbyVerbs)[V]["reply"] = LobbyVerbs[verb].reply;
  const registry = new MessageRegistry<ReplyDefinition<V>>([definition, LobbyErrorReply]);
  return createCodec({ registry, maxMessageBytes: LOBBY_MAX_MESSAGE_BYTES });
}
