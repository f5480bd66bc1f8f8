/**
 * Strict readers of the admin API's inputs: JSON bodies and query strings. An unknown body field or
 * query parameter is refused (a typo such as `expires_at` must not silently make a ban permanent);
 * each refusal names the input in `field`, with the code of the feature it belongs to.
 *
 * @module
 */
import { LobbyError, LobbyErrorCode } from "../errors.js";

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const WHOLE_NUMBER = /^\d{1,9}$/;
const MAX_INT8 = 2n ** 63n - 1n;
const DECIMAL_ID = /^[1-9][0-9]{0,18}$/;

/** A validation error naming its input. */
export function invalid(code: LobbyErrorCode, field: string, message: string): LobbyError {
  return new LobbyError(code, message, { context: { field } });
}

/** Whether `value` is a positive `bigint` id in decimal (accounts, bans, servers). */
export function isDecimalId(value: string): boolean {
  return DECIMAL_ID.test(value) && BigInt(value) <= MAX_INT8;
}

/**
 * The JSON body as an object with only `allowed` keys; an absent body is `{}`.
 * @throws LobbyError `LOBBY_BAD_REQUEST` (with `field` for an unknown key).
 */
export function bodyObject(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new LobbyError(LobbyErrorCode.BadRequest, "the body must be a JSON object");
  }
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw invalid(LobbyErrorCode.BadRequest, key, `unknown field ${key.slice(0, 64)}`);
    }
  }
  return body as Record<string, unknown>;
}

/** `object[field]` when it is a string, undefined when absent (or null); otherwise `code` with `field`. */
export function optionalString(
  object: Readonly<Record<string, unknown>>,
  field: string,
  code: LobbyErrorCode,
): string | undefined {
  const value = object[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalid(code, field, `${field} must be a string`);
  return value;
}

/** Like {@link optionalString}, but absent is refused too. */
export function requiredString(
  object: Readonly<Record<string, unknown>>,
  field: string,
  code: LobbyErrorCode,
): string {
  const value = optionalString(object, field, code);
  if (value === undefined) throw invalid(code, field, `${field} is required`);
  return value;
}

/** An ISO-8601 date-time with a zone (`2030-01-01T00:00:00Z`) as a Date; otherwise `code` with `field`. */
export function isoDate(value: string, field: string, code: LobbyErrorCode): Date {
  const date = new Date(value);
  if (!ISO_8601.test(value) || Number.isNaN(date.getTime())) {
    throw invalid(
      code,
      field,
      `${field} must be an ISO-8601 date-time with a zone, e.g. 2030-01-01T00:00:00Z`,
    );
  }
  return date;
}

/**
 * Refuses query parameters other than `allowed`, and repeated ones.
 * @throws LobbyError `LOBBY_BAD_REQUEST` with `field`.
 */
export function checkQuery(query: URLSearchParams, allowed: readonly string[]): void {
  const seen = new Set<string>();
  for (const key of query.keys()) {
    if (!allowed.includes(key)) {
      throw invalid(LobbyErrorCode.BadRequest, key, `unknown query parameter ${key.slice(0, 64)}`);
    }
    if (seen.has(key)) throw invalid(LobbyErrorCode.BadRequest, key, `${key} is given more than once`);
    seen.add(key);
  }
}

/** A query parameter, undefined when absent. */
export function queryString(query: URLSearchParams, name: string): string | undefined {
  return query.get(name) ?? undefined;
}

/** A whole-number query parameter (range checks are the service's); otherwise `code` with `field`. */
export function queryInt(query: URLSearchParams, name: string, code: LobbyErrorCode): number | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (!WHOLE_NUMBER.test(raw)) throw invalid(code, name, `${name} must be a whole number`);
  return Number(raw);
}

/** `true`/`false` query parameter; otherwise `code` with `field`. */
export function queryBoolean(
  query: URLSearchParams,
  name: string,
  code: LobbyErrorCode,
): boolean | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (raw === "true") return true;
  if (raw === "false") return false;
  throw invalid(code, name, `${name} must be true or false`);
}
