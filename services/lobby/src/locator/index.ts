export {
  DEFAULT_NAME_CACHE_SIZE,
  MAX_NAME_CACHE_SIZE,
  type OfflinePlayer,
  type OnlinePlayer,
  type PlayerLocation,
  PlayerLocator,
  type PlayerLocatorOptions,
  type PlayerQuery,
  type PresenceReader,
} from "./player-locator.js";
