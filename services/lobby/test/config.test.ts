import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEV_ADMIN_TOKEN, loadConfig, MIN_ARGON2_MEMORY_KIB, MIN_ARGON2_TIME_COST } from "../src/config.js";
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
      redisUrl: "redis://127.0.0.1:6379",
      redisPrefix: "meridian:",
      natsServers: ["nats://127.0.0.1:4222"],
      subjectPrefix: "meridian",
      requireTls: false,
      adminToken: DEV_ADMIN_TOKEN,
      adminHttp: { host: "127.0.0.1", port: 7480 },
      recovery: { maxGuesses: 5, lockMs: 15 * 60_000, resetTokenTtlMs: 15 * 60_000 },
      presenceCache: { maxEntries: 100_000, maxAgeMs: 1_000 },
      serverHeartbeatTimeoutMs: 15_000,
      instanceId: `lobby-${process.pid}`,
      telemetry: {
        enabled: false,
        serviceName: "meridian-lobby",
        otlpEndpoint: undefined,
        hotSampleEvery: 100,
      },
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
      MERIDIAN_REDIS_URL: "rediss://cache:6380",
      MERIDIAN_REDIS_PREFIX: "w1:",
      MERIDIAN_NATS_URL: "nats://n1:4222, nats://n2:4222",
      MERIDIAN_SUBJECT_PREFIX: "prod.w1",
      LOBBY_ADMIN_TOKEN: "a-production-secret-of-32-characters!",
      LOBBY_ADMIN_HOST: "0.0.0.0",
      LOBBY_ADMIN_PORT: "9000",
      LOBBY_RECOVERY_MAX_GUESSES: "3",
      LOBBY_RECOVERY_LOCK_MS: "3600000",
      LOBBY_RESET_TOKEN_TTL_MS: "600000",
      LOBBY_PRESENCE_CACHE_SIZE: "0",
      LOBBY_PRESENCE_CACHE_MAX_AGE_MS: "250",
      LOBBY_SERVER_HEARTBEAT_TIMEOUT_MS: "5000",
      LOBBY_ID: "lobby-a",
    });
    assert.equal(config.redisUrl, "rediss://cache:6380");
    assert.equal(config.redisPrefix, "w1:");
    assert.deepEqual(config.natsServers, ["nats://n1:4222", "nats://n2:4222"]);
    assert.equal(config.subjectPrefix, "prod.w1");
    assert.equal(config.requireTls, true, "production requires TLS by default");
    assert.equal(config.adminToken, "a-production-secret-of-32-characters!");
    assert.deepEqual(config.adminHttp, { host: "0.0.0.0", port: 9000 });
    assert.deepEqual(config.recovery, { maxGuesses: 3, lockMs: 3_600_000, resetTokenTtlMs: 600_000 });
    assert.deepEqual(config.presenceCache, { maxEntries: 0, maxAgeMs: 250 });
    assert.equal(config.serverHeartbeatTimeoutMs, 5_000);
    assert.equal(config.instanceId, "lobby-a");
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
    ["MERIDIAN_REDIS_URL", ["localhost:6379", "http://h:1", "redis://"]],
    ["MERIDIAN_REDIS_PREFIX", ["has space", "x".repeat(65)]],
    ["MERIDIAN_NATS_URL", ["localhost:4222", "nats://a:1,http://b:2", "nats://"]],
    ["MERIDIAN_SUBJECT_PREFIX", ["a..b", "a.*", ".a", "a b"]],
    ["LOBBY_REQUIRE_TLS", ["sometimes"]],
    ["LOBBY_ADMIN_PORT", ["-1", "65536", "http"]],
    ["LOBBY_RECOVERY_MAX_GUESSES", ["2", "6", "x"]],
    ["LOBBY_RECOVERY_LOCK_MS", ["899999", "0"]],
    ["LOBBY_RESET_TOKEN_TTL_MS", ["59999", "1200001"]],
    ["LOBBY_SERVER_HEARTBEAT_TIMEOUT_MS", ["999", "x"]],
    ["LOBBY_ID", ["has space", "a.b"]],
  ] as const) {
    it(`config - ${variable} refuses bad values`, () => {
      for (const value of bad) {
        assert.deepEqual(problemsOf({ MERIDIAN_POSTGRES_URL: URL_OK, [variable]: value }), [variable], value);
      }
    });
  }

  it("config - production refuses a missing, default or short admin secret; development has a default", () => {
    const production = { MERIDIAN_POSTGRES_URL: URL_OK, MERIDIAN_ENV: "production" };
    assert.deepEqual(problemsOf(production), ["LOBBY_ADMIN_TOKEN"]);
    assert.deepEqual(problemsOf({ ...production, LOBBY_ADMIN_TOKEN: DEV_ADMIN_TOKEN }), [
      "LOBBY_ADMIN_TOKEN",
    ]);
    assert.deepEqual(problemsOf({ ...production, LOBBY_ADMIN_TOKEN: "short" }), ["LOBBY_ADMIN_TOKEN"]);
    const ok = loadConfig({ ...production, LOBBY_ADMIN_TOKEN: "x".repeat(32), LOBBY_REQUIRE_TLS: "false" });
    assert.equal(ok.requireTls, false, "an explicit LOBBY_REQUIRE_TLS wins over the mode's default");
    assert.equal(
      loadConfig({ MERIDIAN_POSTGRES_URL: URL_OK, LOBBY_ADMIN_TOKEN: "short" }).adminToken,
      "short",
    );
  });

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
