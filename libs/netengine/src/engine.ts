import { OptionsError } from "./errors.js";
import { type EngineStats, SessionHub } from "./hub.js";
import type { Listener } from "./listener.js";
import {
  type ConnectOptions,
  type ListenOptions,
  positiveInt,
  type ResolvedSessionOptions,
  resolveSessionOptions,
} from "./options.js";
import { DisconnectReason } from "./reasons.js";
import type { Session } from "./session/session.js";
import { connectTcp, TcpListener } from "./transport/tcp-transport.js";
import { connectWs, WebSocketListener } from "./transport/ws-transport.js";

/** Default connect timeout. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Listens on a TCP (optionally TLS) or WebSocket (optionally wss) port. Every accepted connection
 * goes through the accept guard before any byte is read, then becomes a {@link Session} whose
 * events are dispatched to the protocol handler and the chained sinks.
 */
export async function listen<U = unknown>(options: ListenOptions<U>): Promise<Listener<U>> {
  switch (options.transport) {
    case "tcp":
      return new TcpListener<U>(options).bind(options);
    case "ws":
      return new WebSocketListener<U>(options).bind(options);
    default:
      throw new OptionsError(`unknown transport ${String((options as { transport: unknown }).transport)}`);
  }
}

/**
 * Makes client sessions that share one handler chain, counters and idle/heartbeat sweep (a bot
 * swarm, a benchmark, a service's connections to its peers).
 */
export class Connector<U = unknown> {
  readonly #options: ConnectOptions<U>;
  readonly #resolved: ResolvedSessionOptions<U>;
  readonly #hub: SessionHub<U>;

  constructor(options: ConnectOptions<U>) {
    if (options.transport !== "tcp" && options.transport !== "ws") {
      throw new OptionsError(`unknown transport ${String(options.transport)}`);
    }
    this.#options = options;
    this.#resolved = resolveSessionOptions(options);
    this.#hub = new SessionHub(this.#resolved);
  }

  /** Open sessions made by this connector. */
  get sessions(): ReadonlySet<Session<U>> {
    return this.#hub.sessions;
  }

  /**
   * Connects one session to the configured target, or to `target` when given.
   * @throws NetEngineError `NE_CONNECT_FAILED` with the cause.
   */
  connect(
    target: Partial<Pick<ConnectOptions<U>, "host" | "port" | "url" | "path">> = {},
  ): Promise<Session<U>> {
    const o = { ...this.#options, ...target };
    const timeout = positiveInt("connectTimeoutMs", o.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    const host = o.host ?? "127.0.0.1";
    if (o.transport === "ws") {
      let url = o.url;
      if (url === undefined) {
        if (o.port === undefined) throw new OptionsError("connect needs `port` or `url`");
        const scheme = o.tls === undefined || o.tls === false ? "ws" : "wss";
        const hostPart = host.includes(":") ? `[${host}]` : host;
        url = `${scheme}://${hostPart}:${o.port}${o.path ?? "/"}`;
      }
      return connectWs(this.#hub, this.#resolved, url, o.tls, timeout);
    }
    if (o.port === undefined) throw new OptionsError("connect needs `port`");
    return connectTcp(this.#hub, this.#resolved, { host, port: o.port, tls: o.tls }, timeout);
  }

  stats(): EngineStats {
    return this.#hub.stats();
  }

  /** Ends every session (goodbye by default) and stops the sweep. */
  async close(options: { goodbye?: boolean } = {}): Promise<void> {
    const sessions = [...this.#hub.sessions];
    await Promise.all(
      sessions.map((s) => {
        if (options.goodbye !== false) return s.goodbye();
        s.close(DisconnectReason.LocalClose);
        return s.closed;
      }),
    );
    this.#hub.dispose();
  }
}

/** Connects one client session (a one-off {@link Connector}). */
export function connect<U = unknown>(options: ConnectOptions<U>): Promise<Session<U>> {
  return new Connector<U>(options).connect();
}
