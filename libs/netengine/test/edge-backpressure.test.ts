/**
 * Edge suite, backpressure: a peer that never reads is dropped as a slow consumer and the server's
 * memory stays bounded however much the application tries to send. Runs over TCP and WebSocket.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type DisconnectInfo,
  DisconnectReason,
  type ProtocolHandler,
  type Session,
  SessionState,
} from "../src/index.js";
import { EdgeKit, type RawSocket, rawFrame, TRANSPORTS, waitUntil, within } from "./helpers/edge-kit.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const HIGH_WATER_MARK = 1 * MiB;
const FRAME = 64 * KiB;
/** Frames sent per timer tick: half the high-water mark, so one turn alone never trips it. */
const FRAMES_PER_TICK = 8;
const SLOW_READERS = 4;
const ATTEMPT_PER_SESSION = 64 * MiB;
const RSS_GROWTH_LIMIT = 64 * MiB;

/** Sends 64 KiB frames from a timer to every session that said "go", until it attempted its share. */
class Blaster implements ProtocolHandler {
  readonly payload = Buffer.alloc(FRAME, 0x5a);
  attempted = 0;
  accepted = 0;
  maxBuffered = 0;
  peakRss = 0;
  readonly disconnects = new Map<Session, DisconnectInfo>();
  readonly timers = new Set<NodeJS.Timeout>();

  onFrame(session: Session): void {
    session.markEstablished();
    let attempted = 0;
    const timer = setInterval(() => {
      for (let i = 0; i < FRAMES_PER_TICK; i++) {
        attempted += FRAME;
        this.attempted += FRAME;
        // A careless application: it keeps sending whatever send() answers.
        if (session.send(this.payload)) this.accepted += FRAME;
        if (session.state === SessionState.Open) {
          this.maxBuffered = Math.max(this.maxBuffered, session.bufferedBytes);
        }
      }
      this.peakRss = Math.max(this.peakRss, process.memoryUsage().rss);
      if (attempted >= ATTEMPT_PER_SESSION) {
        clearInterval(timer);
        this.timers.delete(timer);
      }
    }, 1);
    this.timers.add(timer);
  }

  onDisconnected(session: Session, info: DisconnectInfo): void {
    this.disconnects.set(session, info);
  }
}

for (const { transport } of TRANSPORTS) {
  describe(`edge over ${transport}: backpressure`, () => {
    it("backpressure - a peer that never reads is dropped as slow_consumer with memory bounded", async (t) => {
      const kit = new EdgeKit(t);
      const blaster = new Blaster();
      kit.defer(() => {
        for (const timer of blaster.timers) clearInterval(timer);
      });
      const listener = await kit.listen({ transport, handler: blaster, highWaterMarkBytes: HIGH_WATER_MARK });

      const readers: RawSocket[] = [];
      for (let i = 0; i < SLOW_READERS; i++) {
        const raw =
          transport === "tcp" ? await kit.rawSocket(listener.port) : await kit.rawWsUpgrade(listener.port);
        raw.socket.pause(); // never reads again
        readers.push(raw);
      }
      const rssBefore = process.memoryUsage().rss;
      blaster.peakRss = rssBefore;
      for (const raw of readers) raw.socket.write(rawFrame(transport, Buffer.from("go")));

      await waitUntil(
        () => blaster.disconnects.size === SLOW_READERS,
        30_000,
        "every slow reader to be dropped",
      );
      await waitUntil(() => blaster.timers.size === 0, 60_000, "the blaster to finish its attempts");
      // A paused socket cannot see the close: read again, and the server's close must come through.
      for (const raw of readers) raw.socket.resume();
      await within(Promise.all(readers.map((r) => r.closed)), 10_000, "the slow readers' sockets to close");

      for (const info of blaster.disconnects.values())
        assert.equal(info.reason, DisconnectReason.SlowConsumer);
      assert.equal(listener.stats().disconnects.slow_consumer, SLOW_READERS);
      assert.ok(blaster.attempted >= 256 * MiB, `attempted only ${blaster.attempted} bytes`);
      assert.ok(
        blaster.maxBuffered <= HIGH_WATER_MARK + FRAME,
        `bufferedBytes reached ${blaster.maxBuffered}, above the high-water mark + one frame`,
      );
      const growth = blaster.peakRss - rssBefore;
      assert.ok(
        growth < RSS_GROWTH_LIMIT,
        `rss grew by ${(growth / MiB).toFixed(1)} MiB while ${blaster.attempted / MiB} MiB were attempted`,
      );
      t.diagnostic(
        `attempted ${blaster.attempted / MiB} MiB, accepted by send() ${(blaster.accepted / MiB).toFixed(1)} MiB, ` +
          `max bufferedBytes ${(blaster.maxBuffered / KiB).toFixed(0)} KiB, rss growth ${(growth / MiB).toFixed(1)} MiB`,
      );
    });
  });
}
