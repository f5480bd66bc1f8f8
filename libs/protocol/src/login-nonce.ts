/**
 * The per-connection login nonce. A gateway issues one in `hello_ok` on every connection; the client
 * echoes it in its `login`; the gateway forwards both to the lobby, which accepts each nonce once,
 * only when the two match and the nonce is fresh. A login captured on one connection (from a log, a
 * compromised proxy, a TLS-terminating middlebox) cannot be replayed on another connection, nor twice.
 * See docs/decisions.md ("Login replay protection").
 *
 * Format: `<issuedAt, ms since the epoch, base 36>.<128 random bits, base64url>`; the issue time lets
 * the lobby refuse old nonces without keeping every nonce forever.
 *
 * @module
 */

/** Random bytes of a nonce: 128 bits. */
export const LOGIN_NONCE_RANDOM_BYTES = 16;

const NONCE = /^([0-9a-z]{1,11})\.([A-Za-z0-9_-]{22})$/;

/** A parsed login nonce. */
export interface LoginNonce {
  /** When the gateway issued it, ms since the epoch (the gateway's clock). */
  readonly issuedAt: number;
}

/** A fresh login nonce issued now (uses Web Crypto: Node 20 and browsers). */
export function makeLoginNonce(now: number = Date.now()): string {
  const random = new Uint8Array(LOGIN_NONCE_RANDOM_BYTES);
  globalThis.crypto.getRandomValues(random);
  return `${Math.floor(now).toString(36)}.${base64url(random)}`;
}

/** The nonce's issue time, or undefined when `value` is not a login nonce. */
export function parseLoginNonce(value: unknown): LoginNonce | undefined {
  if (typeof value !== "string") return undefined;
  const match = NONCE.exec(value);
  if (match === null) return undefined;
  const issuedAt = Number.parseInt(match[1] as string, 36);
  if (!Number.isSafeInteger(issuedAt)) return undefined;
  return { issuedAt };
}

function base64url(bytes: Uint8Array): string {
  // btoa is global in Node 20 and in browsers.
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}
