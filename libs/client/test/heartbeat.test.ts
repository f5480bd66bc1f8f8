import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fixtures, next, TRANSPORTS } from "./helpers/client-fixtures.js";
import { waitFor } from "./helpers/scripted-gateway.js";

for (const transport of TRANSPORTS) {
  describe(`heartbeat (${transport})`, () => {
    const f = fixtures(transport);

    test("heartbeat - a silent client pings after heartbeatMs and measures the pong", async () => {
      const peer = await f.peer({ heartbeatMs: 60 });
      const client = f.client(peer.url);
      await client.connect();
      const pong = await next(client, "pong", 2_000);
      assert.ok(pong.n >= 1);
      assert.ok(pong.rttMs >= 0);
      assert.ok(peer.pingsReceived >= 1);
    });

    test("heartbeat - a busy client does not ping", async () => {
      const peer = await f.peer({ heartbeatMs: 150 });
      peer.autoAck = false;
      const client = f.client(peer.url);
      await client.connect();
      await client.login("busy", "pw");
      const until = Date.now() + 400;
      while (Date.now() < until) {
        client.sendInput(1);
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      assert.equal(peer.pingsReceived, 0);
    });

    test("heartbeat - the server's ping is answered with a pong carrying its n", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      await client.connect();
      const conn = peer.connections[0];
      assert.ok(conn);
      peer.send(conn, { t: "ping", n: 4242 });
      await waitFor(() => conn.messages.some((m) => m.t === "pong"), 2_000, "pong");
      assert.deepEqual(
        conn.messages.find((m) => m.t === "pong"),
        { t: "pong", n: 4242 },
      );
    });

    test("heartbeat - pings unanswered for several periods close the connection, then it resumes", async () => {
      const peer = await f.peer({ heartbeatMs: 40 });
      peer.answerPings = false;
      const client = f.client(peer.url, { heartbeatMissLimit: 2 });
      await client.connect();
      await client.login("ghost", "pw");
      const disconnected = next(client, "disconnected", 3_000);
      const resumed = next(client, "resumed", 3_000);
      assert.equal((await disconnected).willReconnect, true);
      peer.answerPings = true;
      await resumed;
    });
  });
}
