/**
 * The TCP echo load: length-prefixed frames (4-byte big-endian length, then the payload), as
 * netengine's default LengthPrefixFramer and the bare echo speak them.
 *
 * @module
 */
import type { EchoLoad, EchoLoadOptions } from "./echo-load.js";
import { type StreamEchoProtocol, startStreamEchoLoad } from "./stream-echo-load.js";

const HEADER = 4;

export function lengthPrefixProtocol(payloadBytes: number): StreamEchoProtocol {
  const frameBytes = HEADER + payloadBytes;
  return {
    name: "tcp",
    echoFrameBytes: frameBytes,
    headerBytes: HEADER,
    checkHeader: (chunk, at) => chunk.readUInt32BE(at) === payloadBytes,
    sendFrameBytes: frameBytes,
    buildFrames(window) {
      const frames = Buffer.alloc(window * frameBytes);
      for (let i = 0; i < window; i++) {
        frames.writeUInt32BE(payloadBytes, i * frameBytes);
        frames.fill(i & 0xff, i * frameBytes + HEADER, (i + 1) * frameBytes);
      }
      return frames;
    },
  };
}

export function startTcpEchoLoad(options: EchoLoadOptions): Promise<EchoLoad> {
  return startStreamEchoLoad(options, lengthPrefixProtocol(options.payloadBytes));
}
