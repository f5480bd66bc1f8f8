/**
 * The WebSocket echo load, written by hand over node:net: an HTTP upgrade, then binary messages
 * framed as RFC 6455 says (client frames masked with a random per-run mask, as a browser's are, so
 * the server pays its unmask). Pre-built frames make the generator about as cheap per message as
 * the TCP one, several times cheaper than a `ws` client, which on two cores would otherwise be as
 * busy as the server it measures.
 *
 * Supports payloads up to 125 bytes (7-bit lengths), which is all the echo benchmarks use.
 *
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import type { EchoLoad, EchoLoadOptions } from "./echo-load.js";
import { type StreamEchoProtocol, startStreamEchoLoad } from "./stream-echo-load.js";

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** FIN + binary opcode. */
const FIN_BINARY = 0x82;
const MASK_BIT = 0x80;

export function webSocketProtocol(payloadBytes: number): StreamEchoProtocol {
  if (payloadBytes < 1 || payloadBytes > 125) throw new RangeError("payloadBytes must be 1..125");
  const key = randomBytes(16).toString("base64");
  const accept = createHash("sha1")
    .update(key + WS_GUID)
    .digest("base64");
  const mask = randomBytes(4);
  const sendFrameBytes = 2 + 4 + payloadBytes;
  return {
    name: "ws",
    // Server frames are unmasked: 2-byte header + payload.
    echoFrameBytes: 2 + payloadBytes,
    headerBytes: 2,
    checkHeader: (chunk, at) => chunk[at] === FIN_BINARY && chunk[at + 1] === payloadBytes,
    sendFrameBytes,
    buildFrames(window) {
      const frames = Buffer.alloc(window * sendFrameBytes);
      for (let i = 0; i < window; i++) {
        const at = i * sendFrameBytes;
        frames[at] = FIN_BINARY;
        frames[at + 1] = MASK_BIT | payloadBytes;
        mask.copy(frames, at + 2);
        for (let j = 0; j < payloadBytes; j++) {
          frames[at + 6 + j] = ((i + j) & 0xff) ^ (mask[j & 3] as number);
        }
      }
      return frames;
    },
    upgradeRequest: ({ host, port }) =>
      `GET / HTTP/1.1\r\nHost: ${host.includes(":") ? `[${host}]` : host}:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    checkUpgradeResponse(head) {
      const [status, ...lines] = head.split("\r\n");
      if (!/^HTTP\/1\.1 101 /.test(status ?? "")) return `upgrade refused: ${status}`;
      const acceptLine = lines.find((l) => l.toLowerCase().startsWith("sec-websocket-accept:"));
      if (acceptLine?.slice(acceptLine.indexOf(":") + 1).trim() !== accept) return "bad Sec-WebSocket-Accept";
      if (lines.some((l) => l.toLowerCase().startsWith("sec-websocket-extensions:"))) {
        return "the server negotiated an extension";
      }
      return undefined;
    },
  };
}

export function startRawWsEchoLoad(options: EchoLoadOptions): Promise<EchoLoad> {
  return startStreamEchoLoad(options, webSocketProtocol(options.payloadBytes));
}
