/**
 * A stand-in OpenTelemetry collector for the `ops.*` benchmarks: an HTTP server on 127.0.0.1 that
 * takes OTLP/HTTP exports (`POST /v1/traces`, `/v1/metrics`), reads them whole and answers 200 `{}`,
 * counting requests and bytes. The services with telemetry on export to it as they would to a real
 * collector, so their export cost (serialisation, HTTP) is in the figures.
 *
 * @module
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** A running sink. */
export interface OtlpSink {
  /** `http://127.0.0.1:<port>`: the services' `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly endpoint: string;
  /** Requests and bytes received, by path. */
  readonly received: Map<string, { requests: number; bytes: number }>;
  close(): Promise<void>;
}

export async function startOtlpSink(): Promise<OtlpSink> {
  const received = new Map<string, { requests: number; bytes: number }>();
  const server = createServer((req, res) => {
    const path = req.url ?? "/";
    const entry = received.get(path) ?? { requests: 0, bytes: 0 };
    received.set(path, entry);
    entry.requests++;
    req.on("data", (chunk: Buffer) => {
      entry.bytes += chunk.length;
    });
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
