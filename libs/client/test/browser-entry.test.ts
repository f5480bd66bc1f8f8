import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  ClientErrorCode,
  ClientState,
  MeridianClient,
  WebSocketConnector,
  type WebSocketLike,
} from "@meridian/client";
import WebSocket from "ws";
import { fixtures } from "./helpers/client-fixtures.js";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

/** Every module reachable from `entry` through relative imports, and every bare import they make. */
function importGraph(entry: string): { files: string[]; bare: Set<string> } {
  const files: string[] = [];
  const bare = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (files.includes(file)) continue;
    files.push(file);
    const source = readFileSync(file, "utf8");
    for (const match of source.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
      const specifier = match[1] as string;
      if (specifier.startsWith(".")) queue.push(resolve(dirname(file), specifier.replace(/\.js$/, ".ts")));
      else bare.add(specifier);
    }
  }
  return { files, bare };
}

describe("browser entry", () => {
  const f = fixtures("ws");

  test("browser entry - imports no node: module, no netengine and no ws", () => {
    const { files, bare } = importGraph(join(SRC, "index.ts"));
    assert.ok(files.length > 3);
    assert.deepEqual([...bare].sort(), ["@meridian/protocol"]);
  });

  test("browser entry - the node entry adds netengine and ws", () => {
    const { bare } = importGraph(join(SRC, "node.ts"));
    assert.ok(bare.has("@meridian/netengine"));
    assert.ok(bare.has("ws"));
  });

  test("browser entry - without a global WebSocket and without a connector: CLIENT_INVALID_OPTIONS", () => {
    if (Reflect.get(globalThis, "WebSocket") !== undefined) return; // Node 22+ has one
    assert.throws(() => new MeridianClient({ url: "ws://127.0.0.1:1/" }), {
      code: ClientErrorCode.InvalidOptions,
    });
  });

  test("browser entry - a WHATWG WebSocket from a factory connects, logs in and sends inputs", async () => {
    const peer = await f.peer();
    const client = new MeridianClient({
      url: peer.url,
      // `ws` implements the browser WebSocket's interface, standing in for a browser's here.
      connector: new WebSocketConnector((url) => new WebSocket(url) as unknown as WebSocketLike),
    });
    try {
      await client.connect();
      await client.login("browser", "pw");
      assert.equal(client.sendInput({ move: { dx: 1, dy: 0 } }), 1);
      assert.equal(client.state, ClientState.LoggedIn);
      await new Promise((resolve) => client.once("inputsAcked", resolve));
      assert.equal(client.lastAck, 1);
      await assert.rejects(
        new MeridianClient({
          url: "tcp://127.0.0.1:1",
          connector: new WebSocketConnector(() => {
            throw new Error("unused");
          }),
        }).connect(),
        { code: ClientErrorCode.InvalidOptions },
      );
    } finally {
      client.close();
    }
  });
});
