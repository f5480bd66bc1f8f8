/**
 * The observer feed, against real NATS and Redis: two zone servers in-process on a 2×1 world publish
 * `zone_snapshot`s (cells, leases, players and their positions, load) on
 * `evt.world.<world>.zone.<server>.snapshot`, and the source of a handoff publishes `zone_handoff`.
 * `ZONE_OBSERVER_HZ` is validated; 0 turns the feed off.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  DEFAULT_OBSERVER_HZ,
  observerCodec,
  observerWildcard,
  ProtocolError,
  ProtocolErrorCode,
  type ZoneHandoff,
  type ZoneSnapshot,
} from "@meridian/protocol";
import type { Subscription } from "@nats-io/transport-node";
import { pino } from "pino";
import { loadConfig } from "../src/config.js";
import { ConfigError } from "../src/errors.js";
import { ObserverFeed } from "../src/observer-feed.js";
import type { ZoneServer } from "../src/zone-server.js";
import { type Cluster, createCluster } from "./helpers/cluster.js";
import { waitFor } from "./helpers/fake-gateway.js";

let cluster: Cluster;
let za: ZoneServer;
let epochA: number;
let subscription: Subscription;
const snapshots: ZoneSnapshot[] = [];
const handoffs: ZoneHandoff[] = [];
const undecodable: string[] = [];

before(async () => {
  cluster = await createCluster();
  const codec = observerCodec();
  subscription = cluster.nc.subscribe(observerWildcard(cluster.subjects, cluster.world.name), {
    callback: (error, msg) => {
      if (error !== null) return;
      const decoded = codec.decode(msg.data);
      if (!decoded.ok) undecodable.push(decoded.error.code);
      else if (decoded.message.t === "zone_snapshot") snapshots.push(decoded.message);
      else handoffs.push(decoded.message);
    },
  });
  await cluster.nc.flush();
  epochA = await cluster.authority.lease("c0_0", "za");
  await cluster.authority.lease("c1_0", "zb");
  za = await cluster.startZone("za", { observerHz: 20 });
  await cluster.startZone("zb", { observerHz: 20 });
});
after(async () => {
  subscription.unsubscribe();
  await cluster.ctx.cleanup();
});

const latest = (server: string) => snapshots.findLast((s) => s.server === server);

describe("observer feed", () => {
  it("observer feed - each zone publishes snapshots of its leases, load and players", async () => {
    const reply = await cluster.install("za", {
      accountId: "501",
      cell: "c0_0",
      cellEpoch: epochA,
      x: 150,
      y: 60,
    });
    assert.equal(reply.t, "player_installed");
    const snapshot = await waitFor("a snapshot of za listing player 501", () => {
      const s = latest("za");
      return s?.ids.includes("p:501") && s.tick > 0 ? s : undefined;
    });
    assert.equal(snapshot.world, cluster.world.name);
    assert.equal(snapshot.tickHz, cluster.world.tickHz);
    assert.deepEqual(
      [snapshot.width, snapshot.height, snapshot.cols, snapshot.rows],
      [cluster.world.width, cluster.world.height, cluster.world.cols, cluster.world.rows],
    );
    assert.equal(snapshot.registered, true);
    assert.deepEqual(snapshot.cells, ["c0_0"]);
    assert.deepEqual(snapshot.cellEpochs, [epochA]);
    assert.equal(snapshot.leaseExpiresAt.length, 1);
    assert.ok((snapshot.leaseExpiresAt[0] ?? 0) > snapshot.at - 60_000);
    assert.equal(snapshot.players, 1);
    assert.ok(snapshot.entityCount >= 1);
    const i = snapshot.ids.indexOf("p:501");
    assert.equal(snapshot.kinds[snapshot.k[i] ?? -1], "player");
    assert.equal(snapshot.x[i], 150);
    assert.equal(snapshot.y[i], 60);
    // Sequence numbers increase per server; the other zone publishes too.
    const ours = snapshots.filter((s) => s.server === "za").map((s) => s.seq);
    assert.deepEqual(
      ours,
      [...ours].sort((a, b) => a - b),
    );
    await waitFor("a snapshot of zb", () => latest("zb"));
    assert.deepEqual(latest("zb")?.cells, ["c1_0"]);
    assert.deepEqual(undecodable, []);
  });

  it("observer feed - a handoff is published by its source, and the player shows on the target's snapshot", async () => {
    cluster.gateway.send("za", "501", [{ seq: 1, data: { move: { dx: 1, dy: 0 } } }]);
    const event = await waitFor(
      "zone_handoff of 501",
      () => handoffs.find((h) => h.entity === "p:501"),
      10_000,
    );
    assert.equal(event.server, "za");
    assert.equal(event.to, "zb");
    assert.equal(event.cell, "c1_0");
    assert.equal(event.world, cluster.world.name);
    assert.equal(event.epoch, 2);
    await waitFor("a snapshot of zb listing 501", () => latest("zb")?.ids.includes("p:501"));
    await waitFor("a snapshot of za without 501", () => latest("za")?.ids.includes("p:501") === false);
    assert.equal(za.owns("501"), false);
    assert.ok((latest("za")?.handoffsOut ?? 0) >= 1);
  });

  it("observer feed - hz 0 publishes nothing; bad options are refused with a code", () => {
    const published: string[] = [];
    const nc = { publish: (subject: string) => void published.push(subject) };
    const silent = pino({ level: "silent" });
    const options = { subjects: cluster.subjects, serverId: "zq", world: cluster.world };
    const off = new ObserverFeed(nc, za, silent, { ...options, hz: 0 });
    assert.equal(off.enabled, false);
    off.start();
    off.handoff("1", "zb", "c1_0", 2, 1);
    off.stop();
    assert.deepEqual(published, []);
    const on = new ObserverFeed(nc, za, silent, options);
    assert.equal(on.enabled, true);
    on.publishSnapshot();
    assert.deepEqual(published, [
      `${cluster.subjects.prefix}.evt.world.${cluster.world.name}.zone.zq.snapshot`,
    ]);
    for (const bad of [{ hz: -1 }, { hz: Number.NaN }, { hz: 101 }, { maxEntities: 1.5 }]) {
      assert.throws(
        () => new ObserverFeed(nc, za, silent, { ...options, ...bad }),
        (error: unknown) => error instanceof ProtocolError && error.code === ProtocolErrorCode.InvalidOptions,
      );
    }
  });

  it("observer feed - ZONE_OBSERVER_HZ: default, 0 to turn off, bad values reported", () => {
    assert.equal(loadConfig({ ZONE_CREDENTIAL: "c" }).observerHz, DEFAULT_OBSERVER_HZ);
    assert.equal(loadConfig({ ZONE_CREDENTIAL: "c", ZONE_OBSERVER_HZ: "0" }).observerHz, 0);
    assert.equal(loadConfig({ ZONE_CREDENTIAL: "c", ZONE_OBSERVER_HZ: "10" }).observerHz, 10);
    for (const bad of ["-1", "51", "fast", "2.5"]) {
      assert.throws(
        () => loadConfig({ ZONE_CREDENTIAL: "c", ZONE_OBSERVER_HZ: bad }),
        (error: unknown) =>
          error instanceof ConfigError && error.problems.some((p) => p.variable === "ZONE_OBSERVER_HZ"),
      );
    }
  });
});
