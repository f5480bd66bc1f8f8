/**
 * The server list's keyset cursor: base64url of the JSON `[players, id]` of the last server of a
 * page. It is a position, not a secret and not signed: any cursor this module accepts only moves
 * where a page starts. Anything else (not canonical base64url, not that JSON, out of range) is
 * `LOBBY_INVALID_CURSOR`.
 */
import { LobbyError, LobbyErrorCode } from "../errors.js";
import { MAX_SERVER_CAPACITY } from "./server-fields.js";

/** The sort key of one listed server: players descending, then id ascending. */
export interface ServerSortKey {
  readonly players: number;
  /** `servers.id`, decimal string. */
  readonly id: string;
}

const BASE64URL = /^[A-Za-z0-9_-]{1,200}$/;
const SERVER_ID = /^[1-9][0-9]{0,18}$/;
const MAX_BIGINT = 2n ** 63n - 1n;

/** Whether `value` is a `servers.id` Postgres can hold: a positive `bigint` in decimal. */
export function isServerId(value: unknown): value is string {
  return typeof value === "string" && SERVER_ID.test(value) && BigInt(value) <= MAX_BIGINT;
}

export function encodeCursor(key: ServerSortKey): string {
  return Buffer.from(JSON.stringify([key.players, key.id]), "utf8").toString("base64url");
}

export function decodeCursor(cursor: unknown): ServerSortKey {
  const invalid = () => new LobbyError(LobbyErrorCode.InvalidCursor, "invalid server list cursor");
  if (typeof cursor !== "string" || !BASE64URL.test(cursor)) throw invalid();
  const bytes = Buffer.from(cursor, "base64url");
  if (bytes.toString("base64url") !== cursor) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw invalid();
  const [players, id] = parsed as unknown[];
  if (
    typeof players !== "number" ||
    !Number.isInteger(players) ||
    players < 0 ||
    players > MAX_SERVER_CAPACITY ||
    !isServerId(id)
  ) {
    throw invalid();
  }
  const key = { players, id };
  if (encodeCursor(key) !== cursor) throw invalid();
  return key;
}
