/**
 * Baseline for `lobby.locate-p99`: the barest NATS request/reply service. It connects as the lobby
 * does (same client, same connect options), subscribes to one subject in the lobby's queue group
 * with a callback as the lobby does, and answers every request with one fixed payload (the bench
 * passes a real lobby `location` reply, so the caller decodes the very same bytes). No decoding, no
 * Redis, no validation.
 *
 * Arguments: `<natsUrl> <subject> <reply payload, base64>`. It listens on no port (announces 0).
 *
 * @module
 */
import { LOBBY_QUEUE_GROUP } from "@meridian/protocol";
import { connect } from "@nats-io/transport-node";
import { serve } from "./serve.js";

const [url, subject, payloadBase64] = process.argv.slice(2);
if (url === undefined || subject === undefined || payloadBase64 === undefined) {
  process.stderr.write("usage: bare-nats-responder.ts <natsUrl> <subject> <replyBase64>\n");
  process.exit(2);
}
const payload = new Uint8Array(Buffer.from(payloadBase64, "base64"));

await serve(async () => {
  const nc = await connect({
    servers: [url],
    name: `bench-bare-responder-${process.pid}`,
    timeout: 10_000,
    maxReconnectAttempts: -1,
  });
  nc.subscribe(subject, {
    queue: LOBBY_QUEUE_GROUP,
    callback: (error, msg) => {
      if (error === null && msg.reply !== undefined && msg.reply !== "") msg.respond(payload);
    },
  });
  await nc.flush();
  return { port: 0, close: () => nc.drain() };
});
