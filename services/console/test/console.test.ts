/**
 * The console without a browser: its configuration, the world state it keeps (newest snapshot wins,
 * health, handoffs, stale servers), the NATS feed against a real NATS (messages encoded with
 * libs/protocol's codecs, as zone servers and the authority send them), and the HTTP side (page,
 * `/state.json`, `/healthz`, the `/live` WebSocket pushes).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  createSubjects,
  encodeMessage,
  OBSERVER_HANDOFF_CHANNEL,
  OBSERVER_SNAPSHOT_CHANNEL,
  observerCodec,
  observerSubject,
  type WorldMap,
  worldMapSubject,
  type ZoneHandoff,
  type ZoneSnapshot,
} from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import WebSocket from "ws";
import { DEFAULT_CONSOLE_PORT, DEFAULT_PUSH_HZ, loadConfig } from "../src/config.js";
import { ConfigError, ConsoleError, ConsoleErrorCode } from "../src/errors.js";
import { NatsFeed } from "../src/feed/nats-feed.js";
import { ConsoleServer } from "../src/http/console-server.js";
import { HANDOFF_HISTORY, WorldState, type WorldView, ZoneHealth } from "../src/state/world-state.js";

const silent = pino({ level: "silent" });
const T0 = 1_700_000_000_000;

function snapshot(server: string, fields: Partial<ZoneSnapshot> = {}): ZoneSnapshot {
  return {
    t: "zone_snapshot",
    server,
    world: "main",
    seq: 1,
    at: T0,
    tick: 10,
    width: 800,
    height: 800,
    cols: 2,
    rows: 2,
    tickHz: 20,
    tickMs: 0.5,
    tickP99Ms: 1,
    ticksSkipped: 0,
    registered: true,
    leaderEpoch: 1,
    cells: ["c0_0"],
    cellEpochs: [1],
    leaseExpiresAt: [T0 + 3_000],
    players: 1,
    handoffsOut: 0,
    handoffsIn: 0,
    entityCount: 2,
    kinds: ["player", "npc"],
    ids: ["42", "npc-1"],
    k: [0, 1],
    x: [100, 200],
    y: [100, 200],
    ...fields,
  };
}

const handoff = (n: number): ZoneHandoff => ({
  t: "zone_handoff",
  server: "z1",
  world: "main",
  to: "z2",
  entity: String(n),
  cell: "c1_0",
  epoch: n + 1,
  stallMs: 3,
  at: T0 + n,
});

const map: WorldMap = {
  t: "world_map",
  world: "main",
  leaderEpoch: 2,
  version: 5,
  cells: [
    { cell: "c0_0", server: "z1", epoch: 1 },
    { cell: "c1_0", server: "z2", epoch: 1 },
  ],
};

describe("console config", () => {
  it("config - defaults", () => {
    const config = loadConfig({});
    assert.equal(config.port, DEFAULT_CONSOLE_PORT);
    assert.equal(config.host, "127.0.0.1");
    assert.equal(config.world, "main");
    assert.equal(config.pushHz, DEFAULT_PUSH_HZ);
    assert.equal(config.subjectPrefix, "meridian");
    assert.equal(config.telemetry.enabled, false);
    assert.equal(config.telemetry.serviceName, "meridian-console");
    assert.ok(Object.isFrozen(config));
  });

  it("config - every bad variable reported at once", () => {
    assert.throws(
      () =>
        loadConfig({
          CONSOLE_PORT: "70000",
          CONSOLE_PUSH_HZ: "0",
          CONSOLE_STALE_MS: "x",
          CONSOLE_HOST: "a b",
          WORLD_NAME: "a.b",
          CONSOLE_MAX_CLIENTS: "0",
          MERIDIAN_TELEMETRY: "maybe",
        }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.code === ConsoleErrorCode.Config &&
        error.problems
          .map((p) => p.variable)
          .sort()
          .join(",") ===
          "CONSOLE_HOST,CONSOLE_MAX_CLIENTS,CONSOLE_PORT,CONSOLE_PUSH_HZ,CONSOLE_STALE_MS,MERIDIAN_TELEMETRY,WORLD_NAME",
    );
  });
});

describe("world state", () => {
  it("world state - entities of every live zone, the newest snapshot winning a player listed twice", () => {
    const state = new WorldState("main", 3_000);
    state.onSnapshot(snapshot("z1"), T0);
    state.onSnapshot(
      snapshot("z2", {
        at: T0 + 50,
        cells: ["c1_0"],
        ids: ["42"],
        k: [0],
        x: [401],
        y: [100],
        kinds: ["player"],
      }),
      T0 + 50,
    );
    const view = state.view(T0 + 100);
    assert.deepEqual(view.servers, ["z1", "z2"]);
    const player = view.entities.find(([id]) => id === "42");
    assert.deepEqual(player, ["42", view.kinds.indexOf("player"), 401, 100, 1]);
    assert.equal(view.entities.length, 2);
    assert.deepEqual(view.geometry, { width: 800, height: 800, cols: 2, rows: 2 });
    assert.equal(view.zones[0]?.leaseMs, 3_000);
  });

  it("world state - health: ok, idle, unregistered, down (and a down zone's entities hidden)", () => {
    const state = new WorldState("main", 1_000);
    state.onSnapshot(snapshot("z1"), T0);
    state.onSnapshot(snapshot("z2", { cells: [], cellEpochs: [], leaseExpiresAt: [] }), T0);
    state.onSnapshot(snapshot("z3", { registered: false, ids: [], k: [], x: [], y: [] }), T0);
    state.onSnapshot(snapshot("z4", { ids: ["7"], k: [0], x: [1], y: [1] }), T0 - 5_000);
    const view = state.view(T0 + 10);
    const health = Object.fromEntries(view.zones.map((z) => [z.server, z.health]));
    assert.deepEqual(health, {
      z1: ZoneHealth.Ok,
      z2: ZoneHealth.Idle,
      z3: ZoneHealth.Unregistered,
      z4: ZoneHealth.Down,
    });
    assert.equal(
      view.entities.some(([id]) => id === "7"),
      false,
    );
  });

  it("world state - older snapshots are ignored, gaps counted, a restarted server accepted", () => {
    const state = new WorldState("main", 3_000);
    state.onSnapshot(snapshot("z1", { seq: 5, at: T0 }), T0);
    state.onSnapshot(snapshot("z1", { seq: 4, at: T0 - 250, tick: 1 }), T0);
    assert.equal(state.view(T0).zones[0]?.seq, 5);
    state.onSnapshot(snapshot("z1", { seq: 8, at: T0 + 750 }), T0 + 750);
    assert.equal(state.view(T0 + 750).zones[0]?.missed, 2);
    state.onSnapshot(snapshot("z1", { seq: 1, at: T0 + 2_000 }), T0 + 2_000);
    assert.equal(state.view(T0 + 2_000).zones[0]?.seq, 1);
  });

  it("world state - the map of the highest leader epoch and version; another world's messages ignored", () => {
    const state = new WorldState("main", 3_000);
    state.onMap(map, T0);
    state.onMap({ ...map, version: 4, cells: [] }, T0);
    state.onMap({ ...map, world: "other", leaderEpoch: 9, cells: [] }, T0);
    assert.equal(state.view(T0).map?.cells.length, 2);
    state.onMap({ ...map, leaderEpoch: 3, version: 1, cells: [] }, T0);
    assert.equal(state.view(T0).map?.version, 1);
    state.onSnapshot(snapshot("z9", { world: "other" }), T0);
    assert.equal(state.view(T0).zones.length, 0);
  });

  it("world state - a handed-off player listed by neither server stays on the map, on its target", () => {
    const state = new WorldState("main", 3_000);
    state.onSnapshot(snapshot("z1", { ids: ["42"], k: [0], x: [399], y: [100] }), T0);
    state.onSnapshot(snapshot("z2", { cells: ["c1_0"], ids: [], k: [], x: [], y: [] }), T0);
    assert.deepEqual(state.view(T0).entities, [["42", 0, 399, 100, 0]]);
    // z1 released the player; z2's latest snapshot predates the install.
    state.onHandoff({ ...handoff(1), entity: "42" }, T0 + 10);
    state.onSnapshot(snapshot("z1", { seq: 2, at: T0 + 20, ids: [], k: [], x: [], y: [] }), T0 + 20);
    assert.deepEqual(state.view(T0 + 30).entities, [["42", 0, 399, 100, 1]]);
    // z2 lists it: its own position from then on.
    state.onSnapshot(
      snapshot("z2", { seq: 2, at: T0 + 40, cells: ["c1_0"], ids: ["42"], k: [0], x: [402], y: [100] }),
      T0 + 40,
    );
    assert.deepEqual(state.view(T0 + 50).entities, [["42", 0, 402, 100, 1]]);
    // A player that vanished without a handoff (logged out) is gone at once.
    state.onSnapshot(
      snapshot("z2", { seq: 3, at: T0 + 60, cells: ["c1_0"], ids: [], k: [], x: [], y: [] }),
      T0 + 60,
    );
    assert.deepEqual(state.view(T0 + 70).entities, []);
  });

  it("world state - handoffs numbered in order, the newest kept", () => {
    const state = new WorldState("main", 3_000);
    for (let n = 1; n <= HANDOFF_HISTORY + 5; n++) state.onHandoff(handoff(n));
    const view = state.view(T0);
    assert.equal(view.handoffCount, HANDOFF_HISTORY + 5);
    assert.equal(view.handoffs.length, HANDOFF_HISTORY);
    assert.equal(view.handoffs.at(-1)?.n, HANDOFF_HISTORY + 5);
    assert.deepEqual(
      { from: view.handoffs.at(-1)?.from, to: view.handoffs.at(-1)?.to },
      { from: "z1", to: "z2" },
    );
  });
});

describe("console over NATS and HTTP", () => {
  let ctx: TestContext;
  let nc: NatsConnection;
  let state: WorldState;
  let feed: NatsFeed;
  let server: ConsoleServer;
  let url: string;

  before(async () => {
    ctx = await createTestContext({ postgres: false, redis: false });
    nc = await connect({ servers: ctx.nats.url, name: "console-test" });
    ctx.defer(() => nc.close());
    const subjects = createSubjects({ prefix: ctx.nats.prefix });
    state = new WorldState("main", 60_000);
    feed = await NatsFeed.start(nc, subjects, state, silent);
    ctx.defer(() => feed.stop());
    server = new ConsoleServer({
      state,
      logger: silent,
      host: "127.0.0.1",
      port: 0,
      pushHz: 20,
      maxClients: 2,
      natsConnected: () => !nc.isClosed(),
      metrics: () => Promise.resolve("# TYPE meridian_console_browsers gauge\nmeridian_console_browsers 0\n"),
    });
    url = (await server.listen()).url;
    ctx.defer(() => server.close());

    const codec = observerCodec();
    nc.publish(worldMapSubject(subjects, "main"), encodeMessage(map));
    nc.publish(
      observerSubject(subjects, "main", "z1", OBSERVER_SNAPSHOT_CHANNEL),
      codec.encode(snapshot("z1", { at: Date.now() })),
    );
    nc.publish(observerSubject(subjects, "main", "z1", OBSERVER_HANDOFF_CHANNEL), codec.encode(handoff(42)));
    nc.publish(observerSubject(subjects, "main", "z1", OBSERVER_SNAPSHOT_CHANNEL), new Uint8Array([0xc1]));
    await nc.flush();
  });
  after(() => ctx.cleanup());

  const until = async <T>(what: string, check: () => T | undefined): Promise<T> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  it("feed - the map, snapshots and handoffs reach the state; undecodable messages are counted", async () => {
    const view = await until("everything received", () => {
      const v = state.view();
      return v.map !== null && v.zones.length === 1 && v.handoffCount === 1 && v.badMessages === 1
        ? v
        : undefined;
    });
    assert.equal(view.map?.version, 5);
    assert.equal(view.handoffs[0]?.entity, "42");
    assert.equal(view.entities.length, 2);
  });

  it("http - the page, its script and stylesheet, with security headers; 404 and 405 otherwise", async () => {
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'self'/);
    assert.match(await page.text(), /id="map"/);
    const script = await fetch(new URL("/console.js", url));
    assert.match(script.headers.get("content-type") ?? "", /javascript/);
    assert.match(await script.text(), /__meridian/);
    assert.equal((await fetch(new URL("/console.css", url))).status, 200);
    assert.equal((await fetch(new URL("/nope", url))).status, 404);
    assert.equal((await fetch(url, { method: "POST" })).status, 405);
  });

  it("http - /state.json is the world view, /healthz and /readyz say NATS is up", async () => {
    const view = (await (await fetch(new URL("/state.json", url))).json()) as WorldView;
    assert.equal(view.t, "world");
    assert.equal(view.world, "main");
    const health = await fetch(new URL("/healthz", url));
    assert.equal(health.status, 200);
    assert.deepEqual(((await health.json()) as { ok: boolean }).ok, true);
    assert.equal((await fetch(new URL("/readyz", url))).status, 200);
    const metrics = await fetch(new URL("/metrics", url));
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    assert.match(await metrics.text(), /meridian_console_browsers 0/);
  });

  it("http - without NATS: alive (/healthz 200) but not ready (/readyz 503)", async () => {
    const deaf = new ConsoleServer({
      state,
      logger: silent,
      host: "127.0.0.1",
      port: 0,
      pushHz: 1,
      maxClients: 1,
      natsConnected: () => false,
    });
    const base = (await deaf.listen()).url;
    try {
      assert.equal((await fetch(new URL("/healthz", base))).status, 200);
      // No metrics source (telemetry off): 503 saying so.
      const metrics = await fetch(new URL("/metrics", base));
      assert.equal(metrics.status, 503);
      assert.match(await metrics.text(), /telemetry is off/);
      const ready = await fetch(new URL("/readyz", base));
      assert.equal(ready.status, 503);
      assert.deepEqual(((await ready.json()) as { nats: boolean }).nats, false);
    } finally {
      await deaf.close();
    }
  });

  it("live - a browser socket gets the state at once, then pushes; past maxClients it is refused", async () => {
    const live = new URL("/live", url.replace("http", "ws")).href;
    const received: WorldView[] = [];
    const first = new WebSocket(live);
    first.on("message", (data) => received.push(JSON.parse(String(data)) as WorldView));
    await until("two pushes", () => (received.length >= 2 ? true : undefined));
    assert.equal(received[0]?.t, "world");
    assert.equal(received[0]?.handoffCount, 1);
    const second = new WebSocket(live);
    await new Promise((resolve) => second.once("open", resolve));
    const third = new WebSocket(live);
    const code = await new Promise<number>((resolve) => third.once("close", resolve));
    assert.equal(code, 1013);
    first.close();
    second.close();
    const wrong = new WebSocket(new URL("/elsewhere", url.replace("http", "ws")).href);
    await new Promise<void>((resolve) => wrong.once("error", () => resolve()));
  });

  it("http - a port in use is CONSOLE_LISTEN", async () => {
    const port = Number(new URL(url).port);
    const clash = new ConsoleServer({
      state,
      logger: silent,
      host: "127.0.0.1",
      port,
      pushHz: 1,
      maxClients: 1,
      natsConnected: () => true,
    });
    await assert.rejects(
      clash.listen(),
      (error: unknown) => error instanceof ConsoleError && error.code === ConsoleErrorCode.Listen,
    );
  });
});
