/**
 * Leadership: two real authority processes (`src/main.ts`), the leader killed with SIGKILL, the
 * standby taking over with a higher leader epoch, zone servers re-registering and keeping their
 * cells under the same epochs, the map re-published, attach working again; and fenced writes: a
 * deposed leader's Redis writes are refused.
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
import { pino } from "pino";
import { AuthorityErrorCode } from "../src/errors.js";
import { type DeposedReason, LeaderElection, type LeaderTerm } from "../src/leadership/leader-election.js";
import { ownersKey, WorldStore } from "../src/leases/world-store.js";
import {
  clients,
  eventually,
  FAST,
  freshWorld,
  type LobbyHandle,
  startAuthority,
  startAuthorityProcess,
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

let running: FakeZone[] = [];
afterEach(() => {
  for (const zone of running) zone.stop();
  running = [];
});

async function attach(accountId: string) {
  const request = worldRequestCodec().encode({
    t: "player_attach",
    accountId,
    sessionId: randomUUID(),
    username: "failover",
    gateway: "gw-test",
    resumed: false,
  });
  const msg = await nc.request(worldSubject(subjects, "attach"), request, { timeout: 3_000 });
  const reply = worldReplyCodec().decode(msg.data);
  assert.ok(reply.ok);
  return reply.message;
}

describe("leadership", () => {
  it("failover - the standby takes over from a killed leader with a higher leader epoch; zones keep their cells; attach works", async () => {
    const world = freshWorld();
    const map = await watchMap(nc, subjects, world);
    try {
      const a = await startAuthorityProcess(ctx, world, { AUTHORITY_ID: "auth-a" });
      await a.waitForOutput(/"msg":"term opened"/, 10_000);
      const b = await startAuthorityProcess(ctx, world, { AUTHORITY_ID: "auth-b" });
      const zones: FakeZone[] = [];
      for (const id of ["zone-1", "zone-2"]) {
        const zone = new FakeZone(nc, subjects, {
          id,
          credential: (await lobby.issue(world)).credential,
          world,
        });
        running.push(zone);
        assert.equal((await zone.start(FAST.heartbeatMs)).t, "zone_registered");
        zones.push(zone);
      }
      await eventually(
        () => (zones.every((z) => z.cells().length === 2) ? true : undefined),
        5_000,
        "balanced",
      );
      assert.ok(!b.output().includes('"msg":"elected leader"'), "b stands by");
      const before = new Map(zones.map((z) => [z.id, [...z.leases]]));
      const oldEpoch = map.latest()?.leaderEpoch ?? 0;
      assert.ok(oldEpoch >= 1);
      assert.equal((await attach("901")).t, "player_attached");

      const killedAt = Date.now();
      await a.stop("SIGKILL");
      await b.waitForOutput(/"msg":"term opened"/, 10_000);
      const newMap = await eventually(() => {
        const latest = map.latest();
        return latest !== undefined && latest.leaderEpoch > oldEpoch ? latest : undefined;
      });
      const tookMs = Date.now() - killedAt;
      assert.ok(tookMs < 5_000, `took over in ${tookMs} ms`);
      // Until the zones come back, the map keeps the cells with their owners.
      assert.ok(newMap.cells.every((c) => c.server !== null));
      // Zones re-register with the new leader and keep their cells under the same epochs.
      await eventually(
        () =>
          zones.every(
            (z) =>
              z.registrations.at(-1)?.leaderEpoch === newMap.leaderEpoch &&
              z.leaderEpoch === newMap.leaderEpoch,
          )
            ? true
            : undefined,
        5_000,
        "re-registered",
      );
      await eventually(() => (zones.every((z) => z.cells().length === 2) ? true : undefined));
      for (const zone of zones) {
        assert.deepEqual(
          zone.leases.map((l) => [l.cell, l.epoch]).sort(),
          (before.get(zone.id) ?? []).map((l) => [l.cell, l.epoch]).sort(),
          `${zone.id} kept its cells and epochs`,
        );
      }
      assert.equal((await attach("902")).t, "player_attached");
      // The new leader's term outlives the old lease: nothing moves afterwards.
      await new Promise((resolve) => setTimeout(resolve, FAST.leaseMs * 2 + 500));
      const settled = map.latest();
      assert.deepEqual(
        settled?.cells.map((c) => [c.cell, c.server, c.epoch]),
        newMap.cells.map((c) => [c.cell, c.server, c.epoch]),
      );
      // SIGTERM: the leader gives the key up and exits 0.
      const exit = await b.stop("SIGTERM");
      assert.equal(exit.code, 0);
      assert.equal(await redis.exists(worldKeys(ctx.redis.prefix, world).leader), 0);
    } finally {
      map.stop();
    }
  });

  it("fencing - a deposed leader's writes are refused, and it learns it is deposed at its next renewal", async () => {
    const world = freshWorld();
    const keys = worldKeys(ctx.redis.prefix, world);
    const log = pino({ level: "silent" });
    const store = new WorldStore(redis, { redisPrefix: ctx.redis.prefix, world });
    const events: [string, number, DeposedReason?][] = [];
    const election = (id: string) =>
      new LeaderElection(redis, { id, leaderKey: keys.leader, epochKey: keys.leaderEpoch, ttlMs: 600 }, log, {
        elected: (t: LeaderTerm) => events.push([`${id} elected`, t.leaderEpoch]),
        deposed: (t: LeaderTerm, reason) => events.push([`${id} deposed`, t.leaderEpoch, reason]),
      });
    const a = election("old");
    const b = election("new");
    try {
      a.start();
      const termA = await eventually(() => a.term);
      const first = await store.commit(termA.token, [{ cell: "c0_0", server: "zone-1" }]);
      assert.equal(first.get("c0_0"), 1);
      // The old leader's key is gone (it stalled past its TTL); the standby takes it.
      await redis.del(keys.leader);
      b.start();
      const termB = await eventually(() => b.term);
      assert.ok(termB.leaderEpoch > termA.leaderEpoch);
      // The stale leader's write is refused and changes nothing.
      await assert.rejects(
        store.commit(termA.token, [{ cell: "c0_0", server: "zone-stale" }]),
        (error: unknown) => {
          assert.equal((error as { code?: string }).code, AuthorityErrorCode.NotLeader);
          return true;
        },
      );
      assert.equal(await redis.hget(keys.cellEpochs, "c0_0"), "1");
      assert.equal(await redis.hget(ownersKey(ctx.redis.prefix, world), "c0_0"), "zone-1");
      // The new leader's write goes through.
      const second = await store.commit(termB.token, [{ cell: "c0_0", server: "zone-2" }]);
      assert.equal(second.get("c0_0"), 2);
      // The old one notices at its next renewal.
      await eventually(() => (a.term === undefined ? true : undefined), 2_000, "old leader deposed");
      assert.ok(
        events.some(
          ([what, epoch, reason]) =>
            what === "old deposed" && epoch === termA.leaderEpoch && reason === "lost",
        ),
      );
      // Resigning deletes the key only while it is ours.
      await a.stop();
      assert.equal(await redis.exists(keys.leader), 1);
      await b.stop();
      assert.equal(await redis.exists(keys.leader), 0);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("fencing - an authority whose key was taken stops leading and writes nothing more", async () => {
    const world = freshWorld();
    const keys = worldKeys(ctx.redis.prefix, world);
    const { authority, stop } = await startAuthority(ctx, world);
    try {
      const zone = new FakeZone(nc, subjects, {
        id: "zone-f",
        credential: (await lobby.issue(world)).credential,
        world,
      });
      running.push(zone);
      assert.equal((await zone.start(FAST.heartbeatMs)).t, "zone_registered");
      await eventually(() => (zone.cells().length === 4 ? true : undefined));
      const epochs = await redis.hgetall(keys.cellEpochs);
      // A successor holds the key now (the old one stalled past its TTL).
      await redis.set(keys.leader, JSON.stringify({ id: "successor", leaderEpoch: 999 }), "PX", 60_000);
      zone.stopBeating();
      await eventually(() => (authority.isLeader ? undefined : true), 2_000, "stepped down");
      await new Promise((resolve) => setTimeout(resolve, FAST.leaseMs + 500));
      // The silent zone's lease expired meanwhile, but the deposed authority reassigned nothing.
      assert.deepEqual(await redis.hgetall(keys.cellEpochs), epochs);
      assert.equal(authority.stats().term, undefined);
      const reply = await zone.register().catch((error: unknown) => error);
      assert.ok(reply instanceof Error, "no authority answers");
    } finally {
      await stop();
      await redis.del(keys.leader);
    }
  });
});
