/**
 * A whole world in real processes, with the console watching it: the lobby (admin API on an
 * ephemeral port, issuing the zone servers' credentials), the authority, four zone servers on a 2×2
 * world, one gateway and the console (HTTP on an ephemeral port), each spawned by path (a service
 * never imports another), all isolated on one test context (own Postgres database, Redis prefix,
 * NATS subject prefix) and stopped by `ctx.cleanup()`. After services/gameserver's world-cluster
 * helper.
 */
import { fileURLToPath } from "node:url";
import { createTestContext, type SpawnedProcess, type TestContext } from "@meridian/testkit";

const servicesDir = fileURLToPath(new URL("../../..", import.meta.url));
const ADMIN_TOKEN = "console-browser-test-admin-token-0123456789";

const node = (service: string) => ({
  command: process.execPath,
  args: ["--conditions=meridian-source", "--import", "tsx", "src/main.ts"],
  cwd: `${servicesDir}/${service}`,
});

/** The world of the test. */
export interface TestWorld {
  readonly width: number;
  readonly height: number;
  readonly cols: number;
  readonly rows: number;
  readonly tickHz: number;
  readonly aoiRadius: number;
}

export interface ConsoleCluster {
  readonly ctx: TestContext;
  readonly worldName: string;
  /** `ws://127.0.0.1:<port>/` of the gateway. */
  readonly gatewayUrl: string;
  /** `http://127.0.0.1:<port>/` of the console's page. */
  readonly consoleUrl: string;
  readonly processes: ReadonlyMap<string, SpawnedProcess>;
}

/** The JSON fields of a process's ready line (pino). */
function readyLine(proc: SpawnedProcess, msg: string): Record<string, unknown> {
  const line = proc
    .output()
    .split("\n")
    .find((l) => l.includes(`"msg":"${msg}"`));
  return JSON.parse(line ?? "{}") as Record<string, unknown>;
}

export async function startConsoleCluster(options: {
  readonly world: TestWorld;
  readonly zones: number;
  readonly spawn: { readonly x: number; readonly y: number };
}): Promise<ConsoleCluster> {
  const ctx = await createTestContext();
  try {
    return await start(ctx, options);
  } catch (error) {
    await ctx.cleanup();
    throw error;
  }
}

async function start(
  ctx: TestContext,
  options: Parameters<typeof startConsoleCluster>[0],
): Promise<ConsoleCluster> {
  const { world } = options;
  const worldName = `con${ctx.runId}`.replace(/[^A-Za-z0-9_-]/g, "").slice(0, 60);
  const processes = new Map<string, SpawnedProcess>();
  const base = {
    MERIDIAN_REDIS_URL: ctx.redis.url,
    MERIDIAN_REDIS_PREFIX: ctx.redis.prefix,
    MERIDIAN_NATS_URL: ctx.nats.url,
    MERIDIAN_SUBJECT_PREFIX: ctx.nats.prefix,
    MERIDIAN_ENV: "development",
  };
  const worldEnv = {
    WORLD_NAME: worldName,
    WORLD_WIDTH: String(world.width),
    WORLD_HEIGHT: String(world.height),
    WORLD_COLS: String(world.cols),
    WORLD_ROWS: String(world.rows),
    WORLD_TICK_HZ: String(world.tickHz),
    WORLD_AOI_RADIUS: String(world.aoiRadius),
    WORLD_GHOST_MARGIN: String(world.aoiRadius),
  };

  // The console first: it sees the world from its first map and snapshot on.
  const consoleProc = await ctx.spawnProcess({
    ...node("console"),
    env: { ...base, WORLD_NAME: worldName, CONSOLE_HOST: "127.0.0.1", CONSOLE_PORT: "0" },
    readyPattern: /"msg":"console ready"/,
    timeoutMs: 60_000,
  });
  processes.set("console", consoleProc);
  const consoleUrl = String(readyLine(consoleProc, "console ready").url);

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
  processes.set("lobby", lobby);
  const admin = String(readyLine(lobby, "lobby ready").admin);

  processes.set(
    "authority",
    await ctx.spawnProcess({
      ...node("authority"),
      env: {
        ...base,
        ...worldEnv,
        WORLD_SPAWN_X: String(options.spawn.x),
        WORLD_SPAWN_Y: String(options.spawn.y),
        AUTHORITY_LEASE_MS: "3000",
        AUTHORITY_HEARTBEAT_MS: "500",
      },
      readyPattern: /"msg":"authority ready"/,
      timeoutMs: 60_000,
    }),
  );

  const gateway = await ctx.spawnProcess({
    ...node("gateway"),
    env: {
      ...base,
      GATEWAY_ID: "gw1",
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_TCP_PORT: "0",
      GATEWAY_WS_PORT: "0",
      GATEWAY_WORLD: worldName,
      GATEWAY_RATE_MSGS_PER_S: "1000",
      GATEWAY_PREAUTH_MS: "30000",
      GATEWAY_LOBBY_TIMEOUT_MS: "30000",
    },
    readyPattern: /"msg":"gateway ready"/,
    timeoutMs: 60_000,
  });
  processes.set("gateway", gateway);
  const wsPort = Number(readyLine(gateway, "gateway ready").wsPort);

  await Promise.all(
    Array.from({ length: options.zones }, async (_, i) => {
      const serverId = `z${i + 1}`;
      const res = await fetch(`${admin}/admin/servers`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ name: `zone ${serverId}`, world: worldName }),
      });
      const json = (await res.json()) as { credential?: string };
      if (!res.ok || typeof json.credential !== "string") {
        throw new Error(`credential for ${serverId}: ${res.status} ${JSON.stringify(json)}`);
      }
      processes.set(
        serverId,
        await ctx.spawnProcess({
          ...node("gameserver"),
          env: {
            ...base,
            ...worldEnv,
            ZONE_SERVER_ID: serverId,
            ZONE_CREDENTIAL: json.credential,
            ZONE_OBSERVER_HZ: "4",
          },
          readyPattern: /"msg":"zone ready"/,
          timeoutMs: 60_000,
        }),
      );
    }),
  );
  return { ctx, worldName, gatewayUrl: `ws://127.0.0.1:${wsPort}/`, consoleUrl, processes };
}
