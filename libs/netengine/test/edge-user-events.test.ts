/**
 * Edge suite, user events: events posted from frames, from timers and from inside `onUserEvent`
 * arrive in posting order per session, asynchronously, never re-entrantly. Runs over TCP and
 * WebSocket.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type DisconnectInfo, DisconnectReason, type ProtocolHandler, type Session } from "../src/index.js";
import { EdgeKit, type FrameClient, TRANSPORTS, waitUntil, within } from "./helpers/edge-kit.js";

const SESSIONS = 2;
const PER_SESSION = 5000; // 10,000 events in all
const PER_FRAME = 10;
const PER_TICK = 3;

type Source = "frame" | "event" | "timer";
interface UserEvent {
  readonly seq: number;
  readonly source: Source;
}

interface SessionLog {
  posted: number;
  delivered: number;
  outOfOrder: number;
  depth: number;
  maxDepth: number;
  /** Events found delivered when their `post()` returned. */
  deliveredBeforePostReturned: number;
  /** Deliveries that happened inside onFrame. */
  deliveredInsideFrame: number;
  readonly bySource: Record<Source, number>;
  timer: NodeJS.Timeout | undefined;
}

class EventOrderProtocol implements ProtocolHandler {
  readonly logs = new Map<Session, SessionLog>();
  #inFrame = false;

  onAccepted(session: Session): void {
    const log: SessionLog = {
      posted: 0,
      delivered: 0,
      outOfOrder: 0,
      depth: 0,
      maxDepth: 0,
      deliveredBeforePostReturned: 0,
      deliveredInsideFrame: 0,
      bySource: { frame: 0, event: 0, timer: 0 },
      timer: undefined,
    };
    this.logs.set(session, log);
    log.timer = setInterval(() => {
      for (let i = 0; i < PER_TICK; i++) this.#post(session, log, "timer");
      if (log.posted >= PER_SESSION) clearInterval(log.timer);
    }, 1);
  }

  onFrame(session: Session): void {
    session.markEstablished();
    const log = this.logs.get(session) as SessionLog;
    this.#inFrame = true;
    try {
      for (let i = 0; i < PER_FRAME; i++) this.#post(session, log, "frame");
    } finally {
      this.#inFrame = false;
    }
    // Tell the client how far this session got, so it knows when to stop sending.
    session.send(Buffer.from(String(log.posted)));
  }

  onUserEvent(session: Session, event: unknown): void {
    const log = this.logs.get(session) as SessionLog;
    log.depth++;
    log.maxDepth = Math.max(log.maxDepth, log.depth);
    if (this.#inFrame) log.deliveredInsideFrame++;
    const { seq, source } = event as UserEvent;
    if (seq !== log.delivered) log.outOfOrder++;
    log.delivered++;
    // Posting from inside the handler must not deliver inside it.
    if (source === "frame" && seq % 2 === 0) this.#post(session, log, "event");
    log.depth--;
  }

  onDisconnected(session: Session): void {
    clearInterval(this.logs.get(session)?.timer);
  }

  stop(): void {
    for (const log of this.logs.values()) clearInterval(log.timer);
  }

  #post(session: Session, log: SessionLog, source: Source): void {
    if (log.posted >= PER_SESSION) return;
    const seq = log.posted++;
    log.bySource[source]++;
    assert.equal(session.post({ seq, source } satisfies UserEvent), true);
    if (log.delivered > seq) log.deliveredBeforePostReturned++;
  }
}

for (const { transport } of TRANSPORTS) {
  describe(`edge over ${transport}: user events`, () => {
    it("user events - 10,000 events from frames, timers and onUserEvent arrive in order, asynchronously, never re-entrantly", async (t) => {
      const kit = new EdgeKit(t);
      const protocol = new EventOrderProtocol();
      kit.defer(() => protocol.stop());
      const listener = await kit.listen({ transport, handler: protocol });

      const clients: FrameClient[] = [];
      for (let i = 0; i < SESSIONS; i++) clients.push(await kit.openClient(transport, listener.port));
      // Each client sends frames until its session has posted its share.
      await Promise.all(
        clients.map(async (client) => {
          for (;;) {
            client.send(Buffer.from("tick"));
            const posted = Number((await client.nextFrame(10_000)).toString());
            if (posted >= PER_SESSION) return;
          }
        }),
      );
      await waitUntil(
        () => [...protocol.logs.values()].every((log) => log.delivered === PER_SESSION),
        20_000,
        "every event to be delivered",
      );

      assert.equal(protocol.logs.size, SESSIONS);
      for (const log of protocol.logs.values()) {
        assert.equal(log.posted, PER_SESSION);
        assert.equal(log.delivered, PER_SESSION);
        assert.equal(log.outOfOrder, 0, "events were delivered out of posting order");
        assert.equal(log.maxDepth, 1, "onUserEvent was entered re-entrantly");
        assert.equal(log.deliveredBeforePostReturned, 0, "an event was delivered before post() returned");
        assert.equal(log.deliveredInsideFrame, 0, "an event was delivered inside onFrame");
        for (const source of ["frame", "event", "timer"] as const) {
          assert.ok(log.bySource[source] > 0, `no events were posted from ${source}`);
        }
      }
      for (const client of clients) assert.equal(client.isClosed, false);
    });

    it("user events - events posted before a close are delivered after onDisconnected; post() after it returns false", async (t) => {
      const kit = new EdgeKit(t);
      const log: string[] = [];
      let postAfterClose: boolean | undefined;
      const protocol: ProtocolHandler = {
        onFrame(session) {
          session.markEstablished();
          session.post("first");
          session.post("second");
          session.close();
          postAfterClose = session.post("too late");
        },
        onUserEvent(_session, event) {
          log.push(`event:${String(event)}`);
        },
        onDisconnected(_session, info: DisconnectInfo) {
          log.push(`disconnected:${info.reason}`);
        },
      };
      const listener = await kit.listen({ transport, handler: protocol });
      const client = await kit.openClient(transport, listener.port);
      client.send(Buffer.from("go"));
      await within(client.closed, 10_000, "the close");
      await waitUntil(() => log.length === 3, 10_000, "the events posted before the close");
      assert.deepEqual(log, [`disconnected:${DisconnectReason.LocalClose}`, "event:first", "event:second"]);
      assert.equal(postAfterClose, false);
    });

    it("user events - a handler that keeps posting to itself does not starve I/O", async (t) => {
      const kit = new EdgeKit(t);
      const LIMIT = 1_000_000;
      let loops = 0;
      let stop = false;
      let loopsAtProbe: number | undefined;
      const protocol: ProtocolHandler = {
        onFrame(session, frame) {
          session.markEstablished();
          if (Buffer.from(frame).toString() === "start") session.post("loop");
          else {
            loopsAtProbe = loops;
            stop = true;
          }
          session.send(frame);
        },
        onUserEvent(session) {
          if (!stop && ++loops < LIMIT) session.post("loop");
        },
      };
      kit.defer(() => (stop = true));
      const listener = await kit.listen({ transport, handler: protocol });
      const client = await kit.openClient(transport, listener.port);
      client.send(Buffer.from("start"));
      assert.equal((await client.nextFrame(30_000)).toString(), "start");
      client.send(Buffer.from("probe"));
      assert.equal((await client.nextFrame(30_000)).toString(), "probe");
      assert.ok(
        loopsAtProbe !== undefined && loopsAtProbe < LIMIT,
        "the self-posting loop ran to its end before I/O",
      );
    });
  });
}
