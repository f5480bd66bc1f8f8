import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { defaultGatewayId, loadConfig } from "../src/config.js";
import { ConfigError, GatewayErrorCode } from "../src/errors.js";

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, GatewayErrorCode.Config);
    return error.problems.map((p) => p.variable);
  }
  return [];
}

describe("config", () => {
  it("config - defaults", () => {
    const config = loadConfig({});
    assert.equal(config.tcpPort, 7600);
    assert.equal(config.wsPort, 7601);
    assert.equal(config.host, "0.0.0.0");
    assert.equal(config.world, "main");
    assert.equal(config.resumeGraceMs, 30_000);
    assert.equal(config.maxMessageBytes, 16_384);
    assert.equal(config.rateMsgsPerS, 50);
    assert.equal(config.rateBytesPerS, 65_536);
    assert.equal(config.maxViolations, 5);
    assert.equal(config.heartbeatMs, 15_000);
    assert.equal(config.preAuthMs, 5_000);
    assert.equal(config.tls, undefined);
    assert.equal(config.trustProxyTls, false);
    assert.deepEqual(config.perIp, { maxConnections: 32, newPerSecond: 16 });
    assert.match(config.id, /^gw-[A-Za-z0-9_-]+-\d+$/);
    assert.ok(Object.isFrozen(config));
  });

  it("config - every bad variable is reported at once", () => {
    assert.deepEqual(
      problems({
        GATEWAY_TCP_PORT: "70000",
        GATEWAY_WS_PORT: "x",
        GATEWAY_ID: "has.dot",
        GATEWAY_TRUST_PROXY_TLS: "maybe",
        MERIDIAN_NATS_URL: "http://x",
        MERIDIAN_REDIS_URL: "nope",
        GATEWAY_RATE_MSGS_PER_S: "0",
        GATEWAY_MAX_CONNECTIONS_PER_IP: "0",
        GATEWAY_NEW_CONNECTIONS_PER_IP_PER_S: "lots",
      }).sort(),
      [
        "GATEWAY_ID",
        "GATEWAY_MAX_CONNECTIONS_PER_IP",
        "GATEWAY_NEW_CONNECTIONS_PER_IP_PER_S",
        "GATEWAY_RATE_MSGS_PER_S",
        "GATEWAY_TCP_PORT",
        "GATEWAY_TRUST_PROXY_TLS",
        "GATEWAY_WS_PORT",
        "MERIDIAN_NATS_URL",
        "MERIDIAN_REDIS_URL",
      ],
    );
  });

  it("config - per-IP limits are read", () => {
    const config = loadConfig({
      GATEWAY_MAX_CONNECTIONS_PER_IP: "5000",
      GATEWAY_NEW_CONNECTIONS_PER_IP_PER_S: "400",
    });
    assert.deepEqual(config.perIp, { maxConnections: 5000, newPerSecond: 400 });
  });

  it("config - TLS files: both or neither, and readable", () => {
    assert.deepEqual(problems({ GATEWAY_TLS_CERT: "/x.pem" }), ["GATEWAY_TLS_KEY"]);
    assert.deepEqual(
      problems({ GATEWAY_TLS_CERT: "/nonexistent/c.pem", GATEWAY_TLS_KEY: "/nonexistent/k.pem" }),
      ["GATEWAY_TLS_CERT", "GATEWAY_TLS_KEY"],
    );
    const dir = mkdtempSync(join(tmpdir(), "gw-tls-"));
    writeFileSync(join(dir, "c.pem"), "cert");
    writeFileSync(join(dir, "k.pem"), "key");
    const config = loadConfig({ GATEWAY_TLS_CERT: join(dir, "c.pem"), GATEWAY_TLS_KEY: join(dir, "k.pem") });
    assert.equal(config.tls?.cert.toString(), "cert");
  });

  it("config - the same port twice is refused; 0 twice is fine", () => {
    assert.deepEqual(problems({ GATEWAY_TCP_PORT: "7000", GATEWAY_WS_PORT: "7000" }), ["GATEWAY_WS_PORT"]);
    assert.deepEqual(problems({ GATEWAY_TCP_PORT: "0", GATEWAY_WS_PORT: "0" }), []);
  });

  it("config - the default id is one NATS token of at most 64 characters", () => {
    assert.equal(defaultGatewayId("Edge.Host_1.example", 42), "gw-Edge-Host_1-example-42");
    const long = defaultGatewayId("h".repeat(200), 1234567);
    assert.ok(long.length <= 64 && /^[A-Za-z0-9_-]+$/.test(long) && long.endsWith("-1234567"));
  });
});
