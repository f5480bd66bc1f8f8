/** Configuration: defaults, the world's variables, and every bad variable reported at once. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_CHECKPOINT_MS, defaultServerId, loadConfig } from "../src/config.js";
import { ConfigError, GameServerErrorCode } from "../src/errors.js";

const minimal = { ZONE_CREDENTIAL: "srv_abc" };

describe("config", () => {
  it("config - defaults with only the credential", () => {
    const config = loadConfig(minimal);
    assert.equal(config.checkpointMs, DEFAULT_CHECKPOINT_MS);
    assert.equal(config.redisPrefix, "meridian:");
    assert.equal(config.subjectPrefix, "meridian");
    assert.equal(config.world.name, "main");
    assert.equal(config.world.tickHz, 20);
    assert.match(config.serverId, /^zone-[A-Za-z0-9_-]+$/);
    assert.ok(Object.isFrozen(config));
  });

  it("config - the world's variables, as the authority reads them", () => {
    const config = loadConfig({
      ...minimal,
      ZONE_SERVER_ID: "z-7",
      ZONE_CAPACITY: "250",
      ZONE_CHECKPOINT_MS: "2000",
      WORLD_NAME: "eu1",
      WORLD_WIDTH: "400",
      WORLD_HEIGHT: "200",
      WORLD_COLS: "2",
      WORLD_ROWS: "1",
      WORLD_TICK_HZ: "30",
      WORLD_AOI_RADIUS: "25.5",
      WORLD_GHOST_MARGIN: "30",
      WORLD_DETAIL_RADIUS: "10",
      WORLD_FAR_EVERY: "3",
    });
    assert.equal(config.serverId, "z-7");
    assert.equal(config.capacity, 250);
    assert.equal(config.checkpointMs, 2_000);
    assert.deepEqual(
      { ...config.world },
      {
        name: "eu1",
        width: 400,
        height: 200,
        cols: 2,
        rows: 1,
        tickHz: 30,
        aoiRadius: 25.5,
        ghostMargin: 30,
        detailRadius: 10,
        farEvery: 3,
      },
    );
  });

  it("config - every bad variable is named at once", () => {
    try {
      loadConfig({
        ZONE_SERVER_ID: "has.dot",
        ZONE_CAPACITY: "lots",
        MERIDIAN_NATS_URL: "http://x",
        WORLD_COLS: "0",
        WORLD_TICK_HZ: "fast",
        WORLD_FAR_EVERY: "0",
      });
      assert.fail("expected a ConfigError");
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.code, GameServerErrorCode.Config);
      const variables = error.problems.map((p) => p.variable).sort();
      assert.deepEqual(variables, [
        "MERIDIAN_NATS_URL",
        "WORLD_COLS",
        "WORLD_FAR_EVERY",
        "WORLD_TICK_HZ",
        "ZONE_CAPACITY",
        "ZONE_CREDENTIAL",
        "ZONE_SERVER_ID",
      ]);
    }
  });

  it("config - the default id is one subject token", () => {
    assert.equal(defaultServerId("my.host name", 42), "zone-my-host-name-42");
  });
});
