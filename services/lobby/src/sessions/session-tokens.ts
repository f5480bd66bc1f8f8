/**
 * Session tokens: opaque random strings, never stored. A token is {@link TOKEN_BYTES} bytes from the
 * CSPRNG, base64url without padding ({@link TOKEN_LENGTH} characters); Postgres and Redis hold only
 * its SHA-256 ({@link hashToken}). A plain (unsalted, unkeyed) hash is enough here: the input has 256
 * bits of entropy, so there is nothing to brute-force, and a leaked table or Redis dump holds no
 * usable token. Lookups go by hash, so timing reveals nothing about a stored token's value.
 */
import { createHash, randomBytes } from "node:crypto";

/** Random bytes per token: 32 (256 bits). */
export const TOKEN_BYTES = 32;
/** Characters of a token: base64url of {@link TOKEN_BYTES} bytes without padding (43). */
export const TOKEN_LENGTH = Math.ceil((TOKEN_BYTES * 8) / 6);

const TOKEN_SHAPE = /^[A-Za-z0-9_-]+$/;

/** A fresh token: {@link TOKEN_BYTES} random bytes, base64url. */
export function generateToken(): string {
  return randomBytes(TOKEN_BYTES).toString("base64url");
}

/** The token's storage form: SHA-256, lowercase hex (64 characters). */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/**
 * Whether `value` could be a token this lobby issued: a string of exactly {@link TOKEN_LENGTH}
 * base64url characters in canonical form (the unused low bits of the last character are zero). Checked
 * before any lookup, so junk never reaches Postgres or Redis.
 */
export function isWellFormedToken(value: unknown): value is string {
  if (typeof value !== "string" || value.length !== TOKEN_LENGTH || !TOKEN_SHAPE.test(value)) return false;
  const bytes = Buffer.from(value, "base64url");
  return bytes.length === TOKEN_BYTES && bytes.toString("base64url") === value;
}
