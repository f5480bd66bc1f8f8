import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ClientErrorCode, ClientState } from "@meridian/client/node";
import { fixtures, next, record, TRANSPORTS } from "./helpers/client-fixtures.js";
import { waitFor } from "./helpers/scripted-gateway.js";

const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

for (const transport of TRANSPORTS) {
  describe(`reconnect (${transport})`, () => {
    const f = fixtures(transport);

    test("reconnect - a dropped connection is resumed; unacked inputs are re-sent exactly once each", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      await client.connect();
      await client.login("rover", "pw");
      client.sendInput("a");
      client.sendInput("b");
      await waitFor(() => client.lastAck === 2, 2_000, "ack 2");
      // The zone loses what comes next: received, never applied, never acknowledged.
      peer.applyInputs = false;
      peer.autoAck = false;
      client.sendInput("c");
      client.sendInput("d");
      client.sendInput("e");
      const first = peer.connections[0];
      assert.ok(first);
      await waitFor(() => peer.inputsOn(first).length === 5, 2_000, "five inputs");
      const token = client.refreshToken;
      const disconnected = next(client, "disconnected");
      const resumed = next(client, "resumed");
      peer.applyInputs = true;
      peer.dropAll();
      assert.equal((await disconnected).willReconnect, true);
      // An input sent while disconnected waits for the resume.
      assert.equal(client.sendInput("f"), 6);
      const ok = await resumed;
      assert.equal(ok.ack, 2);
      assert.equal(client.refreshToken, ok.refreshToken);
      assert.notEqual(ok.refreshToken, token);
      assert.equal(client.state, ClientState.LoggedIn);
      assert.equal(client.reconnects, 1);
      const second = peer.connections[1];
      assert.ok(second);
      const resume = second.messages.find((m) => m.t === "resume");
      assert.ok(resume?.t === "resume");
      assert.equal(resume.refreshToken, token);
      await waitFor(() => peer.inputsOn(second).length >= 4, 2_000, "re-sent inputs");
      await settle();
      assert.deepEqual(peer.inputsOn(second), [3, 4, 5, 6]);
      assert.equal(client.sendInput("g"), 7);
    });

    test("reconnect - resume_ok.ack trims what the world applied but never acknowledged", async () => {
      const peer = await f.peer();
      peer.autoAck = false;
      const client = f.client(peer.url);
      await client.connect();
      await client.login("quiet", "pw");
      for (let i = 0; i < 3; i++) client.sendInput(i);
      const first = peer.connections[0];
      assert.ok(first);
      await waitFor(() => peer.inputsOn(first).length === 3, 2_000, "three inputs");
      const acked = next(client, "inputsAcked");
      peer.dropAll();
      assert.deepEqual(await acked, { ack: 3, count: 3 });
      await settle();
      assert.deepEqual(peer.inputsOn(peer.connections[1] ?? first), []);
      assert.equal(client.unackedInputs, 0);
    });

    test("reconnect - 4203 (gateway shutdown) reconnects at once to the next gateway and resumes", async () => {
      const a = await f.peer();
      const b = await f.peer({ sharedWith: a });
      const client = f.client([a.url, b.url], {
        reconnect: { initialDelayMs: 5_000, maxDelayMs: 5_000, maxAttempts: 3 },
      });
      await client.connect();
      await client.login("mover", "pw");
      const reconnecting = next(client, "reconnecting");
      const resumed = next(client, "resumed", 2_000);
      await a.byeAll(4203, "gateway shutting down");
      const attempt = await reconnecting;
      assert.equal(attempt.delayMs, 0);
      assert.equal(attempt.url, b.url);
      await resumed;
      assert.equal(client.url, b.url);
      assert.equal(b.open.length, 1);
      assert.equal(client.state, ClientState.LoggedIn);
    });

    test("reconnect - 4201 (session revoked) does not reconnect; sessionLost tells the app to log in", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      await client.connect();
      await client.login("revoked", "pw");
      const lost = next(client, "sessionLost");
      const disconnected = next(client, "disconnected");
      await peer.byeAll(4201, "session revoked");
      const error = await lost;
      assert.equal(error.closeCode, 4201);
      assert.equal((await disconnected).willReconnect, false);
      await settle();
      assert.equal(peer.connections.length, 1);
      assert.equal(client.session, undefined);
      assert.equal(client.state, ClientState.Idle);
    });

    test("reconnect - LOBBY_TOKEN_REUSED on resume is sessionLost; the open connection takes a login", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      await client.connect();
      await client.login("victim", "pw");
      peer.resumeFailure = { code: "LOBBY_TOKEN_REUSED", count: 1 };
      const lost = next(client, "sessionLost");
      peer.dropAll();
      assert.equal((await lost).code, "LOBBY_TOKEN_REUSED");
      await waitFor(() => client.state === ClientState.Connected, 2_000, "connected state");
      assert.equal(client.refreshToken, undefined);
      const ok = await client.login("victim", "pw");
      assert.equal(ok.username, "victim");
    });

    test("reconnect - a resume refused with LOBBY_UNAVAILABLE is retried on a new connection", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      await client.connect();
      await client.login("patient", "pw");
      peer.resumeFailure = { code: "LOBBY_UNAVAILABLE", count: 1 };
      const attempts = record(client, "reconnecting");
      const resumed = next(client, "resumed");
      peer.dropAll();
      await resumed;
      assert.deepEqual(
        attempts.map((a) => a.attempt),
        [1, 2],
      );
    });

    test("reconnect - gives up after maxAttempts with CLIENT_RECONNECT_FAILED", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url, {
        reconnect: { initialDelayMs: 10, maxDelayMs: 20, maxAttempts: 3 },
      });
      await client.connect();
      await client.login("stranded", "pw");
      const attempts = record(client, "reconnecting");
      const failed = next(client, "reconnectFailed");
      await peer.close();
      const error = await failed;
      assert.equal(error.code, ClientErrorCode.ReconnectFailed);
      assert.equal(attempts.length, 3);
      assert.equal(client.state, ClientState.Idle);
      // The session is kept: a later connect() + resume() may still continue it.
      assert.notEqual(client.refreshToken, undefined);
    });

    test("reconnect - none after the application's close()", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      await client.connect();
      await client.login("leaver", "pw");
      const disconnected = next(client, "disconnected");
      client.close();
      assert.equal((await disconnected).willReconnect, false);
      await settle();
      assert.equal(peer.connections.length, 1);
    });
  });
}
