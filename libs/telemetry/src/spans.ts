/**
 * Span and metric helpers shared by the services. Callers check `telemetry.enabled` first, so the
 * attributes they pass are only built when telemetry is on.
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  context,
  type Histogram,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { getMeter, getTracer, telemetry } from "./telemetry.js";

/** How a span is started by {@link inSpan} / {@link startSpan}. */
export interface SpanStart {
  /** Default `INTERNAL`. */
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  /** The parent context. Default: the active one. */
  readonly parent?: Context;
}

/** Starts a span of the tracer `meridian.<scope>` (not made active; end it yourself). */
export function startSpan(scope: string, name: string, start: SpanStart = {}): Span {
  return getTracer(scope).startSpan(
    name,
    { kind: start.kind ?? SpanKind.INTERNAL, ...(start.attributes ? { attributes: start.attributes } : {}) },
    start.parent ?? context.active(),
  );
}

/**
 * Runs `fn` inside a new active span, which ends when `fn` returns or settles; a throw or rejection
 * marks it as an error (and passes through).
 */
export function inSpan<T>(scope: string, name: string, start: SpanStart, fn: (span: Span) => T): T {
  const span = startSpan(scope, name, start);
  const ctx = trace.setSpan(start.parent ?? context.active(), span);
  let result: T;
  try {
    result = context.with(ctx, fn, undefined, span);
  } catch (error) {
    failSpan(span, error);
    span.end();
    throw error;
  }
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        failSpan(span, error);
        span.end();
        throw error;
      },
    ) as T;
  }
  span.end();
  return result;
}

/** Marks `span` as failed with `error` (its `code` when it has one). */
export function failSpan(span: Span, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  if (error instanceof Error) span.recordException(error);
}

/** Bucket bounds for durations in milliseconds (sub-millisecond to seconds). */
export const DURATION_BUCKETS_MS: readonly number[] = Object.freeze([
  0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 250, 500, 1_000, 2_500, 5_000,
]);

/** A histogram of durations in ms with {@link DURATION_BUCKETS_MS}. Make it after `initTelemetry`. */
export function durationHistogram(scope: string, name: string, description: string): Histogram {
  return getMeter(scope).createHistogram(name, {
    description,
    unit: "ms",
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_MS] },
  });
}

let natsRequests: Histogram | undefined;
let redisCalls: Histogram | undefined;

/**
 * Records one NATS request's latency in `meridian.nats.request.duration` (ms) with the calling
 * service, the request's target (`lobby.login`, `zone.handoff`, `world.attach`…) and its outcome.
 * A no-op when telemetry is off.
 */
export function recordNatsRequest(service: string, target: string, ms: number, ok: boolean): void {
  if (!telemetry.enabled) return;
  natsRequests ??= durationHistogram(
    "nats",
    "meridian.nats.request.duration",
    "NATS request/reply round trips, by caller and target",
  );
  natsRequests.record(ms, { "meridian.service": service, target, outcome: ok ? "ok" : "error" });
}

/**
 * Records one Redis call's latency in `meridian.redis.duration` (ms) with the calling service and the
 * operation (`presence.write`, `checkpoint.write`, `ping`…). A no-op when telemetry is off.
 */
export function recordRedisCall(service: string, op: string, ms: number, ok: boolean): void {
  if (!telemetry.enabled) return;
  redisCalls ??= durationHistogram(
    "redis",
    "meridian.redis.duration",
    "Redis calls, by caller and operation",
  );
  redisCalls.record(ms, { "meridian.service": service, op, outcome: ok ? "ok" : "error" });
}

/** Forgets the shared instruments (internal: telemetry turned off; new ones are made when it is on again). */
export function resetSharedInstruments(): void {
  natsRequests = undefined;
  redisCalls = undefined;
}

/**
 * Runs a Redis call, recording its latency in `meridian.redis.duration` when telemetry is on (and
 * only calling it when off).
 */
export function measureRedis<T>(service: string, op: string, run: () => Promise<T>): Promise<T> {
  if (!telemetry.enabled) return run();
  const started = performance.now();
  return run().then(
    (value) => {
      recordRedisCall(service, op, performance.now() - started, true);
      return value;
    },
    (error: unknown) => {
      recordRedisCall(service, op, performance.now() - started, false);
      throw error;
    },
  );
}
