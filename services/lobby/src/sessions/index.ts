export {
  type AccessRecord,
  isRevocationReason,
  RevocationReason,
  SESSION_REVOKED_TOPIC,
  type SessionKeys,
  type SessionRevokedNotice,
  sessionKeys,
} from "./session-keys.js";
export {
  type AccessIdentity,
  DEFAULT_ACCESS_TTL_MS,
  DEFAULT_REFRESH_TTL_MS,
  DEFAULT_REVOCATION_MARGIN_MS,
  MIN_TOKEN_TTL_MS,
  type RevocationResult,
  type SessionBus,
  SessionService,
  type SessionServiceOptions,
  type SessionTokens,
} from "./session-service.js";
export { generateToken, hashToken, isWellFormedToken, TOKEN_BYTES, TOKEN_LENGTH } from "./session-tokens.js";
