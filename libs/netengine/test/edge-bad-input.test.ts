/**
 * Edge suite, bad input over the wire: oversized, empty and text frames close the offending
 * session with a documented reason (and WebSocket close code), and only that session. Runs over TCP
 * and WebSocket, each with the malformations its wire format allows.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DisconnectReason, FrameError, NetEngineErrorCode, WebSocketCloseCode } from "../src/index.js";
import {
  answerWsClose,
  EdgeKit,
  type FrameClient,
  lengthPrefixed,
  RecordingEcho,
  TRANSPORTS,
  type TransportName,
  type WsFrameClient,
  WsOpcode,
  waitUntil,
  within,
  wsClientFrame,
  wsClientHeaderOnly,
  wsCloseCode,
} from "./helpers/edge-kit.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const MAX = 64 * KiB;

interface Offence {
  readonly name: string;
  /** The reason the server closes the offending session with. */
  readonly reason: DisconnectReason;
  /** The error code carried by the disconnect info. */
  readonly errorCode: NetEngineErrorCode;
  /** WebSocket: the close code the offender must receive. */
  readonly closeCode?: number;
  /**
   * Commits the offence on a fresh connection to `port`; resolves with the WebSocket close code the
   * offender received (undefined on TCP) once the server closed it.
   */
  commit(kit: EdgeKit, port: number): Promise<number | undefined>;
}

async function viaClient(
  kit: EdgeKit,
  transport: TransportName,
  port: number,
  act: (c: FrameClient) => void,
) {
  const client = await kit.openClient(transport, port);
  act(client);
  return (await within(client.closed, 10_000, "the offender to be closed")).code;
}

/**
 * Sends `bytes` after a hand-made upgrade, then behaves: answers the server's close frame, so that
 * only the offence decides the outcome.
 */
async function rawWsOffence(kit: EdgeKit, port: number, bytes: Buffer): Promise<number | undefined> {
  const raw = await kit.rawWsUpgrade(port);
  raw.socket.write(bytes);
  const code = await answerWsClose(raw);
  await within(raw.closed, 10_000, "the offender to be closed");
  return code;
}

const OFFENCES: Record<TransportName, readonly Offence[]> = {
  tcp: [
    {
      name: "a header announcing 10 MiB (maximum 64 KiB) closes with frame_too_large before the body is sent",
      reason: DisconnectReason.FrameTooLarge,
      errorCode: NetEngineErrorCode.FrameTooLarge,
      async commit(kit, port) {
        const raw = await kit.rawSocket(port);
        const header = Buffer.alloc(4);
        header.writeUInt32BE(10 * MiB, 0);
        raw.socket.write(header); // and never the body
        await within(raw.closed, 10_000, "the offender to be closed");
        assert.equal(raw.bytesReceived(), 0);
        return undefined;
      },
    },
    {
      name: "a zero-length frame closes with frame_malformed",
      reason: DisconnectReason.FrameMalformed,
      errorCode: NetEngineErrorCode.FrameMalformed,
      async commit(kit, port) {
        const raw = await kit.rawSocket(port);
        raw.socket.write(Buffer.concat([lengthPrefixed(Buffer.from("ok")), Buffer.alloc(4)]));
        await within(raw.closed, 10_000, "the offender to be closed");
        return undefined;
      },
    },
  ],
  ws: [
    {
      name: "a message larger than maxMessageBytes closes with frame_too_large and code 1009",
      reason: DisconnectReason.FrameTooLarge,
      errorCode: NetEngineErrorCode.FrameTooLarge,
      closeCode: WebSocketCloseCode.frame_too_large,
      commit: (kit, port) => viaClient(kit, "ws", port, (c) => c.send(Buffer.alloc(MAX + 1))),
    },
    {
      name: "a 1 MiB message (maximum 64 KiB) closes with frame_too_large and code 1009",
      reason: DisconnectReason.FrameTooLarge,
      errorCode: NetEngineErrorCode.FrameTooLarge,
      closeCode: WebSocketCloseCode.frame_too_large,
      commit: (kit, port) => viaClient(kit, "ws", port, (c) => c.send(Buffer.alloc(MiB))),
    },
    {
      name: "a frame header announcing 10 MiB closes with code 1009 before the body is sent",
      reason: DisconnectReason.FrameTooLarge,
      errorCode: NetEngineErrorCode.FrameTooLarge,
      closeCode: WebSocketCloseCode.frame_too_large,
      async commit(kit, port) {
        const raw = await kit.rawWsUpgrade(port);
        raw.socket.write(wsClientHeaderOnly(10 * MiB)); // and never the body
        await within(raw.closed, 10_000, "the offender to be closed");
        return wsCloseCode(Buffer.concat(raw.received));
      },
    },
    {
      name: "a text message closes with frame_malformed and code 1003",
      reason: DisconnectReason.FrameMalformed,
      errorCode: NetEngineErrorCode.FrameMalformed,
      closeCode: WebSocketCloseCode.frame_malformed,
      commit: (kit, port) => viaClient(kit, "ws", port, (c) => (c as WsFrameClient).sendText("hello")),
    },
    {
      name: "a text message that is not UTF-8 closes with frame_malformed",
      reason: DisconnectReason.FrameMalformed,
      errorCode: NetEngineErrorCode.FrameMalformed,
      commit: (kit, port) => rawWsOffence(kit, port, wsClientFrame(WsOpcode.Text, Buffer.from([0xff, 0xfe]))),
    },
    {
      name: "an unmasked client frame (RFC 6455 5.1) closes with frame_malformed",
      reason: DisconnectReason.FrameMalformed,
      errorCode: NetEngineErrorCode.FrameMalformed,
      commit: (kit, port) => rawWsOffence(kit, port, Buffer.from([0x82, 0x02, 0x61, 0x62])),
    },
    {
      name: "a frame with a reserved opcode closes with frame_malformed",
      reason: DisconnectReason.FrameMalformed,
      errorCode: NetEngineErrorCode.FrameMalformed,
      commit: (kit, port) => rawWsOffence(kit, port, wsClientFrame(0x3, Buffer.alloc(0))),
    },
  ],
};

for (const { transport } of TRANSPORTS) {
  describe(`edge over ${transport}: bad input`, () => {
    for (const offence of OFFENCES[transport]) {
      it(`bad input - ${offence.name}; other sessions keep working`, async (t) => {
        const kit = new EdgeKit(t);
        const echo = new RecordingEcho();
        const listener = await kit.listen({ transport, handler: echo, maxMessageBytes: MAX });
        const bystander = await kit.openClient(transport, listener.port);
        bystander.send(Buffer.from("before"));
        assert.equal((await bystander.nextFrame()).toString(), "before");

        const closeCode = await offence.commit(kit, listener.port);
        if (offence.closeCode !== undefined) assert.equal(closeCode, offence.closeCode);

        const [d] = await echo.waitForDisconnects(1);
        assert.ok(d !== undefined);
        assert.equal(d.info.reason, offence.reason);
        assert.ok(d.info.error instanceof FrameError);
        assert.equal(d.info.error.code, offence.errorCode);

        bystander.send(Buffer.from("after"));
        assert.equal((await bystander.nextFrame()).toString(), "after");
        await waitUntil(() => listener.sessions.size === 1, 10_000, "only the bystander to remain");
        assert.equal(bystander.isClosed, false);
        assert.equal(echo.disconnects.length, 1);
      });
    }
  });
}
