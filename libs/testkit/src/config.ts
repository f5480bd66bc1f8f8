/**
 * Where the test kit finds PostgreSQL, Redis and NATS.
 *
 * This is test infrastructure, and this file is the one place in @meridian/testkit that reads the
 * environment: libraries take options (STYLE.md), but a test kit's job is to follow the machine the
 * tests run on. The variables and defaults are the ones `npm run services` (scripts/services.mjs) uses
 * to bring the services up, so both always agree.
 * @module
 */
import process from "node:process";
import { TestKitError, TestKitErrorCode } from "./errors.js";

/** Admin URL of PostgreSQL: a role that may CREATE and DROP databases. */
export const DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres";
/** URL of Redis. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
/** URL of NATS; the server must have JetStream enabled. */
export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

/** Service URLs used by {@link createTestContext}. */
export interface TestKitConfig {
  /** Admin URL of PostgreSQL (`MERIDIAN_POSTGRES_URL`). Default {@link DEFAULT_POSTGRES_URL}. */
  readonly postgresUrl: string;
  /** URL of Redis (`MERIDIAN_REDIS_URL`). Default {@link DEFAULT_REDIS_URL}. */
  readonly redisUrl: string;
  /** URL of NATS with JetStream (`MERIDIAN_NATS_URL`). Default {@link DEFAULT_NATS_URL}. */
  readonly natsUrl: string;
}

const FIELDS = [
  {
    key: "postgresUrl",
    variable: "MERIDIAN_POSTGRES_URL",
    fallback: DEFAULT_POSTGRES_URL,
    protocols: ["postgres:", "postgresql:"],
  },
  {
    key: "redisUrl",
    variable: "MERIDIAN_REDIS_URL",
    fallback: DEFAULT_REDIS_URL,
    protocols: ["redis:", "rediss:"],
  },
  { key: "natsUrl", variable: "MERIDIAN_NATS_URL", fallback: DEFAULT_NATS_URL, protocols: ["nats:", "tls:"] },
] as const;

/**
 * Reads the service URLs from `env` (default: `process.env`), applies `overrides`, validates each one
 * and returns a frozen config.
 * @throws TestKitError `TK_CONFIG_INVALID` naming the variable and the bad value.
 */
export function loadTestKitConfig(
  overrides: Partial<TestKitConfig> = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): TestKitConfig {
  const config: Record<string, string> = {};
  for (const field of FIELDS) {
    const value = overrides[field.key] ?? (env[field.variable]?.trim() || field.fallback);
    let url: URL;
    try {
      url = new URL(value);
    } catch (cause) {
      throw new TestKitError(
        TestKitErrorCode.ConfigInvalid,
        `${field.variable} is not a URL: ${JSON.stringify(value)}`,
        {
          cause,
          context: { variable: field.variable },
        },
      );
    }
    if (!(field.protocols as readonly string[]).includes(url.protocol)) {
      throw new TestKitError(
        TestKitErrorCode.ConfigInvalid,
        `${field.variable} must use ${field.protocols.join(" or ")}, got ${JSON.stringify(url.protocol)}`,
        { context: { variable: field.variable } },
      );
    }
    config[field.key] = value;
  }
  return Object.freeze(config as unknown as TestKitConfig);
}

/** The environment a spawned process inherits before its own `env` is applied. */
export function inheritedEnvironment(): Record<string, string | undefined> {
  return { ...process.env };
}
