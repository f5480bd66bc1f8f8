/**
 * Edge suite, pre-auth deadline: a flood of connections that never prove themselves is pruned at
 * the deadline while a legitimate client keeps working. Runs over TCP and WebSocket.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { DisconnectReason, type Listener, WebSocketCloseCode } from "../src/index.js";
import {
  type ClientClose,
  delay,
  EdgeKit,
  type FrameClient,
  LOOPBACK,
  RecordingEcho,
  StarvationProbe,
  TRANSPORTS,
  type TransportName,
  waitUntil,
  within,
} from "./helpers/edge-kit.js";

const DEADLINE_MS = 2000;
/** The spec'd window: each silent connection is closed at the deadline ± this, from its own connect. */
const WINDOW_MS = 500;
const FLOOD = 200;
const GUARD = Object.freeze({
  preAuthDeadlineMs: DEADLINE_MS,
  maxConnectionsPerIp: 1000,
  maxNewConnectionsPerIpPerSecond: 1000,
  tolerance: false as const,
});

/** A legitimate client that sends a numbered frame every ~50 ms and checks every echo. */
class Pinger {
  readonly #client: FrameClient;
  #sent = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(client: FrameClient) {
    this.#client = client;
  }

  start(): void {
    this.#timer = setInterval(() => this.#client.send(Buffer.from(`ping-${this.#sent++}`)), 50);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Stops sending, waits for the last echoes, and checks all of them came back in order. */
  async stopAndCheck(): Promise<number> {
    this.stop();
    const expected = this.#sent + 1; // + the frame that established the session
    await waitUntil(
      () => this.#client.received.length >= expected || this.#client.isClosed,
      10_000,
      "the legitimate client's last echoes",
    );
    assert.equal(this.#client.isClosed, false, "the legitimate client was disconnected");
    const echoes = this.#client.received.slice(1).map((b) => b.toString());
    assert.deepEqual(
      echoes,
      Array.from({ length: this.#sent }, (_, i) => `ping-${i}`),
    );
    return this.#sent;
  }
}

async function startWithLegitimateClient(
  t: TestContext,
  transport: TransportName,
): Promise<{
  kit: EdgeKit;
  listener: Listener;
  echo: RecordingEcho;
  pinger: Pinger;
  legit: FrameClient;
  probe: StarvationProbe;
}> {
  const kit = new EdgeKit(t);
  const echo = new RecordingEcho();
  const listener = await kit.listen({ transport, handler: echo, guard: GUARD });
  const legit = await kit.openClient(transport, listener.port);
  legit.send(Buffer.from("hello"));
  assert.equal((await legit.nextFrame(5000)).toString(), "hello");
  const pinger = new Pinger(legit);
  kit.defer(() => pinger.stop());
  pinger.start();
  const probe = new StarvationProbe().start();
  kit.defer(() => probe.stop());
  return { kit, listener, echo, pinger, legit, probe };
}

/** When a connection began, as seen from inside this process. */
interface Opened {
  /** Just before the connect started: the server cannot have accepted it earlier. */
  readonly startedAt: number;
  /** When the client saw it open. */
  readonly openedAt: number;
}

/**
 * The spec'd window: each connection closed at the deadline ± {@link WINDOW_MS} of its own
 * connect. Early: measured from before the connect started, so never closer to the deadline than
 * the truth. Late: measured from when the client saw the connection open, allowing for the time the
 * process was not scheduled at all during that connection's life (it cannot close a socket, nor
 * see one closed, while it is not run); time it spent busy is not allowed for.
 */
function assertClosedAtDeadline(
  t: TestContext,
  probe: StarvationProbe,
  opens: readonly Opened[],
  closes: readonly ClientClose[],
): void {
  const outside: string[] = [];
  let latest = 0;
  for (const [i, close] of closes.entries()) {
    const { startedAt, openedAt } = opens[i] as Opened;
    const early = DEADLINE_MS - (close.at - startedAt);
    const late = close.at - openedAt - DEADLINE_MS;
    const starved = probe.starvedBetween(startedAt, close.at);
    latest = Math.max(latest, late);
    if (early > WINDOW_MS) outside.push(`#${i}: ${Math.round(early)} ms before the deadline`);
    if (late > WINDOW_MS + starved) {
      outside.push(`#${i}: ${Math.round(late)} ms after the deadline (starved ${Math.round(starved)} ms)`);
    }
  }
  t.diagnostic(
    `latest close ${Math.round(latest)} ms after the deadline; longest starvation ${Math.round(probe.longest)} ms`,
  );
  assert.deepEqual(
    outside,
    [],
    `connections closed outside ${DEADLINE_MS} ± ${WINDOW_MS} ms of their connect`,
  );
}

for (const { transport } of TRANSPORTS) {
  describe(`edge over ${transport}: pre-auth`, () => {
    const what = transport === "tcp" ? "connections that send nothing" : "TCP connections that never upgrade";
    it(`pre-auth - ${FLOOD} ${what} are closed at the deadline while a client keeps echoing`, async (t) => {
      const { kit, listener, echo, pinger, legit, probe } = await startWithLegitimateClient(t, transport);

      const flood = await Promise.all(Array.from({ length: FLOOD }, () => kit.rawSocket(listener.port)));
      const closes = await within(
        Promise.all(flood.map((raw) => raw.closed)),
        DEADLINE_MS + 10_000,
        "the silent connections to be closed",
      );
      await delay(200);
      await pinger.stopAndCheck();

      assertClosedAtDeadline(
        t,
        probe,
        flood.map((raw) => ({ startedAt: raw.startedAt, openedAt: raw.connectedAt })),
        closes,
      );
      for (const raw of flood) assert.equal(raw.bytesReceived(), 0, "a pruned connection received bytes");
      const stats = listener.stats();
      assert.equal(stats.preAuthPruned, FLOOD);
      assert.equal(listener.guard?.counters().preauth_pruned, FLOOD);
      assert.equal(listener.guard?.counters().preauth_established, 1);
      if (transport === "tcp") {
        // Each became a session: it ended with the reason, told to the handler.
        assert.equal(stats.disconnects.preauth_timeout, FLOOD);
        assert.equal(echo.disconnects.length, FLOOD);
        assert.ok(echo.disconnects.every((d) => d.info.reason === DisconnectReason.PreAuthTimeout));
      } else {
        // None upgraded: no session was ever made for them, only the legitimate one.
        assert.equal(echo.accepted.length, 1);
        assert.equal(echo.disconnects.length, 0);
      }
      assert.equal(legit.isClosed, false);
      assert.equal(listener.sessions.size, 1);
    });

    const trickle = transport === "tcp" ? "the bytes of a frame it never completes" : "its upgrade request";
    it(`pre-auth - a connection trickling ${trickle} byte by byte is still closed at the deadline`, async (t) => {
      const kit = new EdgeKit(t);
      const echo = new RecordingEcho();
      const listener = await kit.listen({
        transport,
        handler: echo,
        guard: { ...GUARD, preAuthDeadlineMs: 1000 },
      });
      const raw = await kit.rawSocket(listener.port);
      const bytes =
        transport === "tcp"
          ? Buffer.concat([Buffer.from([0, 0, 1, 0]), Buffer.alloc(255, 0x61)]) // 256 announced, 255 sent
          : Buffer.from(
              `GET / HTTP/1.1\r\nHost: ${LOOPBACK}:${listener.port}\r\nUpgrade: websocket\r\n`,
              "latin1",
            );
      void (async () => {
        for (let i = 0; i < bytes.byteLength && !raw.isClosed(); i++) {
          raw.socket.write(bytes.subarray(i, i + 1));
          await delay(50);
        }
      })();
      await within(raw.closed, 10_000, "the trickling connection to be closed");
      assert.equal(listener.stats().preAuthPruned, 1);
      assert.equal(echo.frames.length, 0);
      if (transport === "tcp") assert.deepEqual(echo.reasons(), [DisconnectReason.PreAuthTimeout]);
      else assert.equal(echo.accepted.length, 0);
    });

    if (transport === "ws") {
      it(`pre-auth - ${FLOOD} upgraded WebSocket connections that send no message are closed at the deadline`, async (t) => {
        const { kit, listener, echo, pinger, legit, probe } = await startWithLegitimateClient(t, transport);

        const flood = Array.from({ length: FLOOD }, () => kit.client("ws", listener.port));
        const opened = await within(Promise.all(flood.map((c) => c.opened)), 10_000, "the upgrades");
        assert.ok(opened.every(Boolean), "an idle client was closed before its upgrade completed");
        const closes = await within(
          Promise.all(flood.map((c) => c.closed)),
          DEADLINE_MS + 10_000,
          "the idle WebSocket connections to be closed",
        );
        await delay(200);
        await pinger.stopAndCheck();

        assertClosedAtDeadline(t, probe, flood, closes);
        for (const close of closes) assert.equal(close.code, WebSocketCloseCode.preauth_timeout);
        const stats = listener.stats();
        assert.equal(stats.preAuthPruned, FLOOD);
        assert.equal(stats.disconnects.preauth_timeout, FLOOD);
        assert.equal(echo.disconnects.length, FLOOD);
        assert.ok(echo.disconnects.every((d) => d.info.reason === DisconnectReason.PreAuthTimeout));
        assert.equal(legit.isClosed, false);
        assert.equal(listener.sessions.size, 1);
      });
    }
  });
}
