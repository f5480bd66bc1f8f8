/**
 * The world side of `gateway.relay`: the barest zone server the gateway's routing contract
 * (`libs/protocol/src/world-messages.ts`) allows. It
 *
 * - answers `svc.world.attach` (queue group `world`) placing every player on one server id, epoch 1,
 *   `ack` = the last input it applied for that player (0 for a new one);
 * - subscribes `zone.<server>.inputs` and, per `zone_inputs`, applies each player's inputs
 *   contiguously (a `seq` is applied only when it is `lastApplied + 1`; duplicates and inputs past a
 *   hole are dropped, as the contract says) and publishes ONE `gateway_updates` to that gateway with
 *   every applied input echoed as the player's update (`ack` = seq, `epoch` = the attach epoch,
 *   `data` = the input's data);
 * - forgets a player on `zone.<server>.detach`.
 *
 * No game, no ticks: one update per input, so the relay's count is the gateway's. It decodes with the
 * protocol's codecs (validated, as a real zone server would) and keeps its own counters.
 *
 * Arguments: `<natsUrl> <subjectPrefix> <serverId>`. It listens on no port (announces 0).
 *
 * @module
 */
import {
  createSubjects,
  encodeMessage,
  GATEWAY_UPDATES_CHANNEL,
  type GatewayUpdates,
  WORLD_QUEUE_GROUP,
  worldRequestCodec,
  worldSubject,
  ZONE_DETACH_CHANNEL,
  ZONE_INPUTS_CHANNEL,
  zoneInboxCodec,
} from "@meridian/protocol";
import { connect } from "@nats-io/transport-node";
import { serve } from "./serve.js";

const [url, prefix, serverId] = process.argv.slice(2);
if (url === undefined || prefix === undefined || serverId === undefined) {
  process.stderr.write("usage: zone-responder.ts <natsUrl> <subjectPrefix> <serverId>\n");
  process.exit(2);
}

/** The ownership epoch of every player here (one owner, no handoffs). */
const EPOCH = 1;
const ZONE = "bench-zone";
const WORLD = "bench";

const subjects = createSubjects({ prefix });
const requests = worldRequestCodec();
const inbox = zoneInboxCodec();
/** accountId → last applied input sequence. */
const lastApplied = new Map<string, number>();
let tick = 0;

await serve(async () => {
  const nc = await connect({
    servers: [url],
    name: `bench-zone-${serverId}-${process.pid}`,
    timeout: 10_000,
    maxReconnectAttempts: -1,
  });
  nc.subscribe(worldSubject(subjects, "attach"), {
    queue: WORLD_QUEUE_GROUP,
    callback: (error, msg) => {
      if (error !== null || msg.reply === undefined || msg.reply === "") return;
      const decoded = requests.decode(msg.data);
      if (!decoded.ok) {
        msg.respond(encodeMessage({ t: "world_error", code: "WORLD_BAD_REQUEST", message: "bad attach" }));
        return;
      }
      const { accountId } = decoded.message;
      const ack = lastApplied.get(accountId) ?? 0;
      lastApplied.set(accountId, ack);
      msg.respond(
        encodeMessage({
          t: "player_attached",
          accountId,
          server: serverId,
          zone: ZONE,
          epoch: EPOCH,
          ack,
          world: WORLD,
        }),
      );
    },
  });
  nc.subscribe(subjects.zone(serverId, ZONE_INPUTS_CHANNEL), {
    callback: (error, msg) => {
      if (error !== null) return;
      const decoded = inbox.decode(msg.data);
      if (!decoded.ok || decoded.message.t !== "zone_inputs") return;
      const updates: GatewayUpdates["updates"][number][] = [];
      for (const input of decoded.message.inputs) {
        const last = lastApplied.get(input.accountId);
        if (last === undefined || input.seq !== last + 1) continue; // unknown, duplicate or past a hole
        lastApplied.set(input.accountId, input.seq);
        updates.push({ accountId: input.accountId, epoch: EPOCH, ack: input.seq, data: input.data });
      }
      if (updates.length === 0) return;
      nc.publish(
        subjects.gateway(decoded.message.gateway, GATEWAY_UPDATES_CHANNEL),
        encodeMessage({ t: "gateway_updates", server: serverId, tick: tick++, updates }),
      );
    },
  });
  nc.subscribe(subjects.zone(serverId, ZONE_DETACH_CHANNEL), {
    callback: (error, msg) => {
      if (error !== null) return;
      const decoded = inbox.decode(msg.data);
      if (decoded.ok && decoded.message.t === "player_detach") lastApplied.delete(decoded.message.accountId);
    },
  });
  await nc.flush();
  return { port: 0, close: () => nc.drain() };
});
