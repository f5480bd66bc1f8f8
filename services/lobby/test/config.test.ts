import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig, MIN_ARGON2_MEMORY_KIB, MIN_ARGON2_TIME_COST } from "../src/config.js";
import { ConfigError, LobbyErrorCode } from "../src/errors.js";

const URL_OK = "postgres://postgres@127.0.0.1:5432/meridian";

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, LobbyErrorCode.Config);
    return error.problems.map((p) => p.variable);
  }
  assert.fail("expected a ConfigError");
}

describe("config", () => {
  it("config - defaults with only the Postgres URL", () => {
    const config = loadConfig({ MERIDIAN_POSTGRES_URL: URL_OK });
    assert.deepEqual(config, {
      postgresUrl: URL_OK,
      argon2: { memoryKib: MIN_ARGON2_MEMORY_KIB, timeCost: MIN_ARGON2_TIME_COST, parallelism: 1 },
      autoCreateAccounts: true,
      env: "development",
      loginThrottle: {
        freeAttempts: 5,
        ipFreeAttempts: 20,
        baseDelayMs: 1_000,
        maxDelayMs: 15 * 60_000,
        windowMs: 15 * 60_000,
      },
      maxAccountsPerIpPerHour: 5,
    });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.argon2));
    assert.ok(Object.isFrozen(config.loginThrottle));
  });

  it("config - reads every variable", () => {
    const config = loadConfig({
      MERIDIAN_POSTGRES_URL: "postgresql://u:p@db:5432/m",
      LOBBY_ARGON2_MEMORY_KIB: "65536",
      LOBBY_ARGON2_TIME_COST: "3",
      LOBBY_ARGON2_PARALLELISM: "4",
      LOBBY_AUTO_CREATE_ACCOUNTS: "false",
      MERIDIAN_ENV: "production",
      LOBBY_LOGIN_FREE_ATTEMPTS: "3",
      LOBBY_LOGIN_IP_FREE_ATTEMPTS: "50",
      LOBBY_LOGIN_BASE_DELAY_MS: "500",
      LOBBY_LOGIN_MAX_DELAY_MS: "60000",
      LOBBY_LOGIN_WINDOW_MS: "120000",
      LOBBY_MAX_ACCOUNTS_PER_IP_PER_HOUR: "2",
    });
    assert.deepEqual(config.loginThrottle, {
      freeAttempts: 3,
      ipFreeAttempts: 50,
      baseDelayMs: 500,
      maxDelayMs: 60_000,
      windowMs: 120_000,
    });
    assert.equal(config.maxAccountsPerIpPerHour, 2);
    assert.deepEqual(config.argon2, { memoryKib: 65536, timeCost: 3, parallelism: 4 });
    assert.equal(config.autoCreateAccounts, false);
    assert.equal(config.env, "production");
  });

  it("config - Postgres URL missing, not a URL, or another scheme", () => {
    assert.deepEqual(problemsOf({}), ["MERIDIAN_POSTGRES_URL"]);
    assert.deepEqual(problemsOf({ MERIDIAN_POSTGRES_URL: "not a url" }), ["MERIDIAN_POSTGRES_URL"]);
    assert.deepEqual(problemsOf({ MERIDIAN_POSTGRES_URL: "mysql://h/db" }), ["MERIDIAN_POSTGRES_URL"]);
  });

  for (const [variable, bad] of [
    ["LOBBY_ARGON2_MEMORY_KIB", ["19455", "1024", "abc", "-1", "1.5"]],
    ["LOBBY_ARGON2_TIME_COST", ["1", "0", "x"]],
    ["LOBBY_ARGON2_PARALLELISM", ["0", "256", "two"]],
    ["LOBBY_AUTO_CREATE_ACCOUNTS", ["maybe", "2"]],
    ["MERIDIAN_ENV", ["staging", "PRODUCTION"]],
    ["LOBBY_LOGIN_FREE_ATTEMPTS", ["0", "1001", "five", "-1"]],
    ["LOBBY_LOGIN_IP_FREE_ATTEMPTS", ["0", "1000001", "2.5"]],
    ["LOBBY_LOGIN_BASE_DELAY_MS", ["0", "86400001", "1s"]],
    ["LOBBY_LOGIN_MAX_DELAY_MS", ["0", "999", "86400001", "15m"]],
    ["LOBBY_LOGIN_WINDOW_MS", ["999", "604800001", "0", "x"]],
    ["LOBBY_MAX_ACCOUNTS_PER_IP_PER_HOUR", ["0", "100001", "many"]],
  ] as const) {
    it(`config - ${variable} refuses bad values`, () => {
      for (const value of bad) {
        assert.deepEqual(problemsOf({ MERIDIAN_POSTGRES_URL: URL_OK, [variable]: value }), [variable], value);
      }
    });
  }

  it("config - LOBBY_LOGIN_MAX_DELAY_MS must be at least LOBBY_LOGIN_BASE_DELAY_MS", () => {
    assert.deepEqual(
      problemsOf({
        MERIDIAN_POSTGRES_URL: URL_OK,
        LOBBY_LOGIN_BASE_DELAY_MS: "5000",
        LOBBY_LOGIN_MAX_DELAY_MS: "4000",
      }),
      ["LOBBY_LOGIN_MAX_DELAY_MS"],
    );
  });

  it("config - lists every bad variable at once", () => {
    const variables = problemsOf({
      LOBBY_ARGON2_MEMORY_KIB: "1",
      LOBBY_ARGON2_TIME_COST: "1",
      LOBBY_ARGON2_PARALLELISM: "0",
      LOBBY_AUTO_CREATE_ACCOUNTS: "nope",
      MERIDIAN_ENV: "qa",
    });
    assert.deepEqual(variables.sort(), [
      "LOBBY_ARGON2_MEMORY_KIB",
      "LOBBY_ARGON2_PARALLELISM",
      "LOBBY_ARGON2_TIME_COST",
      "LOBBY_AUTO_CREATE_ACCOUNTS",
      "MERIDIAN_ENV",
      "MERIDIAN_POSTGRES_URL",
    ]);
  });
});
