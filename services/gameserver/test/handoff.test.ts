/**
 * Handoff between two zone servers in-process, each owning one cell of a 2×1 world: a player walks
 * across the border; exactly one owner at every moment; the gateway gets `route_switch` with a higher
 * epoch; inputs that reach the old owner after the switch are forwarded and applied exactly once.
 * And offers are idempotent by handoff id.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import {
  encodeMessage,
  type HandoffAccept,
  type HandoffOffer,
  ZONE_HANDOFF_CHANNEL,
  zoneControlCodec,
  zoneControlReplyCodec,
} from "@meridian/protocol";
import { GameServerErrorCode } from "../src/errors.js";
import type { ZoneServer } from "../src/zone-server.js";
import { type Cluster, createCluster } from "./helpers/cluster.js";
import { waitFor } from "./helpers/fake-gateway.js";

let cluster: Cluster;
let za: ZoneServer;
let zb: ZoneServer;
let epochA: number;
let epochB: number;

before(async () => {
  cluster = await createCluster();
  epochA = await cluster.authority.lease("c0_0", "za");
  epochB = await cluster.authority.lease("c1_0", "zb");
  za = await cluster.startZone("za");
  zb = await cluster.startZone("zb");
});
after(() => cluster.ctx.cleanup());

describe("handoff", () => {
  it("handoff - a player walking across the border changes owner once, inputs applied exactly once", async () => {
    const gw = cluster.gateway;
    const reply = await cluster.install("za", {
      accountId: "301",
      cell: "c0_0",
      cellEpoch: epochA,
      x: 180,
      y: 100,
    });
    assert.equal(reply.t === "player_installed" && reply.epoch, 1);
    // Sample ownership continuously: never two owners.
    let doubleOwned = 0;
    let samples = 0;
    const sampler = setInterval(() => {
      samples++;
      if (za.owns("301") && zb.owns("301")) doubleOwned++;
    }, 1);
    try {
      gw.send("za", "301", [{ seq: 1, data: { move: { dx: 1, dy: 0 } } }]);
      const route = await waitFor("route_switch", () => gw.routes.find((r) => r.accountId === "301"));
      assert.equal(route.server, "zb");
      assert.equal(route.zone, "c1_0");
      assert.equal(route.world, cluster.world.name);
      assert.equal(route.epoch, 2);
      assert.ok(zb.owns("301"));
      assert.equal(za.owns("301"), false);
      // The gateway has not switched yet: inputs 2 and 3 still go to the old owner (forwarded).
      gw.send("za", "301", [
        { seq: 2, data: { move: { dx: 0, dy: 0 } } },
        { seq: 3, data: { say: "over here" } },
      ]);
      await waitFor("ack 3 from zb", () =>
        gw.updatesFor("301").some((u) => u.server === "zb" && u.ack === 3),
      );
      // Then it switches and re-sends what is unacknowledged, with a new input: duplicates dropped.
      gw.send("zb", "301", [
        { seq: 2, data: { move: { dx: 0, dy: 0 } } },
        { seq: 3, data: { say: "over here" } },
        { seq: 4, data: { say: "again" } },
      ]);
      await waitFor("ack 4 from zb", () =>
        gw.updatesFor("301").some((u) => u.server === "zb" && u.ack === 4),
      );
    } finally {
      clearInterval(sampler);
    }
    assert.ok(samples > 10);
    assert.equal(doubleOwned, 0);
    const a = za.stats();
    const b = zb.stats();
    assert.equal(a.inputsApplied + b.inputsApplied, 4, "each input applied exactly once");
    assert.equal(a.inputsApplied, 1);
    assert.equal(a.inputsForwarded, 2);
    assert.equal(a.handoffsOut, 1);
    assert.equal(b.handoffsIn, 1);
    assert.equal(a.handoffStallMs.count, 1);
    // Updates: epoch 1 from za, then only epoch 2 from zb, with acks that never go back.
    const updates = gw.updatesFor("301");
    const firstB = updates.findIndex((u) => u.server === "zb");
    assert.ok(firstB > 0);
    assert.ok(updates.slice(0, firstB).every((u) => u.server === "za" && u.epoch === 1));
    assert.ok(updates.slice(firstB).every((u) => u.server === "zb" && u.epoch === 2));
    // zb checkpointed the player at the handoff, one epoch up, in its cell.
    const stored = await cluster.redis.hgetall(cluster.keys.checkpoint("301"));
    assert.equal(stored.cell, "c1_0");
    assert.ok(Number(stored.epoch) >= 2);
    assert.equal(await cluster.redis.sismember(cluster.keys.cellPlayers("c0_0"), "301"), 0);
  });

  it("handoff - the same offer twice gets the same answer and installs the player once", async () => {
    const replies = zoneControlReplyCodec();
    const offer: HandoffOffer = {
      t: "handoff_offer",
      handoffId: randomUUID(),
      accountId: "302",
      sessionId: randomUUID(),
      username: "p302",
      gateway: "gw1",
      fromServer: "za",
      cell: "c1_0",
      cellEpoch: epochB,
      playerEpoch: 5,
      lastSeq: 9,
      tick: 1,
      state: { accountId: "302", username: "p302", x: 250, y: 100, lastSeq: 9, state: null },
    };
    const send = async (o: HandoffOffer): Promise<HandoffAccept> => {
      const msg = await cluster.nc.request(
        cluster.subjects.zone("zb", ZONE_HANDOFF_CHANNEL),
        encodeMessage(o),
        {
          timeout: 2_000,
        },
      );
      const decoded = replies.decode(msg.data);
      assert.ok(decoded.ok && decoded.message.t === "handoff_accept");
      return decoded.message as HandoffAccept;
    };
    const before = zb.stats().handoffsIn;
    const [first, second] = await Promise.all([send(offer), send(offer)]);
    const third = await send(offer);
    assert.deepEqual(first, { t: "handoff_accept", handoffId: offer.handoffId, accepted: true });
    assert.deepEqual(second, first);
    assert.deepEqual(third, first);
    assert.equal(zb.stats().handoffsIn - before, 1);
    assert.equal(zb.epochOf("302"), 5);
    assert.equal(cluster.gateway.routes.filter((r) => r.accountId === "302").length, 1);
    // An offer under a cell epoch zb does not hold is refused (and not remembered as accepted).
    const stale = await send({ ...offer, handoffId: randomUUID(), accountId: "303", cellEpoch: epochB + 1 });
    assert.equal(stale.accepted, false);
    assert.equal(stale.reason, GameServerErrorCode.NotOwner);
    assert.equal(zb.owns("303"), false);
  });

  it("handoff - players crossing in the same tick go in one handoff_offers; each changes owner once", async () => {
    const gw = cluster.gateway;
    const ids = Array.from({ length: 20 }, (_, i) => String(401 + i));
    // Watch the requests to zb (a plain subscription sees them beside zb's own).
    const seen: string[] = [];
    const control = zoneControlCodec();
    const watch = cluster.nc.subscribe(cluster.subjects.zone("zb", ZONE_HANDOFF_CHANNEL), {
      callback: (_error, msg) => {
        const decoded = control.decode(msg.data);
        if (decoded.ok)
          seen.push(
            decoded.message.t === "handoff_offers"
              ? `offers:${decoded.message.offers.length}`
              : decoded.message.t,
          );
      },
    });
    await cluster.nc.flush();
    const before = { out: za.stats().handoffsOut, in: zb.stats().handoffsIn };
    for (const [i, accountId] of ids.entries()) {
      const reply = await cluster.install("za", {
        accountId,
        cell: "c0_0",
        cellEpoch: epochA,
        x: 198,
        y: 20 + i * 8,
      });
      assert.equal(reply.t, "player_installed");
    }
    // One zone_inputs for all: they step over the border in the same tick.
    for (const accountId of ids) gw.send("za", accountId, [{ seq: 1, data: { move: { dx: 1, dy: 0 } } }]);
    await waitFor(
      "every route_switch",
      () => ids.every((id) => gw.routes.some((r) => r.accountId === id && r.server === "zb")) || undefined,
    );
    await watch.drain();
    for (const accountId of ids) {
      assert.ok(zb.owns(accountId), accountId);
      assert.equal(za.owns(accountId), false, accountId);
      const routes = gw.routes.filter((r) => r.accountId === accountId);
      assert.deepEqual(
        routes.map((r) => [r.server, r.epoch]),
        [["zb", 2]],
        `one route_switch for ${accountId}`,
      );
    }
    assert.equal(za.stats().handoffsOut - before.out, ids.length);
    assert.equal(zb.stats().handoffsIn - before.in, ids.length);
    // Batched: fewer requests than players, at least one of them a batch.
    assert.ok(
      seen.some((t) => t.startsWith("offers:")),
      `requests: ${seen.join(" ")}`,
    );
    assert.ok(seen.length < ids.length, `requests: ${seen.join(" ")}`);
  });

  it("handoff - a batch offer is answered per offer, in order, idempotently", async () => {
    const offer = (accountId: string, cell: string, cellEpoch: number): Omit<HandoffOffer, "t"> => ({
      handoffId: randomUUID(),
      accountId,
      sessionId: randomUUID(),
      username: `p${accountId}`,
      gateway: "gw1",
      fromServer: "za",
      cell,
      cellEpoch,
      playerEpoch: 2,
      lastSeq: 0,
      tick: 1,
      state: { accountId, username: `p${accountId}`, x: 210, y: 50, lastSeq: 0, state: null },
    });
    const offers = [offer("451", "c1_0", epochB), offer("452", "c0_0", epochA), offer("453", "c1_0", epochB)];
    const ask = async () => {
      const msg = await cluster.nc.request(
        cluster.subjects.zone("zb", ZONE_HANDOFF_CHANNEL),
        encodeMessage({ t: "handoff_offers", fromServer: "za", offers }),
        { timeout: 3_000 },
      );
      const decoded = zoneControlReplyCodec().decode(msg.data);
      assert.ok(decoded.ok && decoded.message.t === "handoff_answers");
      return decoded.message.answers;
    };
    const first = await ask();
    assert.deepEqual(
      first.map((a) => [a.handoffId, a.accepted, a.reason]),
      [
        [offers[0]?.handoffId, true, undefined],
        [offers[1]?.handoffId, false, GameServerErrorCode.NotOwner],
        [offers[2]?.handoffId, true, undefined],
      ],
    );
    assert.deepEqual(await ask(), first, "the same batch again: the same answers");
    assert.ok(zb.owns("451") && zb.owns("453"));
    assert.equal(zb.owns("452"), false);
  });

  it("handoff - a re-sent offer while the first install waits for Redis is answered only once the checkpoint is written", async () => {
    const offer: HandoffOffer = {
      t: "handoff_offer",
      handoffId: randomUUID(),
      accountId: "461",
      sessionId: randomUUID(),
      username: "p461",
      gateway: "gw1",
      fromServer: "za",
      cell: "c1_0",
      cellEpoch: epochB,
      playerEpoch: 2,
      lastSeq: 0,
      tick: 1,
      state: { accountId: "461", username: "p461", x: 210, y: 60, lastSeq: 0, state: null },
    };
    const subject = cluster.subjects.zone("zb", ZONE_HANDOFF_CHANNEL);
    const admin = cluster.redis.duplicate();
    try {
      // Redis stalls writes: zb's install cannot checkpoint, so the first request times out.
      await admin.call("CLIENT", "PAUSE", "600", "WRITE");
      await assert.rejects(cluster.nc.request(subject, encodeMessage(offer), { timeout: 100 }));
      // The re-send waits for that install: when its answer comes, the checkpoint is in Redis.
      const retry = await cluster.nc.request(subject, encodeMessage(offer), { timeout: 5_000 });
      const stored = await cluster.redis.hget(cluster.keys.checkpoint("461"), "epoch");
      const answer = zoneControlReplyCodec().decode(retry.data);
      assert.ok(answer.ok && answer.message.t === "handoff_accept" && answer.message.accepted);
      assert.equal(stored, "2", "accepted only with the target's checkpoint written");
      assert.ok(zb.owns("461"));
      assert.equal(cluster.gateway.routes.filter((r) => r.accountId === "461").length, 1, "one route_switch");
    } finally {
      await admin.call("CLIENT", "UNPAUSE").catch(() => undefined);
      admin.disconnect();
    }
  });
});
