/**
 * The console's HTTP side: the page (static files from the package's `public/`, no build step), the
 * state as JSON (`GET /state.json`), liveness and readiness (`GET /healthz`, `GET /readyz`: NATS
 * connected), Prometheus text (`GET /metrics`, with telemetry on) and the live feed: a WebSocket
 * on `/live` that receives the whole {@link WorldView} as one JSON text message `pushHz` times a
 * second (built and serialised once per push, whatever the number of browsers). Browsers send
 * nothing; a slow browser is skipped until it catches up.
 * @module
 */
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { type WebSocket, WebSocketServer } from "ws";
import { ConsoleError, ConsoleErrorCode } from "../errors.js";
import type { WorldState } from "../state/world-state.js";

/** The page's files, served from memory: path → file name in `public/` and content type. */
const ASSETS: Readonly<Record<string, readonly [string, string]>> = Object.freeze({
  "/": ["index.html", "text/html; charset=utf-8"],
  "/index.html": ["index.html", "text/html; charset=utf-8"],
  "/console.js": ["console.js", "text/javascript; charset=utf-8"],
  "/console.css": ["console.css", "text/css; charset=utf-8"],
});

/** Where the page's files are: `public/` next to `src/` (and `dist/`). */
export const PUBLIC_DIR = new URL("../../public/", import.meta.url);

/** A browser whose socket holds more than this many unsent bytes is skipped for a push. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "content-security-policy":
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
} as const;

/** Options of {@link ConsoleServer}. */
export interface ConsoleServerOptions {
  readonly state: WorldState;
  readonly logger: Logger;
  /** Listen address. */
  readonly host: string;
  /** Listen port (0: any free port). */
  readonly port: number;
  /** Pushes per second to each browser. */
  readonly pushHz: number;
  /** Browsers connected at once; more are refused (close 1013, try again later). */
  readonly maxClients: number;
  /** Whether NATS is connected now (health). */
  readonly natsConnected: () => boolean;
  /** The `/metrics` body (Prometheus text); undefined (or absent) while telemetry is off: 503. */
  readonly metrics?: () => Promise<string | undefined>;
}

/** The console's HTTP and WebSocket server. */
export class ConsoleServer {
  readonly #options: ConsoleServerOptions;
  readonly #log: Logger;
  readonly #assets = new Map<string, { body: Buffer; type: string }>();
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  #timer: NodeJS.Timeout | undefined;
  #pushes = 0;

  constructor(options: ConsoleServerOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#http = createServer((req, res) => this.#onRequest(req, res));
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: 1024, clientTracking: true });
    this.#http.on("upgrade", (req, socket, head) => this.#onUpgrade(req, socket, head));
  }

  /** Browsers connected now. */
  get clients(): number {
    return this.#wss.clients.size;
  }

  /** Pushes sent since the start (one per period with at least one browser). */
  get pushes(): number {
    return this.#pushes;
  }

  /**
   * Loads the page's files, listens and starts pushing. Resolves with the bound address.
   * @throws ConsoleError `CONSOLE_ASSET` when a file of `public/` is missing, `CONSOLE_LISTEN` when the port cannot be bound.
   */
  async listen(): Promise<{ host: string; port: number; url: string }> {
    for (const [path, [file, type]] of Object.entries(ASSETS)) {
      try {
        this.#assets.set(path, { body: await readFile(new URL(file, PUBLIC_DIR)), type });
      } catch (cause) {
        throw new ConsoleError(ConsoleErrorCode.Asset, `the console's page file public/${file} is missing`, {
          cause,
          context: { file },
        });
      }
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (cause: Error) =>
        reject(
          new ConsoleError(
            ConsoleErrorCode.Listen,
            `cannot listen on ${this.#options.host}:${this.#options.port}: ${cause.message}`,
            { cause, context: { host: this.#options.host, port: this.#options.port } },
          ),
        );
      this.#http.once("error", onError);
      this.#http.listen(this.#options.port, this.#options.host, () => {
        this.#http.off("error", onError);
        resolve();
      });
    });
    this.#timer = setInterval(() => this.#push(), 1000 / this.#options.pushHz);
    const address = this.#http.address() as AddressInfo;
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    return { host: address.address, port: address.port, url: `http://${host}:${address.port}/` };
  }

  /** Stops pushing, closes every browser's socket (1001, going away) and the listener. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const client of this.#wss.clients) client.close(1001, "console stopping");
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await new Promise<void>((resolve) => {
      this.#http.close(() => resolve());
      this.#http.closeAllConnections();
    });
  }

  #push(): void {
    if (this.#wss.clients.size === 0) return;
    const message = JSON.stringify(this.#options.state.view());
    this.#pushes++;
    for (const client of this.#wss.clients) this.#send(client, message);
  }

  #send(client: WebSocket, message: string): void {
    if (client.readyState !== client.OPEN || client.bufferedAmount > MAX_BUFFERED_BYTES) return;
    client.send(message);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? "/", "http://console").pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", ...SECURITY_HEADERS }).end();
      return;
    }
    if (path === "/state.json") {
      this.#json(res, 200, this.#options.state.view());
      return;
    }
    if (path === "/metrics") {
      void this.#metrics(res);
      return;
    }
    if (path === "/healthz" || path === "/readyz") {
      // Liveness: the process answers. Readiness: and it hears the cluster (NATS connected).
      const nats = this.#options.natsConnected();
      const ok = path === "/healthz" || nats;
      this.#json(res, ok ? 200 : 503, {
        ok,
        nats,
        world: this.#options.state.world,
        clients: this.clients,
      });
      return;
    }
    const asset = this.#assets.get(path);
    if (asset === undefined) {
      this.#json(res, 404, { error: "not found" });
      return;
    }
    res.writeHead(200, {
      "content-type": asset.type,
      "content-length": asset.body.byteLength,
      "cache-control": "no-cache",
      ...SECURITY_HEADERS,
    });
    res.end(req.method === "HEAD" ? undefined : asset.body);
  }

  async #metrics(res: ServerResponse): Promise<void> {
    let text: string | undefined;
    try {
      text = await (this.#options.metrics?.() ?? Promise.resolve(undefined));
    } catch (error) {
      this.#log.warn({ err: error }, "metrics failed");
      res
        .writeHead(500, { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS })
        .end("metrics failed\n");
      return;
    }
    if (text === undefined) {
      res
        .writeHead(503, { "content-type": "text/plain; charset=utf-8", ...SECURITY_HEADERS })
        .end("telemetry is off (MERIDIAN_TELEMETRY=on turns on the metrics)\n");
      return;
    }
    res
      .writeHead(200, {
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
        "cache-control": "no-store",
        ...SECURITY_HEADERS,
      })
      .end(text);
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      ...SECURITY_HEADERS,
    });
    res.end(text);
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? "/", "http://console").pathname;
    if (path !== "/live") {
      socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n");
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (client) => {
      if (this.#wss.clients.size > this.#options.maxClients) {
        client.close(1013, "too many console clients");
        return;
      }
      client.on("error", (error) => this.#log.debug({ err: error }, "console client error"));
      // The first state at once, not a period later.
      this.#send(client, JSON.stringify(this.#options.state.view()));
    });
  }
}
