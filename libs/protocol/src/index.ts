/**
 * `@meridian/protocol`: Meridian's contracts. Client⇄gateway messages and their schemas, the
 * MessagePack codec, the protocol version, error and close codes, and NATS subject names.
 * Imports no other Meridian package. `docs/protocol.md` is the normative wire description.
 */
export { type EncodedBatches, encodeBatches } from "./batch-encoder.js";
export { CloseCode, closeCodeFor } from "./close-codes.js";
export { DECODE_ERROR_CODES, ProtocolError, ProtocolErrorCode } from "./errors.js";
export {
  Bye,
  type ClientMessage,
  ClientMessages,
  ErrorMessage,
  Hello,
  HelloOk,
  Login,
  LoginOk,
  Logout,
  Ping,
  Pong,
  Resume,
  ResumeOk,
  type ServerMessage,
  ServerMessages,
  toWire,
} from "./gateway-messages.js";
export {
  BanReply,
  BanRequest,
  BanSnapshotReply,
  BanSnapshotRequest,
  ChangePasswordRequest,
  LeaderboardReply,
  LeaderboardRequest,
  LOBBY_MAX_MESSAGE_BYTES,
  LOBBY_QUEUE_GROUP,
  LOBBY_SERVICE,
  LOBBY_VERBS,
  LobbyErrorReply,
  LobbyOk,
  type LobbyReplyOf,
  type LobbyRequestOf,
  type LobbyVerb,
  LobbyVerbs,
  LocateReply,
  LocateRequest,
  LoginRequest,
  LogoutRequest,
  lobbyReplyCodec,
  lobbyRequestCodec,
  lobbySubject,
  PLAYER_STATE_MAX_ENTRIES,
  PlayerStateLoadReply,
  PlayerStateLoadRequest,
  PlayerStateSaveReply,
  PlayerStateSaveRequest,
  PlayerStateSnapshot,
  RecoverRequest,
  RecoveryQuestionReply,
  RecoveryQuestionRequest,
  RefreshReply,
  RefreshRequest,
  ResetRequest,
  ResetRequestRequest,
  ServerAdvertiseRequest,
  ServerHeartbeatRequest,
  ServerListRequest,
  ServerPageReply,
  ServerReply,
  ServerRevokeRequest,
  ServerVerifiedReply,
  ServerVerifyRequest,
  SessionReply,
  SetRecoveryRequest,
  StatsGetRequest,
  StatsReply,
  StatsReportReply,
  StatsReportRequest,
  UnbanRequest,
  ValidateReply,
  ValidateRequest,
} from "./lobby-messages.js";
export { LOGIN_NONCE_RANDOM_BYTES, type LoginNonce, makeLoginNonce, parseLoginNonce } from "./login-nonce.js";
export {
  type CodecOptions,
  createCodec,
  DEFAULT_MAX_MESSAGE_BYTES,
  type DecodeResult,
  decodeMessage,
  encodeMessage,
  type MessageCodec,
} from "./message-codec.js";
export {
  type AnyMessageDefinition,
  defineMessage,
  type MessageDefinition,
  type MessageOf,
  MessageRegistry,
  type MessageSchema,
  type RegistryMessage,
} from "./message-registry.js";
export { encodeSharedBatches, MessagePackWriter, type SharedBatches } from "./msgpack-writer.js";
export {
  createSubjects,
  DEFAULT_SUBJECT_PREFIX,
  type Subjects,
  type SubjectsOptions,
} from "./subjects.js";
export {
  checkVersion,
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  type VersionCheck,
} from "./version.js";

// Presence: the Redis contract between the gateways (writers) and the lobby's locator (reader).

export {
  DEFAULT_PRESENCE_TTL_MS,
  decodePresence,
  encodePresence,
  isPresenceAccountId,
  MAX_PRESENCE_TEXT_LENGTH,
  PRESENCE_CLEAR_SCRIPT,
  PRESENCE_LAYOUT_VERSION,
  PRESENCE_REFRESH_DIVISOR,
  type PresenceCommand,
  PresenceField,
  type PresenceRecord,
  presenceKey,
  presenceWriteCommands,
} from "./presence.js";

// The gateway ⇄ world contract over NATS, and the client's input and update messages.

export {
  DetachReason,
  GATEWAY_ROUTES_CHANNEL,
  GATEWAY_UPDATES_CHANNEL,
  GatewayInbox,
  GatewayUpdates,
  gatewayInboxCodec,
  Input,
  PlayerAttach,
  PlayerAttached,
  PlayerDetach,
  RouteSwitch,
  Update,
  WORLD_MAX_MESSAGE_BYTES,
  WORLD_QUEUE_GROUP,
  WORLD_SERVICE,
  WorldError,
  WorldErrorCode,
  WorldReplies,
  WorldRequests,
  worldReplyCodec,
  worldRequestCodec,
  worldSubject,
  ZONE_DETACH_CHANNEL,
  ZONE_INPUTS_CHANNEL,
  ZoneInbox,
  ZoneInputs,
  zoneInboxCodec,
} from "./world-messages.js";

// The lobby's events and Redis keys that gateways read.

export {
  type AccessRecord,
  BAN_CHANGED_TOPIC,
  type BanChangedNotice,
  type BanKeys,
  BanKind,
  BanNoticeOp,
  banKeys,
  isRevocationReason,
  RevocationReason,
  SESSION_REVOKED_TOPIC,
  type SessionKeys,
  type SessionRevokedNotice,
  sessionKeys,
} from "./lobby-events.js";

// The world inside: authority ⇄ zone servers and zone ⇄ zone.

export {
  AUTHORITY_SERVICE,
  AuthorityReplies,
  AuthorityRequests,
  authorityReplyCodec,
  authorityRequestCodec,
  authoritySubject,
  GhostBatch,
  HandoffAccept,
  HandoffAnswers,
  HandoffOffer,
  HandoffOffers,
  MAX_HANDOFF_BATCH,
  PlayerInstall,
  PlayerInstalled,
  type WorldKeys,
  WorldMap,
  WorldMapEvents,
  worldKeys,
  worldMapCodec,
  worldMapSubject,
  ZONE_GHOSTS_CHANNEL,
  ZONE_HANDOFF_CHANNEL,
  ZONE_INSTALL_CHANNEL,
  ZoneControl,
  ZoneControlReplies,
  ZoneHeartbeat,
  ZoneLeases,
  ZoneRegister,
  ZoneRegistered,
  zoneControlCodec,
  zoneControlReplyCodec,
} from "./zone-messages.js";

// The observer feed: what zone servers publish for tools that watch the world (the console's map).

export {
  DEFAULT_OBSERVER_HZ,
  OBSERVER_HANDOFF_CHANNEL,
  OBSERVER_MAX_ENTITIES,
  OBSERVER_MAX_KINDS,
  OBSERVER_SNAPSHOT_CHANNEL,
  ObserverEvents,
  observerCodec,
  observerSubject,
  observerWildcard,
  ZoneHandoff,
  ZoneSnapshot,
} from "./observer-messages.js";
