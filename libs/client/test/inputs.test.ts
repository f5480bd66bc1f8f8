import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ClientErrorCode } from "@meridian/client/node";
import { fixtures, record, TRANSPORTS } from "./helpers/client-fixtures.js";
import { waitFor } from "./helpers/scripted-gateway.js";

for (const transport of TRANSPORTS) {
  describe(`inputs (${transport})`, () => {
    const f = fixtures(transport);

    test("inputs - get seq 1..N in order and are trimmed when updates acknowledge them", async () => {
      const peer = await f.peer();
      peer.autoAck = false;
      const client = f.client(peer.url);
      await client.connect();
      await client.login("walker", "pw");
      const updates = record(client, "update");
      const seqs = [1, 2, 3, 4, 5].map((i) => client.sendInput({ move: { dx: i, dy: 0 } }));
      assert.deepEqual(seqs, [1, 2, 3, 4, 5]);
      assert.equal(client.unackedInputs, 5);
      const conn = peer.connections[0];
      assert.ok(conn);
      await waitFor(() => peer.inputsOn(conn).length === 5, 2_000, "five inputs");
      assert.deepEqual(peer.inputsOn(conn), [1, 2, 3, 4, 5]);
      const third = conn.messages.find((m) => m.t === "input" && m.seq === 3);
      assert.deepEqual(third, { t: "input", seq: 3, data: { move: { dx: 3, dy: 0 } } });

      peer.send(conn, { t: "update", tick: 1, ack: 3, data: { x: 1 } });
      await waitFor(() => updates.length === 1, 2_000, "an update");
      assert.deepEqual(updates[0], { t: "update", tick: 1, ack: 3, data: { x: 1 } });
      assert.equal(client.lastAck, 3);
      assert.equal(client.unackedInputs, 2);
      // An older ack changes nothing.
      peer.send(conn, { t: "update", tick: 2, ack: 1, data: null });
      peer.send(conn, { t: "update", tick: 3, ack: 5, data: null });
      await waitFor(() => updates.length === 3, 2_000, "two more updates");
      assert.equal(client.unackedInputs, 0);
      assert.equal(client.lastAck, 5);
      assert.equal(client.sendInput("next"), 6);
    });

    test("inputs - none before login; the buffer is bounded; oversize inputs are refused", async () => {
      const peer = await f.peer({ maxMessageBytes: 1024 });
      peer.autoAck = false;
      const client = f.client(peer.url, { maxUnackedInputs: 3 });
      await client.connect();
      assert.throws(() => client.sendInput({}), { code: ClientErrorCode.NotConnected });
      await client.login("hoarder", "pw");
      assert.throws(() => client.sendInput("x".repeat(2000)), { code: ClientErrorCode.TooLarge });
      assert.equal(client.sendInput(1), 1);
      client.sendInput(2);
      client.sendInput(3);
      assert.throws(() => client.sendInput(4), { code: ClientErrorCode.InputOverflow });
      assert.equal(client.lastSeq, 3);
    });
  });
}
