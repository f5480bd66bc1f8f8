/**
 * Handoffs whose answer never comes: the source keeps the player frozen and re-sends the same offer,
 * then lets the checkpoint decide: nobody took the player → it keeps them (and the inputs that
 * arrived meanwhile apply in order); the target took them (its checkpoint carries the new epoch) →
 * it lets go and forwards. Never two servers applying the player's inputs.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  encodeMessage,
  type HandoffOffer,
  ZONE_HANDOFF_CHANNEL,
  ZONE_INPUTS_CHANNEL,
  zoneControlCodec,
  zoneInboxCodec,
} from "@meridian/protocol";
import { CheckpointStore } from "../src/checkpoint/checkpoint-store.js";
import type { ZoneServer } from "../src/zone-server.js";
import { type Cluster, createCluster } from "./helpers/cluster.js";
import { waitFor } from "./helpers/fake-gateway.js";

let cluster: Cluster;
let za: ZoneServer;
let epochA: number;
let epochX: number;

before(async () => {
  cluster = await createCluster();
  epochA = await cluster.authority.lease("c0_0", "za");
  // The map names "zx" as the owner of c1_0; no zone server "zx" runs unless a test plays it.
  epochX = await cluster.authority.lease("c1_0", "zx");
  za = await cluster.startZone("za");
});
after(() => cluster.ctx.cleanup());

describe("handoff without an answer", () => {
  it("handoff - nobody answers: the player is kept, and inputs held meanwhile apply in order", async () => {
    const gw = cluster.gateway;
    await cluster.install("za", { accountId: "351", cell: "c0_0", cellEpoch: epochA, x: 190, y: 50 });
    gw.send("za", "351", [{ seq: 1, data: { move: { dx: 1, dy: 0 } } }]);
    await waitFor("a retried offer", () => za.stats().handoffRetries > 0 || undefined);
    gw.send("za", "351", [{ seq: 2, data: { move: { dx: -1, dy: 0 } } }]);
    await waitFor("ack 2", () => gw.ack("351") === 2);
    await waitFor("back home", () => (za.sim.snapshot("351")?.x ?? 999) < 200);
    assert.ok(za.owns("351"));
    assert.equal(za.stats().handoffsOut, 0);
    assert.ok(gw.updatesFor("351").every((u) => u.server === "za" && u.epoch === 1));
  });

  it("handoff - the answer is lost but the target took the player: the checkpoint says so, the source lets go", async () => {
    const store = new CheckpointStore(cluster.redis, cluster.keys);
    const offers: HandoffOffer[] = [];
    const forwarded: number[] = [];
    const control = zoneControlCodec();
    const inbox = zoneInboxCodec();
    // "zx" installs the player (writes its checkpoint) and never answers.
    const subs = [
      cluster.nc.subscribe(cluster.subjects.zone("zx", ZONE_HANDOFF_CHANNEL), {
        callback: (_error, msg) => {
          const decoded = control.decode(msg.data);
          if (!decoded.ok || decoded.message.t !== "handoff_offer") return;
          const offer = decoded.message;
          offers.push(offer);
          if (offers.length > 1) return;
          void store.write({
            snapshot: {
              accountId: offer.accountId,
              username: offer.username,
              x: 205,
              y: 120,
              lastSeq: offer.lastSeq,
              state: null,
            },
            cell: "c1_0",
            cellEpoch: epochX,
            epoch: offer.playerEpoch,
            server: "zx",
            gateway: offer.gateway,
            sessionId: offer.sessionId,
            online: true,
          });
        },
      }),
      cluster.nc.subscribe(cluster.subjects.zone("zx", ZONE_INPUTS_CHANNEL), {
        callback: (_error, msg) => {
          const decoded = inbox.decode(msg.data);
          if (decoded.ok && decoded.message.t === "zone_inputs")
            forwarded.push(...decoded.message.inputs.map((i) => i.seq));
        },
      }),
    ];
    cluster.ctx.defer(() => Promise.allSettled(subs.map((s) => s.drain())));
    await cluster.nc.flush();
    const gw = cluster.gateway;
    await cluster.install("za", { accountId: "352", cell: "c0_0", cellEpoch: epochA, x: 190, y: 120 });
    gw.send("za", "352", [{ seq: 1, data: { move: { dx: 1, dy: 0 } } }]);
    await waitFor("let go", () => za.stats().handoffsOut === 1, 5_000);
    assert.equal(za.owns("352"), false);
    assert.ok(offers.length >= 2, "the same offer re-sent");
    assert.ok(offers.every((o) => o.handoffId === offers[0]?.handoffId));
    gw.send("za", "352", [{ seq: 2, data: { say: "still there?" } }]);
    await waitFor("forwarded to zx", () => forwarded.includes(2));
  });

  it("handoff - a target that leaves a batch unanswered (an older version) gets lone offers, and takes the players", async () => {
    const control = zoneControlCodec();
    const kinds: string[] = [];
    // "zx" plays a server of the version before batches: it answers `handoff_offer` and ignores
    // `handoff_offers` (for it, a message it does not know).
    const sub = cluster.nc.subscribe(cluster.subjects.zone("zx", ZONE_HANDOFF_CHANNEL), {
      callback: (_error, msg) => {
        const decoded = control.decode(msg.data);
        if (!decoded.ok) return;
        kinds.push(decoded.message.t);
        if (decoded.message.t !== "handoff_offer") return;
        msg.respond(
          encodeMessage({ t: "handoff_accept", handoffId: decoded.message.handoffId, accepted: true }),
        );
      },
    });
    cluster.ctx.defer(() => sub.drain());
    await cluster.nc.flush();
    const ids = ["361", "362", "363"];
    for (const [i, accountId] of ids.entries()) {
      const reply = await cluster.install("za", {
        accountId,
        cell: "c0_0",
        cellEpoch: epochA,
        x: 198,
        y: 40 + i * 10,
      });
      assert.equal(reply.t, "player_installed", JSON.stringify(reply));
    }
    const out = za.stats().handoffsOut;
    for (const accountId of ids)
      cluster.gateway.send("za", accountId, [{ seq: 1, data: { move: { dx: 1, dy: 0 } } }]);
    await waitFor("all handed to zx", () => za.stats().handoffsOut - out === ids.length || undefined, 10_000);
    assert.ok(ids.every((id) => !za.owns(id)));
    assert.ok(kinds.includes("handoff_offers"), `requests: ${kinds.join(" ")}`);
    assert.ok(kinds.includes("handoff_offer"), "then lone offers");
  });
});
