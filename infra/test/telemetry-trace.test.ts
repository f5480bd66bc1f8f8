/**
 * Issue 7's trace test: a handoff produces one trace spanning the gateway, zone A and zone B, read
 * from an in-memory span exporter. The gateway's routing (its `Router`, which publishes the player's
 * inputs and applies `route_switch`) and two real zone servers run in this process against the real
 * NATS and Redis, each with its own connections, as separate processes would. The spans tell the
 * services apart by their `meridian.service` / `meridian.instance` attributes (one process, one
 * tracer provider).
 *
 * It lives in infra (the system-level tests) because it runs two services' code together, which a
 * service's own tests never do (a service never imports another).
 *
 * The journey: gateway `gateway.inputs.publish` (the input that makes the player cross) → NATS
 * headers → zone A `zone.inputs` → the crossing → `zone.handoff.offer` → NATS headers → zone B
 * `zone.handoff.accept` → `route_switch` headers → gateway `gateway.route_switch`.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { encodeMessage, type Update, worldSubject } from "@meridian/protocol";
import { type InMemoryTelemetry, SpanAttr, startInMemoryTelemetry } from "@meridian/telemetry";
import { type Cluster, createCluster } from "../../services/gameserver/test/helpers/cluster.js";
import type { PlayerPlace, PlayerSink } from "../../services/gateway/src/router-port.js";
import { Router } from "../../services/gateway/src/routing/index.js";

const GATEWAY_ID = "gw-trace";
const ACCOUNT = "7001";

let mem: InMemoryTelemetry;
let cluster: Cluster;
let router: Router;

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

class Sink implements PlayerSink {
  readonly moves: PlayerPlace[] = [];
  readonly updates: Update[] = [];
  update(update: Update): void {
    this.updates.push(update);
  }
  moved(place: PlayerPlace): void {
    this.moves.push(place);
  }
}

before(async () => {
  // On before anything is built: the zone servers decide at construction.
  mem = await startInMemoryTelemetry({ serviceName: "meridian-trace-test" });
  cluster = await createCluster();
  const epochA = await cluster.authority.lease("c0_0", "za");
  await cluster.authority.lease("c1_0", "zb");
  await cluster.startZone("za");
  await cluster.startZone("zb");
  const installed = await cluster.install("za", {
    accountId: ACCOUNT,
    cell: "c0_0",
    cellEpoch: epochA,
    gateway: GATEWAY_ID,
    x: 180,
    y: 100,
  });
  assert.equal(installed.t, "player_installed");
  // The world's attach (the authority's part, not under test): the player is on za at epoch 1.
  const attach = cluster.nc.subscribe(worldSubject(cluster.subjects, "attach"), {
    callback: (_error, msg) => {
      msg.respond(
        encodeMessage({
          t: "player_attached",
          accountId: ACCOUNT,
          server: "za",
          zone: "c0_0",
          epoch: 1,
          ack: 0,
          world: cluster.world.name,
        }),
      );
    },
  });
  cluster.ctx.defer(() => attach.unsubscribe());
  router = new Router(cluster.nc, { gatewayId: GATEWAY_ID, subjects: cluster.subjects });
  await router.start();
  cluster.ctx.defer(() => router.stop());
});

after(async () => {
  await cluster?.ctx.cleanup();
  await mem?.shutdown();
});

describe("telemetry - traces across services", () => {
  it("trace - a handoff produces one trace spanning gateway, zone A and zone B", async () => {
    const sink = new Sink();
    const place = await router.attach(
      { accountId: ACCOUNT, sessionId: randomUUID(), username: `p${ACCOUNT}`, resumed: false },
      sink,
    );
    assert.equal(place.server, "za");
    mem.reset();
    // One input walks the player east across the border at x = 200.
    assert.equal(router.input(ACCOUNT, 1, { move: { dx: 1, dy: 0 } }), true);
    await waitFor("the route switch to zb", () => sink.moves.some((m) => m.server === "zb"));
    await waitFor("the gateway's route_switch span", () =>
      mem.spans().some((s) => s.name === "gateway.route_switch"),
    );

    const switched = mem.spans().find((s) => s.name === "gateway.route_switch");
    assert.ok(switched);
    const traceId = switched.spanContext().traceId;
    const trace = mem.spans().filter((s) => s.spanContext().traceId === traceId);
    const who = (name: string) =>
      trace
        .filter((s) => s.name === name)
        .map((s) => `${s.attributes[SpanAttr.Service]}/${s.attributes[SpanAttr.Instance]}`);

    assert.deepEqual(who("gateway.inputs.publish"), [`gateway/${GATEWAY_ID}`], "the gateway's input");
    assert.ok(who("zone.inputs").includes("gameserver/za"), "zone A received the input");
    assert.deepEqual(who("zone.handoff.offer"), ["gameserver/za"], "zone A offered");
    assert.deepEqual(who("zone.handoff.accept"), ["gameserver/zb"], "zone B accepted");
    assert.deepEqual(who("gateway.route_switch"), [`gateway/${GATEWAY_ID}`], "the gateway switched");
    const instances = new Set(trace.map((s) => s.attributes[SpanAttr.Instance]));
    for (const instance of [GATEWAY_ID, "za", "zb"]) assert.ok(instances.has(instance), instance);

    // Parent links: the accept is the offer's child, the route switch the accept's.
    const byName = (name: string) => trace.find((s) => s.name === name);
    const offer = byName("zone.handoff.offer");
    const accept = byName("zone.handoff.accept");
    assert.equal(accept?.parentSpanContext?.spanId, offer?.spanContext().spanId);
    assert.equal(switched.parentSpanContext?.spanId, accept?.spanContext().spanId);
    assert.equal(offer?.attributes["meridian.handoff.accepted"], true);
  });
});
