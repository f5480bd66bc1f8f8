/**
 * Trace ids in log lines: a pino `mixin` that adds `trace_id` and `span_id` to every line logged
 * inside a span (`pino({ mixin: traceLogMixin() })`). Off, or outside a span, it adds nothing. (It
 * returns a fresh object each time: pino's default merge strategy assigns the line's fields into it.)
 *
 * @module
 */
import { context, isSpanContextValid, trace } from "@opentelemetry/api";
import { telemetry } from "./telemetry.js";

/** The fields added to a log line inside a span. */
export interface TraceLogFields {
  readonly trace_id?: string;
  readonly span_id?: string;
}

/** A pino `mixin` (structural: any logger with a mixin hook taking `() => object`). */
export function traceLogMixin(): () => TraceLogFields {
  return () => {
    if (!telemetry.enabled) return {};
    const span = trace.getSpanContext(context.active());
    if (span === undefined || !isSpanContextValid(span)) return {};
    return { trace_id: span.traceId, span_id: span.spanId };
  };
}
