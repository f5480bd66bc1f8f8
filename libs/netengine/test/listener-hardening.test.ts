import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { describe, it } from "node:test";
import {
  connect,
  type DisconnectInfo,
  EchoServerProtocol,
  type EventSink,
  listen,
  NetEngineError,
  NetEngineErrorCode,
  OptionsError,
} from "../src/index.js";

/** Sends raw bytes and collects everything the server answers until it closes. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port });
    let answer = "";
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      answer += d;
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(answer));
    socket.on("connect", () => socket.write(request));
    setTimeout(() => socket.destroy(), 5000).unref();
  });
}

describe("listener hardening", () => {
  it("ws path - a request target that is no valid URL gets 404 and the listener keeps serving", async () => {
    const listener = await listen({
      transport: "ws",
      host: "127.0.0.1",
      port: 0,
      path: "/game",
      handler: new EchoServerProtocol(),
    });
    try {
      for (const target of ["//", "//[::1", "/other?x=1", "http://[bad"]) {
        const answer = await rawExchange(
          listener.port,
          `GET ${target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        );
        assert.match(answer, /^HTTP\/1\.1 404 /, `target ${target}`);
      }
      const frames: Uint8Array[] = [];
      const session = await connect({
        transport: "ws",
        port: listener.port,
        path: "/game?token=1",
        handler: { onFrame: (_s, frame) => void frames.push(frame) },
      });
      session.send(Buffer.from("still here"));
      const deadline = Date.now() + 5000;
      while (frames.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(Buffer.from(frames[0] ?? []).toString(), "still here");
      await session.goodbye();
    } finally {
      await listener.close();
    }
  });

  it("disconnect - every sink hears of it even when an earlier link throws", async () => {
    const heard: string[] = [];
    const reported: Error[] = [];
    const throwing: EventSink = {
      onDisconnected: () => {
        heard.push("first");
        throw new Error("sink bug");
      },
    };
    const second: EventSink = {
      onDisconnected: (_s, info: DisconnectInfo) => void heard.push(`second:${info.reason}`),
    };
    const listener = await listen({
      transport: "tcp",
      host: "127.0.0.1",
      port: 0,
      handler: new EchoServerProtocol(),
      sinks: [throwing, second],
      onError: (error) => void reported.push(error),
    });
    try {
      const client = await connect({ transport: "tcp", port: listener.port, handler: {} });
      client.close();
      const deadline = Date.now() + 5000;
      while (heard.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(heard, ["first", "second:peer_closed"]);
      assert.equal(reported.length, 1);
      assert.ok(reported[0] instanceof NetEngineError);
      assert.equal(reported[0].code, NetEngineErrorCode.HandlerFailed);
    } finally {
      await listener.close();
    }
  });

  it("connect - a malformed WebSocket URL rejects with NE_CONNECT_FAILED", async () => {
    await assert.rejects(
      connect({ transport: "ws", url: "ws://[not-a-host", handler: {} }),
      (error: unknown) => error instanceof NetEngineError && error.code === NetEngineErrorCode.ConnectFailed,
    );
  });

  it("options - timer options beyond what setTimeout honours are refused", async () => {
    await assert.rejects(
      listen({ transport: "tcp", port: 0, handler: {}, idleTimeoutMs: 2 ** 31 }),
      (error: unknown) => error instanceof OptionsError && error.code === NetEngineErrorCode.InvalidOptions,
    );
  });

  it("listen - a port in use rejects with NE_LISTEN_FAILED", async () => {
    const first = await listen({ transport: "tcp", host: "127.0.0.1", port: 0, handler: {} });
    try {
      await assert.rejects(
        listen({ transport: "tcp", host: "127.0.0.1", port: first.port, handler: {} }),
        (error: unknown) => error instanceof NetEngineError && error.code === NetEngineErrorCode.ListenFailed,
      );
    } finally {
      await first.close();
    }
  });
});
