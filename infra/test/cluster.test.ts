/**
 * `npm start`'s local cluster, run as a user runs it (`node scripts/meridian.mjs start`): it comes up
 * with bots roaming through the gateway, and Ctrl-C (SIGINT to the process group, as a terminal
 * sends it) stops every process it started. Isolated on this run's database, ports and prefix.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createTestContext, freePort, type TestContext } from "@meridian/testkit";
import { Redis } from "ioredis";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

let ctx: TestContext;
before(async () => {
  ctx = await createTestContext({ nats: false });
});
after(() => ctx.cleanup());

describe("npm start", () => {
  it("start - the local cluster comes up, bots log in and roam, and Ctrl-C stops everything", async () => {
    const prefix = `mtc_${ctx.runId.slice(0, 10)}`;
    // The cluster's Redis keys live under `<prefix>:`; remove them afterwards.
    ctx.defer(async () => {
      const redis = new Redis(ctx.redis.url);
      try {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
          cursor = next;
          if (keys.length > 0) await redis.unlink(...keys);
        } while (cursor !== "0");
      } finally {
        redis.disconnect();
      }
    });
    const env = {
      MERIDIAN_POSTGRES_URL: ctx.postgres.url,
      MERIDIAN_REDIS_URL: ctx.redis.url,
      MERIDIAN_CLUSTER_DATABASE: ctx.postgres.database,
      MERIDIAN_CLUSTER_PREFIX: prefix,
      MERIDIAN_CLUSTER_BOTS: "4",
      GATEWAY_TCP_PORT: String(await freePort()),
      GATEWAY_WS_PORT: String(await freePort()),
      LOBBY_ADMIN_PORT: String(await freePort()),
      CONSOLE_PORT: String(await freePort()),
    };
    const cluster = await ctx.spawnProcess({
      command: process.execPath,
      args: ["scripts/meridian.mjs", "start"],
      cwd: ROOT,
      env,
      readyPattern: /the cluster is up/,
      timeoutMs: 120_000,
      stopTimeoutMs: 30_000,
    });
    // The bots report every 10 s: all four logged in, and the world acknowledges their inputs.
    const progress = await cluster.waitForOutput(
      /\[bots\] bots [\d.]+s: online (\d+)\/4, logins (\d+).*acks (\d+)/,
      30_000,
    );
    assert.equal(progress[1], "4", cluster.output().slice(-2000));
    assert.ok(Number(progress[3]) > 0, "the zone servers acknowledge the bots' inputs");
    // The console: the line telling the user where the world map is, the page, and the live state.
    const consoleUrl = `http://127.0.0.1:${env.CONSOLE_PORT}/`;
    assert.ok(
      cluster.output().includes(`world map: ${consoleUrl}`),
      "npm start prints the world map's address",
    );
    const page = await fetch(consoleUrl);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<canvas id="map"/);
    const state = (await (await fetch(`${consoleUrl}state.json`)).json()) as { zones: unknown[] };
    assert.ok(Array.isArray(state.zones));
    const exit = await cluster.stop("SIGINT");
    assert.equal(exit.code, 0, cluster.output().slice(-2000));
    for (const name of ["bots", "console", "gateway", "zone-1", "zone-4", "authority", "lobby"]) {
      assert.match(cluster.output(), new RegExp(`  ${name} stopped`), `${name} stopped in order`);
    }
  });
});
