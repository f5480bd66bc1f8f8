/**
 * Checking a zone server's credential with the lobby's registry (`server_verify` over NATS,
 * docs/protocol.md §10). The lobby answers with the server's registry id, name and world, or
 * `lobby_error` `LOBBY_SERVER_UNKNOWN` / `LOBBY_SERVER_REVOKED`.
 *
 * @module
 */
import { lobbyReplyCodec, lobbyRequestCodec, lobbySubject, type Subjects } from "@meridian/protocol";
import type { NatsConnection } from "@nats-io/transport-node";
import { AuthorityError, AuthorityErrorCode } from "../errors.js";

/** What the lobby says about a credential. */
export type Verdict =
  | { readonly ok: true; readonly lobbyServerId: string; readonly name: string; readonly world: string }
  /** `revoked`: the lobby revoked it; `unknown`: the lobby never issued it. */
  | { readonly ok: false; readonly reason: "revoked" | "unknown"; readonly code: string };

/** The port: tests and other deployments may verify differently. */
export interface CredentialVerifier {
  /** @throws AuthorityError `AUTHORITY_LOBBY_UNAVAILABLE` when the lobby cannot say. */
  verify(credential: string): Promise<Verdict>;
}

/** The slice of a NATS connection the verifier uses. */
export type VerifierBus = Pick<NatsConnection, "request">;

/** {@link CredentialVerifier} asking the lobby over NATS. */
export class LobbyCredentialVerifier implements CredentialVerifier {
  readonly #nc: VerifierBus;
  readonly #subject: string;
  readonly #timeoutMs: number;

  constructor(nc: VerifierBus, subjects: Subjects, options: { readonly timeoutMs: number }) {
    this.#nc = nc;
    this.#subject = lobbySubject(subjects, "server_verify");
    this.#timeoutMs = options.timeoutMs;
  }

  async verify(credential: string): Promise<Verdict> {
    let data: Uint8Array;
    try {
      const payload = lobbyRequestCodec("server_verify").encode({ t: "server_verify", credential });
      data = (await this.#nc.request(this.#subject, payload, { timeout: this.#timeoutMs })).data;
    } catch (cause) {
      throw new AuthorityError(
        AuthorityErrorCode.LobbyUnavailable,
        "the lobby did not answer server_verify",
        {
          cause,
        },
      );
    }
    const reply = lobbyReplyCodec("server_verify").decode(data);
    if (!reply.ok) {
      throw new AuthorityError(AuthorityErrorCode.LobbyUnavailable, "the lobby sent an unreadable reply", {
        cause: reply.error,
      });
    }
    const message = reply.message;
    if (message.t === "server_verified") {
      return { ok: true, lobbyServerId: message.serverId, name: message.name, world: message.world };
    }
    if (message.code === "LOBBY_SERVER_REVOKED") return { ok: false, reason: "revoked", code: message.code };
    if (message.code === "LOBBY_SERVER_UNKNOWN" || message.code === "LOBBY_BAD_REQUEST") {
      return { ok: false, reason: "unknown", code: message.code };
    }
    throw new AuthorityError(AuthorityErrorCode.LobbyUnavailable, `the lobby failed: ${message.code}`, {
      context: { code: message.code },
    });
  }
}
