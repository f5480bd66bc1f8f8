/**
 * The process (src/main.ts): ready line, registration with an authority, SIGTERM (checkpoint
 * everyone, exit 0), a bad variable, and WORLD_UNAUTHORIZED (exit non-zero with a clear message).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { GameServerErrorCode } from "../src/errors.js";
import { type Cluster, createCluster, TEST_WORLD } from "./helpers/cluster.js";
import { waitFor } from "./helpers/fake-gateway.js";

const serviceDir = fileURLToPath(new URL("..", import.meta.url));
let cluster: Cluster;

before(async () => {
  cluster = await createCluster();
});
after(() => cluster.ctx.cleanup());

function env(serverId: string): Record<string, string> {
  const { ctx, world } = cluster;
  return {
    MERIDIAN_REDIS_URL: ctx.redis.url,
    MERIDIAN_REDIS_PREFIX: ctx.redis.prefix,
    MERIDIAN_NATS_URL: ctx.nats.url,
    MERIDIAN_SUBJECT_PREFIX: ctx.nats.prefix,
    ZONE_SERVER_ID: serverId,
    ZONE_CREDENTIAL: "test-credential",
    ZONE_CHECKPOINT_MS: "60000",
    // No lobby in these tests: no Postgres persistence.
    ZONE_PERSISTENCE: "0",
    WORLD_NAME: world.name,
    WORLD_WIDTH: String(TEST_WORLD.width),
    WORLD_HEIGHT: String(TEST_WORLD.height),
    WORLD_COLS: String(TEST_WORLD.cols),
    WORLD_ROWS: String(TEST_WORLD.rows),
    WORLD_TICK_HZ: String(TEST_WORLD.tickHz),
    WORLD_AOI_RADIUS: String(TEST_WORLD.aoiRadius),
    WORLD_GHOST_MARGIN: String(TEST_WORLD.ghostMargin),
  };
}

const node = {
  command: process.execPath,
  args: ["--conditions=meridian-source", "--import", "tsx", "src/main.ts"],
};

describe("process", () => {
  it("process - ready, registered, and SIGTERM checkpoints every player and exits 0", async () => {
    const epoch = await cluster.authority.lease("c0_0", "zp1");
    const proc = await cluster.ctx.spawnProcess({
      ...node,
      cwd: serviceDir,
      env: env("zp1"),
      readyPattern: /"msg":"zone ready"/,
      timeoutMs: 30_000,
    });
    assert.match(proc.output(), /"id":"zp1"/);
    assert.equal(cluster.authority.registrations.get("zp1"), 1);
    const reply = await cluster.install("zp1", { accountId: "801", cell: "c0_0", cellEpoch: epoch });
    assert.equal(reply.t, "player_installed");
    cluster.gateway.send("zp1", "801", [{ seq: 1, data: { say: "bye soon" } }]);
    await waitFor("ack 1", () => cluster.gateway.ack("801") === 1);
    assert.deepEqual(await proc.stop("SIGTERM"), { code: 0, signal: null }, proc.output());
    const stored = await cluster.redis.hgetall(cluster.keys.checkpoint("801"));
    assert.equal(stored.seq, "1");
    assert.equal(stored.server, "zp1");
  });

  it("process - a bad variable is named on stderr with a non-zero exit", async () => {
    const proc = await cluster.ctx.spawnProcess({
      ...node,
      cwd: serviceDir,
      env: { ...env("zp2"), ZONE_CAPACITY: "many", ZONE_CREDENTIAL: "" },
    });
    const exit = await proc.exited;
    assert.equal(exit.code, 1);
    assert.match(proc.output(), /ZONE_CAPACITY/);
    assert.match(proc.output(), /ZONE_CREDENTIAL/);
  });

  it("process - WORLD_UNAUTHORIZED: exits non-zero with a clear message", async () => {
    cluster.authority.errors.set("zp3", GameServerErrorCode.Unauthorized);
    const proc = await cluster.ctx.spawnProcess({ ...node, cwd: serviceDir, env: env("zp3") });
    const exit = await proc.exited;
    assert.equal(exit.code, 1);
    assert.match(proc.output(), /WORLD_UNAUTHORIZED/);
  });
});
