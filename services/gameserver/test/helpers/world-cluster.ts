/**
 * A whole world in real processes, spawned by path (a service never imports another): the lobby
 * (admin HTTP API on an ephemeral port, issuing the zone servers' credentials), the authority, one
 * gateway (TCP on an ephemeral port, rate limits raised for bots) and N zone servers with the
 * history stream on (`ZONE_HISTORY=1`), all isolated on one test context and cleaned up by
 * `ctx.cleanup()`. The history is collected from `evt.world.<world>.history`.
 */
import { fileURLToPath } from "node:url";
import { createSubjects, worldMapCodec, worldMapSubject } from "@meridian/protocol";
import { createTestContext, type SpawnedProcess, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { HistoryRecord } from "./world-checker.js";

const servicesDir = fileURLToPath(new URL("../../..", import.meta.url));
const ADMIN_TOKEN = "gameserver-world-e2e-admin-token-0123456789";

const node = (service: string) => ({
  command: process.execPath,
  args: ["--conditions=meridian-source", "--import", "tsx", "src/main.ts"],
  cwd: `${servicesDir}/${service}`,
});

/** The world of a test, as every process loads it. */
export interface E2eWorld {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly cols: number;
  readonly rows: number;
  readonly tickHz: number;
  readonly aoiRadius: number;
}

export interface WorldClusterOptions {
  readonly world: Omit<E2eWorld, "name">;
  readonly zones: number;
  readonly spawn: { readonly x: number; readonly y: number };
  readonly checkpointMs: number;
  /** Authority lease, ms (a dead zone's cells move within about this). */
  readonly leaseMs: number;
}

export interface WorldCluster {
  readonly ctx: TestContext;
  readonly world: E2eWorld;
  readonly nc: NatsConnection;
  /** `ws://127.0.0.1:<port>/` of the gateway (WebSocket: the bots bind their own source addresses). */
  readonly gatewayUrl: string;
  /** Zone server processes by server id. */
  readonly zones: ReadonlyMap<string, SpawnedProcess>;
  /** Every history record received so far. */
  readonly history: HistoryRecord[];
  /** Cell → owning server, from the latest world maps. */
  readonly owners: Map<string, string>;
}

/** Records the owners of a `world_map` (cell → server). */
function mapOwners(message: unknown, into: Map<string, string>): void {
  const map = message as { cells?: { cell: string; server: string | null }[] } | null;
  for (const entry of map?.cells ?? []) {
    if (entry.server !== null) into.set(entry.cell, entry.server);
  }
}

export async function startWorldCluster(options: WorldClusterOptions): Promise<WorldCluster> {
  const ctx = await createTestContext();
  try {
    return await start(ctx, options);
  } catch (error) {
    await ctx.cleanup();
    throw error;
  }
}

async function start(ctx: TestContext, options: WorldClusterOptions): Promise<WorldCluster> {
  const world: E2eWorld = {
    name: `e2e${ctx.runId}`.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 60),
    ...options.world,
  };
  const subjects = createSubjects({ prefix: ctx.nats.prefix });
  const nc = await connect({ servers: ctx.nats.url, name: "world-e2e" });
  ctx.defer(() => nc.close());
  const history: HistoryRecord[] = [];
  nc.subscribe(subjects.event(`world.${world.name}.history`), {
    callback: (error, msg) => {
      if (error !== null) return;
      history.push(JSON.parse(new TextDecoder().decode(msg.data)) as HistoryRecord);
    },
  });
  const owners = new Map<string, string>();
  const maps = worldMapCodec();
  nc.subscribe(worldMapSubject(subjects, world.name), {
    callback: (error, msg) => {
      if (error !== null) return;
      const decoded = maps.decode(msg.data);
      if (decoded.ok) mapOwners(decoded.message, owners);
    },
  });
  await nc.flush();

  const base = {
    MERIDIAN_REDIS_URL: ctx.redis.url,
    MERIDIAN_REDIS_PREFIX: ctx.redis.prefix,
    MERIDIAN_NATS_URL: ctx.nats.url,
    MERIDIAN_SUBJECT_PREFIX: ctx.nats.prefix,
    MERIDIAN_ENV: "development",
    LOG_LEVEL: "warn",
  };
  const worldEnv = {
    WORLD_NAME: world.name,
    WORLD_WIDTH: String(world.width),
    WORLD_HEIGHT: String(world.height),
    WORLD_COLS: String(world.cols),
    WORLD_ROWS: String(world.rows),
    WORLD_TICK_HZ: String(world.tickHz),
    WORLD_AOI_RADIUS: String(world.aoiRadius),
    WORLD_GHOST_MARGIN: String(world.aoiRadius),
  };

  const lobby = await ctx.spawnProcess({
    ...node("lobby"),
    env: {
      ...base,
      MERIDIAN_POSTGRES_URL: ctx.postgres.url,
      LOBBY_ADMIN_TOKEN: ADMIN_TOKEN,
      LOBBY_ADMIN_PORT: "0",
      LOBBY_MAX_ACCOUNTS_PER_IP_PER_HOUR: "100000",
      LOBBY_LOGIN_IP_FREE_ATTEMPTS: "100000",
    },
    readyPattern: /"msg":"lobby ready"/,
    timeoutMs: 60_000,
  });
  const ready = lobby
    .output()
    .split("\n")
    .find((l) => l.includes('"msg":"lobby ready"'));
  const admin = (JSON.parse(ready ?? "{}") as { admin: string }).admin;

  const heartbeatMs = Math.max(100, Math.floor(options.leaseMs / 4));
  await ctx.spawnProcess({
    ...node("authority"),
    env: {
      ...base,
      ...worldEnv,
      WORLD_SPAWN_X: String(options.spawn.x),
      WORLD_SPAWN_Y: String(options.spawn.y),
      AUTHORITY_LEASE_MS: String(options.leaseMs),
      AUTHORITY_HEARTBEAT_MS: String(heartbeatMs),
      AUTHORITY_VERIFY_MS: String(heartbeatMs),
      AUTHORITY_LEADER_TTL_MS: "3000",
    },
    readyPattern: /"msg":"authority ready"/,
    timeoutMs: 60_000,
  });

  const gateway = await ctx.spawnProcess({
    ...node("gateway"),
    env: {
      ...base,
      GATEWAY_ID: "gw1",
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_TCP_PORT: "0",
      GATEWAY_WS_PORT: "0",
      GATEWAY_WORLD: world.name,
      GATEWAY_RATE_MSGS_PER_S: "1000",
      GATEWAY_RATE_BYTES_PER_S: String(16 * 1024 * 1024),
      GATEWAY_PREAUTH_MS: "30000",
      GATEWAY_LOBBY_TIMEOUT_MS: "30000",
    },
    readyPattern: /"msg":"gateway ready"/,
    timeoutMs: 60_000,
  });
  const gwLine = gateway
    .output()
    .split("\n")
    .find((l) => l.includes('"msg":"gateway ready"'));
  const wsPort = (JSON.parse(gwLine ?? "{}") as { wsPort: number }).wsPort;

  const zones = new Map<string, SpawnedProcess>();
  await Promise.all(
    Array.from({ length: options.zones }, async (_, i) => {
      const serverId = `z${i + 1}`;
      const res = await fetch(`${admin}/admin/servers`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ name: `zone ${serverId}`, world: world.name }),
      });
      const json = (await res.json()) as { credential?: string };
      if (!res.ok || typeof json.credential !== "string") {
        throw new Error(`credential for ${serverId}: ${res.status} ${JSON.stringify(json)}`);
      }
      const proc = await ctx.spawnProcess({
        ...node("gameserver"),
        env: {
          ...base,
          ...worldEnv,
          ZONE_SERVER_ID: serverId,
          ZONE_CREDENTIAL: json.credential,
          ZONE_CHECKPOINT_MS: String(options.checkpointMs),
          ZONE_HISTORY: "1",
        },
        readyPattern: /"msg":"zone ready"/,
        timeoutMs: 60_000,
      });
      zones.set(serverId, proc);
    }),
  );
  return { ctx, world, nc, gatewayUrl: `ws://127.0.0.1:${wsPort}/`, zones, history, owners };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true, or throws after `timeoutMs` naming `what`. */
export async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Cells held per server according to the history's latest map (cell → server). */
export function cellsOf(cluster: WorldCluster, server: string): string[] {
  return [...cluster.owners].filter(([, s]) => s === server).map(([cell]) => cell);
}
