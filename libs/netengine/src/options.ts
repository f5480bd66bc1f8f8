import type { SecureContextOptions } from "node:tls";
import { OptionsError } from "./errors.js";
import type { Framer } from "./framing/framer.js";
import { LengthPrefixFramer } from "./framing/length-prefix-framer.js";
import type { AcceptGuard, AcceptGuardOptions } from "./guard/accept-guard.js";
import type { EventSink, ProtocolHandler } from "./handler.js";
import { DEFAULT_HIGH_WATER_MARK_BYTES, DEFAULT_LINGER_MS, type Session } from "./session/session.js";

/** Default idle timeout: 0, off. */
export const DEFAULT_IDLE_TIMEOUT_MS = 0;
/** Default heartbeat interval: 0, off. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 0;

/** Options shared by listeners and connectors. */
export interface SessionOptions<U = unknown> {
  /** The protocol handler: first link of every session's event chain. Required. */
  handler: ProtocolHandler<U>;
  /** Application sinks chained behind the handler, told of each event after it. Default none. */
  sinks?: readonly EventSink<U>[];
  /**
   * The framer for byte-stream transports (TCP, TLS). Default: a {@link LengthPrefixFramer} with a
   * 64 KiB maximum. WebSocket messages are frames already; only `maxFrameBytes` applies to them.
   */
  framer?: Framer;
  /**
   * Largest WebSocket message accepted, in bytes; larger ones close the session with reason
   * `frame_too_large` (close code 1009) before they are buffered. Default: the framer's maximum.
   */
  maxMessageBytes?: number;
  /**
   * Queued outgoing bytes (engine queue plus transport buffer) above which a session is dropped
   * with reason `slow_consumer`. Default 1 MiB.
   */
  highWaterMarkBytes?: number;
  /** How long a graceful goodbye waits for the peer before destroying the socket. Default 2000 ms. */
  lingerMs?: number;
  /** Close sessions that received nothing for this long (reason `idle_timeout`). 0 = off (default). */
  idleTimeoutMs?: number;
  /**
   * Heartbeat interval: WebSocket sessions get a ping frame, and `onHeartbeat` is dispatched so a
   * TCP protocol can send its own. 0 = off (default).
   */
  heartbeatIntervalMs?: number;
  /** Disable Nagle's algorithm. Default true: the engine batches writes itself. */
  noDelay?: boolean;
  /** Told of errors thrown by sinks and other failures that do not reach a caller. Default: ignored. */
  onError?: (error: Error, session: Session<U> | undefined) => void;
}

/** Options of `listen`. */
export interface ListenOptions<U = unknown> extends SessionOptions<U> {
  /** `tcp` (length-prefixed or delimited frames over node:net / node:tls) or `ws` (WebSocket). */
  transport: "tcp" | "ws";
  /** Interface to bind. Default: Node's default (all interfaces, dual-stack where available). */
  host?: string;
  /** Port to bind; 0 picks a free one (default). */
  port?: number;
  /** TLS for TCP, or wss for WebSocket: key/cert options as for node:tls. Default none. */
  tls?: SecureContextOptions;
  /**
   * The accept guard: an {@link AcceptGuard} (share one between listeners so per-IP limits span
   * them), options to build one, or `false` for none (no lists, limits or pre-auth deadline).
   * Default: a guard with default options.
   */
  guard?: AcceptGuard | AcceptGuardOptions | false;
  /** WebSocket: only upgrade requests for this path are accepted (others get 404). Default any. */
  path?: string;
  /** Listen backlog. Default Node's. */
  backlog?: number;
}

/** Options of `connect`. */
export interface ConnectOptions<U = unknown> extends SessionOptions<U> {
  transport: "tcp" | "ws";
  /** Host to connect to. Default `127.0.0.1`. */
  host?: string;
  /** Port to connect to. Required unless `url` is given. */
  port?: number;
  /** WebSocket URL (`ws://` or `wss://`); overrides host/port/path. */
  url?: string;
  /** WebSocket path. Default `/`. */
  path?: string;
  /** TLS (or wss) client options; `true` for defaults. Default none. */
  tls?: boolean | import("node:tls").ConnectionOptions;
  /** Give up connecting after this long. Default 10000 ms. */
  connectTimeoutMs?: number;
}

/** Validated, frozen session options. */
export interface ResolvedSessionOptions<U> {
  readonly handler: ProtocolHandler<U>;
  readonly sinks: readonly EventSink<U>[];
  readonly framer: Framer;
  readonly maxMessageBytes: number;
  readonly highWaterMarkBytes: number;
  readonly lingerMs: number;
  readonly idleTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly noDelay: boolean;
  readonly onError: ((error: Error, session: Session<U> | undefined) => void) | undefined;
}

export function resolveSessionOptions<U>(options: SessionOptions<U>): ResolvedSessionOptions<U> {
  if (options.handler === undefined || options.handler === null || typeof options.handler !== "object") {
    throw new OptionsError("options.handler is required: a protocol handler object");
  }
  const framer = options.framer ?? new LengthPrefixFramer();
  const resolved: ResolvedSessionOptions<U> = {
    handler: options.handler,
    sinks: Object.freeze([...(options.sinks ?? [])]),
    framer,
    maxMessageBytes: positiveInt("maxMessageBytes", options.maxMessageBytes ?? framer.maxFrameBytes),
    highWaterMarkBytes: positiveInt(
      "highWaterMarkBytes",
      options.highWaterMarkBytes ?? DEFAULT_HIGH_WATER_MARK_BYTES,
    ),
    lingerMs: timerMs("lingerMs", options.lingerMs ?? DEFAULT_LINGER_MS),
    idleTimeoutMs: timerMs("idleTimeoutMs", options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS),
    heartbeatIntervalMs: timerMs(
      "heartbeatIntervalMs",
      options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
    ),
    noDelay: options.noDelay ?? true,
    onError: options.onError,
  };
  return Object.freeze(resolved);
}

export function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new OptionsError(`${name} must be a positive integer, got ${String(value)}`, { name, value });
  }
  return value;
}

/** Largest delay setTimeout honours (about 24.8 days); larger ones fire after 1 ms. */
export const MAX_TIMER_MS = 0x7fff_ffff;

/** A non-negative integer delay that setTimeout can honour. */
export function timerMs(name: string, value: number): number {
  nonNegativeInt(name, value);
  if (value > MAX_TIMER_MS) {
    throw new OptionsError(`${name} must be at most ${MAX_TIMER_MS} ms, got ${value}`, { name, value });
  }
  return value;
}

export function nonNegativeInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new OptionsError(`${name} must be a non-negative integer, got ${String(value)}`, { name, value });
  }
  return value;
}
