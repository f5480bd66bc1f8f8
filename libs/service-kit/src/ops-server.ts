/**
 * A service's ops HTTP server (`node:http`): the probes an orchestrator asks and the metrics a
 * scraper reads, on a port of its own, apart from player traffic.
 *
 * - `GET /healthz`: liveness. 200 `{"status":"ok"}` while the event loop answers at all.
 * - `GET /readyz`: readiness. Runs every named check at once, each bounded by `checkTimeoutMs`; 200
 *   `{"status":"ready","checks":{…}}` when all pass, else 503 with `failed` naming the failing checks
 *   (and each one's reason in `reasons`).
 * - `GET /metrics`: the Prometheus text the `metrics` option gives (telemetry on); 503 with a plain
 *   body saying how to turn metrics on when it gives `undefined` or no `metrics` option was given.
 * - Other paths 404; other methods than `GET`/`HEAD` on a known path 405 with `Allow`.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { OpsServerError, OpsServerErrorCode } from "./errors.js";

/** Default {@link OpsServerOptions.host}: every interface (probes come from the orchestrator). */
export const DEFAULT_OPS_HOST = "0.0.0.0";
/** Default {@link OpsServerOptions.checkTimeoutMs}. */
export const DEFAULT_OPS_CHECK_TIMEOUT_MS = 2_000;

/**
 * One readiness check: resolves (or returns) when ready; a throw, a rejection, a `false` result or
 * no answer within the timeout counts as not ready.
 */
export type ReadinessCheckFn = () => unknown | Promise<unknown>;

/** Prometheus exposition text, or `undefined` when metrics are off. */
export type MetricsSource = () => Promise<string | undefined>;

/** The slice of a logger the server uses (pino's). */
export interface OpsLogger {
  warn(object: object, message: string): void;
  info(object: object, message: string): void;
}

/** Options of {@link startOpsServer}. */
export interface OpsServerOptions {
  /** Port; 0 = any free port (the bound one is in {@link OpsServer.port}). Required. */
  readonly port: number;
  /** Interface to bind. Default {@link DEFAULT_OPS_HOST}. */
  readonly host?: string;
  /** Named readiness checks (`nats`, `redis`, `started`…). Default none: always ready. */
  readonly checks?: Readonly<Record<string, ReadinessCheckFn>>;
  /** Bound on each check, ms. Default {@link DEFAULT_OPS_CHECK_TIMEOUT_MS}. */
  readonly checkTimeoutMs?: number;
  /** The `/metrics` body. Default none (`/metrics` answers 503). */
  readonly metrics?: MetricsSource;
  /** Failed checks at warn, the listening address at info. Default none. */
  readonly logger?: OpsLogger;
}

/** A running ops server. */
export interface OpsServer {
  readonly host: string;
  readonly port: number;
  /** Stops listening and closes every connection. Idempotent. */
  close(): Promise<void>;
}

const PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

/** The body `/metrics` answers with while telemetry is off. */
export const METRICS_OFF_BODY =
  "metrics are off: set MERIDIAN_TELEMETRY=on to expose Prometheus metrics here\n";

/**
 * Starts the ops server (see the module doc); resolves once it listens.
 * @throws OpsServerError on bad options or when the port cannot be bound.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const problems: string[] = [];
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535)
    problems.push("port must be an integer from 0 to 65535");
  const timeoutMs = options.checkTimeoutMs ?? DEFAULT_OPS_CHECK_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1)
    problems.push("checkTimeoutMs must be a positive integer");
  for (const [name, check] of Object.entries(options.checks ?? {})) {
    if (typeof check !== "function") problems.push(`check "${name}" must be a function`);
  }
  if (problems.length > 0)
    throw new OpsServerError(
      OpsServerErrorCode.InvalidOptions,
      `invalid ops server options: ${problems.join("; ")}`,
    );
  const checks = Object.freeze({ ...(options.checks ?? {}) });
  const host = options.host ?? DEFAULT_OPS_HOST;
  const log = options.logger;

  const server: Server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
    void handle(req, res).catch((error: unknown) => {
      log?.warn({ err: error }, "ops request failed");
      if (!res.headersSent) send(res, 500, "text/plain", "internal error\n");
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://ops.invalid").pathname;
    res.setHeader("Cache-Control", "no-store");
    if (!PATHS.has(path)) return send(res, 404, "application/json", json({ error: `no route ${path}` }));
    const method = req.method ?? "GET";
    if (method !== "GET" && method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return send(res, 405, "application/json", json({ error: `${method} is not allowed on ${path}` }));
    }
    if (path === "/healthz") return send(res, 200, "application/json", json({ status: "ok" }));
    if (path === "/readyz") return readiness(res);
    const text = options.metrics === undefined ? undefined : await options.metrics();
    if (text === undefined) return send(res, 503, "text/plain; charset=utf-8", METRICS_OFF_BODY);
    return send(res, 200, "text/plain; version=0.0.4; charset=utf-8", text);
  }

  async function readiness(res: ServerResponse): Promise<void> {
    const names = Object.keys(checks);
    const results = await Promise.all(names.map((name) => runCheck(checks[name] as ReadinessCheckFn)));
    const summary: Record<string, "ok" | "fail"> = {};
    const reasons: Record<string, string> = {};
    names.forEach((name, i) => {
      const reason = results[i];
      summary[name] = reason === undefined ? "ok" : "fail";
      if (reason !== undefined) reasons[name] = reason;
    });
    const failed = names.filter((name) => summary[name] === "fail");
    if (failed.length === 0)
      return send(res, 200, "application/json", json({ status: "ready", checks: summary }));
    log?.warn({ failed, reasons }, "not ready");
    send(
      res,
      503,
      "application/json",
      json({
        status: "not ready",
        message: `not ready: ${failed.join(", ")}`,
        failed,
        reasons,
        checks: summary,
      }),
    );
  }

  /** undefined when the check passed, else why it did not. */
  async function runCheck(check: ReadinessCheckFn): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
    });
    const run = (async () => {
      try {
        return (await check()) === false ? "not ready" : undefined;
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
    })();
    try {
      return await Promise.race([run, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (cause) {
    throw new OpsServerError(OpsServerErrorCode.ListenFailed, `cannot listen on ${host}:${options.port}`, {
      cause,
    });
  }
  server.on("error", (error) => log?.warn({ err: error }, "ops server error"));
  const address = server.address() as AddressInfo;
  log?.info({ host: address.address, port: address.port }, "ops server listening");
  let closing: Promise<void> | undefined;
  return Object.freeze({
    host: address.address,
    port: address.port,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  });
}

function json(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.statusCode = status;
  res.setHeader("Content-Type", type);
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(res.req.method === "HEAD" ? undefined : body);
}
