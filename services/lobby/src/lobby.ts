/**
 * The lobby assembled: every service on one Postgres (kysely), one Redis and one NATS connection,
 * the NATS request/reply server in front of them, and the background duties (ban expiry, the ban
 * mirror rebuilt at start, stale server pruning). `main.ts` builds it from the configuration; tests
 * build it on their own database, key prefix and subject prefix.
 *
 * @module
 */
import type { Subjects } from "@meridian/protocol";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
import { type Kysely, sql } from "kysely";
import type { Logger } from "pino";
import { AccountStore, LoginRecorder, type PasswordHasher } from "./accounts/index.js";
import { BanService } from "./bans/index.js";
import type { LoginThrottleConfig } from "./config.js";
import type { Database } from "./db/index.js";
import { LobbyError, LobbyErrorCode } from "./errors.js";
import { PlayerLocator } from "./locator/index.js";
import {
  PresenceCache,
  type PresenceCacheOptions,
  type PresenceCacheStats,
} from "./locator/presence-cache.js";
import type { Mailer } from "./mail/index.js";
import { RecoveryService, type RecoveryServiceOptions } from "./recovery/index.js";
import { ServerRegistry } from "./registry/index.js";
import { AdminCredential } from "./server/admin-credential.js";
import { LobbyServer, type LobbyServices } from "./server/lobby-server.js";
import { LoginNonceGuard, type LoginNonceGuardOptions } from "./server/login-nonce-guard.js";
import { ResetMailLimit, type ResetMailLimitOptions } from "./server/reset-mail-limit.js";
import { SessionService, type SessionServiceOptions } from "./sessions/index.js";
import { StatsService } from "./stats/index.js";
import { CreationLimit, LoginThrottle } from "./throttle/index.js";
import { PlayerStateStore } from "./world-state/index.js";

/** Default period of the ban expiry sweep, ms. */
export const DEFAULT_BAN_EXPIRY_INTERVAL_MS = 500;
/** Default period of the stale-server prune, ms. */
export const DEFAULT_PRUNE_INTERVAL_MS = 60_000;

/** The connections and collaborators the lobby runs on. */
export interface LobbyDeps {
  readonly db: Kysely<Database>;
  readonly redis: Redis;
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  /** Prefix of every Redis key the lobby writes (sessions, bans, throttles, nonces; presence it reads). */
  readonly redisPrefix: string;
  readonly hasher: PasswordHasher;
  readonly mailer: Mailer;
  readonly logger?: Logger;
}

/** What the lobby does, beyond its connections. */
export interface LobbyOptions {
  readonly autoCreateAccounts: boolean;
  readonly requireTls: boolean;
  readonly adminToken: string;
  /** Failed-login throttling; absent = none (tests of other features). */
  readonly loginThrottle?: LoginThrottleConfig;
  /** Accounts one IP may auto-create per hour; absent = unlimited. */
  readonly maxAccountsPerIpPerHour?: number;
  readonly recovery?: RecoveryServiceOptions;
  readonly sessions?: SessionServiceOptions;
  readonly nonces?: LoginNonceGuardOptions;
  /** Reset mails per username per window. */
  readonly resetMails?: ResetMailLimitOptions;
  readonly serverHeartbeatTimeoutMs?: number;
  /** Ban expiry sweep period, ms. Default {@link DEFAULT_BAN_EXPIRY_INTERVAL_MS}. */
  readonly banExpiryIntervalMs?: number;
  /** Flush period of login bookkeeping (`last_login_at`, `logins`), ms. Default 1000. */
  readonly loginFlushMs?: number;
  /** Stale-server prune period, ms. Default {@link DEFAULT_PRUNE_INTERVAL_MS}. */
  readonly pruneIntervalMs?: number;
  /**
   * The locator's in-process presence cache, kept exact by Redis `CLIENT TRACKING`
   * (`locator/presence-cache.ts`); `false` reads every presence from Redis. Default: on, with the
   * cache's defaults.
   */
  readonly presenceCache?: PresenceCacheOptions | false;
}

/** A lobby: its services, its NATS server, and its lifecycle. */
export class Lobby {
  readonly services: LobbyServices & {
    readonly accountStore: AccountStore;
    /** Write-behind of `last_login_at` and the `logins` counter (flushed every second and at stop). */
    readonly loginRecorder: LoginRecorder;
    readonly recoveryService: RecoveryService;
    readonly locatorService: PlayerLocator;
    readonly statsService: StatsService;
  };
  readonly server: LobbyServer;
  readonly #deps: LobbyDeps;
  readonly #options: LobbyOptions;
  readonly #presenceCache: PresenceCache | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #state: "new" | "started" | "stopped" = "new";
  #startedServing = false;

  constructor(deps: LobbyDeps, options: LobbyOptions) {
    this.#deps = deps;
    this.#options = options;
    const { db, redis, nc, subjects, redisPrefix, hasher, mailer, logger } = deps;
    const loginRecorder = new LoginRecorder(db, {
      ...(options.loginFlushMs === undefined ? {} : { flushMs: options.loginFlushMs }),
      ...(logger === undefined ? {} : { logger }),
    });
    const accountStore = new AccountStore(db, hasher, { loginRecorder });
    const sessions = new SessionService(db, redis, nc, subjects, redisPrefix, {
      ...options.sessions,
      ...(logger === undefined ? {} : { logger }),
    });
    const bans = new BanService(db, redis, nc, subjects, redisPrefix, sessions, {
      ...(logger === undefined ? {} : { logger }),
    });
    const registry = new ServerRegistry(db, {
      ...(options.serverHeartbeatTimeoutMs === undefined
        ? {}
        : { heartbeatTimeoutMs: options.serverHeartbeatTimeoutMs }),
    });
    const recoveryService = new RecoveryService(db, hasher, accountStore, sessions, mailer, {
      ...options.recovery,
      ...(logger === undefined ? {} : { logger }),
    });
    this.#presenceCache =
      options.presenceCache === false
        ? undefined
        : new PresenceCache(redis, { ...options.presenceCache, ...(logger === undefined ? {} : { logger }) });
    const locatorService = new PlayerLocator(db, this.#presenceCache ?? redis, redisPrefix);
    const statsService = new StatsService(db);
    const throttle =
      options.loginThrottle === undefined
        ? undefined
        : new LoginThrottle(redis, redisPrefix, options.loginThrottle);
    const creationLimit =
      options.maxAccountsPerIpPerHour === undefined
        ? undefined
        : new CreationLimit(redis, redisPrefix, { maxPerWindow: options.maxAccountsPerIpPerHour });
    this.services = {
      accounts: {
        loginOrCreate: (username, password, loginOptions) =>
          accountStore.loginOrCreate(username, password, loginOptions),
        setEmail: (accountId, email) => accountStore.setEmail(accountId, email),
        usernameOf: (accountId) => usernameOf(db, accountId),
      },
      sessions,
      bans,
      registry,
      recovery: recoveryService,
      locator: locatorService,
      stats: statsService,
      playerState: new PlayerStateStore(db),
      nonces: new LoginNonceGuard(redis, redisPrefix, options.nonces),
      resetMails: new ResetMailLimit(redis, redisPrefix, options.resetMails),
      admin: new AdminCredential(options.adminToken),
      ...(throttle === undefined ? {} : { throttle }),
      ...(creationLimit === undefined ? {} : { creationLimit }),
      accountStore,
      loginRecorder,
      recoveryService,
      locatorService,
      statsService,
    };
    this.server = new LobbyServer(nc, subjects, this.services, {
      autoCreateAccounts: options.autoCreateAccounts,
      requireTls: options.requireTls,
      ...(logger === undefined ? {} : { logger }),
    });
  }

  /**
   * Rebuilds the ban mirror from Postgres (so gateways see exactly the live bans), starts the
   * background sweeps, then serves NATS requests.
   */
  async start(): Promise<void> {
    if (this.#state !== "new") throw new Error(`lobby already ${this.#state}`);
    this.#state = "started";
    const log = this.#deps.logger;
    const rebuilt = await this.services.bans.rebuildMirror();
    log?.info(rebuilt, "ban mirror rebuilt");
    this.services.bans.startExpiryTimer(this.#options.banExpiryIntervalMs ?? DEFAULT_BAN_EXPIRY_INTERVAL_MS);
    const pruneMs = this.#options.pruneIntervalMs ?? DEFAULT_PRUNE_INTERVAL_MS;
    this.#pruneTimer = setInterval(() => {
      this.services.registry.pruneStale().then(
        (pruned) => {
          if (pruned > 0) log?.info({ pruned }, "pruned stale server advertisements");
        },
        (error: unknown) => log?.warn({ err: error }, "stale server prune failed"),
      );
    }, pruneMs);
    this.#pruneTimer.unref();
    await this.#presenceCache?.start();
    await this.server.start();
    this.#startedServing = true;
  }

  /** Readiness: one `select 1` on the lobby's Postgres. Rejects with the driver's error. */
  async pingPostgres(): Promise<void> {
    await sql`select 1`.execute(this.#deps.db);
  }

  /** Readiness: one `PING` on the lobby's Redis. Rejects with the client's error. */
  async pingRedis(): Promise<void> {
    await this.#deps.redis.ping();
  }

  /** Whether `start()` completed and `stop()` has not been called. */
  get serving(): boolean {
    return this.#state === "started" && this.#startedServing;
  }

  /** Stops taking requests, answers those in flight, stops the sweeps and waits for queued mail. */
  async stop(): Promise<void> {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    if (this.#pruneTimer !== undefined) clearInterval(this.#pruneTimer);
    this.services.bans.stop();
    await this.server.stop();
    await Promise.all([this.services.recoveryService.drain(), this.services.loginRecorder.stop()]);
    await this.#presenceCache?.close();
  }

  /** The presence cache's counters (undefined when it is off). */
  presenceCacheStats(): PresenceCacheStats | undefined {
    return this.#presenceCache?.stats();
  }
}

/** The display name of an account. @throws LobbyError `LOBBY_PLAYER_UNKNOWN`. */
async function usernameOf(db: Kysely<Database>, accountId: string): Promise<string> {
  const row = await db
    .selectFrom("accounts")
    .select("username_display")
    .where("id", "=", accountId)
    .executeTakeFirst();
  if (row === undefined) throw new LobbyError(LobbyErrorCode.PlayerUnknown, "no such account");
  return row.username_display;
}
