/**
 * Baseline for `netengine.tcp-echo`: the best bare node:net echo of length-prefixed frames
 * (4-byte big-endian length, then the payload). Each read is parsed into frames and every complete
 * frame in it goes back in ONE write (a view of the read chunk, no copy); a partial frame waits
 * for the next read. No framing checks beyond the length, no sessions, no dispatch.
 */
import { createServer, type Socket } from "node:net";
import { serve } from "./serve.js";

const HEADER = 4;

function onConnection(socket: Socket): void {
  socket.setNoDelay(true);
  let pending: Buffer | undefined;
  socket.on("data", (chunk: Buffer) => {
    const data = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    let end = 0;
    while (data.length - end >= HEADER) {
      const next = end + HEADER + data.readUInt32BE(end);
      if (next > data.length) break;
      end = next;
    }
    pending = end === data.length ? undefined : data.subarray(end);
    if (end > 0) socket.write(end === data.length ? data : data.subarray(0, end));
  });
  socket.on("error", () => socket.destroy());
}

await serve(async () => {
  const server = createServer({ noDelay: true }, onConnection);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return {
    port: address.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
});
