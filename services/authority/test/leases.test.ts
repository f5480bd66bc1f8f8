/**
 * Leases and quarantine, in-process authority against a real lobby process, real Redis and NATS: a
 * silent server loses its cells to the live ones with raised epochs and its late heartbeat is
 * refused; a revoked credential loses its leases within one lease period; impossible reports
 * quarantine the server.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import type { Subjects } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  clients,
  eventually,
  FAST,
  freshWorld,
  type LobbyHandle,
  startAuthority,
  startLobby,
  watchMap,
} from "./helpers/cluster.js";
import { FakeZone } from "./helpers/fake-zone.js";

let ctx: TestContext;
let lobby: LobbyHandle;
let nc: NatsConnection;
let subjects: Subjects;

before(async () => {
  ctx = await createTestContext();
  lobby = await startLobby(ctx);
  ({ nc, subjects } = await clients(ctx));
});
after(() => ctx.cleanup());

/** Zones of the current test, stopped at its end (their ids are reused by the next test). */
let running: FakeZone[] = [];
afterEach(() => {
  for (const zone of running) zone.stop();
  running = [];
});

async function startZones(world: string, ids: readonly string[]) {
  const zones: { zone: FakeZone; serverId: string }[] = [];
  for (const id of ids) {
    const issued = await lobby.issue(world);
    const zone = new FakeZone(nc, subjects, { id, credential: issued.credential, world });
    running.push(zone);
    assert.equal((await zone.start(FAST.heartbeatMs)).t, "zone_registered");
    zones.push({ zone, serverId: issued.serverId });
  }
  await eventually(
    () => (zones.every(({ zone }) => zone.cells().length === 4 / ids.length) ? true : undefined),
    5_000,
    "balanced leases",
  );
  return zones;
}

describe("leases", () => {
  it("lease expiry - a silent server's cells go to the live ones with raised epochs; its late heartbeat is WORLD_ZONE_UNKNOWN", async () => {
    const world = freshWorld();
    const map = await watchMap(nc, subjects, world);
    const { stop } = await startAuthority(ctx, world);
    try {
      const [a, b] = (await startZones(world, ["zone-a", "zone-b"])).map((z) => z.zone) as [
        FakeZone,
        FakeZone,
      ];
      const lost = [...a.leases];
      const silentAt = Date.now();
      a.stopBeating();
      await eventually(() => (b.cells().length === 4 ? true : undefined), 5_000, "b holds every cell");
      const tookMs = Date.now() - silentAt;
      assert.ok(tookMs < FAST.leaseMs + 2_000, `reassigned after ${tookMs} ms`);
      for (const old of lost) {
        const lease = b.leases.find((l) => l.cell === old.cell);
        assert.ok(lease !== undefined && lease.epoch > old.epoch, `${old.cell} epoch raised`);
      }
      await eventually(() => (Object.values(map.owners()).every((s) => s === "zone-b") ? true : undefined));
      // The late heartbeat: refused, register again (not re-registering here, to see the refusal).
      const late = new FakeZone(nc, subjects, {
        id: "zone-a",
        credential: a.credential,
        world,
        reRegister: false,
      });
      const reply = await late.heartbeat();
      assert.equal(reply.t === "world_error" && reply.code, "WORLD_ZONE_UNKNOWN");
      // Re-registering brings it back into the world: it gets its share again.
      assert.equal((await a.register()).t, "zone_registered");
      a.beat(FAST.heartbeatMs);
      await eventually(() => (a.cells().length === 2 && b.cells().length === 2 ? true : undefined), 5_000);
    } finally {
      map.stop();
      await stop();
    }
  });

  it("quarantine - a credential revoked in the lobby loses its leases within one lease period, to the live servers", async () => {
    const world = freshWorld();
    const { stop } = await startAuthority(ctx, world);
    try {
      const [a, b] = await startZones(world, ["zone-a", "zone-b"]);
      if (a === undefined || b === undefined) return;
      const revokedAt = Date.now();
      await lobby.revoke(a.serverId);
      await eventually(
        () => (a.zone.errors.some((e) => e.code === "WORLD_UNAUTHORIZED") ? true : undefined),
        FAST.leaseMs,
        "heartbeat refused",
      );
      await eventually(() => (b.zone.cells().length === 4 ? true : undefined), FAST.leaseMs, "cells moved");
      assert.ok(Date.now() - revokedAt <= FAST.leaseMs + 200);
      assert.deepEqual(a.zone.cells(), []);
      // Quarantined: registering again is refused.
      const again = await a.zone.register();
      assert.equal(again.t === "world_error" && again.code, "WORLD_UNAUTHORIZED");
    } finally {
      await stop();
    }
  });

  it("quarantine - an impossible report (players over twice the capacity, another world) withdraws the leases and bars the server", async () => {
    const world = freshWorld();
    const { stop } = await startAuthority(ctx, world);
    try {
      const [a, b, c] = await startZones(world, ["zone-a", "zone-b", "zone-c", "zone-d"]);
      if (a === undefined || b === undefined || c === undefined) return;
      a.zone.stopBeating();
      a.zone.players = a.zone.capacity * 2 + 1;
      const reply = await a.zone.heartbeat();
      assert.equal(reply.t === "world_error" && reply.code, "WORLD_UNAUTHORIZED");
      b.zone.stopBeating();
      const reply2 = await b.zone.heartbeat("some-other-world");
      assert.equal(reply2.t === "world_error" && reply2.code, "WORLD_UNAUTHORIZED");
      await eventually(
        () => (c.zone.cells().length === 2 ? true : undefined),
        3_000,
        "cells moved to the live",
      );
      // Barred, under its id and under its credential with a new id.
      assert.equal((await a.zone.register()).t, "world_error");
      const renamed = new FakeZone(nc, subjects, { id: "zone-a2", credential: a.zone.credential, world });
      running.push(renamed);
      const r = await renamed.register();
      assert.equal(r.t === "world_error" && r.code, "WORLD_UNAUTHORIZED");
    } finally {
      await stop();
    }
  });
});
