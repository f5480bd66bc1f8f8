import { PROTOCOL_VERSION } from "@meridian/protocol";
import { ClientError, ClientErrorCode } from "../errors.js";
import { type GatewayUrl, parseGatewayUrl, type TransportConnector } from "../transport/client-transport.js";

/** Default client name sent in `hello.client`. */
export const DEFAULT_CLIENT_NAME = "meridian-client-ts/0.1";
/** Default connect timeout: 10 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Default time to wait for `hello_ok`, `login_ok`, `resume_ok` or the end of a logout: 10 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/**
 * Default ceiling on a received message before `hello_ok` says the connection's limit: 16 MiB
 * (deployments may raise the 64 KiB default; the announced `maxMessageBytes` applies afterwards).
 */
export const DEFAULT_MAX_RECEIVE_BYTES = 16 * 1024 * 1024;
/**
 * Default bound on buffered unacknowledged inputs: 256, what a gateway keeps per player (more are
 * refused with `GATEWAY_INPUT_REFUSED`; docs/protocol.md §4).
 */
export const DEFAULT_MAX_UNACKED_INPUTS = 256;
/** Default number of unanswered heartbeat `ping`s after which the connection is deemed dead: 3. */
export const DEFAULT_HEARTBEAT_MISS_LIMIT = 3;
/** Default reconnect attempts before giving up: 10. */
export const DEFAULT_RECONNECT_MAX_ATTEMPTS = 10;
/** Default first reconnect delay bound: 250 ms. */
export const DEFAULT_RECONNECT_INITIAL_DELAY_MS = 250;
/** Default largest reconnect delay: 10 s. */
export const DEFAULT_RECONNECT_MAX_DELAY_MS = 10_000;
/** Default growth of the reconnect delay bound per attempt: 2. */
export const DEFAULT_RECONNECT_FACTOR = 2;
/** Default time a resumed connection must last for the attempt count to start again: 2 s. */
export const DEFAULT_RECONNECT_STABLE_AFTER_MS = 2_000;

/** Automatic reconnection: when and how fast. */
export interface ReconnectOptions {
  /** Consecutive failed attempts before giving up (`reconnectFailed`). Default 10. */
  readonly maxAttempts?: number;
  /**
   * Attempt `n` waits a delay drawn uniformly from `[0, min(maxDelayMs, initialDelayMs × factor^(n−1)))`
   * (full jitter, so a gateway's players do not come back in lockstep). Default 250 ms.
   */
  readonly initialDelayMs?: number;
  /** Largest delay bound. Default 10 000 ms. */
  readonly maxDelayMs?: number;
  /** Growth of the bound per attempt. Default 2. */
  readonly factor?: number;
  /**
   * A resumed connection that drops within this long does not reset the attempt count, so a server
   * that accepts and drops at once cannot make clients spin. Default 2000 ms.
   */
  readonly stableAfterMs?: number;
}

/** Options of a {@link MeridianClient}. */
export interface MeridianClientOptions {
  /**
   * The gateway URL (`ws://`, `wss://`, or with `@meridian/client/node` also `tcp://`, `tls://`),
   * or several: the client uses the first, and moves to the next one when a gateway shuts down
   * (close code 4203) or a reconnect attempt fails. Required.
   */
  readonly url: string | readonly string[];
  /**
   * Opens transports. Default: the global `WebSocket` (`@meridian/client`), or TCP, TLS and `ws`
   * (`createNodeClient` in `@meridian/client/node`).
   */
  readonly connector?: TransportConnector;
  /** Sent in `hello.client`, for the server's logs (at most 64 characters). Default `meridian-client-ts/0.1`. */
  readonly clientName?: string;
  /** The protocol version announced in `hello.v`. Default `PROTOCOL_VERSION` (1); change it only to test. */
  readonly protocolVersion?: number;
  /** Give up opening a connection after this long. Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** Give up waiting for `hello_ok`, `login_ok`, `resume_ok` or a logout's `bye` after this long. Default 10 000 ms. */
  readonly requestTimeoutMs?: number;
  /** Largest message accepted before `hello_ok` announces the connection's limit. Default 16 MiB. */
  readonly maxReceiveBytes?: number;
  /** Most unacknowledged inputs kept for re-sending; `sendInput` throws past it. Default 10 000. */
  readonly maxUnackedInputs?: number;
  /** Unanswered `ping`s (one per heartbeat period) before the connection is closed and resumed. Default 3. */
  readonly heartbeatMissLimit?: number;
  /** Automatic reconnect and resume after an unexpected close, or `false` for none. Default on. */
  readonly reconnect?: ReconnectOptions | false;
  /** Random numbers in [0, 1) for the reconnect jitter. Default `Math.random`. */
  readonly random?: () => number;
}

/** Validated, frozen options. */
export interface ResolvedClientOptions {
  readonly urls: readonly GatewayUrl[];
  readonly connector: TransportConnector | undefined;
  readonly clientName: string;
  readonly protocolVersion: number;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxReceiveBytes: number;
  readonly maxUnackedInputs: number;
  readonly heartbeatMissLimit: number;
  readonly reconnect: Required<ReconnectOptions> | false;
  readonly random: () => number;
}

const MAX_TIMER_MS = 0x7fff_ffff;

/** @throws ClientError `CLIENT_INVALID_OPTIONS` naming the bad option. */
export function resolveClientOptions(options: MeridianClientOptions): ResolvedClientOptions {
  if (typeof options !== "object" || options === null) invalid("options must be an object");
  const list = typeof options.url === "string" ? [options.url] : options.url;
  if (!Array.isArray(list) || list.length === 0) invalid("url must be a URL or a non-empty list of URLs");
  const urls = Object.freeze(list.map((href: unknown) => parseGatewayUrl(String(href))));
  const clientName = options.clientName ?? DEFAULT_CLIENT_NAME;
  if (typeof clientName !== "string" || clientName.length > 64) invalid("clientName: at most 64 characters");
  const reconnect =
    options.reconnect === false
      ? false
      : Object.freeze({
          maxAttempts: int(
            "reconnect.maxAttempts",
            options.reconnect?.maxAttempts,
            DEFAULT_RECONNECT_MAX_ATTEMPTS,
            1,
          ),
          initialDelayMs: int(
            "reconnect.initialDelayMs",
            options.reconnect?.initialDelayMs,
            DEFAULT_RECONNECT_INITIAL_DELAY_MS,
            0,
            MAX_TIMER_MS,
          ),
          maxDelayMs: int(
            "reconnect.maxDelayMs",
            options.reconnect?.maxDelayMs,
            DEFAULT_RECONNECT_MAX_DELAY_MS,
            0,
            MAX_TIMER_MS,
          ),
          factor: factor(options.reconnect?.factor),
          stableAfterMs: int(
            "reconnect.stableAfterMs",
            options.reconnect?.stableAfterMs,
            DEFAULT_RECONNECT_STABLE_AFTER_MS,
            0,
            MAX_TIMER_MS,
          ),
        });
  if (options.random !== undefined && typeof options.random !== "function")
    invalid("random must be a function");
  return Object.freeze({
    urls,
    connector: options.connector,
    clientName,
    protocolVersion: int("protocolVersion", options.protocolVersion, PROTOCOL_VERSION, 1, 0xffff),
    connectTimeoutMs: int(
      "connectTimeoutMs",
      options.connectTimeoutMs,
      DEFAULT_CONNECT_TIMEOUT_MS,
      1,
      MAX_TIMER_MS,
    ),
    requestTimeoutMs: int(
      "requestTimeoutMs",
      options.requestTimeoutMs,
      DEFAULT_REQUEST_TIMEOUT_MS,
      1,
      MAX_TIMER_MS,
    ),
    maxReceiveBytes: int(
      "maxReceiveBytes",
      options.maxReceiveBytes,
      DEFAULT_MAX_RECEIVE_BYTES,
      1,
      0xffff_ffff,
    ),
    maxUnackedInputs: int("maxUnackedInputs", options.maxUnackedInputs, DEFAULT_MAX_UNACKED_INPUTS, 1),
    heartbeatMissLimit: int(
      "heartbeatMissLimit",
      options.heartbeatMissLimit,
      DEFAULT_HEARTBEAT_MISS_LIMIT,
      1,
    ),
    reconnect,
    random: options.random ?? Math.random,
  });
}

function int(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
) {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    invalid(`${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

function factor(value: number | undefined): number {
  const v = value ?? DEFAULT_RECONNECT_FACTOR;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 1)
    invalid(`reconnect.factor must be ≥ 1, got ${String(v)}`);
  return v;
}

function invalid(message: string): never {
  throw new ClientError(ClientErrorCode.InvalidOptions, message);
}
