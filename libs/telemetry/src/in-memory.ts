/**
 * The test hook: telemetry on in this process with every finished span kept in memory (plus the
 * Prometheus text of the metrics), so a test can read a trace across the services it runs in-process.
 *
 * @module
 */
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { initTelemetry, type TelemetryHandle } from "./telemetry.js";

/** Telemetry on, spans in memory. */
export interface InMemoryTelemetry {
  readonly handle: TelemetryHandle;
  /** Every span finished so far, in the order they ended. */
  spans(): readonly ReadableSpan[];
  /** Forgets the spans finished so far. */
  reset(): void;
  /** Turns telemetry off again. */
  shutdown(): Promise<void>;
}

/** Turns telemetry on for a test, spans to memory (synchronously exported as each span ends). */
export async function startInMemoryTelemetry(
  options: {
    readonly serviceName?: string;
    /** Default 1: every hot-path operation is traced (tests follow one input). */
    readonly hotSampleEvery?: number;
    readonly asyncContext?: boolean;
  } = {},
): Promise<InMemoryTelemetry> {
  const { InMemorySpanExporter } = await import("@opentelemetry/sdk-trace-base");
  const exporter = new InMemorySpanExporter();
  const handle = await initTelemetry({
    enabled: true,
    serviceName: options.serviceName ?? "meridian-test",
    spanExporters: [exporter],
    hotSampleEvery: options.hotSampleEvery ?? 1,
    ...(options.asyncContext === undefined ? {} : { asyncContext: options.asyncContext }),
  });
  return {
    handle,
    spans: () => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
    shutdown: () => handle.shutdown(),
  };
}
