/**
 * The operators' credential (`LOBBY_ADMIN_TOKEN`): required by the admin HTTP API and by the NATS
 * verbs that act as an operator (`ban`, `unban`, `server_revoke`). Compared in constant time on
 * SHA-256 digests, so neither the length nor a prefix of the secret leaks through timing.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** Checks presented admin credentials against the configured one. */
export class AdminCredential {
  readonly #digest: Buffer;

  constructor(secret: string) {
    if (secret.length === 0) {
      throw new LobbyError(LobbyErrorCode.InvalidOptions, "the admin credential must not be empty");
    }
    this.#digest = digest(secret);
  }

  /** Whether `presented` is the admin credential. */
  matches(presented: unknown): boolean {
    return typeof presented === "string" && timingSafeEqual(digest(presented), this.#digest);
  }

  /** @throws LobbyError `LOBBY_UNAUTHORIZED` unless `presented` is the admin credential. */
  assert(presented: unknown): void {
    if (!this.matches(presented)) {
      throw new LobbyError(LobbyErrorCode.Unauthorized, "a valid admin credential is required");
    }
  }
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}
