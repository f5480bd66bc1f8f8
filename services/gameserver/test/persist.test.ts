/**
 * Persisted player state, end to end: zone servers in-process (fake authority and gateway, real
 * Redis and NATS) talk to a real lobby process on its own Postgres database, with a credential the
 * lobby issued. Logout, the periodic persist and stop write the player's row (read back through the
 * lobby's `player_state_load`, which reads Postgres); an install with no Redis checkpoint restores
 * the row with its epoch + 1; with the lobby down the zone keeps ticking, logs, and persists once
 * the lobby is back.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  encodeMessage,
  LOBBY_MAX_MESSAGE_BYTES,
  type LobbyReplyOf,
  lobbyReplyCodec,
  lobbyRequestCodec,
  lobbySubject,
  makeLoginNonce,
  ZONE_DETACH_CHANNEL,
} from "@meridian/protocol";
import { createTestContext, type SpawnedProcess, type TestContext } from "@meridian/testkit";
import { createZoneSim } from "@meridian/world";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { DEFAULT_PERSIST_MS, loadConfig } from "../src/config.js";
import { ConfigError } from "../src/errors.js";
import { PlayerStatePersister } from "../src/persist/player-state-persister.js";
import { ZoneServer, type ZoneServerOptions } from "../src/zone-server.js";
import { type Cluster, createCluster } from "./helpers/cluster.js";

const lobbyDir = fileURLToPath(new URL("../../lobby", import.meta.url));
const ADMIN_TOKEN = "gameserver-persist-test-admin-token-0123456789";

let cluster: Cluster;
let pg: TestContext;
let lobby: SpawnedProcess | undefined;
let credential: string;
let leftEpoch: number;
let rightEpoch: number;
/** Log lines of the zones started by {@link startZone}, parsed. */
const logs: { zone?: string; msg?: string; code?: string; lobbyCode?: string }[] = [];

async function startLobby(): Promise<SpawnedProcess> {
  const process_ = await cluster.ctx.spawnProcess({
    command: process.execPath,
    args: ["--conditions=meridian-source", "--import", "tsx", "src/main.ts"],
    cwd: lobbyDir,
    env: {
      MERIDIAN_POSTGRES_URL: pg.postgres.url,
      MERIDIAN_REDIS_URL: cluster.ctx.redis.url,
      MERIDIAN_REDIS_PREFIX: cluster.ctx.redis.prefix,
      MERIDIAN_NATS_URL: cluster.ctx.nats.url,
      MERIDIAN_SUBJECT_PREFIX: cluster.ctx.nats.prefix,
      MERIDIAN_ENV: "development",
      LOBBY_ADMIN_TOKEN: ADMIN_TOKEN,
      LOBBY_ADMIN_PORT: "0",
      // Every account of these tests is created from 127.0.0.1.
      LOBBY_MAX_ACCOUNTS_PER_IP_PER_HOUR: "1000",
      LOG_LEVEL: "warn",
    },
    readyPattern: /"msg":"lobby ready"/,
    timeoutMs: 60_000,
  });
  return process_;
}

function adminUrl(process_: SpawnedProcess): string {
  const ready = process_
    .output()
    .split("\n")
    .find((l) => l.includes('"msg":"lobby ready"'));
  return (JSON.parse(ready ?? "{}") as { admin: string }).admin;
}

/** A zone server with its own connections and a logger whose lines land in {@link logs}. */
async function startZone(serverId: string, options: Partial<ZoneServerOptions> = {}): Promise<ZoneServer> {
  const nc = await connect({ servers: cluster.ctx.nats.url, name: serverId });
  const redis = new Redis(cluster.ctx.redis.url);
  const logger = pino(
    { level: "info" },
    {
      write: (line: string) => {
        logs.push(JSON.parse(line) as (typeof logs)[number]);
      },
    },
  );
  const zone = new ZoneServer(
    { nc, redis, logger, createSim: (c) => createZoneSim({ config: c, npcsPerCell: 0 }) },
    {
      serverId,
      credential,
      capacity: 100,
      world: cluster.world,
      subjects: cluster.subjects,
      redisPrefix: cluster.ctx.redis.prefix,
      ...options,
    },
  );
  cluster.ctx.defer(async () => {
    await zone.stop();
    await nc.close().catch(() => undefined);
    redis.disconnect();
  });
  await zone.start();
  return zone;
}

/** Logs in through the lobby (accounts are auto-created) and returns the account id. */
async function createAccount(username: string): Promise<string> {
  const nonce = makeLoginNonce(Date.now());
  const msg = await cluster.nc.request(
    lobbySubject(cluster.subjects, "login"),
    lobbyRequestCodec("login").encode({
      t: "login",
      username,
      password: "correct horse battery staple",
      nonce,
      connectionNonce: nonce,
      ip: "127.0.0.1",
      tls: false,
      gateway: "gw1",
    }),
    { timeout: 30_000 },
  );
  const decoded = lobbyReplyCodec("login").decode(msg.data);
  assert.ok(decoded.ok && decoded.message.t === "session", "login failed");
  return decoded.message.accountId;
}

/** The persisted row, read through the lobby (which reads Postgres). */
async function persisted(accountId: string): Promise<LobbyReplyOf<"player_state_load">> {
  const msg = await cluster.nc.request(
    lobbySubject(cluster.subjects, "player_state_load"),
    lobbyRequestCodec("player_state_load").encode({
      t: "player_state_load",
      credential,
      world: cluster.world.name,
      accountId,
    }),
    { timeout: 10_000 },
  );
  const decoded = lobbyReplyCodec("player_state_load").decode(msg.data);
  assert.ok(decoded.ok, "player_state_load reply did not decode");
  assert.equal(decoded.message.t, "player_state", JSON.stringify(decoded.message));
  return decoded.message as LobbyReplyOf<"player_state_load">;
}

/** Waits (bounded) until `check` resolves to something other than undefined. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const found = (accountId: string, epoch?: number) => async () => {
  const row = await persisted(accountId);
  return row.found && (epoch === undefined || row.epoch === epoch) ? row : undefined;
};

function detach(server: string, accountId: string, sessionId: string): void {
  cluster.nc.publish(
    cluster.subjects.zone(server, ZONE_DETACH_CHANNEL),
    encodeMessage({ t: "player_detach", accountId, sessionId, gateway: "gw1", reason: "logout" }),
  );
}

before(async () => {
  cluster = await createCluster();
  pg = await createTestContext({ redis: false, nats: false });
  lobby = await startLobby();
  const res = await fetch(`${adminUrl(lobby)}/admin/servers`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "persist zone", world: cluster.world.name }),
  });
  const json = (await res.json()) as { credential?: string };
  assert.ok(res.ok && typeof json.credential === "string", `credential: ${res.status}`);
  credential = json.credential;
  leftEpoch = await cluster.authority.lease("c0_0", "zp");
  rightEpoch = await cluster.authority.lease("c1_0", "zq");
});
after(async () => {
  await cluster.ctx.cleanup();
  await pg.cleanup();
});

describe("persist", () => {
  let zone: ZoneServer;

  before(async () => {
    zone = await startZone("zp", { persistMs: 200 });
  });

  it("persist - the periodic persist writes every player held", async () => {
    const accountId = await createAccount("persist_periodic");
    const reply = await cluster.install("zp", {
      accountId,
      cell: "c0_0",
      cellEpoch: leftEpoch,
      x: 30,
      y: 40,
    });
    assert.equal(reply.t, "player_installed");
    const before = zone.persistStats().saved;
    const row = await eventually("the periodic persist", found(accountId));
    assert.equal(row.epoch, 1);
    assert.equal(row.snapshot?.x, 30);
    assert.ok(zone.persistStats().saved > before);
    assert.equal(zone.owns(accountId), true);
  });

  it("persist - with its Redis checkpoint gone, an install restores the persisted state with epoch + 1", async () => {
    const accountId = await createAccount("persist_restore");
    const first = randomUUID();
    await cluster.install("zp", {
      accountId,
      cell: "c0_0",
      cellEpoch: leftEpoch,
      sessionId: first,
      x: 120,
      y: 30,
    });
    detach("zp", accountId, first);
    await eventually("the player detached", async () => (zone.owns(accountId) ? undefined : true));
    const second = randomUUID();
    // The Redis checkpoint restores the player at epoch 2 (where they left, not at the install's x, y).
    const again = await cluster.install("zp", {
      accountId,
      cell: "c0_0",
      cellEpoch: leftEpoch,
      sessionId: second,
      x: 10,
      y: 10,
    });
    assert.equal(again.t === "player_installed" && again.epoch, 2);
    const stateBefore = zone.sim.snapshot(accountId)?.state;
    detach("zp", accountId, second);
    await eventually("the player detached", async () => (zone.owns(accountId) ? undefined : true));
    await eventually("the row at epoch 2", found(accountId, 2));
    // Redis loses the checkpoint (flushed, failed over without persistence…).
    await cluster.redis.del(cluster.keys.checkpoint(accountId));
    const restored = await cluster.install("zp", {
      accountId,
      cell: "c0_0",
      cellEpoch: leftEpoch,
      sessionId: randomUUID(),
      x: 10,
      y: 10,
    });
    assert.deepEqual(restored, {
      t: "player_installed",
      accountId,
      server: "zp",
      cell: "c0_0",
      epoch: 3,
      ack: 0,
    });
    const snapshot = zone.sim.snapshot(accountId);
    assert.equal(snapshot?.x, 120);
    assert.equal(snapshot?.y, 30);
    assert.deepEqual(snapshot?.state, JSON.parse(JSON.stringify(stateBefore ?? null)));
    const checkpoint = await cluster.redis.hgetall(cluster.keys.checkpoint(accountId));
    assert.equal(checkpoint.epoch, "3");
    assert.ok(
      logs.some((l) => l.zone === "zp" && l.msg === "player restored from the lobby's persisted state"),
    );
  });

  it("persist - with the lobby down the zone keeps ticking and logs, refuses installs it cannot load, persists once the lobby is back", async () => {
    const accountId = await createAccount("persist_outage");
    const newcomer = await createAccount("persist_outage_new");
    // Installed while the lobby answers: nothing saved yet, a fresh player (and a Redis checkpoint).
    const reply = await cluster.install("zp", {
      accountId,
      cell: "c0_0",
      cellEpoch: leftEpoch,
      x: 150,
      y: 150,
    });
    assert.equal(reply.t === "player_installed" && reply.epoch, 1);
    await lobby?.stop();
    lobby = undefined;
    // A player with no checkpoint cannot be loaded now: refused (retryable), never started fresh (a
    // fresh character would later overwrite the saved one).
    const refused = await cluster.install("zp", { accountId: newcomer, cell: "c0_0", cellEpoch: leftEpoch });
    assert.equal(refused.t === "world_error" && refused.code, "WORLD_UNAVAILABLE");
    assert.equal(zone.owns(newcomer), false);
    assert.ok(logs.some((l) => l.zone === "zp" && l.msg === "player state load failed"));
    const failures = zone.persistStats().failures;
    assert.equal(await zone.persistAll("test", true), false);
    const stats = zone.persistStats();
    assert.ok(stats.failures > failures);
    assert.ok(stats.pending >= 1);
    assert.ok(
      logs.some(
        (l) =>
          l.zone === "zp" &&
          l.code === "GAMESERVER_PERSIST_FAILED" &&
          l.msg?.startsWith("player state save failed"),
      ),
    );
    const tick = zone.stats().tick;
    await eventually("ticks while the lobby is down", async () =>
      zone.stats().tick > tick + 2 ? true : undefined,
    );
    assert.equal(zone.owns(accountId), true);

    lobby = await startLobby();
    const row = await eventually("the persist after the lobby came back", found(accountId));
    assert.equal(row.epoch, 1);
    assert.equal(row.snapshot?.x, 150);
    // With the lobby back, the refused player is installed.
    const again = await cluster.install("zp", { accountId: newcomer, cell: "c0_0", cellEpoch: leftEpoch });
    assert.equal(again.t, "player_installed");
  });
});

describe("persist - without the periodic persist", () => {
  let zone: ZoneServer;

  before(async () => {
    zone = await startZone("zq", { persistMs: 0 });
  });

  it("persist - a logout persists the player's snapshot to Postgres", async () => {
    const accountId = await createAccount("persist_logout");
    const sessionId = randomUUID();
    const reply = await cluster.install("zq", {
      accountId,
      cell: "c1_0",
      cellEpoch: rightEpoch,
      sessionId,
      x: 260,
      y: 70,
    });
    assert.equal(reply.t, "player_installed");
    const state = zone.sim.snapshot(accountId)?.state;
    // No periodic persist on this zone: the row comes from the logout.
    assert.equal((await persisted(accountId)).found, false);
    detach("zq", accountId, sessionId);
    await eventually("the player detached", async () => (zone.owns(accountId) ? undefined : true));
    const row = await eventually("the row", found(accountId));
    assert.equal(row.epoch, 1);
    assert.equal(row.snapshot?.x, 260);
    assert.equal(row.snapshot?.y, 70);
    assert.equal(row.snapshot?.username, `player${accountId}`);
    assert.deepEqual(row.snapshot?.state, JSON.parse(JSON.stringify(state ?? null)));
  });

  it("persist - stop persists every player held before it returns", async () => {
    const accountId = await createAccount("persist_stop");
    const reply = await cluster.install("zq", {
      accountId,
      cell: "c1_0",
      cellEpoch: rightEpoch,
      x: 300,
      y: 20,
    });
    assert.equal(reply.t, "player_installed");
    assert.equal((await persisted(accountId)).found, false);
    await zone.stop();
    const row = await persisted(accountId);
    assert.equal(row.found, true);
    assert.equal(row.snapshot?.x, 300);
  });
});

describe("persist - batches", () => {
  it("persist - a save is split into requests of at most 500 entries and 512 KiB", async () => {
    const seen: number[] = [];
    const sizes: number[] = [];
    const codec = lobbyRequestCodec("player_state_save");
    // A plain (non-queue) subscription sees a copy of every request; the lobby answers them.
    const tap = cluster.nc.subscribe(lobbySubject(cluster.subjects, "player_state_save"), {
      callback: (error, msg) => {
        if (error !== null) return;
        const decoded = codec.decode(msg.data);
        // Only this test's requests (the zone "zp" persists its players meanwhile).
        if (!decoded.ok || !decoded.message.entries.every((e) => e.accountId.startsWith("9000"))) return;
        seen.push(decoded.message.entries.length);
        sizes.push(msg.data.length);
      },
    });
    await cluster.nc.flush();
    const persister = new PlayerStatePersister(cluster.nc, pino({ level: "silent" }), {
      subjects: cluster.subjects,
      credential,
      world: cluster.world.name,
      serverId: "batches",
    });
    // Account ids no account has: the lobby counts them `unknown`, which shows every entry arrived.
    const entry = (i: number, bytes: number) => ({
      epoch: 1,
      snapshot: {
        accountId: String(9_000_000_000 + i),
        username: `b${i}`,
        x: 1,
        y: 1,
        lastSeq: 0,
        state: { pad: "x".repeat(bytes) },
      },
    });
    assert.equal(
      await persister.save(
        Array.from({ length: 1_201 }, (_, i) => entry(i, 10)),
        "test",
      ),
      true,
    );
    assert.equal(persister.stats().unknown, 1_201);
    await eventually("the tap", async () => (seen.length >= 3 ? true : undefined));
    assert.deepEqual(seen, [500, 500, 201]);
    seen.length = 0;
    sizes.length = 0;
    assert.equal(
      await persister.save(
        Array.from({ length: 300 }, (_, i) => entry(i, 4_000)),
        "test",
      ),
      true,
    );
    assert.equal(persister.stats().unknown, 1_501);
    assert.equal(persister.stats().failures, 0);
    await eventually("the tap", async () => (seen.reduce((a, b) => a + b, 0) >= 300 ? true : undefined));
    assert.ok(seen.length >= 3, `${seen.length} requests`);
    assert.ok(sizes.every((n) => n <= LOBBY_MAX_MESSAGE_BYTES));
    tap.unsubscribe();
  });
});

describe("persist - config", () => {
  const env = { ZONE_CREDENTIAL: "c".repeat(43) };

  it("config - ZONE_PERSIST_MS defaults to 60000; 0 turns the periodic persist off", () => {
    assert.equal(DEFAULT_PERSIST_MS, 60_000);
    assert.equal(loadConfig(env).persistMs, 60_000);
    assert.equal(loadConfig({ ...env, ZONE_PERSIST_MS: "0" }).persistMs, 0);
    assert.equal(loadConfig({ ...env, ZONE_PERSIST_MS: "5000" }).persistMs, 5_000);
  });

  it("config - ZONE_PERSIST_MS below 100 (but not 0), above a day or not a number is refused", () => {
    for (const value of ["50", "86400001", "-1", "soon"]) {
      assert.throws(
        () => loadConfig({ ...env, ZONE_PERSIST_MS: value }),
        (error: unknown) =>
          error instanceof ConfigError && error.problems.some((p) => p.variable === "ZONE_PERSIST_MS"),
        value,
      );
    }
  });
});
