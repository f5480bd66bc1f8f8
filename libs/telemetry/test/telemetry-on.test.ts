/**
 * Telemetry on: W3C trace context round trip over a real NATS connection, trace ids in pino lines,
 * Prometheus text, the in-memory exporter.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import {
  context,
  extractTraceContext,
  getMeter,
  type InMemoryTelemetry,
  initTelemetry,
  injectTraceHeaders,
  inSpan,
  recordNatsRequest,
  SpanKind,
  sampleHot,
  startInMemoryTelemetry,
  TelemetryError,
  telemetry,
  trace,
  traceLogMixin,
} from "@meridian/telemetry";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";

describe("telemetry - on", () => {
  let ctx: TestContext;
  let nc: NatsConnection;
  let mem: InMemoryTelemetry;

  before(async () => {
    ctx = await createTestContext({ postgres: false, redis: false });
    nc = await connect({ servers: ctx.nats.url });
    mem = await startInMemoryTelemetry({ serviceName: "meridian-test" });
  });

  after(async () => {
    await mem?.shutdown();
    await nc?.close();
    await ctx?.cleanup();
  });

  it("on - a second init in the same process is refused", async () => {
    assert.equal(telemetry.enabled, true);
    await assert.rejects(
      initTelemetry({ enabled: true, serviceName: "again" }),
      (error: unknown) => error instanceof TelemetryError && error.code === "TELEMETRY_ALREADY_ON",
    );
  });

  it("propagation - a NATS request carries the caller's context: the responder's span is its child", async () => {
    mem.reset();
    const subject = `${ctx.nats.prefix}.echo`;
    const sub = nc.subscribe(subject, {
      callback: (_error, msg) => {
        inSpan(
          "responder",
          "responder.handle",
          { kind: SpanKind.SERVER, parent: extractTraceContext(msg.headers) },
          () => msg.respond(msg.data),
        );
      },
    });
    await nc.flush();
    await inSpan("caller", "caller.request", { kind: SpanKind.CLIENT }, async () => {
      const headers = injectTraceHeaders();
      assert.ok(headers?.get("traceparent").startsWith("00-"), "traceparent injected");
      await nc.request(subject, new Uint8Array([1]), { timeout: 2_000, headers });
    });
    sub.unsubscribe();
    const spans = mem.spans();
    const caller = spans.find((s) => s.name === "caller.request");
    const responder = spans.find((s) => s.name === "responder.handle");
    assert.ok(caller && responder, `both spans ended: ${spans.map((s) => s.name).join(", ")}`);
    assert.equal(responder.spanContext().traceId, caller.spanContext().traceId);
    assert.equal(responder.parentSpanContext?.spanId, caller.spanContext().spanId);
  });

  it("propagation - a message without headers starts a new trace", () => {
    const extracted = extractTraceContext(undefined);
    assert.equal(trace.getSpanContext(extracted), undefined);
  });

  it("pino mixin - lines inside a span carry trace_id and span_id, outside none", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    });
    const log = pino({ mixin: traceLogMixin() }, sink);
    log.info("outside");
    let ids: { traceId: string; spanId: string } | undefined;
    inSpan("test", "logged", {}, (span) => {
      ids = span.spanContext();
      log.info("inside");
    });
    await new Promise((resolve) => setImmediate(resolve));
    const outside = lines.find((l) => l.msg === "outside");
    const inside = lines.find((l) => l.msg === "inside");
    assert.equal(outside?.trace_id, undefined);
    assert.equal(inside?.trace_id, ids?.traceId);
    assert.equal(inside?.span_id, ids?.spanId);
  });

  it("inSpan - a rejection marks the span as an error and passes through", async () => {
    mem.reset();
    await assert.rejects(
      inSpan("test", "failing", {}, async () => {
        throw new Error("boom");
      }),
      /boom/,
    );
    const span = mem.spans().find((s) => s.name === "failing");
    assert.equal(span?.status.code, 2);
  });

  it("metrics - instruments made after init appear in the Prometheus text", async () => {
    getMeter("test").createCounter("meridian.test.things").add(3, { kind: "a" });
    recordNatsRequest("test", "echo", 1.5, true);
    const text = await mem.handle.metricsText();
    assert.match(text ?? "", /meridian_test_things_total\{[^}]*kind="a"[^}]*\} 3/);
    assert.match(text ?? "", /meridian_nats_request_duration_count\{[^}]*target="echo"/);
  });

  it("context - synchronous by default: active in the span's synchronous part, restored after", async () => {
    let inside: unknown;
    await inSpan("test", "outer", {}, async (span) => {
      inside = trace.getSpan(context.active()) === span;
      await new Promise((resolve) => setTimeout(resolve, 1));
    });
    assert.equal(inside, true);
    assert.equal(trace.getSpan(context.active()), undefined);
  });

  it("sampleHot - one call in hotSampleEvery (1 in tests: every call)", () => {
    assert.deepEqual([sampleHot(), sampleHot(), sampleHot()], [true, true, true]);
  });
});
