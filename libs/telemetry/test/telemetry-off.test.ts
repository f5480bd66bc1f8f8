/**
 * Telemetry off (the default): nothing of the SDK is loaded, the API's no-op globals answer, no
 * headers are built, log lines get no fields. Its own file (process) so no other test turns it on.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import {
  extractTraceContext,
  getTracer,
  initTelemetry,
  injectTraceHeaders,
  ROOT_CONTEXT,
  telemetry,
  traceLogMixin,
} from "@meridian/telemetry";
import { headers } from "@nats-io/transport-node";

const require = createRequire(import.meta.url);

function sdkLoaded(): string[] {
  return Object.keys(require.cache).filter((path) => /sdk-(trace|metrics)|exporter-/.test(path));
}

describe("telemetry - off", () => {
  it("off - initTelemetry loads no SDK and gives a handle whose metrics are undefined", async () => {
    const handle = await initTelemetry({ enabled: false, serviceName: "meridian-test" });
    assert.equal(handle.enabled, false);
    assert.equal(telemetry.enabled, false);
    assert.equal(await handle.metricsText(), undefined);
    assert.deepEqual(sdkLoaded(), []);
    await handle.shutdown();
  });

  it("off - spans are no-ops: not recording, no valid trace id", () => {
    const span = getTracer("test").startSpan("nothing");
    assert.equal(span.isRecording(), false);
    assert.equal(span.spanContext().traceId, "00000000000000000000000000000000");
    span.end();
  });

  it("off - no headers are injected, extraction gives the root context", () => {
    assert.equal(injectTraceHeaders(), undefined);
    const given = headers();
    assert.equal(injectTraceHeaders(undefined, given), given);
    assert.equal(given.has("traceparent"), false);
    given.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assert.equal(extractTraceContext(given), ROOT_CONTEXT);
  });

  it("off - the pino mixin adds nothing", () => {
    assert.deepEqual(traceLogMixin()(), {});
  });
});

describe("telemetry - off, in pino", () => {
  it("off - pino lines with merged fields still log (the mixin's object is merged into)", async () => {
    const { pino } = await import("pino");
    const { Writable } = await import("node:stream");
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = pino({ mixin: traceLogMixin() }, sink);
    log.fatal({ code: "X" }, "one");
    log.info({ code: "Y" }, "two");
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(lines.length, 2);
    assert.match(lines[1] ?? "", /"code":"Y"/);
    assert.doesNotMatch(lines[1] ?? "", /"code":"X"/);
  });
});
