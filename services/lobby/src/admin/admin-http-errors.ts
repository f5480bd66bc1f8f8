/**
 * How the admin API answers errors. Every error body is `{ code, message, field?, …safe context }`
 * with a code from the lobby's catalogue ({@link LobbyErrorCode}); the HTTP status follows from the
 * code ({@link statusOf}), except for the API's own transport errors ({@link AdminHttpError}: unknown
 * route, wrong method, body too large), which carry their status and use `LOBBY_BAD_REQUEST`.
 *
 * Only codes an operator can act on are shown with their message; anything else (a dependency
 * failure, a programming error, a non-`LobbyError`) becomes `503 LOBBY_UNAVAILABLE` with a fixed
 * message, and the details go to the log only.
 *
 * @module
 */
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** The statuses the admin API answers with. */
export const HttpStatus = {
  Ok: 200,
  Created: 201,
  BadRequest: 400,
  Unauthorized: 401,
  NotFound: 404,
  MethodNotAllowed: 405,
  Conflict: 409,
  PayloadTooLarge: 413,
  TooManyRequests: 429,
  ServiceUnavailable: 503,
} as const;
export type HttpStatus = (typeof HttpStatus)[keyof typeof HttpStatus];

/** A transport-level error of the admin API, with its own status (404 route, 405, 413…). */
export class AdminHttpError extends LobbyError {
  override readonly name: string = "AdminHttpError";
  readonly status: HttpStatus;

  constructor(
    status: HttpStatus,
    code: LobbyErrorCode,
    message: string,
    context: Record<string, unknown> = {},
  ) {
    super(code, message, { context });
    this.status = status;
  }
}

/** Status of each code an operator sees as is. Codes not listed here answer 503 LOBBY_UNAVAILABLE. */
const STATUS_OF_CODE: ReadonlyMap<string, HttpStatus> = new Map<string, HttpStatus>([
  [LobbyErrorCode.BadRequest, HttpStatus.BadRequest],
  [LobbyErrorCode.InvalidUsername, HttpStatus.BadRequest],
  [LobbyErrorCode.PasswordTooLong, HttpStatus.BadRequest],
  [LobbyErrorCode.InvalidBan, HttpStatus.BadRequest],
  [LobbyErrorCode.InvalidServer, HttpStatus.BadRequest],
  [LobbyErrorCode.InvalidCursor, HttpStatus.BadRequest],
  [LobbyErrorCode.InvalidRecovery, HttpStatus.BadRequest],
  [LobbyErrorCode.InvalidStat, HttpStatus.BadRequest],
  [LobbyErrorCode.Unauthorized, HttpStatus.Unauthorized],
  [LobbyErrorCode.PlayerUnknown, HttpStatus.NotFound],
  [LobbyErrorCode.BanNotFound, HttpStatus.NotFound],
  [LobbyErrorCode.ServerUnknown, HttpStatus.NotFound],
  [LobbyErrorCode.ServerRevoked, HttpStatus.Conflict],
  [LobbyErrorCode.ServerNotAdvertised, HttpStatus.Conflict],
  [LobbyErrorCode.AccountBanned, HttpStatus.Conflict],
  [LobbyErrorCode.Throttled, HttpStatus.TooManyRequests],
  [LobbyErrorCode.CreationLimited, HttpStatus.TooManyRequests],
  [LobbyErrorCode.RecoveryLocked, HttpStatus.TooManyRequests],
]);

/** An error as the admin API answers it. */
export interface AdminErrorReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** `Allow` for a 405. */
  readonly allow?: readonly string[];
  /** Whether the error was internal (to be logged at error level). */
  readonly internal: boolean;
}

const UNAVAILABLE_MESSAGE = "the lobby could not serve this request; try again later";

/** The status and body for `error`; see the module doc. */
export function errorReply(error: unknown): AdminErrorReply {
  if (error instanceof AdminHttpError) {
    const allow = error.context.allow;
    return {
      status: error.status,
      body: { code: error.code, message: error.message, ...safeContext(error.context) },
      ...(Array.isArray(allow) ? { allow: allow.map(String) } : {}),
      internal: false,
    };
  }
  const status = error instanceof LobbyError ? STATUS_OF_CODE.get(error.code) : undefined;
  if (error instanceof LobbyError && status !== undefined) {
    return {
      status,
      body: { code: error.code, message: error.message.slice(0, 1024), ...safeContext(error.context) },
      internal: false,
    };
  }
  return {
    status: HttpStatus.ServiceUnavailable,
    body: { code: LobbyErrorCode.Unavailable, message: UNAVAILABLE_MESSAGE },
    internal: true,
  };
}

/** The context entries an operator may see, when they have the expected type. */
function safeContext(context: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ["field", "accountId", "banId", "serverId", "reason"] as const) {
    const value = context[key];
    if (typeof value === "string") out[key] = value.slice(0, key === "reason" ? 500 : 64);
  }
  for (const key of ["retryAfterMs", "attemptsLeft", "max"] as const) {
    const value = context[key];
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) out[key] = value;
  }
  const expiresAt = context.expiresAt;
  if (typeof expiresAt === "number" && Number.isSafeInteger(expiresAt) && expiresAt >= 0) {
    out.expiresAt = new Date(expiresAt).toISOString();
  }
  const issues = context.issues;
  if (Array.isArray(issues)) out.issues = issues.slice(0, 20).map((issue) => String(issue).slice(0, 200));
  return out;
}
