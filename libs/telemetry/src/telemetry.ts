/**
 * Telemetry's on/off switch and its handle. Off (the default) loads nothing: the services talk to
 * `@opentelemetry/api`'s no-op globals and check {@link telemetry}`.enabled` (a plain cached boolean)
 * before building any attribute. On, {@link initTelemetry} imports the SDK lazily (`./sdk.js`),
 * registers the global tracer and meter providers, the AsyncLocalStorage context manager and the W3C
 * trace-context propagator.
 *
 * The state is per process: services that run in one process (tests) share one provider and tell
 * their spans apart by the {@link SpanAttr} attributes.
 *
 * @module
 */
import { type Meter, metrics, type Tracer, trace } from "@opentelemetry/api";
import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import { TelemetryError, TelemetryErrorCode } from "./errors.js";

/** Default {@link TelemetryOptions.hotSampleEvery}: one input batch in 100 is traced. */
export const DEFAULT_HOT_SAMPLE_EVERY = 100;

/** Default {@link TelemetryOptions.exportIntervalMs}. */
export const DEFAULT_EXPORT_INTERVAL_MS = 15_000;

/** The attributes every Meridian span carries, so spans of services sharing a process stay apart. */
export const SpanAttr = {
  /** `gateway`, `lobby`, `authority`, `gameserver`. */
  Service: "meridian.service",
  /** The gateway id, the zone server id, the lobby or authority instance id. */
  Instance: "meridian.instance",
} as const;

/** Options of {@link initTelemetry}. Read from the environment by the services' config (service-kit `readTelemetry`). */
export interface TelemetryOptions {
  /** Telemetry on. Off: nothing is loaded and {@link initTelemetry} resolves at once. */
  readonly enabled: boolean;
  /** `service.name` of the resource (e.g. `meridian-gateway`). Required. */
  readonly serviceName: string;
  /** `service.instance.id` of the resource. Default none. */
  readonly serviceInstanceId?: string;
  /**
   * OTLP/HTTP collector base URL (`http://collector:4318`): traces to `/v1/traces`, metrics to
   * `/v1/metrics`. Default none (no OTLP export; metrics still served as Prometheus text).
   */
  readonly otlpEndpoint?: string;
  /** Collect metrics for Prometheus ({@link TelemetryHandle.metricsText}). Default true. */
  readonly prometheus?: boolean;
  /** Period of the OTLP metrics export, ms. Default {@link DEFAULT_EXPORT_INTERVAL_MS}. */
  readonly exportIntervalMs?: number;
  /**
   * Follow the active context across awaits and callbacks (AsyncLocalStorage). Default false: a
   * synchronous context manager (the context is active while a `context.with` callback runs, not
   * after its first await), because AsyncLocalStorage's async hooks cost every promise of the process
   * (with it, and every input batch traced, `ops.telemetry-relay` measured 0.71). The services carry
   * contexts explicitly across the awaits that matter.
   */
  readonly asyncContext?: boolean;
  /**
   * Hot-path spans (the gateway's input batches) are made for one call in this many
   * ({@link sampleHot}); 1 traces every one. Default {@link DEFAULT_HOT_SAMPLE_EVERY}.
   */
  readonly hotSampleEvery?: number;
  /**
   * Extra span exporters, each behind a synchronous span processor (tests: an in-memory exporter;
   * see `startInMemoryTelemetry`). Default none.
   */
  readonly spanExporters?: readonly SpanExporter[];
}

/** What {@link initTelemetry} gives a service. */
export interface TelemetryHandle {
  readonly enabled: boolean;
  readonly serviceName: string;
  /** The service's tracer (`meridian.<scope>`); a no-op tracer when off. */
  tracer(scope: string): Tracer;
  /** The service's meter (`meridian.<scope>`); a no-op meter when off. */
  meter(scope: string): Meter;
  /** The current metrics as Prometheus exposition text; `undefined` when off. */
  metricsText(): Promise<string | undefined>;
  /** Exports what is buffered (spans, metrics). */
  forceFlush(): Promise<void>;
  /** Flushes, then unregisters the providers: telemetry is off afterwards. Idempotent. */
  shutdown(): Promise<void>;
}

/** The process's switch. Read `telemetry.enabled` on hot paths before building attributes. */
export const telemetry: { readonly enabled: boolean } = { enabled: false };

/** Sets the switch (internal: {@link initTelemetry} and its shutdown). */
export function setEnabled(on: boolean): void {
  (telemetry as { enabled: boolean }).enabled = on;
}

let hotEvery = DEFAULT_HOT_SAMPLE_EVERY;
let hotCount = 0;

/**
 * Whether this hot-path operation gets a span: true for one call in `hotSampleEvery` while
 * telemetry is on (a counter, not a random draw), false while off.
 */
export function sampleHot(): boolean {
  if (!telemetry.enabled) return false;
  hotCount = hotCount + 1 >= hotEvery ? 0 : hotCount + 1;
  return hotCount === 0;
}

/** `meridian.<scope>` tracer from the global provider (no-op when off). */
export function getTracer(scope: string): Tracer {
  return trace.getTracer(`meridian.${scope}`);
}

/**
 * `meridian.<scope>` meter from the global provider. Create instruments after {@link initTelemetry}:
 * the metrics API has no proxy, an instrument made while off stays a no-op.
 */
export function getMeter(scope: string): Meter {
  return metrics.getMeter(`meridian.${scope}`);
}

const OFF: TelemetryHandle = Object.freeze({
  enabled: false,
  serviceName: "",
  tracer: getTracer,
  meter: getMeter,
  metricsText: () => Promise.resolve(undefined),
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
});

/**
 * Turns telemetry on as `options` say (or returns the off handle at once, loading nothing).
 * @throws TelemetryError on bad options, or when telemetry is already on in this process.
 */
export async function initTelemetry(options: TelemetryOptions): Promise<TelemetryHandle> {
  if (!options.enabled) return Object.freeze({ ...OFF, serviceName: options.serviceName });
  if (typeof options.serviceName !== "string" || options.serviceName === "") {
    throw new TelemetryError(TelemetryErrorCode.InvalidOptions, "serviceName must be a non-empty string");
  }
  const interval = options.exportIntervalMs ?? DEFAULT_EXPORT_INTERVAL_MS;
  if (!Number.isSafeInteger(interval) || interval < 100) {
    throw new TelemetryError(TelemetryErrorCode.InvalidOptions, "exportIntervalMs must be an integer ≥ 100");
  }
  const every = options.hotSampleEvery ?? DEFAULT_HOT_SAMPLE_EVERY;
  if (!Number.isSafeInteger(every) || every < 1) {
    throw new TelemetryError(TelemetryErrorCode.InvalidOptions, "hotSampleEvery must be an integer ≥ 1");
  }
  if (telemetry.enabled) {
    throw new TelemetryError(TelemetryErrorCode.AlreadyOn, "telemetry is already on in this process");
  }
  const { startSdk } = await import("./sdk.js");
  const sdk = await startSdk({ ...options, exportIntervalMs: interval });
  hotEvery = every;
  hotCount = 0;
  setEnabled(true);
  let stopped: Promise<void> | undefined;
  return Object.freeze({
    enabled: true,
    serviceName: options.serviceName,
    tracer: getTracer,
    meter: getMeter,
    metricsText: () => sdk.metricsText(),
    forceFlush: () => sdk.forceFlush(),
    shutdown(): Promise<void> {
      stopped ??= (async () => {
        setEnabled(false);
        const { resetSharedInstruments } = await import("./spans.js");
        resetSharedInstruments();
        await sdk.shutdown();
      })();
      return stopped;
    },
  });
}
