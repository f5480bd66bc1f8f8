/**
 * Edge suite, graceful endings: a session's goodbye flushes what was queued before the close, and a
 * listener's close says goodbye to every session and stops accepting. Runs over TCP and WebSocket.
 */
import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { describe, it } from "node:test";
import {
  type DisconnectInfo,
  DisconnectReason,
  EchoServerProtocol,
  type Session,
  WebSocketCloseCode,
} from "../src/index.js";
import {
  type ClientClose,
  EdgeKit,
  type FrameClient,
  LOOPBACK,
  RecordingEcho,
  TRANSPORTS,
  type TransportName,
  within,
} from "./helpers/edge-kit.js";

const FRAMES = 1000;
const FRAME_BYTES = 1024;

function frameNumber(i: number): Buffer {
  const frame = Buffer.alloc(FRAME_BYTES, 0x2e);
  frame.writeUInt32BE(i, 0);
  return frame;
}

/** Asserts the client saw an orderly close: FIN without error on TCP, close code 1000 on WebSocket. */
function assertCleanClose(transport: TransportName, close: ClientClose): void {
  assert.equal(close.errorCode, undefined, "the client saw a socket error");
  if (transport === "tcp") assert.equal(close.sawEnd, true, "the client saw no FIN");
  else assert.equal(close.code, WebSocketCloseCode.goodbye);
}

/** Refuses or closes at once: the listener no longer serves new connections. */
async function assertNotServed(port: number): Promise<void> {
  const outcome = await within(
    new Promise<string>((resolve) => {
      const socket = netConnect({ port, host: LOOPBACK });
      socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
      socket.once("close", () => resolve("closed"));
      socket.once("connect", () => socket.write("GET / HTTP/1.1\r\n\r\n"));
      socket.once("data", () => {
        socket.destroy();
        resolve("served");
      });
    }),
    10_000,
    "a connection attempt after close",
  );
  assert.notEqual(outcome, "served");
}

for (const { transport } of TRANSPORTS) {
  describe(`edge over ${transport}: goodbye`, () => {
    it(`goodbye - ${FRAMES} frames queued in the same turn are all delivered in order before the close`, async (t) => {
      const kit = new EdgeKit(t);
      let serverGoodbye: Promise<DisconnectInfo> | undefined;
      const disconnects: DisconnectInfo[] = [];
      class SayGoodbye extends EchoServerProtocol {
        override onFrame(session: Session): void {
          session.markEstablished();
          for (let i = 0; i < FRAMES; i++) assert.equal(session.send(frameNumber(i)), true);
          serverGoodbye = session.goodbye();
          // Closing: sends are refused from now on.
          assert.equal(session.send(frameNumber(FRAMES)), false);
        }
        override defaultFrame(): void {}
        onDisconnected(_session: Session, info: DisconnectInfo): void {
          disconnects.push(info);
        }
      }
      const listener = await kit.listen({ transport, handler: new SayGoodbye() });
      const client = await kit.openClient(transport, listener.port);
      client.send(Buffer.from("go"));

      const close = await within(client.closed, 10_000, "the goodbye close");
      assert.equal(client.received.length, FRAMES);
      client.received.forEach((frame, i) => {
        assert.equal(frame.byteLength, FRAME_BYTES);
        assert.equal(frame.readUInt32BE(0), i);
      });
      assertCleanClose(transport, close);
      assert.ok(serverGoodbye !== undefined);
      const info = await within(serverGoodbye, 10_000, "the server's goodbye to finish");
      assert.equal(info.reason, DisconnectReason.Goodbye);
      assert.deepEqual(
        disconnects.map((d) => d.reason),
        [DisconnectReason.Goodbye],
      );
    });

    it("goodbye - closeCode and closeReason reach a WebSocket peer in the close frame; TCP ignores them", async (t) => {
      const kit = new EdgeKit(t);
      let refused: unknown;
      class CloseWithCode extends EchoServerProtocol {
        override onFrame(session: Session): void {
          session.markEstablished();
          try {
            void session.goodbye({ closeCode: 1005 });
          } catch (error) {
            refused = error;
          }
          void session.goodbye({ closeCode: 4203, closeReason: `reconnect elsewhere ${"é".repeat(100)}` });
        }
        override defaultFrame(): void {}
      }
      const listener = await kit.listen({ transport, handler: new CloseWithCode() });
      const client = await kit.openClient(transport, listener.port);
      client.send(Buffer.from("go"));
      const close = await within(client.closed, 10_000, "the goodbye close");
      assert.ok(refused instanceof Error && /closeCode must be 1000–1003/.test(refused.message));
      if (transport === "tcp") {
        assert.equal(close.sawEnd, true);
      } else {
        assert.equal(close.code, 4203);
        assert.ok(close.reason?.startsWith("reconnect elsewhere"));
        assert.ok(Buffer.byteLength(close.reason ?? "", "utf8") <= 123, "the reason is cut to 123 bytes");
      }
    });

    it("goodbye - listener.close() says goodbye to every session and stops accepting", async (t) => {
      const kit = new EdgeKit(t);
      const echo = new RecordingEcho();
      const listener = await kit.listen({ transport, handler: echo, guard: { tolerance: false } });
      const clients: FrameClient[] = [];
      for (let i = 0; i < 3; i++) {
        const client = await kit.openClient(transport, listener.port);
        client.send(Buffer.from(`c${i}`));
        assert.equal((await client.nextFrame(5000)).toString(), `c${i}`);
        clients.push(client);
      }
      // A connection that has not proved itself yet (for WebSocket, not even upgraded).
      const raw = await kit.rawSocket(listener.port);

      const closing = listener.close();
      await assertNotServed(listener.port);
      await within(closing, 10_000, "listener.close()");

      const closes = await within(Promise.all(clients.map((c) => c.closed)), 10_000, "the clients' closes");
      for (const close of closes) assertCleanClose(transport, close);
      await within(raw.closed, 10_000, "the unproved connection to be closed");
      assert.equal(listener.sessions.size, 0);
      const expected = transport === "tcp" ? 4 : 3; // the raw TCP socket was a session too
      assert.equal(echo.disconnects.length, expected);
      for (const d of echo.disconnects) assert.equal(d.info.reason, DisconnectReason.Goodbye);
      await assertNotServed(listener.port);
    });
  });
}
