/**
 * The authority link: registration and heartbeats, leases from the newest leader only, leases that
 * expire locally while no authority answers, WORLD_ZONE_UNKNOWN (register again) and
 * WORLD_UNAUTHORIZED (drop everything, stop).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GameServerErrorCode } from "../src/errors.js";
import { type Cluster, createCluster } from "./helpers/cluster.js";
import { waitFor } from "./helpers/fake-gateway.js";

let cluster: Cluster;

before(async () => {
  cluster = await createCluster();
});
after(() => cluster.ctx.cleanup());

describe("authority link", () => {
  it("authority - leases expire locally while no authority answers; the zone keeps ticking", async () => {
    const { authority } = cluster;
    authority.leaseMs = 400;
    const epoch = await authority.lease("c0_0", "z1");
    const zone = await cluster.startZone("z1");
    assert.deepEqual(zone.cells(), ["c0_0"]);
    await cluster.install("z1", { accountId: "701", cell: "c0_0", cellEpoch: epoch });
    authority.silent = true;
    await waitFor("lease expired", () => zone.cells().length === 0, 3_000);
    assert.equal(zone.owns("701"), false);
    const tick = zone.stats().tick;
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.ok(zone.stats().tick > tick, "still ticking");
    authority.silent = false;
    await waitFor("lease back", () => zone.cells().length === 1, 3_000);
    authority.leaseMs = 2_000;
    authority.unlease("c0_0");
  });

  it("authority - leases from an older leader are ignored", async () => {
    const { authority } = cluster;
    authority.leaderEpoch = 5;
    await authority.lease("c1_0", "z2");
    const zone = await cluster.startZone("z2");
    assert.deepEqual(zone.cells(), ["c1_0"]);
    authority.leaderEpoch = 4;
    authority.unlease("c1_0");
    const beats = authority.heartbeats.get("z2") ?? 0;
    await waitFor("two more heartbeats", () => (authority.heartbeats.get("z2") ?? 0) >= beats + 2);
    assert.deepEqual(zone.cells(), ["c1_0"]);
    authority.leaderEpoch = 5;
    await waitFor("leases dropped by the current leader", () => zone.cells().length === 0);
  });

  it("authority - WORLD_ZONE_UNKNOWN: the zone registers again", async () => {
    const { authority } = cluster;
    await cluster.startZone("z3");
    assert.equal(authority.registrations.get("z3"), 1);
    authority.nextHeartbeatError.set("z3", GameServerErrorCode.ZoneUnknown);
    await waitFor("registered again", () => authority.registrations.get("z3") === 2);
  });

  it("authority - WORLD_UNAUTHORIZED: every player dropped, the zone stops and reports it", async () => {
    const { authority } = cluster;
    const epoch = await authority.lease("c0_0", "z4");
    const zone = await cluster.startZone("z4");
    await cluster.install("z4", { accountId: "702", cell: "c0_0", cellEpoch: epoch });
    authority.errors.set("z4", GameServerErrorCode.Unauthorized);
    const fatal = await waitFor("fatal", () => cluster.fatal.get("z4"));
    assert.equal(fatal.code, GameServerErrorCode.Unauthorized);
    assert.equal(zone.owns("702"), false);
    assert.deepEqual(zone.cells(), []);
    const tick = zone.stats().tick;
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(zone.stats().tick, tick, "stopped ticking");
  });
});
