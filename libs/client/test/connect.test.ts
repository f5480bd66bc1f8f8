import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ClientError,
  ClientErrorCode,
  ClientState,
  createNodeClient,
  parseGatewayUrl,
} from "@meridian/client/node";
import { PROTOCOL_VERSION } from "@meridian/protocol";
import { fixtures, next, record, TRANSPORTS } from "./helpers/client-fixtures.js";
import { waitFor } from "./helpers/scripted-gateway.js";

for (const transport of TRANSPORTS) {
  describe(`connect (${transport})`, () => {
    const f = fixtures(transport);

    test("connect - hello carries the version and client name; hello_ok gives nonce and limits", async () => {
      const peer = await f.peer({ heartbeatMs: 20_000, maxMessageBytes: 32_768 });
      const client = f.client(peer.url, { clientName: "test-client/1" });
      const connected = next(client, "connected");
      const hello = await client.connect();
      assert.equal(hello.v, PROTOCOL_VERSION);
      assert.equal(hello.maxMessageBytes, 32_768);
      assert.equal(hello.heartbeatMs, 20_000);
      assert.equal(hello.nonce, peer.connections[0]?.nonce);
      assert.equal(client.state, ClientState.Connected);
      assert.equal((await connected).reconnect, false);
      assert.deepEqual(peer.connections[0]?.messages[0], {
        t: "hello",
        v: PROTOCOL_VERSION,
        client: "test-client/1",
      });
    });

    test("connect - an unsupported version rejects with PROTO_VERSION_MISMATCH and does not reconnect", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url, { protocolVersion: 99 });
      const disconnected = next(client, "disconnected");
      await assert.rejects(client.connect(), (error: unknown) => {
        assert.ok(error instanceof ClientError);
        assert.equal(error.code, "PROTO_VERSION_MISMATCH");
        assert.equal(error.fromServer, true);
        return true;
      });
      const closed = await disconnected;
      assert.equal(closed.code, 4100);
      assert.equal(closed.willReconnect, false);
      assert.equal(client.state, ClientState.Idle);
    });

    test("connect - malformed bytes from the server are CLIENT_PROTOCOL; the client closes and survives", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      await client.connect();
      const errors = record(client, "error");
      const disconnected = next(client, "disconnected");
      const conn = peer.connections[0];
      assert.ok(conn);
      peer.sendRaw(conn, Uint8Array.of(0x82, 0xa1)); // a truncated MessagePack map
      const closed = await disconnected;
      assert.equal(closed.willReconnect, false); // not logged in: nothing to resume
      assert.equal(errors[0]?.code, ClientErrorCode.Protocol);
      // The client said why before closing.
      await waitFor(() => conn.messages.some((m) => m.t === "bye"), 2_000, "bye");
      assert.deepEqual(
        conn.messages.filter((m) => m.t === "bye").map((m) => (m.t === "bye" ? m.code : 0)),
        [4102],
      );
      // And it can connect again.
      await client.connect();
      assert.equal(client.state, ClientState.Connected);
    });

    test("connect - an unknown message type from the server is CLIENT_PROTOCOL", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      await client.connect();
      const error = next(client, "error");
      const conn = peer.connections[0];
      assert.ok(conn);
      // { t: "teleport" } as plain MessagePack
      peer.sendRaw(conn, Uint8Array.of(0x81, 0xa1, 0x74, 0xa8, ...new TextEncoder().encode("teleport")));
      assert.equal((await error).code, ClientErrorCode.Protocol);
    });

    test("connect - a refused connection is CLIENT_CONNECT_FAILED", async () => {
      const peer = await f.peer();
      const url = peer.url;
      await peer.close();
      const client = f.client(url);
      await assert.rejects(client.connect(), { code: ClientErrorCode.ConnectFailed });
      assert.equal(client.state, ClientState.Idle);
    });

    test("connect - a second connect while connected is CLIENT_INVALID_STATE", async () => {
      const peer = await f.peer();
      const client = f.client(peer.url);
      await client.connect();
      await assert.rejects(client.connect(), { code: ClientErrorCode.InvalidState });
    });
  });
}

describe("connect - URLs and options", () => {
  test("URLs - ws, wss, tcp and tls parse; other schemes and tcp without port are refused", () => {
    assert.equal(parseGatewayUrl("wss://play.example.com/").port, 443);
    assert.equal(parseGatewayUrl("tcp://127.0.0.1:7600").scheme, "tcp");
    assert.equal(parseGatewayUrl("tls://[::1]:7600").host, "::1");
    assert.throws(() => parseGatewayUrl("http://x/"), { code: ClientErrorCode.InvalidOptions });
    assert.throws(() => parseGatewayUrl("tcp://x"), { code: ClientErrorCode.InvalidOptions });
    assert.throws(() => parseGatewayUrl("nonsense"), { code: ClientErrorCode.InvalidOptions });
  });

  test("options - bad values are CLIENT_INVALID_OPTIONS", () => {
    assert.throws(() => createNodeClient({ url: [] }), { code: ClientErrorCode.InvalidOptions });
    assert.throws(() => createNodeClient({ url: "ws://x/", requestTimeoutMs: 0 }), {
      code: ClientErrorCode.InvalidOptions,
    });
    assert.throws(() => createNodeClient({ url: "ws://x/", reconnect: { factor: 0.5 } }), {
      code: ClientErrorCode.InvalidOptions,
    });
  });
});
