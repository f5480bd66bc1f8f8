/**
 * Baseline for `netengine.ws-echo`: a bare `ws` server echoing each binary message, with the
 * socket corked on the first message and uncorked once in a microtask, i.e. after all messages of
 * one read (ws emits them synchronously), so their replies leave in one writev: several times the
 * default one-write-per-message echo. Compression off, as in netengine.
 *
 * Argument `per-turn` uncorks in a `setImmediate` instead (once per event-loop turn). Measured
 * here with the hand-written WebSocket load, per read cost less CPU per message (about 1.45 µs
 * against 1.5–2.3 µs), so it is the default: the baseline is the best bare echo we have.
 */
import type { Socket } from "node:net";
import { WebSocketServer } from "ws";
import { serve } from "./serve.js";

const perTurn = process.argv[2] === "per-turn";

interface Connection {
  readonly socket: Socket;
  corked: boolean;
}

/** Connections corked since the last uncork; one callback uncorks them all. */
const corked: Connection[] = [];
let uncorkScheduled = false;

function uncorkAll(): void {
  uncorkScheduled = false;
  for (const connection of corked) {
    connection.corked = false;
    connection.socket.uncork();
  }
  corked.length = 0;
}

await serve(async () => {
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    perMessageDeflate: false,
    clientTracking: false,
    maxPayload: 64 * 1024,
  });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  wss.on("connection", (ws, req) => {
    const connection: Connection = { socket: req.socket, corked: false };
    req.socket.setNoDelay(true);
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (!connection.corked) {
        connection.corked = true;
        connection.socket.cork();
        corked.push(connection);
        if (!uncorkScheduled) {
          uncorkScheduled = true;
          if (perTurn) setImmediate(uncorkAll);
          else queueMicrotask(uncorkAll);
        }
      }
      ws.send(data, { binary: isBinary });
    });
    ws.on("error", () => ws.terminate());
  });
  const address = wss.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return {
    port: address.port,
    close: () => new Promise<void>((resolve) => wss.close(() => resolve())),
  };
});
