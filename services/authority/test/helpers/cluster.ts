/**
 * What the authority's tests start: a real lobby process (`services/lobby/src/main.ts`, by path: the
 * authority never imports the lobby) with its admin HTTP API to issue and revoke server credentials,
 * in-process authorities on the test context's Redis prefix and NATS prefix, authority processes
 * (`src/main.ts`), and a watcher of the world map.
 */
import { fileURLToPath } from "node:url";
import {
  createSubjects,
  type Subjects,
  type WorldMap,
  worldMapCodec,
  worldMapSubject,
} from "@meridian/protocol";
import type { SpawnedProcess, TestContext } from "@meridian/testkit";
import { worldConfig } from "@meridian/world";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Authority, type AuthorityOptions } from "../../src/authority.js";

export const authorityDir = fileURLToPath(new URL("../..", import.meta.url));
export const lobbyDir = fileURLToPath(new URL("../../../lobby", import.meta.url));
export const ADMIN_TOKEN = "authority-tests-admin-token-0123456789";

export const node = (script: string, cwd: string) => ({
  command: process.execPath,
  args: ["--conditions=meridian-source", "--import", "tsx", script],
  cwd,
});

/** Fast timings for tests: leases of 1 s, heartbeats every 200 ms. */
export const FAST = Object.freeze({ leaseMs: 1_000, heartbeatMs: 200, verifyMs: 200, leaderTtlMs: 900 });

/** The shared environment of processes isolated on this run. */
export function clusterEnv(ctx: TestContext): Record<string, string> {
  return {
    MERIDIAN_REDIS_URL: ctx.redis.url,
    MERIDIAN_REDIS_PREFIX: ctx.redis.prefix,
    MERIDIAN_NATS_URL: ctx.nats.url,
    MERIDIAN_SUBJECT_PREFIX: ctx.nats.prefix,
    MERIDIAN_ENV: "development",
  };
}

/** A running lobby and its admin API. */
export interface LobbyHandle {
  readonly proc: SpawnedProcess;
  /** `http://host:port` of the admin API. */
  readonly admin: string;
  /** Issues a server credential for `world` (POST /admin/servers). */
  issue(world: string, name?: string): Promise<{ serverId: string; credential: string }>;
  /** Revokes a server's credential (POST /admin/servers/:id/revoke). */
  revoke(serverId: string): Promise<void>;
}

/** Starts a real lobby process with its admin API on an ephemeral port. */
export async function startLobby(ctx: TestContext): Promise<LobbyHandle> {
  const proc = await ctx.spawnProcess({
    ...node("src/main.ts", lobbyDir),
    env: {
      ...clusterEnv(ctx),
      MERIDIAN_POSTGRES_URL: ctx.postgres.url,
      LOBBY_ADMIN_TOKEN: ADMIN_TOKEN,
      LOBBY_ADMIN_PORT: "0",
    },
    readyPattern: /"msg":"lobby ready"/,
    timeoutMs: 60_000,
  });
  const line =
    proc
      .output()
      .split("\n")
      .find((l) => l.includes('"msg":"lobby ready"')) ?? "{}";
  const admin = (JSON.parse(line) as { admin: string }).admin;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${admin}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`lobby admin ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  let n = 0;
  return {
    proc,
    admin,
    async issue(world, name = `zone ${++n}`) {
      const json = await post("/admin/servers", { name, world });
      return { serverId: String(json.serverId), credential: String(json.credential) };
    },
    async revoke(serverId) {
      await post(`/admin/servers/${serverId}/revoke`, { reason: "compromised in a test" });
    },
  };
}

/** Shared NATS and Redis clients for a test file; closed at cleanup. */
export async function clients(
  ctx: TestContext,
): Promise<{ nc: NatsConnection; redis: Redis; subjects: Subjects }> {
  const nc = await connect({ servers: ctx.nats.url });
  const redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 2 });
  ctx.defer(async () => {
    await nc.close();
    redis.disconnect();
  });
  return { nc, redis, subjects: createSubjects({ prefix: ctx.nats.prefix }) };
}

let worlds = 0;
/** A fresh world name (fresh Redis keys and map subject) for one test. */
export const freshWorld = (tag = "w") => `${tag}${++worlds}_${Math.random().toString(36).slice(2, 7)}`;

/** An in-process authority with its own Redis and NATS clients. Stop it with the returned `stop`. */
export async function startAuthority(
  ctx: TestContext,
  world: string,
  options: Partial<AuthorityOptions> = {},
): Promise<{ authority: Authority; stop: () => Promise<void> }> {
  const nc = await connect({ servers: ctx.nats.url });
  const redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 2 });
  const authority = new Authority(
    { nc, redis, logger: pino({ level: process.env.AUTHORITY_TEST_LOG ?? "silent" }) },
    {
      id: `auth-${Math.random().toString(36).slice(2, 8)}`,
      world: worldConfig({ name: world }),
      redisPrefix: ctx.redis.prefix,
      subjects: createSubjects({ prefix: ctx.nats.prefix }),
      ...FAST,
      quarantineMs: 60_000,
      attachTimeoutMs: 500,
      lobbyTimeoutMs: 2_000,
      spawn: { x: 1_000, y: 1_000 },
      ...options,
    },
  );
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await authority.stop();
    await nc.close();
    redis.disconnect();
  };
  ctx.defer(stop);
  authority.start();
  await eventually(() => (authority.stats().term?.serving ? true : undefined), 5_000, "leading");
  return { authority, stop };
}

/** A real authority process (`src/main.ts`) on the run's prefixes; resolves once it logged ready. */
export function startAuthorityProcess(
  ctx: TestContext,
  world: string,
  env: Record<string, string> = {},
): Promise<SpawnedProcess> {
  return ctx.spawnProcess({
    ...node("src/main.ts", authorityDir),
    env: {
      ...clusterEnv(ctx),
      WORLD_NAME: world,
      AUTHORITY_LEASE_MS: String(FAST.leaseMs * 2),
      AUTHORITY_HEARTBEAT_MS: String(FAST.heartbeatMs),
      AUTHORITY_VERIFY_MS: String(FAST.verifyMs),
      AUTHORITY_LEADER_TTL_MS: "1500",
      ...env,
    },
    readyPattern: /"msg":"authority ready"/,
    timeoutMs: 30_000,
  });
}

/** Watches the world map: keeps every map received, and the newest (highest leaderEpoch, then version). */
export async function watchMap(nc: NatsConnection, subjects: Subjects, world: string) {
  const codec = worldMapCodec();
  const maps: WorldMap[] = [];
  let latest: WorldMap | undefined;
  const sub = nc.subscribe(worldMapSubject(subjects, world), {
    callback: (error, msg) => {
      if (error !== null) return;
      const decoded = codec.decode(msg.data);
      if (!decoded.ok) return;
      const map = decoded.message;
      maps.push(map);
      if (
        latest === undefined ||
        map.leaderEpoch > latest.leaderEpoch ||
        (map.leaderEpoch === latest.leaderEpoch && map.version >= latest.version)
      ) {
        latest = map;
      }
    },
  });
  await nc.flush();
  return {
    maps,
    latest: () => latest,
    /** cell → server of the newest map. */
    owners: () => Object.fromEntries((latest?.cells ?? []).map((c) => [c.cell, c.server])),
    stop: () => sub.unsubscribe(),
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(25);
  }
}
