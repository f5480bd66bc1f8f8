/**
 * The client side of the gateway's handshake over a {@link RawWsConnection}: `hello` → `hello_ok`,
 * then `login` → `login_ok` (docs/protocol.md §3–§5), decoded with the protocol's own codec so that a
 * refusal is reported with its code.
 *
 * @module
 */
import {
  createCodec,
  encodeMessage,
  PROTOCOL_VERSION,
  type ServerMessage,
  ServerMessages,
} from "@meridian/protocol";
import type { RawWsConnection } from "./raw-ws-client.js";

const serverCodec = createCodec({ registry: ServerMessages, maxMessageBytes: 64 * 1024 });

/** The `hello` every benchmark client sends (one 31-byte binary message). */
export const HELLO = encodeMessage({ t: "hello", v: PROTOCOL_VERSION, client: "meridian-bench/0.1" });

async function expect<T extends ServerMessage["t"]>(
  conn: RawWsConnection,
  type: T,
  timeoutMs: number,
): Promise<Extract<ServerMessage, { t: T }>> {
  const bytes = await conn.next(timeoutMs);
  const decoded = serverCodec.decode(bytes);
  if (!decoded.ok) throw new Error(`the gateway sent an undecodable message (${decoded.error.code})`);
  const message = decoded.message;
  if (message.t !== type) {
    const detail = message.t === "error" ? ` ${message.code}: ${message.message}` : "";
    throw new Error(`expected ${type} from the gateway, got ${message.t}${detail}`);
  }
  return message as Extract<ServerMessage, { t: T }>;
}

/** Sends `hello` and waits for `hello_ok`; resolves with the connection's login nonce. */
export async function hello(conn: RawWsConnection, timeoutMs = 30_000): Promise<string> {
  conn.send(HELLO);
  return (await expect(conn, "hello_ok", timeoutMs)).nonce;
}

/** Logs in (`login` with the connection's nonce) and waits for `login_ok`; resolves with the account id. */
export async function login(
  conn: RawWsConnection,
  nonce: string,
  username: string,
  password: string,
  timeoutMs = 30_000,
): Promise<string> {
  conn.send(encodeMessage({ t: "login", ref: 1, username, password, nonce }));
  return (await expect(conn, "login_ok", timeoutMs)).accountId;
}
