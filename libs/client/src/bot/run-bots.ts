import { createHash } from "node:crypto";
import type { MeridianClientOptions } from "../client/client-options.js";
import { ClientState, MeridianClient } from "../client/meridian-client.js";
import { ClientError, ClientErrorCode } from "../errors.js";
import type { TransportConnector } from "../transport/client-transport.js";
import { NodeConnector } from "../transport/node-connector.js";

/** Default username prefix: `bot1`, `bot2`… */
export const DEFAULT_BOT_PREFIX = "bot";
/** Default inputs per second per player: 4. */
export const DEFAULT_BOT_INPUTS_PER_SECOND = 4;
/** Default login ramp: 50 players start per second (logins hash passwords: do not stampede the lobby). */
export const DEFAULT_BOT_LOGINS_PER_SECOND = 50;
/** Default progress period: 5 s. */
export const DEFAULT_BOT_PROGRESS_INTERVAL_MS = 5_000;
/** Default bound on the logout of every player at the end: 5 s. */
export const DEFAULT_BOT_SHUTDOWN_TIMEOUT_MS = 5_000;
/** Default secret the bots' passwords are derived from. */
export const DEFAULT_BOT_PASSWORD_SECRET = "meridian-bot";

/** Login failures after which a bot stops trying: retrying cannot help. */
const PERMANENT_LOGIN_CODES: ReadonlySet<string> = new Set([
  "LOBBY_BAD_CREDENTIALS",
  "LOBBY_INVALID_USERNAME",
  "LOBBY_PASSWORD_TOO_LONG",
  "LOBBY_ACCOUNT_BANNED",
  "LOBBY_INSECURE_TRANSPORT",
  "PROTO_VERSION_MISMATCH",
  ClientErrorCode.InvalidOptions,
]);
const MAX_RETRY_DELAY_MS = 30_000;

/** Options of {@link runBots}. */
export interface RunBotsOptions {
  /** Gateway URL(s): `tcp://`, `tls://`, `ws://`, `wss://`. Required. */
  readonly url: string | readonly string[];
  /** How many players. Required, ≥ 1. */
  readonly players: number;
  /** Usernames are `<prefix><n>`. Default `bot`. */
  readonly prefix?: string;
  /** The first `n`. Default 1. */
  readonly firstIndex?: number;
  /** Passwords are derived from this and the username ({@link botPassword}). Default `meridian-bot`. */
  readonly passwordSecret?: string;
  /** Stop after this long, ms; 0 runs until `signal` aborts. Default 0. */
  readonly durationMs?: number;
  /** Walk inputs per second per player. Default 4. */
  readonly inputsPerSecond?: number;
  /** Players started per second (the login ramp). Default 50. */
  readonly loginsPerSecond?: number;
  /** How often `onProgress` is called, ms. Default 5000. */
  readonly progressIntervalMs?: number;
  /** Told of progress every `progressIntervalMs`. */
  readonly onProgress?: (progress: BotProgress) => void;
  /** Stops the run (logout everyone, bounded by `shutdownTimeoutMs`). */
  readonly signal?: AbortSignal;
  /** Bound on the final logouts, ms. Default 5000. */
  readonly shutdownTimeoutMs?: number;
  /** Transports shared by every bot. Default a fresh {@link NodeConnector}, closed at the end. */
  readonly connector?: TransportConnector;
  /** Client options for every bot (timeouts, reconnect policy). `url` and `connector` are set here. */
  readonly client?: Omit<MeridianClientOptions, "url" | "connector">;
  /** Random numbers in [0, 1) for the walk and the jitter. Default `Math.random`. */
  readonly random?: () => number;
}

/** Counters of a run. */
export interface BotCounters {
  /** Successful logins (a bot that had to log in again counts twice). */
  logins: number;
  /** Logins that created their account. */
  created: number;
  /** Failed login attempts by code. */
  loginFailures: Record<string, number>;
  inputsSent: number;
  updatesReceived: number;
  /** Every message received from the servers. */
  messagesReceived: number;
  /** Inputs acknowledged by the world. */
  acks: number;
  /** Automatic reconnects that ended in a resume. */
  reconnects: number;
  /** Sessions the servers ended (revoked, banned, token refused): the bot logs in again. */
  sessionsLost: number;
  /** Errors that are not login failures, by code (`CLIENT_PROTOCOL`, `CLIENT_RECONNECT_FAILED`, server codes…). */
  errors: Record<string, number>;
}

/** What `onProgress` gets. */
export interface BotProgress extends BotCounters {
  readonly elapsedMs: number;
  /** Players logged in right now. */
  readonly online: number;
  readonly players: number;
}

/** What {@link runBots} resolves with. */
export interface BotSummary extends BotProgress {
  /** Players that gave up logging in (a permanent failure such as `LOBBY_BAD_CREDENTIALS`). */
  readonly gaveUp: number;
}

/** A bot's password: derived from the secret and the username, so a later run logs in again. */
export function botPassword(secret: string, username: string): string {
  return createHash("sha256").update(`${secret}:${username}`).digest("base64url").slice(0, 32);
}

/**
 * Runs `players` headless players against the gateways: each logs in (`<prefix><n>`, the lobby
 * creates the account on the fly), then walks at random, sending `{ move: { dx, dy } }` inputs
 * continuously; dropped connections are resumed by the client, lost sessions logged in again.
 * Resolves with the counters once `durationMs` passed or `signal` aborted, after logging everyone
 * out (bounded by `shutdownTimeoutMs`).
 * @throws ClientError `CLIENT_INVALID_OPTIONS` for bad options.
 */
export async function runBots(options: RunBotsOptions): Promise<BotSummary> {
  const players = positive("players", options.players);
  const prefix = options.prefix ?? DEFAULT_BOT_PREFIX;
  const firstIndex = options.firstIndex ?? 1;
  const secret = options.passwordSecret ?? DEFAULT_BOT_PASSWORD_SECRET;
  const inputsPerSecond = positive(
    "inputsPerSecond",
    options.inputsPerSecond ?? DEFAULT_BOT_INPUTS_PER_SECOND,
  );
  const loginsPerSecond = positive(
    "loginsPerSecond",
    options.loginsPerSecond ?? DEFAULT_BOT_LOGINS_PER_SECOND,
  );
  const progressIntervalMs = positive(
    "progressIntervalMs",
    options.progressIntervalMs ?? DEFAULT_BOT_PROGRESS_INTERVAL_MS,
  );
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_BOT_SHUTDOWN_TIMEOUT_MS;
  const durationMs = options.durationMs ?? 0;
  if (!Number.isFinite(durationMs) || durationMs < 0) invalid("durationMs must be ≥ 0");
  const random = options.random ?? Math.random;
  const ownConnector = options.connector === undefined;
  const connector = options.connector ?? new NodeConnector();

  const counters: BotCounters = {
    logins: 0,
    created: 0,
    loginFailures: {},
    inputsSent: 0,
    updatesReceived: 0,
    messagesReceived: 0,
    acks: 0,
    reconnects: 0,
    sessionsLost: 0,
    errors: {},
  };
  const startedAt = Date.now();
  const bots: Bot[] = [];
  let stopped = false;
  let stop!: () => void;
  const stoppedPromise = new Promise<void>((resolve) => {
    stop = () => {
      stopped = true;
      resolve();
    };
  });
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!stopped) fn();
    }, ms);
    timers.add(timer);
  };
  const snapshot = (): BotProgress => ({
    ...counters,
    loginFailures: { ...counters.loginFailures },
    errors: { ...counters.errors },
    elapsedMs: Date.now() - startedAt,
    online: bots.filter((b) => b.client.state === ClientState.LoggedIn).length,
    players,
  });

  class Bot {
    readonly username: string;
    readonly client: MeridianClient;
    gaveUp = false;
    #failures = 0;
    #walk: ReturnType<typeof setInterval> | undefined;
    #heading = random() * 2 * Math.PI;

    constructor(index: number) {
      this.username = `${prefix}${index}`;
      this.client = new MeridianClient({ ...options.client, url: options.url, connector });
      this.client.on("message", () => counters.messagesReceived++);
      this.client.on("update", () => counters.updatesReceived++);
      this.client.on("inputsAcked", (e) => {
        counters.acks += e.count;
      });
      this.client.on("resumed", () => counters.reconnects++);
      this.client.on("error", (e) => count(counters.errors, e.code));
      this.client.on("sessionLost", () => {
        counters.sessionsLost++;
        this.#retry();
      });
      this.client.on("reconnectFailed", (e) => {
        count(counters.errors, e.code);
        this.#retry();
      });
    }

    async start(): Promise<void> {
      if (stopped) return;
      try {
        if (this.client.state !== ClientState.Connected) {
          this.client.close();
          await this.client.connect();
        }
        if (stopped) return;
        const ok = await this.client.login(this.username, botPassword(secret, this.username));
        this.#failures = 0;
        counters.logins++;
        if (ok.created) counters.created++;
        this.#startWalking();
      } catch (error) {
        const code = error instanceof ClientError ? error.code : ClientErrorCode.Protocol;
        if (stopped && code === ClientErrorCode.Closed) return;
        count(counters.loginFailures, code);
        if (PERMANENT_LOGIN_CODES.has(code)) {
          this.gaveUp = true;
          this.client.close();
          return;
        }
        const retryAfterMs = error instanceof ClientError ? error.retryAfterMs : undefined;
        this.#retry(retryAfterMs);
      }
    }

    #retry(afterMs?: number): void {
      this.#stopWalking();
      this.#failures++;
      const bound = Math.min(MAX_RETRY_DELAY_MS, 250 * 2 ** Math.min(this.#failures, 10));
      later(afterMs ?? Math.floor(random() * bound), () => void this.start());
    }

    #startWalking(): void {
      this.#stopWalking();
      this.#walk = setInterval(() => this.#step(), 1000 / inputsPerSecond);
    }

    #stopWalking(): void {
      if (this.#walk !== undefined) clearInterval(this.#walk);
      this.#walk = undefined;
    }

    #step(): void {
      const state = this.client.state;
      if (state !== ClientState.LoggedIn && state !== ClientState.Reconnecting) return;
      // A random walk with momentum: mostly straight on, now and then a turn.
      if (random() < 0.2) this.#heading += (random() - 0.5) * Math.PI;
      const dx = Math.round(Math.cos(this.#heading) * 100) / 100;
      const dy = Math.round(Math.sin(this.#heading) * 100) / 100;
      try {
        this.client.sendInput({ move: { dx, dy } });
        counters.inputsSent++;
      } catch (error) {
        count(counters.errors, error instanceof ClientError ? error.code : ClientErrorCode.Protocol);
      }
    }

    async shutdown(): Promise<void> {
      this.#stopWalking();
      if (this.client.state === ClientState.LoggedIn) {
        try {
          await this.client.logout();
          return;
        } catch {
          // fall through to a plain close
        }
      }
      this.client.close();
    }

    close(): void {
      this.#stopWalking();
      this.client.close();
    }
  }

  const onAbort = (): void => stop();
  if (options.signal?.aborted === true) stop();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (durationMs > 0) later(durationMs, stop);
  const progress = setInterval(() => options.onProgress?.(snapshot()), progressIntervalMs);

  for (let i = 0; i < players; i++) {
    const bot = new Bot(firstIndex + i);
    bots.push(bot);
    later(Math.floor((i * 1000) / loginsPerSecond), () => void bot.start());
  }

  await stoppedPromise;
  clearInterval(progress);
  options.signal?.removeEventListener("abort", onAbort);
  for (const timer of timers) clearTimeout(timer);
  timers.clear();
  const atStop = snapshot();
  let bound: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.allSettled(bots.map((b) => b.shutdown())),
    new Promise((resolve) => {
      bound = setTimeout(resolve, shutdownTimeoutMs);
    }),
  ]);
  clearTimeout(bound);
  // Counters include what arrived during the logouts; `online` is who was logged in when the run stopped.
  const summary: BotSummary = {
    ...snapshot(),
    online: atStop.online,
    gaveUp: bots.filter((b) => b.gaveUp).length,
  };
  for (const bot of bots) bot.close();
  if (ownConnector && connector instanceof NodeConnector) await connector.close();
  return summary;
}

function count(map: Record<string, number>, code: string): void {
  map[code] = (map[code] ?? 0) + 1;
}

function positive(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    invalid(`${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}

function invalid(message: string): never {
  throw new ClientError(ClientErrorCode.InvalidOptions, message);
}
