/**
 * The lobby's admin HTTP API for operators (docs/admin-api.md), on `node:http`, plus the
 * unauthenticated probes `/healthz` (liveness) and `/readyz` (readiness), and `/metrics` (Prometheus
 * text while telemetry is on; 503 with a plain body saying how to turn it on otherwise).
 *
 * - **Auth.** Every `/admin…` request needs `Authorization: Bearer <LOBBY_ADMIN_TOKEN>`, checked in
 *   constant time by the lobby's {@link AdminCredential}, before routing: without it an unknown path
 *   and a known one answer the same 401, so the route table is not probed for free.
 * - **Bodies** are JSON objects of at most `maxBodyBytes`: a declared `Content-Length` over it is
 *   refused before a byte is read, a streamed body as soon as it passes it (413, then the connection
 *   is closed); nothing beyond the limit is buffered.
 * - **Errors** are `{ code, message, field?, … }` with the lobby's codes; see `admin-http-errors.ts`
 *   for the status of each. Internal failures answer 503 `LOBBY_UNAVAILABLE`, details logged only.
 * - **Logging** (when a pino logger is given): one debug line per request (id, method, path, status,
 *   duration; never headers), an info line per change an operator made, errors for internal failures.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { METRICS_OFF_BODY } from "@meridian/service-kit";
import type { Logger } from "pino";
import { LobbyError, LobbyErrorCode } from "../errors.js";
import type { Lobby } from "../lobby.js";
import { AdminHttpError, errorReply, HttpStatus } from "./admin-http-errors.js";
import type { AdminRouter } from "./admin-router.js";
import { adminRoutes } from "./admin-routes.js";

/** Default {@link AdminHttpServerOptions.maxBodyBytes}: 64 KiB. */
export const DEFAULT_ADMIN_MAX_BODY_BYTES = 64 * 1024;
/** Default {@link AdminHttpServerOptions.probeTimeoutMs}. */
export const DEFAULT_ADMIN_PROBE_TIMEOUT_MS = 2_000;
/** Default {@link AdminHttpServerOptions.stopTimeoutMs}. */
export const DEFAULT_ADMIN_STOP_TIMEOUT_MS = 5_000;

/** Options of {@link AdminHttpServer}; validated at construction (`LOBBY_INVALID_OPTIONS`). */
export interface AdminHttpServerOptions {
  /** Interface to listen on (`LOBBY_ADMIN_HOST`). Keep it private: the API is for operators. */
  readonly host: string;
  /** Port (`LOBBY_ADMIN_PORT`); 0 = any free port, reported by {@link AdminHttpServer.start}. */
  readonly port: number;
  /** Request logs at debug, audit at info, internal failures at error. Default: none. */
  readonly logger?: Logger;
  /** Largest request body accepted, bytes. Default {@link DEFAULT_ADMIN_MAX_BODY_BYTES} (64 KiB). */
  readonly maxBodyBytes?: number;
  /**
   * The process's own readiness for `/readyz` (e.g. "the lobby has started"), checked with Postgres and
   * Redis. A throw counts as not ready. Default: always ready.
   */
  readonly ready?: () => boolean | Promise<boolean>;
  /**
   * The `/metrics` body (Prometheus text), `undefined` while telemetry is off (`/metrics` answers 503).
   * Default: none (503).
   */
  readonly metrics?: () => Promise<string | undefined>;
  /** How long each `/readyz` check may take before it counts as failed, ms. Default 2000. */
  readonly probeTimeoutMs?: number;
  /** How long {@link AdminHttpServer.stop} waits for requests in flight before closing their sockets, ms. Default 5000. */
  readonly stopTimeoutMs?: number;
}

/** Where the server listens. */
export interface AdminHttpAddress {
  readonly host: string;
  readonly port: number;
}

/** The readiness checks `/readyz` reports. */
export const ReadinessCheck = { Lobby: "lobby", Postgres: "postgres", Redis: "redis" } as const;
export type ReadinessCheck = (typeof ReadinessCheck)[keyof typeof ReadinessCheck];

interface ResolvedOptions {
  readonly host: string;
  readonly port: number;
  readonly logger: Logger | undefined;
  readonly maxBodyBytes: number;
  readonly ready: () => boolean | Promise<boolean>;
  readonly metrics: () => Promise<string | undefined>;
  readonly probeTimeoutMs: number;
  readonly stopTimeoutMs: number;
}

const BEARER = /^Bearer +(\S+) *$/i;
const NO_BODY = Symbol("no body");

function resolveOptions(options: AdminHttpServerOptions): ResolvedOptions {
  const problems: string[] = [];
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (!Number.isSafeInteger(v) || v < 1) problems.push(`${name} must be a positive integer`);
    return v;
  };
  if (typeof options?.host !== "string" || options.host.length === 0)
    problems.push("host must be a host name");
  if (!Number.isInteger(options?.port) || options.port < 0 || options.port > 65_535) {
    problems.push("port must be an integer from 0 to 65535");
  }
  if (options?.ready !== undefined && typeof options.ready !== "function")
    problems.push("ready must be a function");
  const resolved = {
    host: options?.host,
    port: options?.port,
    logger: options?.logger?.child({ subsystem: "admin-http" }),
    maxBodyBytes: positive("maxBodyBytes", options?.maxBodyBytes, DEFAULT_ADMIN_MAX_BODY_BYTES),
    ready: options?.ready ?? (() => true),
    metrics: options?.metrics ?? (() => Promise.resolve(undefined)),
    probeTimeoutMs: positive("probeTimeoutMs", options?.probeTimeoutMs, DEFAULT_ADMIN_PROBE_TIMEOUT_MS),
    stopTimeoutMs: positive("stopTimeoutMs", options?.stopTimeoutMs, DEFAULT_ADMIN_STOP_TIMEOUT_MS),
  };
  if (problems.length > 0) {
    throw new LobbyError(
      LobbyErrorCode.InvalidOptions,
      `invalid admin HTTP options: ${problems.join("; ")}`,
      {
        context: { problems },
      },
    );
  }
  return Object.freeze(resolved);
}

/** The admin HTTP API of one lobby (see the module doc). */
export class AdminHttpServer {
  readonly #lobby: Lobby;
  readonly #options: ResolvedOptions;
  readonly #log: Logger | undefined;
  readonly #router: AdminRouter;
  #server: Server | undefined;
  #stopping: Promise<void> | undefined;

  constructor(lobby: Lobby, options: AdminHttpServerOptions) {
    this.#lobby = lobby;
    this.#options = resolveOptions(options);
    this.#log = this.#options.logger;
    this.#router = adminRoutes(lobby, (action, details) =>
      this.#log?.info({ action, ...details }, "admin action"),
    );
  }

  /** Listens; resolves with the bound address (the real port when `port` was 0). */
  async start(): Promise<AdminHttpAddress> {
    if (this.#server !== undefined) throw new Error("admin HTTP server already started");
    const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
      void this.#handle(req, res);
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#options.port, this.#options.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (error) => this.#log?.error({ err: error }, "admin HTTP server error"));
    const address = server.address() as AddressInfo;
    this.#log?.info({ host: address.address, port: address.port }, "admin HTTP API listening");
    return Object.freeze({ host: address.address, port: address.port });
  }

  /**
   * Stops listening and closes idle keep-alive connections at once; requests in flight get up to
   * `stopTimeoutMs` to finish, then their sockets are closed too. Idempotent.
   */
  stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return Promise.resolve();
    this.#stopping ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.closeAllConnections(), this.#options.stopTimeoutMs);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
    });
    return this.#stopping;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const started = process.hrtime.bigint();
    const method = req.method ?? "GET";
    let path = "/";
    res.setHeader("X-Request-Id", requestId);
    res.setHeader("Cache-Control", "no-store");
    if (this.#stopping !== undefined) res.setHeader("Connection", "close");
    try {
      const url = new URL(req.url ?? "/", "http://admin.invalid");
      path = url.pathname;
      if (path === "/healthz") {
        this.#onlyGet(method);
        this.#send(res, HttpStatus.Ok, { status: "ok" });
      } else if (path === "/readyz") {
        this.#onlyGet(method);
        await this.#readiness(res);
      } else if (path === "/metrics") {
        this.#onlyGet(method);
        const text = await this.#options.metrics();
        res.statusCode = text === undefined ? HttpStatus.ServiceUnavailable : HttpStatus.Ok;
        res.setHeader(
          "Content-Type",
          text === undefined ? "text/plain; charset=utf-8" : "text/plain; version=0.0.4; charset=utf-8",
        );
        res.end(text ?? METRICS_OFF_BODY);
      } else if (path === "/admin" || path.startsWith("/admin/")) {
        this.#authenticate(req);
        const route = this.#router.match(method, path);
        const body = route.hasBody ? await this.#readJson(req) : undefined;
        const reply = await route.handler({ params: route.params, query: url.searchParams, body });
        this.#send(res, reply.status ?? HttpStatus.Ok, reply.body);
      } else {
        throw new AdminHttpError(HttpStatus.NotFound, LobbyErrorCode.BadRequest, "no such route");
      }
    } catch (error) {
      this.#sendError(res, error, { requestId, method, path });
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    this.#log?.debug({ requestId, method, path, status: res.statusCode, ms }, "admin request");
  }

  #onlyGet(method: string): void {
    if (method !== "GET" && method !== "HEAD") {
      throw new AdminHttpError(
        HttpStatus.MethodNotAllowed,
        LobbyErrorCode.BadRequest,
        `${method} is not allowed here`,
        {
          allow: ["GET", "HEAD"],
        },
      );
    }
  }

  #authenticate(req: IncomingMessage): void {
    const header = req.headers.authorization;
    const token = header === undefined ? undefined : BEARER.exec(header)?.[1];
    if (!this.#lobby.services.admin.matches(token)) {
      throw new AdminHttpError(
        HttpStatus.Unauthorized,
        LobbyErrorCode.Unauthorized,
        "a valid admin credential is required: Authorization: Bearer <LOBBY_ADMIN_TOKEN>",
      );
    }
  }

  /** The body as JSON, `undefined` when empty. 413 past the limit (nothing more is buffered), 400 for bad JSON. */
  #readJson(req: IncomingMessage): Promise<unknown> {
    const limit = this.#options.maxBodyBytes;
    const tooLarge = () =>
      new AdminHttpError(
        HttpStatus.PayloadTooLarge,
        LobbyErrorCode.BadRequest,
        `the body exceeds ${limit} bytes`,
        {
          max: limit,
        },
      );
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
    return new Promise<unknown>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const cleanup = () => {
        req.off("data", onData);
        req.off("end", onEnd);
        req.off("error", onError);
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          cleanup();
          reject(tooLarge());
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = () => {
        cleanup();
        if (size === 0) {
          resolve(NO_BODY);
          return;
        }
        try {
          resolve(JSON.parse(Buffer.concat(chunks, size).toString("utf8")));
        } catch {
          reject(
            new AdminHttpError(
              HttpStatus.BadRequest,
              LobbyErrorCode.BadRequest,
              "the body is not valid JSON",
            ),
          );
        }
      };
      const onError = (error: Error) => {
        cleanup();
        reject(error);
      };
      req.on("data", onData);
      req.on("end", onEnd);
      req.on("error", onError);
    }).then((value) => (value === NO_BODY ? undefined : value));
  }

  async #readiness(res: ServerResponse): Promise<void> {
    const names = [ReadinessCheck.Lobby, ReadinessCheck.Postgres, ReadinessCheck.Redis] as const;
    const results = await Promise.all([
      this.#probe(ReadinessCheck.Lobby, async () => {
        if (!(await this.#options.ready())) throw new Error("not ready");
      }),
      this.#probe(ReadinessCheck.Postgres, () => this.#lobby.pingPostgres()),
      this.#probe(ReadinessCheck.Redis, () => this.#lobby.pingRedis()),
    ]);
    const checks: Record<string, "ok" | "fail"> = {};
    names.forEach((name, i) => {
      checks[name] = results[i] ? "ok" : "fail";
    });
    const failed = names.filter((_, i) => !results[i]);
    if (failed.length === 0) {
      this.#send(res, HttpStatus.Ok, { status: "ready", checks });
    } else {
      this.#send(res, HttpStatus.ServiceUnavailable, {
        code: LobbyErrorCode.Unavailable,
        message: `not ready: ${failed.join(", ")}`,
        failed,
        checks,
      });
    }
  }

  /** Whether `check` resolves within the probe timeout; failures are logged, never shown. */
  async #probe(name: ReadinessCheck, check: () => Promise<void>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.#options.probeTimeoutMs} ms`)),
        this.#options.probeTimeoutMs,
      );
    });
    try {
      await Promise.race([check(), timeout]);
      return true;
    } catch (error) {
      this.#log?.warn({ err: error, check: name }, "readiness check failed");
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  #sendError(res: ServerResponse, error: unknown, request: Record<string, unknown>): void {
    const reply = errorReply(error);
    if (reply.internal) this.#log?.error({ err: error, ...request }, "admin request failed");
    if (reply.status === HttpStatus.Unauthorized) {
      res.setHeader("WWW-Authenticate", 'Bearer realm="meridian-admin"');
    }
    if (reply.allow !== undefined) res.setHeader("Allow", reply.allow.join(", "));
    // The rest of an oversize body is not read: the connection cannot be reused.
    if (reply.status === HttpStatus.PayloadTooLarge) res.setHeader("Connection", "close");
    this.#send(res, reply.status, reply.body);
  }

  #send(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.statusCode = status;
    res.setHeader("Content-Type", "application/json; charset=utf-8");
    res.setHeader("Content-Length", Buffer.byteLength(text));
    res.end(res.req.method === "HEAD" ? undefined : text);
  }
}
