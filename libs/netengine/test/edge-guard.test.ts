/**
 * Edge suite, accept guard over the wire: address lists refuse before any read, per-IP limits and
 * the new-connection rate hold. Runs over TCP and WebSocket.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { type AcceptGuardOptions, AddressList, parseIp, RejectReason } from "../src/index.js";
import {
  canBindIpv6Loopback,
  delay,
  EdgeKit,
  type FrameClient,
  LOOPBACK,
  RecordingEcho,
  rawFrame,
  TRANSPORTS,
  type TransportName,
  waitUntil,
  within,
} from "./helpers/edge-kit.js";

const ipv6 = await canBindIpv6Loopback();

/** What a refused peer sends at once: an upgrade request (WebSocket) and a frame. */
function eagerBytes(transport: TransportName, port: number, host: string): Buffer {
  const frame = rawFrame(transport, Buffer.from("let me in"));
  if (transport === "tcp") return frame;
  const hostHeader = host.includes(":") ? `[${host}]` : host;
  const upgrade =
    `GET / HTTP/1.1\r\nHost: ${hostHeader}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  return Buffer.concat([Buffer.from(upgrade, "latin1"), frame]);
}

/**
 * Listens with `guard` on `bindHost`, connects a raw socket from `connectHost` that sends bytes at
 * once, and checks it was refused with `reason` before anything was read.
 */
async function assertRefused(
  t: TestContext,
  transport: TransportName,
  guard: AcceptGuardOptions,
  reason: RejectReason,
  bindHost = LOOPBACK,
  connectHost = bindHost,
): Promise<void> {
  const kit = new EdgeKit(t);
  const echo = new RecordingEcho();
  const listener = await kit.listen({ transport, handler: echo, guard, host: bindHost });
  const raw = await kit.rawSocket(listener.port, connectHost);
  raw.socket.write(eagerBytes(transport, listener.port, connectHost));
  await within(raw.closed, 10_000, "the refused socket to be closed");
  // Give a wrongly admitted connection every chance to show up.
  await delay(100);
  assert.equal(raw.bytesReceived(), 0, "the refused peer received bytes (an HTTP response, a frame…)");
  assert.equal(echo.accepted.length, 0, "onAccepted was called for a refused connection");
  assert.equal(echo.frames.length, 0, "the handler saw bytes of a refused connection");
  const stats = listener.stats();
  assert.equal(stats.rejected[reason], 1);
  assert.equal(stats.accepted, 0);
  assert.equal(stats.sessionsOpened, 0);
  assert.equal(stats.framesIn, 0);
}

/** Opens a client and makes it prove itself with one echoed frame. */
async function establishedClient(
  kit: EdgeKit,
  transport: TransportName,
  port: number,
  tag: string,
): Promise<FrameClient> {
  const client = await kit.openClient(transport, port);
  client.send(Buffer.from(tag));
  assert.equal((await client.nextFrame(5000)).toString(), tag);
  return client;
}

/** Waits until `client` is closed, and checks it never got a frame and never reached the handler. */
async function assertClosedUnserved(client: FrameClient, transport: TransportName): Promise<void> {
  const opened = await within(client.opened, 10_000, "the refused client's connect");
  // The kernel completes a TCP handshake before the guard runs; a WebSocket never gets its upgrade.
  if (transport === "ws") assert.equal(opened, false, "a refused WebSocket completed its upgrade");
  if (opened) client.send(Buffer.from("anyone there?"));
  await within(client.closed, 10_000, "the refused client to be closed");
  assert.equal(client.received.length, 0);
}

const LIMIT_GUARD = { preAuthDeadlineMs: 30_000, tolerance: false as const };

for (const { transport } of TRANSPORTS) {
  describe(`edge over ${transport}: accept guard`, () => {
    it("guard - an address in the deny list is refused before any read", async (t) => {
      await assertRefused(t, transport, { deny: new AddressList([LOOPBACK]) }, RejectReason.Denied);
    });

    it("guard - a deny-list CIDR range refuses the addresses inside it", async (t) => {
      await assertRefused(t, transport, { deny: new AddressList(["127.0.0.0/8"]) }, RejectReason.Denied);
    });

    it("guard - the deny list refuses an IPv6 peer (::1)", {
      skip: ipv6 ? false : "cannot bind ::1 here",
    }, async (t) => {
      await assertRefused(t, transport, { deny: new AddressList(["::1"]) }, RejectReason.Denied, "::1");
    });

    it("guard - an IPv4 range refuses an IPv4 peer reaching a dual-stack socket (::ffff:127.0.0.1)", {
      skip: ipv6 ? false : "no IPv6 on this machine",
    }, async (t) => {
      await assertRefused(
        t,
        transport,
        { deny: new AddressList(["127.0.0.0/8"]) },
        RejectReason.Denied,
        "::",
        LOOPBACK,
      );
    });

    it("guard - an allow list without the client refuses it with not_allowed", async (t) => {
      await assertRefused(t, transport, { allow: new AddressList(["10.0.0.0/8"]) }, RejectReason.NotAllowed);
    });

    it("guard - an allow list with the client lets it in", async (t) => {
      const kit = new EdgeKit(t);
      const echo = new RecordingEcho();
      const listener = await kit.listen({
        transport,
        handler: echo,
        guard: { allow: new AddressList(["127.0.0.0/8"]), deny: new AddressList(["10.0.0.1"]) },
      });
      await establishedClient(kit, transport, listener.port, "allowed");
      assert.equal(listener.stats().accepted, 1);
      assert.deepEqual(listener.stats().rejected, {
        invalid_address: 0,
        denied: 0,
        not_allowed: 0,
        too_many_connections: 0,
        rate_limited: 0,
      });
    });

    it("guard - the connection above maxConnectionsPerIp is closed and a freed slot is reused", async (t) => {
      const kit = new EdgeKit(t);
      const echo = new RecordingEcho();
      const listener = await kit.listen({
        transport,
        handler: echo,
        guard: { ...LIMIT_GUARD, maxConnectionsPerIp: 5, maxNewConnectionsPerIpPerSecond: 1000 },
      });
      const five: FrameClient[] = [];
      for (let i = 0; i < 5; i++) five.push(await establishedClient(kit, transport, listener.port, `c${i}`));

      const sixth = kit.client(transport, listener.port);
      await assertClosedUnserved(sixth, transport);
      assert.equal(listener.stats().rejected.too_many_connections, 1);
      assert.equal(echo.accepted.length, 5);
      for (const client of five) assert.equal(client.isClosed, false);

      // Free one slot; once the guard has counted it closed, a new connection gets in.
      (five[0] as FrameClient).end();
      const ip = parseIp(LOOPBACK);
      await waitUntil(
        () => listener.guard?.openConnections(ip) === 4,
        10_000,
        "the guard to release the slot",
      );
      await establishedClient(kit, transport, listener.port, "reused");
      assert.equal(listener.stats().rejected.too_many_connections, 1);
      assert.equal(echo.accepted.length, 6);
    });

    it("guard - connections above maxNewConnectionsPerIpPerSecond are closed with rate_limited", async (t) => {
      const kit = new EdgeKit(t);
      const echo = new RecordingEcho();
      const listener = await kit.listen({
        transport,
        handler: echo,
        guard: { ...LIMIT_GUARD, maxConnectionsPerIp: 1000, maxNewConnectionsPerIpPerSecond: 3 },
      });
      const burst = Array.from({ length: 10 }, () => kit.client(transport, listener.port));
      const judged = (): number => {
        const s = listener.stats();
        return s.accepted + Object.values(s.rejected).reduce((a, b) => a + b, 0);
      };
      await waitUntil(() => judged() === 10, 10_000, "the guard to judge the burst");
      const stats = listener.stats();
      // A sliding one-second window: the first three get in; more only if the burst spread over
      // more than a second on a very slow machine.
      assert.ok(stats.accepted >= 3 && stats.accepted <= 6, `accepted ${stats.accepted} of a burst of 10`);
      assert.equal(stats.rejected.rate_limited, 10 - stats.accepted);
      assert.equal(stats.rejected.too_many_connections, 0);

      await waitUntil(() => echo.accepted.length === stats.accepted, 10_000, "the admitted sessions");
      const refused = await within(
        (async () => {
          const outcome: FrameClient[] = [];
          for (const client of burst) {
            if (!(await client.opened)) {
              outcome.push(client);
              continue;
            }
            client.send(Buffer.from("hi"));
            const got = await client.nextFrame(10_000).then(
              () => "echoed" as const,
              () => "closed" as const,
            );
            if (got === "closed") outcome.push(client);
          }
          return outcome;
        })(),
        20_000,
        "every client of the burst to echo or close",
      );
      assert.equal(refused.length, stats.rejected.rate_limited);
      for (const client of refused) await assertClosedUnserved(client, transport);

      // Once the window has passed, the address may connect again.
      await delay(2100);
      await establishedClient(kit, transport, listener.port, "later");
    });
  });
}
