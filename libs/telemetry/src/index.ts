/**
 * `@meridian/telemetry`: OpenTelemetry for Meridian's services. Off by default at no cost; on, the SDK
 * is loaded lazily. See the README for the variables, span names and metric names.
 * @module
 */
// The slice of @opentelemetry/api the services use, so they depend on this package alone.
export {
  type Attributes,
  type Context,
  type Counter,
  context,
  type Histogram,
  type Meter,
  type ObservableResult,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
export { TelemetryError, TelemetryErrorCode } from "./errors.js";
export { type InMemoryTelemetry, startInMemoryTelemetry } from "./in-memory.js";
export { type TraceLogFields, traceLogMixin } from "./log-mixin.js";
export { extractTraceContext, injectTraceHeaders, type TraceCarrier } from "./nats-propagation.js";
export {
  DURATION_BUCKETS_MS,
  durationHistogram,
  failSpan,
  inSpan,
  measureRedis,
  recordNatsRequest,
  recordRedisCall,
  type SpanStart,
  startSpan,
} from "./spans.js";
export {
  DEFAULT_EXPORT_INTERVAL_MS,
  DEFAULT_HOT_SAMPLE_EVERY,
  getMeter,
  getTracer,
  initTelemetry,
  SpanAttr,
  sampleHot,
  type TelemetryHandle,
  type TelemetryOptions,
  telemetry,
} from "./telemetry.js";
