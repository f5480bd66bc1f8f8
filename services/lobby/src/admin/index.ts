export {
  type AdminErrorReply,
  AdminHttpError,
  errorReply,
  HttpStatus,
} from "./admin-http-errors.js";
export {
  type AdminHttpAddress,
  AdminHttpServer,
  type AdminHttpServerOptions,
  DEFAULT_ADMIN_MAX_BODY_BYTES,
  DEFAULT_ADMIN_PROBE_TIMEOUT_MS,
  DEFAULT_ADMIN_STOP_TIMEOUT_MS,
  ReadinessCheck,
} from "./admin-http-server.js";
export {
  type AdminAccount,
  DEFAULT_ADMIN_ISSUER,
  MAX_REVOKE_SESSIONS_REASON_LENGTH,
} from "./admin-routes.js";
