/**
 * Who may read and write a world's persisted state: a zone server whose credential the registry
 * issued for that world. A credential of another world is refused, so one world's servers cannot
 * touch another world's players.
 */
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** The slice of the server registry this check uses (`ServerRegistry.verify`). */
export interface ServerVerifier {
  verify(credential: string): Promise<{ serverId: string; name: string; world: string }>;
}

/**
 * Authenticates `credential` and checks it was issued for `world`; returns the server's id.
 * @throws LobbyError `LOBBY_SERVER_UNKNOWN` or `LOBBY_SERVER_REVOKED` (the registry's), or
 * `LOBBY_BAD_REQUEST` with `field` `world` when the credential is another world's.
 */
export async function authenticateWorldServer(
  registry: ServerVerifier,
  credential: string,
  world: string,
): Promise<string> {
  const server = await registry.verify(credential);
  if (server.world !== world) {
    throw new LobbyError(
      LobbyErrorCode.BadRequest,
      `this server's credential is for world "${server.world}", not "${world}"`,
      { context: { field: "world", serverId: server.serverId } },
    );
  }
  return server.serverId;
}
