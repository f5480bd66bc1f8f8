/**
 * The OpenTelemetry SDK set-up, imported only when telemetry is on (`initTelemetry`): global tracer
 * and meter providers, the AsyncLocalStorage context manager, the W3C trace-context propagator, a
 * Prometheus reader (pull, no server of its own: the ops server serves `/metrics`) and the OTLP/HTTP
 * exporters when an endpoint is set.
 *
 * @module
 */
import { context, metrics, propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, type MetricReader, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { SyncContextManager } from "./sync-context-manager.js";
import type { TelemetryOptions } from "./telemetry.js";

/** The running SDK. */
export interface RunningSdk {
  metricsText(): Promise<string | undefined>;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export async function startSdk(
  options: TelemetryOptions & { readonly exportIntervalMs: number },
): Promise<RunningSdk> {
  const resource = resourceFromAttributes({
    "service.name": options.serviceName,
    ...(options.serviceInstanceId === undefined ? {} : { "service.instance.id": options.serviceInstanceId }),
  });
  const spanProcessors: SpanProcessor[] = [];
  for (const exporter of options.spanExporters ?? []) spanProcessors.push(new SimpleSpanProcessor(exporter));
  if (options.otlpEndpoint !== undefined) {
    spanProcessors.push(
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.otlpEndpoint}/v1/traces` })),
    );
  }
  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors });

  const readers: MetricReader[] = [];
  const prometheus =
    options.prometheus === false ? undefined : new PrometheusExporter({ preventServerStart: true });
  if (prometheus !== undefined) readers.push(prometheus);
  if (options.otlpEndpoint !== undefined) {
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${options.otlpEndpoint}/v1/metrics` }),
        exportIntervalMillis: options.exportIntervalMs,
      }),
    );
  }
  const meterProvider = new MeterProvider({ resource, readers });

  const contextManager =
    options.asyncContext === true
      ? new (await import("@opentelemetry/context-async-hooks")).AsyncLocalStorageContextManager().enable()
      : new SyncContextManager();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  const serializer = new PrometheusSerializer();

  return {
    async metricsText(): Promise<string | undefined> {
      if (prometheus === undefined) return undefined;
      const { resourceMetrics } = await prometheus.collect();
      return serializer.serialize(resourceMetrics);
    },
    async forceFlush(): Promise<void> {
      await Promise.all([tracerProvider.forceFlush(), meterProvider.forceFlush()]);
    },
    async shutdown(): Promise<void> {
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    },
  };
}
