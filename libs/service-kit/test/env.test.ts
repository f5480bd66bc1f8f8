import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ConfigProblem,
  defaultInstanceId,
  MeridianEnv,
  readBoolean,
  readEnvMode,
  readInt,
  readNatsServers,
  readNumber,
  readPattern,
  readRedisUrl,
  readTelemetry,
} from "@meridian/service-kit";

function run<T>(read: (problems: ConfigProblem[]) => T): { value: T; problems: string[] } {
  const problems: ConfigProblem[] = [];
  const value = read(problems);
  return { value, problems: problems.map((p) => p.variable) };
}

describe("service kit - env readers", () => {
  it("env - unset or blank variables give the fallback and no problem", () => {
    for (const env of [{}, { X: "" }, { X: "  " }]) {
      assert.deepEqual(
        run((p) => readInt(env, "X", 7, 1, 10, p)),
        { value: 7, problems: [] },
      );
      assert.deepEqual(
        run((p) => readBoolean(env, "X", true, p)),
        { value: true, problems: [] },
      );
      assert.deepEqual(
        run((p) => readPattern(env, "X", "d", /^a$/, "a", p)),
        { value: "d", problems: [] },
      );
      assert.deepEqual(
        run((p) => readNumber(env, "X", p)),
        { value: undefined, problems: [] },
      );
    }
  });

  it("env - integers in range are read; others are one problem each, naming the variable", () => {
    assert.equal(run((p) => readInt({ X: " 5 " }, "X", 7, 1, 10, p)).value, 5);
    for (const bad of ["0", "11", "1.5", "-1", "five"]) {
      assert.deepEqual(
        run((p) => readInt({ X: bad }, "X", 7, 1, 10, p)),
        { value: 7, problems: ["X"] },
        bad,
      );
    }
  });

  it("env - booleans, numbers, patterns", () => {
    for (const [raw, value] of [
      ["yes", true],
      ["ON", true],
      ["0", false],
      ["off", false],
    ] as const) {
      assert.equal(run((p) => readBoolean({ X: raw }, "X", !value, p)).value, value);
    }
    assert.deepEqual(run((p) => readBoolean({ X: "maybe" }, "X", true, p)).problems, ["X"]);
    assert.equal(run((p) => readNumber({ X: "-2.5" }, "X", p)).value, -2.5);
    assert.deepEqual(run((p) => readNumber({ X: "1e3" }, "X", p)).problems, ["X"]);
    assert.deepEqual(run((p) => readPattern({ X: "b" }, "X", "a", /^a$/, "a", p)).problems, ["X"]);
  });

  it("env - run mode, Redis URL and NATS servers", () => {
    assert.equal(run((p) => readEnvMode({}, p)).value, MeridianEnv.Development);
    assert.equal(run((p) => readEnvMode({ MERIDIAN_ENV: "production" }, p)).value, MeridianEnv.Production);
    assert.deepEqual(run((p) => readEnvMode({ MERIDIAN_ENV: "staging" }, p)).problems, ["MERIDIAN_ENV"]);
    assert.equal(run((p) => readRedisUrl({}, p)).value, "redis://127.0.0.1:6379");
    assert.equal(
      run((p) => readRedisUrl({ MERIDIAN_REDIS_URL: "rediss://r:6380" }, p)).value,
      "rediss://r:6380",
    );
    assert.deepEqual(run((p) => readRedisUrl({ MERIDIAN_REDIS_URL: "http://r" }, p)).problems, [
      "MERIDIAN_REDIS_URL",
    ]);
    assert.deepEqual(run((p) => readNatsServers({ MERIDIAN_NATS_URL: "nats://a:1, tls://b:2" }, p)).value, [
      "nats://a:1",
      "tls://b:2",
    ]);
    assert.deepEqual(run((p) => readNatsServers({ MERIDIAN_NATS_URL: "nats://a:1,x" }, p)).problems, [
      "MERIDIAN_NATS_URL",
    ]);
  });

  it("env - a default instance id is one NATS token of at most 64 characters", () => {
    assert.equal(defaultInstanceId("gw", "web.example.com", 42), "gw-web-example-com-42");
    const long = defaultInstanceId("zone", "x".repeat(200), 123456);
    assert.ok(long.length <= 64 && /^[A-Za-z0-9_-]+$/.test(long) && long.endsWith("-123456"));
    assert.equal(defaultInstanceId("auth", "...", 1), "auth-host-1");
  });
});

describe("service kit - cluster prefixes", () => {
  it("env - Redis key and NATS subject prefixes: defaults, good values, bad ones reported", async () => {
    const { readRedisPrefix, readSubjectPrefix } = await import("@meridian/service-kit");
    assert.deepEqual(
      run((p) => readRedisPrefix({}, p)),
      { value: "meridian:", problems: [] },
    );
    assert.deepEqual(
      run((p) => readSubjectPrefix({}, p)),
      { value: "meridian", problems: [] },
    );
    assert.equal(run((p) => readRedisPrefix({ MERIDIAN_REDIS_PREFIX: "w1:" }, p)).value, "w1:");
    assert.equal(run((p) => readSubjectPrefix({ MERIDIAN_SUBJECT_PREFIX: "prod.w1" }, p)).value, "prod.w1");
    assert.deepEqual(run((p) => readRedisPrefix({ MERIDIAN_REDIS_PREFIX: "has space" }, p)).problems, [
      "MERIDIAN_REDIS_PREFIX",
    ]);
    for (const bad of ["a..b", "a.*", ".a"]) {
      assert.deepEqual(run((p) => readSubjectPrefix({ MERIDIAN_SUBJECT_PREFIX: bad }, p)).problems, [
        "MERIDIAN_SUBJECT_PREFIX",
      ]);
    }
  });
});

describe("service kit - telemetry variables", () => {
  it("env - telemetry is off by default, named after the service, no OTLP endpoint", () => {
    assert.deepEqual(
      run((p) => readTelemetry({}, "gateway", p)),
      {
        value: {
          enabled: false,
          serviceName: "meridian-gateway",
          otlpEndpoint: undefined,
          hotSampleEvery: 100,
        },
        problems: [],
      },
    );
  });

  it("env - on, a service name and an OTLP endpoint (trailing slash dropped)", () => {
    const { value, problems } = run((p) =>
      readTelemetry(
        {
          MERIDIAN_TELEMETRY: "on",
          OTEL_SERVICE_NAME: "zone-7",
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel-collector:4318/",
          MERIDIAN_TELEMETRY_SAMPLE_EVERY: "1",
        },
        "gameserver",
        p,
      ),
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(value, {
      enabled: true,
      serviceName: "zone-7",
      otlpEndpoint: "http://otel-collector:4318",
      hotSampleEvery: 1,
    });
  });

  it("env - bad telemetry variables are each one problem", () => {
    assert.deepEqual(
      run((p) =>
        readTelemetry(
          {
            MERIDIAN_TELEMETRY: "maybe",
            OTEL_SERVICE_NAME: "has space",
            OTEL_EXPORTER_OTLP_ENDPOINT: "grpc://x:4317",
            MERIDIAN_TELEMETRY_SAMPLE_EVERY: "0",
          },
          "lobby",
          p,
        ),
      ).problems,
      [
        "MERIDIAN_TELEMETRY",
        "OTEL_SERVICE_NAME",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "MERIDIAN_TELEMETRY_SAMPLE_EVERY",
      ],
    );
  });
});
