import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, afterEach, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  createSubjects,
  encodeMessage,
  GATEWAY_ROUTES_CHANNEL,
  GATEWAY_UPDATES_CHANNEL,
  type Subjects,
  type Update,
  WORLD_QUEUE_GROUP,
  worldSubject,
  ZONE_INPUTS_CHANNEL,
  zoneInboxCodec,
} from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { PlayerIdentity, PlayerPlace, PlayerSink } from "../src/router-port.js";
import { Router, type RouterOptions, RoutingError, RoutingErrorCode } from "../src/routing/index.js";
import { ZoneDouble, type ZoneDoubleOptions, zoneOf } from "./helpers/zone-double.js";

let ctx: TestContext;
let nc: NatsConnection;
let runs = 0;
let accounts = 0;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  ctx = await createTestContext({ postgres: false, redis: false });
  nc = await connect({ servers: ctx.nats.url, name: "routing-test" });
  ctx.defer(() => nc.close());
});
afterEach(async () => {
  while (cleanups.length > 0) await (cleanups.pop() as () => Promise<unknown>)();
});
after(() => ctx.cleanup());

class RecordingSink implements PlayerSink {
  readonly updates: Update[] = [];
  readonly moves: PlayerPlace[] = [];
  readonly log: string[] = [];
  update(update: Update): void {
    this.updates.push(update);
    this.log.push(`update:${update.ack}`);
  }
  moved(place: PlayerPlace): void {
    this.moves.push(place);
    this.log.push(`moved:${place.server}`);
  }
  get lastAck(): number {
    return this.updates.at(-1)?.ack ?? 0;
  }
}

/** A fresh subject prefix per test: tests never hear each other's world. */
function freshSubjects(): Subjects {
  runs++;
  return createSubjects({ prefix: `${ctx.nats.prefix}.r${runs}` });
}

function identity(resumed = false, accountId = String(1000 + ++accounts)): PlayerIdentity {
  return { accountId, sessionId: randomUUID(), username: `p${accountId}`, resumed };
}

async function makeRouter(subjects: Subjects, options: Partial<RouterOptions> = {}): Promise<Router> {
  const router = new Router(nc, { gatewayId: "gw-1", subjects, ...options });
  await router.start();
  cleanups.push(() => router.stop());
  return router;
}

async function makeDouble(subjects: Subjects, options: Partial<ZoneDoubleOptions> = {}): Promise<ZoneDouble> {
  const double = new ZoneDouble(nc, { subjects, servers: ["s1", "s2", "s3"], ...options });
  await double.start();
  cleanups.push(() => double.stop());
  return double;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function publishUpdates(
  subjects: Subjects,
  server: string,
  epoch: number,
  updates: { accountId: string; ack: number; data: unknown }[],
): void {
  nc.publish(
    subjects.gateway("gw-1", GATEWAY_UPDATES_CHANNEL),
    encodeMessage({
      t: "gateway_updates",
      server,
      tick: 1,
      updates: updates.map((u) => ({ ...u, epoch })),
    }),
  );
}

function publishSwitch(subjects: Subjects, accountId: string, server: string, epoch: number): void {
  nc.publish(
    subjects.gateway("gw-1", GATEWAY_ROUTES_CHANNEL),
    encodeMessage({ t: "route_switch", accountId, server, zone: zoneOf(server), world: "w1", epoch }),
  );
}

describe("routing", () => {
  it("routing - attach places the player and relays inputs and acks through the owner", async () => {
    const subjects = freshSubjects();
    const double = await makeDouble(subjects);
    const router = await makeRouter(subjects);
    const player = identity();
    const sink = new RecordingSink();

    const place = await router.attach(player, sink);
    assert.deepEqual(place, { world: "w1", zone: "zone-s1", server: "s1", ack: 0 });

    for (const seq of range(1, 5)) assert.equal(router.input(player.accountId, seq, { move: seq }), true);
    await waitFor("ack 5", () => sink.lastAck === 5);

    assert.deepEqual(double.appliedSeqs(player.accountId), range(1, 5));
    assert.deepEqual(
      sink.updates.flatMap((u) => u.data as unknown[]),
      range(1, 5).map((seq) => ({ move: seq })),
    );
    assert.equal(
      sink.updates.every((u) => u.t === "update"),
      true,
    );
    assert.equal(router.player(player.accountId)?.unacked, 0);
    const stats = router.stats();
    assert.equal(stats.inputsAccepted, 5);
    assert.equal(stats.inputsForwarded, 5);
    assert.equal(stats.players, 1);
  });

  it("routing - the inputs of one turn go to each server in one zone_inputs, in order per player", async () => {
    const subjects = freshSubjects();
    const double = await makeDouble(subjects);
    const router = await makeRouter(subjects);
    const [a, b, c] = [identity(), identity(), identity()] as const;
    await router.attach(a, new RecordingSink());
    await router.attach(b, new RecordingSink());
    double.placeOn = "s2";
    await router.attach(c, new RecordingSink());

    const codec = zoneInboxCodec();
    const seen = new Map<string, { accountId: string; seq: number }[][]>();
    for (const server of ["s1", "s2"]) {
      seen.set(server, []);
      const counter = nc.subscribe(subjects.zone(server, ZONE_INPUTS_CHANNEL), {
        callback: (_error, msg) => {
          const decoded = codec.decode(msg.data);
          assert.ok(decoded.ok && decoded.message.t === "zone_inputs");
          seen.get(server)?.push(decoded.message.inputs.map(({ accountId, seq }) => ({ accountId, seq })));
        },
      });
      cleanups.push(async () => counter.unsubscribe());
    }
    await nc.flush();

    for (const seq of range(1, 50)) {
      for (const player of [a, b, c]) assert.equal(router.input(player.accountId, seq, seq), true);
    }
    for (const player of [a, b, c]) await double.waitForApplied(player.accountId, 50);
    await nc.flush();

    const s1 = seen.get("s1") ?? [];
    const s2 = seen.get("s2") ?? [];
    assert.equal(s1.length, 1, "one message for s1");
    assert.equal(s2.length, 1, "one message for s2");
    for (const player of [a, b]) {
      assert.deepEqual(
        s1[0]?.filter((i) => i.accountId === player.accountId).map((i) => i.seq),
        range(1, 50),
      );
    }
    assert.deepEqual(
      s2[0]?.map((i) => i.seq),
      range(1, 50),
    );
    assert.equal(router.stats().inputBatches, 2);
  });

  it("routing - a duplicate or skipping sequence is refused", async () => {
    const subjects = freshSubjects();
    const double = await makeDouble(subjects);
    const router = await makeRouter(subjects);
    const player = identity();
    await router.attach(player, new RecordingSink());

    assert.equal(router.input(player.accountId, 1, "a"), true);
    assert.equal(router.input(player.accountId, 1, "again"), false);
    assert.equal(router.input(player.accountId, 3, "gap"), false);
    assert.equal(router.input(player.accountId, 2, "b"), true);
    assert.equal(router.input(player.accountId, 2, "late"), false);
    assert.equal(router.input(player.accountId, 0, "zero"), false);
    assert.equal(router.input(player.accountId, 1.5, "fraction"), false);
    assert.equal(router.input("999999", 1, "nobody"), false);
    await double.waitForApplied(player.accountId, 2);

    assert.deepEqual(double.appliedSeqs(player.accountId), [1, 2]);
    assert.deepEqual(
      double.applied.get(player.accountId)?.map((i) => i.data),
      ["a", "b"],
    );
    const stats = router.stats();
    assert.equal(stats.inputsDuplicate, 2);
    assert.equal(stats.inputsGap, 1);
    assert.equal(stats.inputsRefusedInvalid, 3);
  });

  it("routing - after a route switch the unacknowledged inputs are re-sent to the new owner", async () => {
    const subjects = freshSubjects();
    const double = await makeDouble(subjects, { tickMs: 60_000 }); // no acks: everything stays unacked
    const router = await makeRouter(subjects);
    const player = identity();
    const sink = new RecordingSink();
    await router.attach(player, sink);

    for (const seq of range(1, 10)) router.input(player.accountId, seq, seq);
    await double.waitForApplied(player.accountId, 10);
    assert.equal(router.player(player.accountId)?.unacked, 10);

    double.switch(player.accountId, "s2");
    await waitFor("the move", () => sink.moves.length === 1);
    assert.deepEqual(sink.moves[0], { world: "w1", zone: "zone-s2", server: "s2", ack: 0 });
    for (const seq of range(11, 15)) router.input(player.accountId, seq, seq);
    await double.waitForApplied(player.accountId, 15);
    await waitFor("the re-sent duplicates", () => double.duplicates === 10);

    const applied = double.applied.get(player.accountId) ?? [];
    assert.deepEqual(
      applied.map((i) => i.seq),
      range(1, 15),
    );
    assert.deepEqual(
      applied.map((i) => i.server),
      [...Array(10).fill("s1"), ...Array(5).fill("s2")],
    );
    assert.equal(router.stats().inputsResent, 10);
    assert.equal(router.stats().routeSwitches, 1);
  });

  it("routing - inputs the old owner drops while the switch is in flight reach the new owner", async () => {
    const subjects = freshSubjects();
    const double = await makeDouble(subjects);
    const router = await makeRouter(subjects);
    const player = identity();
    const sink = new RecordingSink();
    await router.attach(player, sink);

    for (const seq of range(1, 5)) router.input(player.accountId, seq, seq);
    await waitFor("ack 5", () => sink.lastAck === 5);
    double.switch(player.accountId, "s2", { routeDelayMs: 100 });
    for (const seq of range(6, 10)) router.input(player.accountId, seq, seq); // still sent to s1
    await waitFor("s1 to drop them", () => double.notOwner === 5);
    assert.deepEqual(double.appliedSeqs(player.accountId), range(1, 5));

    await double.waitForApplied(player.accountId, 10);
    const applied = double.applied.get(player.accountId) ?? [];
    assert.deepEqual(
      applied.map((i) => i.seq),
      range(1, 10),
    );
    assert.deepEqual(
      applied.slice(5).map((i) => i.server),
      Array(5).fill("s2"),
    );
    await waitFor("ack 10", () => sink.lastAck === 10);
    assert.equal(router.player(player.accountId)?.unacked, 0);
  });

  it("routing - inputs racing route switches are applied exactly once, in order (randomised)", async () => {
    const iterations = 12;
    const inputsPerPlayer = 150;
    const servers = ["s1", "s2", "s3"];
    let switchesDone = 0;
    let droppedByStaleOwners = 0;
    let resent = 0;
    for (let iteration = 0; iteration < iterations; iteration++) {
      const subjects = freshSubjects();
      const tickMs = iteration % 3 === 0 ? undefined : 1 + (iteration % 4);
      const double = await makeDouble(subjects, { servers, ...(tickMs === undefined ? {} : { tickMs }) });
      const router = await makeRouter(subjects, { maxUnackedInputs: 10_000 });
      const players = [identity(), identity(), identity(), identity()];
      const sinks = new Map<string, RecordingSink>();
      for (const player of players) {
        double.placeOn = servers[Math.floor(Math.random() * servers.length)] as string;
        const sink = new RecordingSink();
        sinks.set(player.accountId, sink);
        await router.attach(player, sink);
      }

      const send = async () => {
        let seq = 0;
        while (seq < inputsPerPlayer) {
          const chunk = 1 + Math.floor(Math.random() * 8);
          for (let i = 0; i < chunk && seq < inputsPerPlayer; i++) {
            seq++;
            for (const player of players) {
              assert.equal(router.input(player.accountId, seq, { seq }), true);
            }
          }
          await randomPause();
        }
      };
      let sending = true;
      const switcher = async () => {
        while (sending) {
          const player = players[Math.floor(Math.random() * players.length)] as PlayerIdentity;
          const current = double.owner(player.accountId)?.server;
          const others = servers.filter((s) => s !== current);
          const to = others[Math.floor(Math.random() * others.length)] as string;
          const delay = Math.random() < 0.5 ? undefined : Math.floor(Math.random() * 6);
          const ackFirst = Math.random() < 0.5;
          double.switch(
            player.accountId,
            to,
            delay === undefined ? { ackFirst } : { routeDelayMs: delay, ackFirst },
          );
          switchesDone++;
          await randomPause();
        }
      };
      const switching = switcher();
      await send();
      sending = false;
      await switching;

      for (const player of players) await double.waitForApplied(player.accountId, inputsPerPlayer);
      for (const player of players) {
        assert.deepEqual(
          double.appliedSeqs(player.accountId),
          range(1, inputsPerPlayer),
          `iteration ${iteration}: player ${player.accountId} applied every input once, in order`,
        );
        const owner = double.owner(player.accountId);
        await waitFor("the route to converge", () => router.player(player.accountId)?.epoch === owner?.epoch);
        assert.equal(router.player(player.accountId)?.place?.server, owner?.server);
      }
      // The acks catch up with the last owner and empty the buffers.
      if (tickMs !== undefined) {
        for (const player of players) {
          await waitFor("the last ack", () => router.player(player.accountId)?.unacked === 0);
          const acks = (sinks.get(player.accountId) as RecordingSink).updates.map((u) => u.ack);
          assert.deepEqual(
            acks,
            [...acks].sort((x, y) => x - y),
            "acks relayed never go back",
          );
        }
      }
      droppedByStaleOwners += double.notOwner + double.gaps;
      resent += router.stats().inputsResent;
      while (cleanups.length > 0) await (cleanups.pop() as () => Promise<unknown>)();
    }
    // The races did happen: stale owners dropped inputs, and the gateway re-sent them.
    assert.ok(switchesDone >= iterations, "switches happened");
    assert.ok(droppedByStaleOwners > 0, "inputs reached stale owners");
    assert.ok(resent > 0, "inputs were re-sent");
  });

  it("routing - updates from a stale owner are dropped; the next owner's wait for its route", async () => {
    const subjects = freshSubjects();
    const double = await makeDouble(subjects, { tickMs: 60_000 });
    const router = await makeRouter(subjects);
    const player = identity();
    const sink = new RecordingSink();
    await router.attach(player, sink);
    for (const seq of range(1, 3)) router.input(player.accountId, seq, seq);
    await double.waitForApplied(player.accountId, 3);
    double.switch(player.accountId, "s2", { ackFirst: true }); // epoch 2; s1 reports ack 3 as it lets go
    await waitFor("the move", () => sink.moves.length === 1);
    for (const seq of range(4, 6)) router.input(player.accountId, seq, seq);
    await double.waitForApplied(player.accountId, 6); // s2 applies, but acks only every minute
    const id = player.accountId;
    assert.equal(router.player(id)?.unacked, 3);

    publishUpdates(subjects, "s1", 1, [{ accountId: id, ack: 6, data: "stale, epoch" }]);
    publishUpdates(subjects, "s2", 1, [{ accountId: id, ack: 6, data: "owner, old epoch" }]);
    await waitFor("the stale updates", () => router.stats().updatesStale === 2);
    assert.deepEqual(sink.log, ["update:3", "moved:s2"]);
    assert.equal(router.player(id)?.unacked, 3, "a stale ack trims nothing");

    publishUpdates(subjects, "s3", 3, [{ accountId: id, ack: 5, data: "next owner" }]);
    await waitFor("the parked update", () => router.stats().updatesParked === 1);
    assert.equal(sink.updates.length, 1);
    publishUpdates(subjects, "s2", 2, [{ accountId: id, ack: 4, data: "owner" }]);
    await waitFor("the owner's update", () => sink.updates.length === 2);
    assert.equal(router.player(id)?.unacked, 2);
    publishSwitch(subjects, id, "s3", 3);
    await waitFor("the parked update, relayed", () => sink.updates.length === 3);
    assert.deepEqual(sink.log, ["update:3", "moved:s2", "update:4", "moved:s3", "update:5"]);
    assert.equal(router.player(id)?.unacked, 1);
  });

  it("routing - a route switch whose epoch is not above the route's is ignored", async () => {
    const subjects = freshSubjects();
    const double = await makeDouble(subjects);
    const router = await makeRouter(subjects);
    const player = identity();
    const sink = new RecordingSink();
    await router.attach(player, sink);
    double.switch(player.accountId, "s2"); // epoch 2
    await waitFor("the move", () => sink.moves.length === 1);

    publishSwitch(subjects, player.accountId, "s1", 1);
    publishSwitch(subjects, player.accountId, "s3", 2);
    publishSwitch(subjects, "999999", "s3", 9);
    await waitFor("the stale switches", () => router.stats().routeSwitchesStale === 2);
    await waitFor("the unknown player", () => router.stats().routeSwitchesUnknownPlayer === 1);
    assert.equal(sink.moves.length, 1);
    assert.equal(router.player(player.accountId)?.place?.server, "s2");

    router.input(player.accountId, 1, "x");
    await double.waitForApplied(player.accountId, 1);
    assert.equal(double.applied.get(player.accountId)?.[0]?.server, "s2");
  });

  it("routing - an owner speaking with a higher epoch fences off the switches it overtook", async () => {
    const subjects = freshSubjects();
    await makeDouble(subjects, { tickMs: 60_000 });
    const router = await makeRouter(subjects);
    const player = identity();
    const sink = new RecordingSink();
    await router.attach(player, sink); // s1, epoch 1
    const id = player.accountId;

    // s1 lost the player (epoch 2, to s2) and got them back (epoch 3) before either switch arrived.
    publishUpdates(subjects, "s1", 3, [{ accountId: id, ack: 0, data: "s1 again" }]);
    await waitFor("the update", () => sink.updates.length === 1);
    publishSwitch(subjects, id, "s2", 2);
    await waitFor("the overtaken switch", () => router.stats().routeSwitchesStale === 1);
    assert.equal(router.player(id)?.place?.server, "s1");
    publishSwitch(subjects, id, "s1", 3);
    await waitFor("the switch", () => sink.moves.length === 1);
    assert.deepEqual(sink.log, ["update:0", "moved:s1"]);
    assert.equal(router.player(id)?.epoch, 3);
  });

  it("routing - no world answering rejects with WORLD_UNAVAILABLE; inputs wait for a route", async () => {
    const subjects = freshSubjects();
    const router = await makeRouter(subjects, { attachTimeoutMs: 400 });
    const player = identity();

    // Nobody subscribed: NATS says "no responders" at once.
    await assert.rejects(router.attach(player, new RecordingSink()), (error: unknown) => {
      assert.ok(error instanceof RoutingError);
      assert.equal(error.code, RoutingErrorCode.WorldUnavailable);
      return true;
    });
    assert.equal(router.input(player.accountId, 1, "kept"), true);
    assert.equal(router.input(player.accountId, 2, "kept too"), true);

    // A responder that never answers: the timeout.
    const silent = nc.subscribe(worldSubject(subjects, "attach"), { queue: WORLD_QUEUE_GROUP });
    await nc.flush();
    const started = Date.now();
    await assert.rejects(router.attach({ ...player, resumed: true }, new RecordingSink()), {
      code: RoutingErrorCode.WorldUnavailable,
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 350 && elapsed < 3_000, `rejected after ${elapsed} ms`);
    silent.unsubscribe();

    // A world that refuses.
    const double = await makeDouble(subjects, { attachError: "WORLD_FULL" });
    await assert.rejects(
      router.attach({ ...player, resumed: true }, new RecordingSink()),
      (error: unknown) => {
        assert.ok(error instanceof RoutingError);
        assert.equal(error.code, RoutingErrorCode.WorldUnavailable);
        assert.equal(error.context.worldCode, "WORLD_FULL");
        return true;
      },
    );
    assert.equal(router.stats().attachFailures, 3);

    // Once the world places the player, the kept inputs go.
    double.attachError = undefined;
    const sink = new RecordingSink();
    await router.attach({ ...player, resumed: true }, sink);
    await double.waitForApplied(player.accountId, 2);
    assert.deepEqual(
      double.applied.get(player.accountId)?.map((i) => i.data),
      ["kept", "kept too"],
    );
    await waitFor("ack 2", () => sink.lastAck === 2);
  });

  it("routing - a suspended player's updates are dropped but acked; a resume relays again", async () => {
    const subjects = freshSubjects();
    const double = await makeDouble(subjects, { tickMs: 30 });
    const router = await makeRouter(subjects);
    const player = identity();
    const first = new RecordingSink();
    await router.attach(player, first);
    for (const seq of range(1, 3)) router.input(player.accountId, seq, seq);
    await waitFor("ack 3", () => first.lastAck === 3);

    for (const seq of range(4, 6)) router.input(player.accountId, seq, seq);
    router.suspend(player.accountId);
    await double.waitForApplied(player.accountId, 6);
    await waitFor("the acks while suspended", () => router.player(player.accountId)?.unacked === 0);
    assert.equal(first.lastAck, 3, "no update reaches a suspended sink");
    assert.ok(router.stats().updatesSuspended >= 1);
    assert.equal(router.player(player.accountId)?.suspended, true);

    const second = new RecordingSink();
    const place = await router.attach({ ...player, resumed: true }, second);
    assert.deepEqual(place, { world: "w1", zone: "zone-s1", server: "s1", ack: 6 });
    assert.equal(router.input(player.accountId, 6, "replayed by the client"), false);
    assert.equal(router.input(player.accountId, 7, 7), true);
    await waitFor("ack 7", () => second.lastAck === 7);
    assert.equal(first.lastAck, 3);
    assert.deepEqual(double.appliedSeqs(player.accountId), range(1, 7));
  });

  it("routing - detach sends player_detach to the owner after the player's last inputs", async () => {
    const subjects = freshSubjects();
    const double = await makeDouble(subjects);
    const router = await makeRouter(subjects);
    const player = identity();
    await router.attach(player, new RecordingSink());
    double.switch(player.accountId, "s3");
    await waitFor("the move", () => router.player(player.accountId)?.place?.server === "s3");

    router.input(player.accountId, 1, 1);
    router.input(player.accountId, 2, 2);
    router.detach(player.accountId, randomUUID(), "logout"); // another session's: ignored
    router.detach(player.accountId, player.sessionId, "logout");
    await waitFor("the detach", () => double.detaches.length === 1);

    assert.deepEqual(double.detaches[0], {
      t: "player_detach",
      accountId: player.accountId,
      sessionId: player.sessionId,
      gateway: "gw-1",
      reason: "logout",
      server: "s3",
    });
    assert.deepEqual(double.appliedSeqs(player.accountId), [1, 2]);
    assert.equal(router.player(player.accountId), undefined);
    assert.equal(router.input(player.accountId, 3, 3), false);
    const stats = router.stats();
    assert.equal(stats.detaches, 1);
    assert.equal(stats.detachesIgnored, 1);
    assert.equal(stats.players, 0);
  });

  it("routing - bad messages on the inboxes are counted and dropped, relaying goes on", async () => {
    const subjects = freshSubjects();
    const double = await makeDouble(subjects);
    const router = await makeRouter(subjects);
    const player = identity();
    const sink = new RecordingSink();
    await router.attach(player, sink);

    const updates = subjects.gateway("gw-1", GATEWAY_UPDATES_CHANNEL);
    const routes = subjects.gateway("gw-1", GATEWAY_ROUTES_CHANNEL);
    nc.publish(updates, new Uint8Array([0xc1, 0xff, 0x00]));
    nc.publish(routes, new Uint8Array(0));
    nc.publish(
      updates,
      encodeMessage({
        t: "route_switch",
        accountId: player.accountId,
        server: "s2",
        zone: "z",
        world: "w1",
        epoch: 9,
      }),
    );
    nc.publish(routes, encodeMessage({ t: "gateway_updates", server: "s1", tick: 1, updates: [] }));
    nc.publish(updates, encodeMessage({ t: "gateway_updates", server: "s1", tick: -1, updates: "no" }));
    nc.publish(routes, encodeMessage({ t: "nonsense" }));
    publishUpdates(subjects, "s1", 1, [{ accountId: "424242", ack: 1, data: null }]);
    await waitFor("the bad messages", () => router.stats().badMessages === 6);
    await waitFor("the unknown player's update", () => router.stats().updatesUnknownPlayer === 1);
    assert.equal(router.player(player.accountId)?.place?.server, "s1");

    router.input(player.accountId, 1, "still fine");
    await double.waitForApplied(player.accountId, 1);
    await waitFor("ack 1", () => sink.lastAck === 1);
  });

  it("routing - beyond maxUnackedInputs new inputs are refused until acks free room", async () => {
    const subjects = freshSubjects();
    const double = await makeDouble(subjects, { tickMs: 60_000 });
    const router = await makeRouter(subjects, { maxUnackedInputs: 4 });
    const player = identity();
    await router.attach(player, new RecordingSink());

    for (const seq of range(1, 4)) assert.equal(router.input(player.accountId, seq, seq), true);
    assert.equal(router.input(player.accountId, 5, 5), false);
    assert.equal(router.stats().inputsRefusedFull, 1);
    await double.waitForApplied(player.accountId, 4);

    publishUpdates(subjects, "s1", 1, [{ accountId: player.accountId, ack: 2, data: null }]);
    await waitFor("the ack", () => router.player(player.accountId)?.unacked === 2);
    assert.equal(router.input(player.accountId, 5, 5), true, "the client re-sends the refused input");
    assert.equal(router.input(player.accountId, 6, 6), true);
    assert.equal(router.input(player.accountId, 7, 7), false);
    await double.waitForApplied(player.accountId, 6);
    assert.deepEqual(double.appliedSeqs(player.accountId), range(1, 6));
  });

  it("routing - a turn's inputs larger than one world message are split, in order", async () => {
    const subjects = freshSubjects();
    const double = await makeDouble(subjects);
    const router = await makeRouter(subjects, { maxUnackedInputs: 1_000 });
    const player = identity();
    await router.attach(player, new RecordingSink());
    const blob = "x".repeat(4_096);
    for (const seq of range(1, 300)) assert.equal(router.input(player.accountId, seq, blob), true);
    await double.waitForApplied(player.accountId, 300);
    assert.deepEqual(double.appliedSeqs(player.accountId), range(1, 300));
    assert.ok(router.stats().inputBatches >= 3, `${router.stats().inputBatches} messages`);
  });

  it("routing - bad options are refused with ROUTING_INVALID_OPTIONS", () => {
    const subjects = freshSubjects();
    for (const options of [
      { gatewayId: "gw.1" },
      { gatewayId: "gw-1", attachTimeoutMs: 0 },
      { gatewayId: "gw-1", maxUnackedInputs: 1.5 },
    ]) {
      assert.throws(() => new Router(nc, { subjects, ...options }), {
        code: RoutingErrorCode.InvalidOptions,
      });
    }
  });
});

function randomPause(): Promise<void> {
  const roll = Math.random();
  if (roll < 0.4) return new Promise((resolve) => setImmediate(resolve));
  if (roll < 0.6) return Promise.resolve();
  return sleep(Math.floor(Math.random() * 3));
}
