export {
  MAX_STATE_DEPTH,
  type PersistedSnapshot,
  type PlayerStateEntry,
  type PlayerStateSaveResult,
  PlayerStateStore,
  type StoredPlayerState,
} from "./player-state-store.js";
export { authenticateWorldServer, type ServerVerifier } from "./world-server.js";
