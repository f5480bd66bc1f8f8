/**
 * With the real authority (services/authority/src/main.ts, spawned by path: a service never imports
 * another) and a real lobby process issuing the server credentials: two zone servers register, the
 * authority gives each one cell of a 2×1 world, a gateway's attach places a player on the owner of
 * the spawn cell, and the player walks across the border to the other server.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createSubjects, worldReplyCodec, worldRequestCodec, worldSubject } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { createZoneSim, worldConfig } from "@meridian/world";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { ZoneServer } from "../src/zone-server.js";
import { TEST_WORLD } from "./helpers/cluster.js";
import { FakeGateway, waitFor } from "./helpers/fake-gateway.js";

const servicesDir = fileURLToPath(new URL("../..", import.meta.url));
const ADMIN_TOKEN = "gameserver-tests-admin-token-0123456789";
const node = (cwd: string) => ({
  command: process.execPath,
  args: ["--conditions=meridian-source", "--import", "tsx", "src/main.ts"],
  cwd,
});

let ctx: TestContext;
let nc: NatsConnection;
let admin: string;

before(async () => {
  ctx = await createTestContext();
  nc = await connect({ servers: ctx.nats.url });
  ctx.defer(() => nc.close());
  const lobby = await ctx.spawnProcess({
    ...node(`${servicesDir}/lobby`),
    env: {
      ...baseEnv(),
      MERIDIAN_POSTGRES_URL: ctx.postgres.url,
      LOBBY_ADMIN_TOKEN: ADMIN_TOKEN,
      LOBBY_ADMIN_PORT: "0",
    },
    readyPattern: /"msg":"lobby ready"/,
    timeoutMs: 60_000,
  });
  const line = lobby
    .output()
    .split("\n")
    .find((l) => l.includes('"msg":"lobby ready"'));
  admin = (JSON.parse(line ?? "{}") as { admin: string }).admin;
});
after(() => ctx.cleanup());

function baseEnv(): Record<string, string> {
  return {
    MERIDIAN_REDIS_URL: ctx.redis.url,
    MERIDIAN_REDIS_PREFIX: ctx.redis.prefix,
    MERIDIAN_NATS_URL: ctx.nats.url,
    MERIDIAN_SUBJECT_PREFIX: ctx.nats.prefix,
    MERIDIAN_ENV: "development",
  };
}

async function issue(world: string): Promise<string> {
  const res = await fetch(`${admin}/admin/servers`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: `zone ${randomUUID().slice(0, 8)}`, world }),
  });
  const json = (await res.json()) as { credential?: string };
  assert.ok(res.ok && typeof json.credential === "string", JSON.stringify(json));
  return json.credential;
}

describe("with the real authority", () => {
  it("e2e - attach places the player on the spawn cell's owner; walking across hands them off", async () => {
    const world = worldConfig({ name: `e${ctx.runId}`, ...TEST_WORLD });
    const subjects = createSubjects({ prefix: ctx.nats.prefix });
    await ctx.spawnProcess({
      ...node(`${servicesDir}/authority`),
      env: {
        ...baseEnv(),
        WORLD_NAME: world.name,
        WORLD_WIDTH: String(world.width),
        WORLD_HEIGHT: String(world.height),
        WORLD_COLS: String(world.cols),
        WORLD_ROWS: String(world.rows),
        WORLD_TICK_HZ: String(world.tickHz),
        WORLD_AOI_RADIUS: String(world.aoiRadius),
        WORLD_GHOST_MARGIN: String(world.ghostMargin),
        WORLD_SPAWN_X: "185",
        WORLD_SPAWN_Y: "100",
        AUTHORITY_LEASE_MS: "2000",
        AUTHORITY_HEARTBEAT_MS: "200",
        AUTHORITY_VERIFY_MS: "200",
        AUTHORITY_LEADER_TTL_MS: "1500",
      },
      readyPattern: /"msg":"authority ready"/,
      timeoutMs: 30_000,
    });
    const gateway = new FakeGateway(nc, subjects, "gw1");
    await gateway.start();
    ctx.defer(() => gateway.stop());
    const zones: ZoneServer[] = [];
    for (const serverId of ["ea", "eb"]) {
      const zoneNc = await connect({ servers: ctx.nats.url });
      const redis = new Redis(ctx.redis.url);
      const zone = new ZoneServer(
        {
          nc: zoneNc,
          redis,
          logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
          createSim: (c) => createZoneSim({ config: c, npcsPerCell: 0 }),
        },
        {
          serverId,
          credential: await issue(world.name),
          capacity: 100,
          world,
          subjects,
          redisPrefix: ctx.redis.prefix,
        },
      );
      ctx.defer(async () => {
        await zone.stop();
        await zoneNc.close();
        redis.disconnect();
      });
      await zone.start();
      zones.push(zone);
    }
    await waitFor("one cell each", () => zones.every((z) => z.cells().length === 1), 15_000);
    const home = zones.find((z) => z.cells().includes("c0_0"));
    const other = zones.find((z) => z.cells().includes("c1_0"));
    assert.ok(home !== undefined && other !== undefined);

    // The gateway attaches a player: the authority installs them on the owner of the spawn cell.
    const attach = async () => {
      const msg = await nc.request(
        worldSubject(subjects, "attach"),
        worldRequestCodec().encode({
          t: "player_attach",
          accountId: "901",
          sessionId: randomUUID(),
          username: "walker",
          gateway: "gw1",
          resumed: false,
        }),
        { timeout: 3_000 },
      );
      const decoded = worldReplyCodec().decode(msg.data);
      assert.ok(decoded.ok);
      return decoded.message;
    };
    let reply = await attach();
    for (let i = 0; i < 20 && reply.t !== "player_attached"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      reply = await attach();
    }
    assert.equal(reply.t, "player_attached", JSON.stringify(reply));
    assert.ok(reply.t === "player_attached");
    assert.equal(reply.server, home.serverId);
    assert.ok(home.owns("901"));

    gateway.send(home.serverId, "901", [{ seq: 1, data: { move: { dx: 1, dy: 0 } } }]);
    const route = await waitFor("route_switch", () => gateway.routes.find((r) => r.accountId === "901"));
    assert.equal(route.server, other.serverId);
    assert.ok(route.epoch > reply.epoch);
    assert.ok(other.owns("901") && !home.owns("901"));
  });
});
