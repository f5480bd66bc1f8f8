/**
 * Validation of what operators and game servers send the registry. Every check throws
 * `LOBBY_INVALID_SERVER` with `context.field` naming the input, before anything reaches Postgres.
 */
import { isIP } from "node:net";
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** Longest server `name`, in characters. */
export const MAX_SERVER_NAME_LENGTH = 64;
/** Longest `world` (and tag), in characters: `[a-z0-9_-]`. */
export const MAX_WORLD_LENGTH = 32;
/** Longest hostname `address`, in characters (DNS's limit). */
export const MAX_HOSTNAME_LENGTH = 253;
/** Largest `capacity` a server may advertise. */
export const MAX_SERVER_CAPACITY = 100_000;
/** Longest `version`, in characters. */
export const MAX_VERSION_LENGTH = 32;
/** Most tags per server. */
export const MAX_SERVER_TAGS = 16;
/** Longest tag, in characters: `[a-z0-9_-]`. */
export const MAX_TAG_LENGTH = 32;

/** What a game server advertises about itself. */
export interface ServerAdvertisement {
  /** An IPv4 or IPv6 address (no zone id), or a hostname of at most 253 characters. */
  readonly address: string;
  /** 1–65535. */
  readonly port: number;
  /** 0–100000 player slots. */
  readonly capacity: number;
  /** 0–`capacity` players online now. */
  readonly players: number;
  /** 1–32 printable ASCII characters, no spaces (`1.4.2`, `2026.11-rc1`). */
  readonly version: string;
  /** At most 16 distinct tags, each 1–32 characters of `[a-z0-9_-]`; duplicates are dropped. Default none. */
  readonly tags?: readonly string[];
}

const IDENTIFIER = /^[a-z0-9_-]+$/;
const PRINTABLE = /^[\x21-\x7e]+$/;
const CONTROL = /\p{Cc}/u;
const HOST_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function invalidServer(field: string, message: string): LobbyError {
  return new LobbyError(LobbyErrorCode.InvalidServer, message, { context: { field } });
}

/** A name shown in the browser: trimmed, 1–64 characters, no control characters. */
export function checkServerName(value: unknown): string {
  const name = typeof value === "string" ? value.trim() : "";
  if (name.length === 0 || name.length > MAX_SERVER_NAME_LENGTH || CONTROL.test(name)) {
    throw invalidServer(
      "name",
      `name must be 1–${MAX_SERVER_NAME_LENGTH} characters without control characters`,
    );
  }
  return name;
}

/** An identifier: `world`, a tag, a `world`/`tag` filter. */
export function checkIdentifier(field: string, value: unknown, max = MAX_WORLD_LENGTH): string {
  if (typeof value !== "string" || value.length === 0 || value.length > max || !IDENTIFIER.test(value)) {
    throw invalidServer(field, `${field} must be 1–${max} characters of [a-z0-9_-]`);
  }
  return value;
}

/** `version`, or a version prefix filter. */
export function checkVersion(field: string, value: unknown): string {
  if (typeof value !== "string" || value.length > MAX_VERSION_LENGTH || !PRINTABLE.test(value)) {
    throw invalidServer(field, `${field} must be 1–${MAX_VERSION_LENGTH} printable ASCII characters`);
  }
  return value;
}

/** An integer in `[min, max]`. */
export function checkInteger(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalidServer(field, `${field} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * An IP address (kept as given; zone ids refused: they mean nothing off the host) or a hostname
 * (lower-cased; labels of 1–63 letters, digits and inner hyphens; the last label not all digits, so a
 * malformed IPv4 address is not taken for a name).
 */
export function checkAddress(value: unknown): string {
  if (typeof value === "string" && !value.includes("%") && isIP(value) !== 0) return value;
  const host = typeof value === "string" ? value.toLowerCase() : "";
  const labels = host.split(".");
  if (
    host.length === 0 ||
    host.length > MAX_HOSTNAME_LENGTH ||
    !labels.every((label) => HOST_LABEL.test(label)) ||
    /^[0-9]+$/.test(labels[labels.length - 1] ?? "")
  ) {
    throw invalidServer(
      "address",
      `address must be an IP address or a hostname of at most ${MAX_HOSTNAME_LENGTH} characters`,
    );
  }
  return host;
}

/** Tags, de-duplicated in first-seen order. */
export function checkTags(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_SERVER_TAGS) {
    throw invalidServer("tags", `tags must be an array of at most ${MAX_SERVER_TAGS} tags`);
  }
  return [...new Set(value.map((tag: unknown) => checkIdentifier("tags", tag, MAX_TAG_LENGTH)))];
}

/** A whole advertisement, normalised. */
export function checkAdvertisement(value: ServerAdvertisement): Required<ServerAdvertisement> & {
  readonly tags: readonly string[];
} {
  if (typeof value !== "object" || value === null)
    throw invalidServer("advertisement", "advertisement must be an object");
  const capacity = checkInteger("capacity", value.capacity, 0, MAX_SERVER_CAPACITY);
  return {
    address: checkAddress(value.address),
    port: checkInteger("port", value.port, 1, 65_535),
    capacity,
    players: checkInteger("players", value.players, 0, capacity),
    version: checkVersion("version", value.version),
    tags: checkTags(value.tags),
  };
}
