/**
 * Registration and assignment, in-process authority against a real lobby process, real Redis and
 * NATS: valid, unknown, revoked and other-world credentials; cells balanced across servers; the
 * world map published; epochs in Redis.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { type Subjects, worldKeys } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
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
let redis: Redis;
let subjects: Subjects;

before(async () => {
  ctx = await createTestContext();
  lobby = await startLobby(ctx);
  ({ nc, redis, subjects } = await clients(ctx));
});
after(() => ctx.cleanup());

/** Zones of the current test, stopped at its end. */
let running: FakeZone[] = [];
afterEach(() => {
  for (const zone of running) zone.stop();
  running = [];
});

async function zone(world: string, id: string, credential?: string) {
  const cred = credential ?? (await lobby.issue(world)).credential;
  const z = new FakeZone(nc, subjects, { id, credential: cred, world });
  running.push(z);
  return z;
}

describe("registration", () => {
  it("registration - a valid credential is admitted with the lease terms and the leader epoch", async () => {
    const world = freshWorld();
    const { authority, stop } = await startAuthority(ctx, world);
    try {
      const z = await zone(world, "zone-a");
      const reply = await z.start(FAST.heartbeatMs);
      assert.equal(reply.t, "zone_registered", JSON.stringify(reply));
      if (reply.t !== "zone_registered") return;
      assert.equal(reply.leaseMs, FAST.leaseMs);
      assert.equal(reply.heartbeatMs, FAST.heartbeatMs);
      assert.equal(reply.leaderEpoch, authority.leaderTerm?.leaderEpoch);
      // A lone server gets every cell.
      await eventually(() => (z.cells().length === 4 ? true : undefined), 3_000, "4 leases");
      assert.deepEqual(z.cells(), ["c0_0", "c0_1", "c1_0", "c1_1"]);
      for (const lease of z.leases) assert.ok(lease.epoch >= 1 && lease.expiresAt > Date.now());
    } finally {
      await stop();
    }
  });

  it("registration - an unknown credential is WORLD_UNAUTHORIZED", async () => {
    const world = freshWorld();
    const { stop } = await startAuthority(ctx, world);
    try {
      const z = await zone(world, "zone-x", "not-a-credential-the-lobby-issued");
      const reply = await z.register();
      assert.equal(reply.t, "world_error");
      assert.equal(reply.t === "world_error" && reply.code, "WORLD_UNAUTHORIZED");
    } finally {
      await stop();
    }
  });

  it("registration - a revoked credential is WORLD_UNAUTHORIZED", async () => {
    const world = freshWorld();
    const { stop } = await startAuthority(ctx, world);
    try {
      const issued = await lobby.issue(world);
      await lobby.revoke(issued.serverId);
      const z = await zone(world, "zone-r", issued.credential);
      const reply = await z.register();
      assert.equal(reply.t === "world_error" && reply.code, "WORLD_UNAUTHORIZED");
    } finally {
      await stop();
    }
  });

  it("registration - a credential of another world, or a request for another world, is WORLD_UNKNOWN", async () => {
    const world = freshWorld();
    const { stop } = await startAuthority(ctx, world);
    try {
      const other = await lobby.issue(freshWorld("other"));
      const z = await zone(world, "zone-o", other.credential);
      const reply = await z.register();
      assert.equal(reply.t === "world_error" && reply.code, "WORLD_UNKNOWN");
      const elsewhere = new FakeZone(nc, subjects, {
        id: "zone-e",
        credential: (await lobby.issue(world)).credential,
        world: "elsewhere",
      });
      const reply2 = await elsewhere.register();
      assert.equal(reply2.t === "world_error" && reply2.code, "WORLD_UNKNOWN");
    } finally {
      await stop();
    }
  });

  it("assignment - 4 servers on a 2×2 world get one cell each; the map shows it; epochs are in Redis", async () => {
    const world = freshWorld();
    const map = await watchMap(nc, subjects, world);
    const { stop } = await startAuthority(ctx, world);
    try {
      const zones: FakeZone[] = [];
      for (const id of ["zone-1", "zone-2", "zone-3", "zone-4"]) {
        const z = await zone(world, id);
        assert.equal((await z.start(FAST.heartbeatMs)).t, "zone_registered");
        zones.push(z);
      }
      await eventually(
        () => (zones.every((z) => z.cells().length === 1) ? true : undefined),
        5_000,
        "one cell per server",
      );
      const held = zones.flatMap((z) => z.cells()).sort();
      assert.deepEqual(held, ["c0_0", "c0_1", "c1_0", "c1_1"]);
      // The map agrees with the leases, and is published again every heartbeat period.
      const owners = await eventually(() => {
        const o = map.owners();
        return zones.every((z) => o[z.cells()[0] as string] === z.id) ? o : undefined;
      });
      assert.equal(Object.keys(owners).length, 4);
      const count = map.maps.length;
      await eventually(() => (map.maps.length >= count + 2 ? true : undefined), 2_000, "periodic map");
      // Redis holds the same epochs as the leases.
      const epochs = await redis.hgetall(worldKeys(ctx.redis.prefix, world).cellEpochs);
      for (const z of zones) {
        for (const lease of z.leases) assert.equal(Number(epochs[lease.cell]), lease.epoch);
      }
      const latest = map.latest();
      for (const cell of latest?.cells ?? []) assert.equal(Number(epochs[cell.cell]), cell.epoch);
    } finally {
      map.stop();
      await stop();
    }
  });
});
