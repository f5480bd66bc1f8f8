export { decodeCursor, encodeCursor, isServerId, type ServerSortKey } from "./server-cursor.js";
export {
  MAX_HOSTNAME_LENGTH,
  MAX_SERVER_CAPACITY,
  MAX_SERVER_NAME_LENGTH,
  MAX_SERVER_TAGS,
  MAX_TAG_LENGTH,
  MAX_VERSION_LENGTH,
  MAX_WORLD_LENGTH,
  type ServerAdvertisement,
} from "./server-fields.js";
export {
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_LIST_LIMIT,
  DEFAULT_PRUNE_FACTOR,
  type IssuedCredential,
  MAX_LIST_LIMIT,
  MAX_REVOKE_REASON_LENGTH,
  type ServerEntry,
  type ServerHeartbeat,
  type ServerListQuery,
  type ServerPage,
  type ServerRegistration,
  ServerRegistry,
  type ServerRegistryOptions,
  type ServerRevocation,
} from "./server-registry.js";
