/**
 * A cap on password-reset mails per username: without it, `reset_request` could be used to flood
 * someone's inbox. A fixed window in Redis (`SET NX PX` then `INCR`, in one MULTI), counted for every
 * name alike — existing or not — so the limit tells nothing about which accounts exist.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** Default reset mails per username per window. */
export const DEFAULT_RESET_MAILS_PER_WINDOW = 3;
/** Default window, ms: one hour. */
export const DEFAULT_RESET_MAIL_WINDOW_MS = 60 * 60_000;

/** Options of {@link ResetMailLimit}. */
export interface ResetMailLimitOptions {
  /** Requests per username per window, 1–100. Default {@link DEFAULT_RESET_MAILS_PER_WINDOW}. */
  readonly maxPerWindow?: number;
  /** The window, ms (1 s to 1 day). Default {@link DEFAULT_RESET_MAIL_WINDOW_MS}. */
  readonly windowMs?: number;
}

/** Counts reset requests per normalised username. */
export class ResetMailLimit {
  readonly #redis: Pick<Redis, "multi">;
  readonly #prefix: string;
  readonly #max: number;
  readonly #windowMs: number;

  /** @throws LobbyError `LOBBY_INVALID_OPTIONS` for out-of-range options. */
  constructor(redis: Pick<Redis, "multi">, redisPrefix: string, options: ResetMailLimitOptions = {}) {
    this.#redis = redis;
    this.#prefix = redisPrefix;
    this.#max = check("maxPerWindow", options.maxPerWindow ?? DEFAULT_RESET_MAILS_PER_WINDOW, 1, 100);
    this.#windowMs = check("windowMs", options.windowMs ?? DEFAULT_RESET_MAIL_WINDOW_MS, 1_000, 86_400_000);
  }

  /**
   * Counts one request for `usernameKey` (a normalised username).
   * @throws LobbyError `LOBBY_THROTTLED` with `context.retryAfterMs` past the window's allowance.
   */
  async take(usernameKey: string): Promise<void> {
    const key = `${this.#prefix}resetmail:${usernameKey}`;
    const results = await this.#redis
      .multi()
      .set(key, "0", "PX", this.#windowMs, "NX")
      .incr(key)
      .pttl(key)
      .exec();
    const count = Number(results?.[1]?.[1]);
    const ttl = Number(results?.[2]?.[1]);
    if (!Number.isFinite(count)) throw new Error("reset mail limit: Redis MULTI failed");
    if (count > this.#max) {
      throw new LobbyError(LobbyErrorCode.Throttled, "too many password reset requests for this name", {
        context: { retryAfterMs: Number.isFinite(ttl) && ttl > 0 ? ttl : this.#windowMs },
      });
    }
  }
}

function check(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new LobbyError(LobbyErrorCode.InvalidOptions, `${name} must be an integer from ${min} to ${max}`, {
      context: { [name]: value },
    });
  }
  return value;
}
