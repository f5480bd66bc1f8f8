/** Session keys and the revocation notice: a contract with the gateways, defined in `@meridian/protocol`. */
export {
  type AccessRecord,
  isRevocationReason,
  RevocationReason,
  SESSION_REVOKED_TOPIC,
  type SessionKeys,
  type SessionRevokedNotice,
  sessionKeys,
} from "@meridian/protocol";
