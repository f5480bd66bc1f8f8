/**
 * Replay protection of password logins (see docs/decisions.md, "Login replay protection"): the
 * gateway issues a nonce per connection; the client echoes it in its login; the lobby accepts a login
 * only when the echoed nonce is the connection's, is fresh, and was never used before. Single use is
 * a Redis `SET NX` that outlives the freshness window, so it holds across every lobby instance.
 *
 * @module
 */
import { parseLoginNonce } from "@meridian/protocol";
import type { Redis } from "ioredis";
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** Default age past which a nonce is refused, ms: a login comes within the pre-auth deadline. */
export const DEFAULT_NONCE_MAX_AGE_MS = 60_000;
/** Default tolerance for a gateway clock ahead of the lobby's, ms. */
export const DEFAULT_NONCE_CLOCK_SKEW_MS = 5_000;

/** Options of {@link LoginNonceGuard}. */
export interface LoginNonceGuardOptions {
  /** Nonces older than this are refused, ms (1 s to 10 min). Default {@link DEFAULT_NONCE_MAX_AGE_MS}. */
  readonly maxAgeMs?: number;
  /** How far a gateway's clock may run ahead, ms (0 to 1 min). Default {@link DEFAULT_NONCE_CLOCK_SKEW_MS}. */
  readonly clockSkewMs?: number;
  /** The clock, ms since the epoch (tests inject it). Default `Date.now`. */
  readonly now?: () => number;
}

/** Spends login nonces: each is accepted once, fresh, on its own connection. */
export class LoginNonceGuard {
  readonly #redis: Pick<Redis, "set">;
  readonly #prefix: string;
  readonly #maxAgeMs: number;
  readonly #skewMs: number;
  readonly #now: () => number;

  /** @throws LobbyError `LOBBY_INVALID_OPTIONS` for out-of-range options. */
  constructor(redis: Pick<Redis, "set">, redisPrefix: string, options: LoginNonceGuardOptions = {}) {
    this.#redis = redis;
    this.#prefix = redisPrefix;
    this.#maxAgeMs = checkRange("maxAgeMs", options.maxAgeMs ?? DEFAULT_NONCE_MAX_AGE_MS, 1_000, 600_000);
    this.#skewMs = checkRange("clockSkewMs", options.clockSkewMs ?? DEFAULT_NONCE_CLOCK_SKEW_MS, 0, 60_000);
    this.#now = options.now ?? Date.now;
  }

  /**
   * Spends `nonce` for a login on the connection whose nonce is `connectionNonce`.
   * @throws LobbyError `LOBBY_LOGIN_NONCE_INVALID` when the nonce is malformed, not the connection's,
   * too old or from the future; `LOBBY_LOGIN_REPLAYED` when it was spent before.
   */
  async spend(nonce: string, connectionNonce: string): Promise<void> {
    const parsed = parseLoginNonce(nonce);
    if (parsed === undefined) throw invalid("the login nonce is malformed");
    if (nonce !== connectionNonce) throw invalid("the login nonce is not this connection's");
    const age = this.#now() - parsed.issuedAt;
    if (age > this.#maxAgeMs) throw invalid(`the login nonce is older than ${this.#maxAgeMs} ms`, { age });
    if (age < -this.#skewMs) throw invalid("the login nonce was issued in the future", { age });
    // Kept past the freshness window (plus skew), after which the age check refuses it anyway.
    const ttl = this.#maxAgeMs + 2 * this.#skewMs;
    const set = await this.#redis.set(`${this.#prefix}nonce:${nonce}`, "1", "PX", ttl, "NX");
    if (set === null) {
      throw new LobbyError(LobbyErrorCode.LoginReplayed, "this login was already used (replayed)");
    }
  }
}

function invalid(message: string, context: Record<string, unknown> = {}): LobbyError {
  return new LobbyError(LobbyErrorCode.LoginNonceInvalid, message, { context });
}

function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new LobbyError(LobbyErrorCode.InvalidOptions, `${name} must be an integer from ${min} to ${max}`, {
      context: { [name]: value },
    });
  }
  return value;
}
