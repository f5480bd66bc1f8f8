/**
 * Placing players (`svc.world.attach`), in-process authority against a real lobby process, real
 * Redis and NATS, with fake zone servers answering `player_install`.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, afterEach, before, describe, it } from "node:test";
import {
  type Subjects,
  worldKeys,
  worldReplyCodec,
  worldRequestCodec,
  worldSubject,
} from "@meridian/protocol";
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
} from "./helpers/cluster.js";
import { FakeZone } from "./helpers/fake-zone.js";

let ctx: TestContext;
let lobby: LobbyHandle;
let nc: NatsConnection;
let redis: Redis;
let subjects: Subjects;
let accounts = 0;

before(async () => {
  ctx = await createTestContext();
  lobby = await startLobby(ctx);
  ({ nc, redis, subjects } = await clients(ctx));
});
after(() => ctx.cleanup());

let running: FakeZone[] = [];
afterEach(() => {
  for (const zone of running) zone.stop();
  running = [];
});

async function startZones(world: string, ids: readonly string[]) {
  const zones: FakeZone[] = [];
  for (const id of ids) {
    const zone = new FakeZone(nc, subjects, { id, credential: (await lobby.issue(world)).credential, world });
    running.push(zone);
    assert.equal((await zone.start(FAST.heartbeatMs)).t, "zone_registered");
    zones.push(zone);
  }
  await eventually(() => (zones.every((z) => z.cells().length === 4 / ids.length) ? true : undefined));
  return zones;
}

/** What a gateway sends and receives. */
async function attach(accountId: string, resumed = false) {
  const request = worldRequestCodec().encode({
    t: "player_attach",
    accountId,
    sessionId: randomUUID(),
    username: `player${accountId}`,
    gateway: "gw-test",
    resumed,
  });
  const msg = await nc.request(worldSubject(subjects, "attach"), request, { timeout: 3_000 });
  const reply = worldReplyCodec().decode(msg.data);
  assert.ok(reply.ok);
  return reply.message;
}

const ownerOf = (zones: readonly FakeZone[], cell: string) => {
  const zone = zones.find((z) => z.cells().includes(cell));
  assert.ok(zone !== undefined, `someone owns ${cell}`);
  return zone;
};

describe("attach", () => {
  it("attach - a player without a checkpoint is installed on the owner of the spawn cell, with the cell's epoch", async () => {
    const world = freshWorld();
    const { stop } = await startAuthority(ctx, world, { spawn: { x: 1_500, y: 500 } });
    try {
      const zones = await startZones(world, ["zone-1", "zone-2", "zone-3", "zone-4"]);
      const owner = ownerOf(zones, "c1_0");
      const accountId = String(++accounts);
      const reply = await attach(accountId);
      assert.equal(reply.t, "player_attached", JSON.stringify(reply));
      if (reply.t !== "player_attached") return;
      assert.equal(reply.server, owner.id);
      assert.equal(reply.zone, "c1_0");
      assert.equal(reply.world, world);
      assert.equal(reply.ack, 7);
      const install = owner.installs.at(-1);
      assert.ok(install !== undefined);
      assert.equal(reply.epoch > 100, true);
      assert.deepEqual(
        [install.accountId, install.cell, install.x, install.y],
        [accountId, "c1_0", 1_500, 500],
      );
      assert.equal(install.cellEpoch, owner.leases.find((l) => l.cell === "c1_0")?.epoch);
      assert.equal(install.gateway, "gw-test");
    } finally {
      await stop();
    }
  });

  it("attach - a player with a checkpoint is installed on the owner of the checkpoint's cell, at its position", async () => {
    const world = freshWorld();
    const { stop } = await startAuthority(ctx, world);
    try {
      const zones = await startZones(world, ["zone-1", "zone-2"]);
      const accountId = String(++accounts);
      await redis.hset(worldKeys(ctx.redis.prefix, world).checkpoint(accountId), {
        x: "300",
        y: "1700",
        cell: "c0_1",
        cellEpoch: "1",
        epoch: "5",
      });
      const owner = ownerOf(zones, "c0_1");
      const reply = await attach(accountId, true);
      assert.equal(reply.t === "player_attached" && reply.server, owner.id);
      assert.equal(reply.t === "player_attached" && reply.zone, "c0_1");
      const install = owner.installs.at(-1);
      assert.deepEqual([install?.x, install?.y, install?.resumed], [300, 1700, true]);
    } finally {
      await stop();
    }
  });

  it("attach - with no zone server the answer is WORLD_UNAVAILABLE", async () => {
    const world = freshWorld();
    const { stop } = await startAuthority(ctx, world);
    try {
      const reply = await attach(String(++accounts));
      assert.equal(reply.t === "world_error" && reply.code, "WORLD_UNAVAILABLE");
    } finally {
      await stop();
    }
  });

  it("attach - an owner answering WORLD_NOT_OWNER is asked once more, then WORLD_UNAVAILABLE", async () => {
    const world = freshWorld();
    const { stop } = await startAuthority(ctx, world);
    try {
      const [zone] = await startZones(world, ["zone-1"]);
      if (zone === undefined) return;
      // The zone forgets its leases (as if it just lost them): it refuses installs.
      zone.stopBeating();
      zone.leases = [];
      const reply = await attach(String(++accounts));
      assert.equal(reply.t === "world_error" && reply.code, "WORLD_UNAVAILABLE");
      assert.equal(zone.installs.length, 2);
    } finally {
      await stop();
    }
  });
});
