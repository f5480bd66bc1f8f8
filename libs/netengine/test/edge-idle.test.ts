/**
 * Edge suite, idle timeout and heartbeats: a silent session is closed with `idle_timeout`,
 * heartbeats reach `onHeartbeat`, and a peer that answers them stays open past the idle timeout.
 * Runs over TCP and WebSocket.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DisconnectReason, type Session, WebSocketCloseCode } from "../src/index.js";
import {
  delay,
  EdgeKit,
  type FrameClient,
  lengthPrefixed,
  RecordingEcho,
  rawFrame,
  type TcpFrameClient,
  TRANSPORTS,
  type WsFrameClient,
  waitUntil,
  within,
  wsCloseCode,
} from "./helpers/edge-kit.js";

const IDLE_MS = 500;
const HEARTBEAT_MS = 100;

/** The echo protocol with heartbeats counted; on TCP it sends its own ping frame, "hb". */
class HeartbeatEcho extends RecordingEcho {
  readonly heartbeats = new Map<Session, number>();
  constructor(readonly sendPingFrame: boolean) {
    super();
  }
  onHeartbeat(session: Session): void {
    this.heartbeats.set(session, (this.heartbeats.get(session) ?? 0) + 1);
    if (this.sendPingFrame) session.send(Buffer.from("hb"));
  }
}

/** Answers every frame the server sends with the same frame, until closed. */
function answerEveryFrame(client: FrameClient): void {
  void (async () => {
    while (!client.isClosed) {
      const frame = await client.nextFrame(60_000).catch(() => undefined);
      if (frame !== undefined) client.send(frame);
    }
  })();
}

async function establish(client: FrameClient): Promise<void> {
  client.send(Buffer.from("hello"));
  assert.equal((await client.nextFrame()).toString(), "hello");
}

for (const { transport } of TRANSPORTS) {
  describe(`edge over ${transport}: idle and heartbeat`, () => {
    it("idle - a silent established session is closed with idle_timeout", async (t) => {
      const kit = new EdgeKit(t);
      const echo = new RecordingEcho();
      const listener = await kit.listen({ transport, handler: echo, idleTimeoutMs: IDLE_MS });
      const client = await kit.openClient(transport, listener.port);
      await establish(client);

      const close = await within(client.closed, 10_000, "the idle close");
      const [d] = await echo.waitForDisconnects(1);
      assert.equal(d?.info.reason, DisconnectReason.IdleTimeout);
      if (transport === "ws") assert.equal(close.code, WebSocketCloseCode.idle_timeout);
      assert.equal(listener.stats().disconnects.idle_timeout, 1);
    });

    it("heartbeat - onHeartbeat is called every heartbeatIntervalMs", async (t) => {
      const kit = new EdgeKit(t);
      const echo = new HeartbeatEcho(false);
      const listener = await kit.listen({ transport, handler: echo, heartbeatIntervalMs: HEARTBEAT_MS });
      const client = await kit.openClient(transport, listener.port);
      await establish(client);
      const session = echo.accepted[0] as Session;
      await waitUntil(() => (echo.heartbeats.get(session) ?? 0) >= 3, 10_000, "three heartbeats");
      assert.equal(client.isClosed, false);
    });

    const keepalive =
      transport === "ws"
        ? "a client's own pings count as received"
        : "the bytes of a frame trickling in count as received";
    it(`idle - ${keepalive}: the session stays open past the idle timeout`, async (t) => {
      const kit = new EdgeKit(t);
      const echo = new RecordingEcho();
      const listener = await kit.listen({ transport, handler: echo, idleTimeoutMs: IDLE_MS });
      const client = await kit.openClient(transport, listener.port);
      await establish(client);
      const start = Date.now();
      if (transport === "ws") {
        // The peer keeps the connection alive with its own pings, as many native clients do.
        const ws = (client as WsFrameClient).ws;
        while (Date.now() - start < 4 * IDLE_MS && !client.isClosed) {
          ws.ping();
          await delay(IDLE_MS / 5);
        }
      } else {
        const frame = lengthPrefixed(Buffer.from("slowly but surely"));
        for (let i = 0; i < frame.byteLength && !client.isClosed; i++) {
          (client as TcpFrameClient).socket.write(frame.subarray(i, i + 1));
          await delay(IDLE_MS / 5);
        }
        assert.equal((await client.nextFrame()).toString(), "slowly but surely");
      }
      assert.equal(client.isClosed, false, `closed with ${echo.reasons().join(", ")}`);
      assert.deepEqual(echo.reasons(), []);
    });

    const answering =
      transport === "ws"
        ? "a client answering the server's pings (ws does it itself)"
        : "a client answering ping frames";
    it(`heartbeat - ${answering} stays open past the idle timeout`, async (t) => {
      const kit = new EdgeKit(t);
      const echo = new HeartbeatEcho(transport === "tcp");
      const listener = await kit.listen({
        transport,
        handler: echo,
        idleTimeoutMs: IDLE_MS,
        heartbeatIntervalMs: HEARTBEAT_MS,
      });
      const client = await kit.openClient(transport, listener.port);
      await establish(client);
      // WebSocket: no application frame from now on, only the library's automatic pongs.
      if (transport === "tcp") answerEveryFrame(client);

      await delay(4 * IDLE_MS);
      assert.equal(client.isClosed, false, "a client answering heartbeats was closed");
      assert.deepEqual(echo.reasons(), []);
      assert.equal(listener.sessions.size, 1);
      assert.ok((echo.heartbeats.get(echo.accepted[0] as Session) ?? 0) >= 3);
    });

    if (transport === "ws") {
      it("heartbeat - a WebSocket peer that never answers pings is closed with idle_timeout", async (t) => {
        const kit = new EdgeKit(t);
        const echo = new HeartbeatEcho(false);
        const listener = await kit.listen({
          transport,
          handler: echo,
          idleTimeoutMs: IDLE_MS,
          heartbeatIntervalMs: HEARTBEAT_MS,
        });
        const raw = await kit.rawWsUpgrade(listener.port);
        raw.socket.write(rawFrame("ws", Buffer.from("hello"))); // then silence: no pongs
        await within(raw.closed, 10_000, "the idle close");
        const [d] = await echo.waitForDisconnects(1);
        assert.equal(d?.info.reason, DisconnectReason.IdleTimeout);
        assert.equal(wsCloseCode(Buffer.concat(raw.received)), WebSocketCloseCode.idle_timeout);
      });
    }
  });
}
