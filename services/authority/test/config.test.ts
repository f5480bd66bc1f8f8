/** The environment → configuration: defaults, every problem reported at once, the process's exit. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { loadConfig } from "../src/config.js";
import { ConfigError } from "../src/errors.js";
import { authorityDir, node } from "./helpers/cluster.js";

describe("config", () => {
  it("config - defaults: the world of @meridian/world, leases of 3 s, heartbeats of 1 s, the spawn at the centre", () => {
    const config = loadConfig({});
    assert.equal(config.world.name, "main");
    assert.equal(config.world.cols, 2);
    assert.equal(config.leaseMs, 3_000);
    assert.equal(config.heartbeatMs, 1_000);
    assert.equal(config.leaderTtlMs, 3_000);
    assert.equal(config.verifyMs, 1_000);
    assert.deepEqual(config.spawn, { x: 1_000, y: 1_000 });
    assert.ok(Object.isFrozen(config));
  });

  it("config - the world and the spawn point are read from WORLD_*", () => {
    const config = loadConfig({
      WORLD_NAME: "aurora",
      WORLD_WIDTH: "4000",
      WORLD_HEIGHT: "1000",
      WORLD_COLS: "4",
      WORLD_ROWS: "1",
      WORLD_SPAWN_X: "10.5",
      WORLD_SPAWN_Y: "20",
    });
    assert.equal(config.world.name, "aurora");
    assert.equal(config.world.cols, 4);
    assert.deepEqual(config.spawn, { x: 10.5, y: 20 });
  });

  it("config - every bad variable is reported at once (AUTHORITY_CONFIG)", () => {
    try {
      loadConfig({
        MERIDIAN_REDIS_URL: "http://x",
        AUTHORITY_ID: "no spaces",
        AUTHORITY_LEASE_MS: "500",
        AUTHORITY_HEARTBEAT_MS: "400",
        WORLD_COLS: "0",
        WORLD_WIDTH: "wide",
      });
      assert.fail("expected a ConfigError");
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.code, "AUTHORITY_CONFIG");
      const variables = error.problems.map((p) => p.variable).sort();
      for (const v of ["AUTHORITY_ID", "AUTHORITY_LEASE_MS", "MERIDIAN_REDIS_URL", "WORLD_WIDTH"]) {
        assert.ok(variables.includes(v), `${v} in ${variables.join(",")}`);
      }
    }
    assert.throws(
      () => loadConfig({ WORLD_COLS: "0" }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.variable === "WORLD_COLS"),
    );
    assert.throws(
      () => loadConfig({ WORLD_SPAWN_X: "5000" }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.variable === "WORLD_SPAWN_X"),
    );
    assert.throws(
      () => loadConfig({ AUTHORITY_VERIFY_MS: "3000" }),
      (e: unknown) =>
        e instanceof ConfigError && e.problems.some((p) => p.variable === "AUTHORITY_VERIFY_MS"),
    );
  });

  it("config - the process exits 1 with one line per bad variable", () => {
    const { command, args, cwd } = node("src/main.ts", authorityDir);
    const result = spawnSync(command, args, {
      cwd,
      env: { ...process.env, AUTHORITY_LEASE_MS: "x", WORLD_ROWS: "999" },
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /AUTHORITY_LEASE_MS: /);
    assert.match(result.stderr, /WORLD_ROWS: /);
  });
});
