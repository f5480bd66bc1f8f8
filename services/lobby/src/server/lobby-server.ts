/**
 * The lobby over NATS: one subscription per verb of `LobbyVerbs` (libs/protocol), in the queue group
 * `lobby` so that any number of lobby instances share the load. Each request is decoded and
 * validated against its verb's schema, served by the lobby's services, and answered with the verb's
 * reply or a `lobby_error` carrying a stable code. Nothing a caller sends can crash the lobby: a
 * malformed or oversize request, an unknown field type, a request on the wrong verb, a dependency
 * failure — each gets its `lobby_error` and is counted.
 *
 * @module
 */
import { isIP } from "node:net";
import {
  encodeMessage,
  LOBBY_QUEUE_GROUP,
  LOBBY_VERBS,
  type LobbyErrorReply,
  type LobbyReplyOf,
  type LobbyRequestOf,
  type LobbyVerb,
  lobbyRequestCodec,
  lobbySubject,
  type Subjects,
} from "@meridian/protocol";
import { extractTraceContext, inSpan, SpanAttr, SpanKind, telemetry } from "@meridian/telemetry";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { type AccountStore, normaliseUsername } from "../accounts/index.js";
import type { Ban, BanService } from "../bans/index.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";
import { normaliseAnswer, normaliseQuestion } from "../recovery/index.js";
import type { ServerEntry, ServerRegistry } from "../registry/index.js";
import { RevocationReason, type SessionService, type SessionTokens } from "../sessions/index.js";
import type { CreationLimit, LoginThrottle } from "../throttle/index.js";
import { authenticateWorldServer, type PlayerStateStore } from "../world-state/index.js";
import type { AdminCredential } from "./admin-credential.js";
import type { LoginNonceGuard } from "./login-nonce-guard.js";
import type { ResetMailLimit } from "./reset-mail-limit.js";

/** What the server needs of password recovery (the recovery slice's `RecoveryService`). */
export interface RecoveryPort {
  setSecretQuestion(accountId: string, question: string, answer: string): Promise<void>;
  questionFor(username: string): Promise<string>;
  recoverByQuestion(username: string, answer: string, newPassword: string): Promise<{ accountId: string }>;
  requestReset(username: string): Promise<void>;
  resetWithToken(token: string, newPassword: string): Promise<{ accountId: string }>;
  changePassword(accountId: string, oldPassword: string, newPassword: string): Promise<void>;
}

/** What the server needs of the account store beyond login. */
export interface AccountsPort {
  loginOrCreate: AccountStore["loginOrCreate"];
  setEmail(accountId: string, email: string | null): Promise<void>;
  usernameOf(accountId: string): Promise<string>;
}

/** A located player, as the locator answers. */
export type Location =
  | { readonly online: false; readonly accountId: string; readonly username: string }
  | {
      readonly online: true;
      readonly accountId: string;
      readonly username: string;
      readonly world: string;
      readonly zone: string | null;
      readonly server: string | null;
      readonly gateway: string;
      readonly since: number;
    };

/** What the server needs of the player locator. */
export interface LocatorPort {
  locate(query: { readonly accountId: string } | { readonly username: string }): Promise<Location>;
}

/** What the server needs of player statistics. */
export interface StatsPort {
  report(
    entries: readonly { readonly accountId: string; readonly increments: Readonly<Record<string, number>> }[],
  ): Promise<unknown>;
  get(accountId: string): Promise<Record<string, number>>;
  leaderboard(
    stat: string,
    options: { readonly limit?: number; readonly offset?: number },
  ): Promise<readonly { rank: number; accountId: string; username: string; value: number }[]>;
}

/** The lobby's services, as the NATS server calls them. */
export interface LobbyServices {
  readonly accounts: AccountsPort;
  readonly sessions: SessionService;
  readonly bans: BanService;
  readonly registry: ServerRegistry;
  readonly recovery: RecoveryPort;
  readonly locator: LocatorPort;
  readonly stats: StatsPort;
  /** Persisted player state (`player_state_save`, `player_state_load`). */
  readonly playerState: PlayerStateStore;
  readonly nonces: LoginNonceGuard;
  readonly resetMails: ResetMailLimit;
  readonly admin: AdminCredential;
  readonly throttle?: LoginThrottle;
  readonly creationLimit?: CreationLimit;
}

/** Options of {@link LobbyServer}. */
export interface LobbyServerOptions {
  /** Create unknown accounts at login (`LOBBY_AUTO_CREATE_ACCOUNTS`). */
  readonly autoCreateAccounts: boolean;
  /**
   * Refuse verbs that carry a password, an answer or a player's token (`login`, `refresh`, `recover`,
   * `reset`, `change_password`, `set_recovery`) from connections that are not TLS (`LOBBY_REQUIRE_TLS`).
   */
  readonly requireTls: boolean;
  readonly logger?: Logger;
}

/** Per-verb counters of a {@link LobbyServer}. */
export interface VerbCounters {
  requests: number;
  /** Replies that were a `lobby_error`, by code. */
  errors: Record<string, number>;
}

/** Codes a caller may see with their own message. Others become `LOBBY_UNAVAILABLE` (details logged). */
const CALLER_CODES: ReadonlySet<string> = new Set([
  LobbyErrorCode.InvalidUsername,
  LobbyErrorCode.PasswordTooLong,
  LobbyErrorCode.BadCredentials,
  LobbyErrorCode.TokenInvalid,
  LobbyErrorCode.TokenRevoked,
  LobbyErrorCode.TokenReused,
  LobbyErrorCode.Throttled,
  LobbyErrorCode.CreationLimited,
  LobbyErrorCode.InvalidBan,
  LobbyErrorCode.BanNotFound,
  LobbyErrorCode.ServerUnknown,
  LobbyErrorCode.ServerRevoked,
  LobbyErrorCode.ServerNotAdvertised,
  LobbyErrorCode.InvalidServer,
  LobbyErrorCode.InvalidCursor,
  LobbyErrorCode.RecoveryUnavailable,
  LobbyErrorCode.RecoveryLocked,
  LobbyErrorCode.WrongAnswer,
  LobbyErrorCode.ResetTokenInvalid,
  LobbyErrorCode.InvalidRecovery,
  LobbyErrorCode.PlayerUnknown,
  LobbyErrorCode.InvalidStat,
  LobbyErrorCode.LoginReplayed,
  LobbyErrorCode.LoginNonceInvalid,
  LobbyErrorCode.InsecureTransport,
  LobbyErrorCode.AccountBanned,
  LobbyErrorCode.BadRequest,
  LobbyErrorCode.Unauthorized,
]);

/** Entries per list in one `ban_snapshot` page by default (the schema's maximum). */
const BAN_SNAPSHOT_PAGE = 5_000;

type Handlers = { [V in LobbyVerb]: (request: LobbyRequestOf<V>) => Promise<LobbyReplyOf<V>> };

/** Serves the lobby's verbs over NATS request/reply. */
export class LobbyServer {
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #services: LobbyServices;
  readonly #options: LobbyServerOptions;
  readonly #log: Logger | undefined;
  readonly #handlers: Handlers;
  readonly #subscriptions: Subscription[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  readonly #counters = new Map<LobbyVerb, VerbCounters>();
  #started = false;

  constructor(nc: NatsConnection, subjects: Subjects, services: LobbyServices, options: LobbyServerOptions) {
    this.#nc = nc;
    this.#subjects = subjects;
    this.#services = services;
    this.#options = options;
    this.#log = options.logger;
    this.#handlers = this.#makeHandlers();
    for (const verb of LOBBY_VERBS) this.#counters.set(verb, { requests: 0, errors: {} });
  }

  /** Subscribes every verb; resolves once NATS has the subscriptions (requests can be sent then). */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    for (const verb of LOBBY_VERBS) this.#subscribe(verb);
    await this.#nc.flush();
  }

  /** Stops taking requests, then waits for the ones in flight to be answered. */
  async stop(): Promise<void> {
    const subscriptions = this.#subscriptions.splice(0);
    await Promise.allSettled(subscriptions.map((s) => s.drain()));
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Requests and errors per verb since start (a copy). */
  counters(): Record<string, VerbCounters> {
    const out: Record<string, VerbCounters> = {};
    for (const [verb, c] of this.#counters) out[verb] = { requests: c.requests, errors: { ...c.errors } };
    return out;
  }

  #subscribe<V extends LobbyVerb>(verb: V): void {
    const codec = lobbyRequestCodec(verb);
    const handler = this.#handlers[verb] as (request: LobbyRequestOf<V>) => Promise<LobbyReplyOf<V>>;
    const counters = this.#counters.get(verb) as VerbCounters;
    const subscription = this.#nc.subscribe(lobbySubject(this.#subjects, verb), {
      queue: LOBBY_QUEUE_GROUP,
      callback: (error, msg) => {
        if (error !== null) {
          this.#log?.error({ err: error, verb }, "lobby subscription failed");
          return;
        }
        counters.requests++;
        const serve = () =>
          this.#serve(verb, msg, () => {
            const decoded = codec.decode(msg.data);
            if (!decoded.ok) {
              throw new LobbyError(LobbyErrorCode.BadRequest, decoded.error.message, {
                context: { protocolCode: decoded.error.code, ...pickField(decoded.error.context) },
              });
            }
            return handler(decoded.message as LobbyRequestOf<V>);
          });
        // Traced: the caller's context travels in the request's headers; this span is its child.
        const work = telemetry.enabled
          ? inSpan(
              "lobby",
              `lobby.${verb}`,
              {
                kind: SpanKind.SERVER,
                parent: extractTraceContext(msg.headers),
                attributes: { [SpanAttr.Service]: "lobby", "meridian.lobby.verb": verb },
              },
              serve,
            )
          : serve();
        this.#inFlight.add(work);
        void work.finally(() => this.#inFlight.delete(work));
      },
    });
    this.#subscriptions.push(subscription);
  }

  async #serve(verb: LobbyVerb, msg: Msg, run: () => Promise<{ readonly t: string }>): Promise<void> {
    let reply: { readonly t: string };
    try {
      reply = await run();
    } catch (error) {
      reply = this.#errorReply(verb, error);
    }
    if (msg.reply === undefined || msg.reply === "") return; // a publish, not a request: nobody to answer
    try {
      msg.respond(encodeMessage(reply));
    } catch (error) {
      this.#log?.warn({ err: error, verb }, "could not send a lobby reply");
    }
  }

  #errorReply(verb: LobbyVerb, error: unknown): LobbyErrorReply {
    const counters = this.#counters.get(verb) as VerbCounters;
    let reply: LobbyErrorReply;
    if (error instanceof LobbyError && CALLER_CODES.has(error.code)) {
      reply = { t: "lobby_error", code: error.code, message: error.message.slice(0, 1024) };
      copyContext(reply, error.context);
    } else {
      this.#log?.error({ err: error, verb }, "lobby request failed");
      reply = {
        t: "lobby_error",
        code: LobbyErrorCode.Unavailable,
        message: "the lobby could not serve this request; try again later",
      };
    }
    counters.errors[reply.code] = (counters.errors[reply.code] ?? 0) + 1;
    return reply;
  }

  #makeHandlers(): Handlers {
    const s = this.#services;
    const options = this.#options;
    const requireTls = (tls: boolean): void => {
      if (options.requireTls && !tls) {
        throw new LobbyError(
          LobbyErrorCode.InsecureTransport,
          "password logins are accepted over TLS only on this server",
        );
      }
    };
    /** The session a verb acts for: exactly one of an access token and a (live) session id. */
    const actor = (request: { readonly accessToken?: string; readonly sessionId?: string }) => {
      if ((request.accessToken === undefined) === (request.sessionId === undefined)) {
        throw badField("accessToken", "give exactly one of accessToken and sessionId");
      }
      return request.accessToken !== undefined
        ? s.sessions.validateAccess(request.accessToken)
        : s.sessions.liveSession(request.sessionId as string);
    };
    return {
      login: async (request) => {
        requireTls(request.tls);
        if (isIP(request.ip) === 0) throw badField("ip", "ip must be an IPv4 or IPv6 address");
        await s.nonces.spend(request.nonce, request.connectionNonce);
        const { account, created } = await s.accounts.loginOrCreate(request.username, request.password, {
          autoCreate: options.autoCreateAccounts,
          ip: request.ip,
          ...(s.throttle === undefined ? {} : { throttle: s.throttle }),
          ...(s.creationLimit === undefined ? {} : { creationLimit: s.creationLimit }),
        });
        // Checked after the password, so a ban is never revealed to someone without it. The Redis
        // mirror answers first (no Postgres read for the unbanned); only a listed account is read back.
        const ban = (await s.bans.isAccountBanned(account.id))
          ? await s.bans.banForAccount(account.id)
          : null;
        if (ban !== null) {
          throw new LobbyError(LobbyErrorCode.AccountBanned, "this account is banned", {
            context: {
              reason: ban.reason,
              ...(ban.expiresAt === null ? {} : { expiresAt: ban.expiresAt.getTime() }),
            },
          });
        }
        const tokens = await s.sessions.issue(account.id);
        return { t: "session", ...sessionFields(tokens, account.id), username: account.username, created };
      },
      refresh: async (request) => {
        requireTls(request.tls);
        const tokens = await s.sessions.refresh(request.refreshToken);
        const username = await s.accounts.usernameOf(tokens.accountId);
        return { t: "refreshed", ...sessionFields(tokens, tokens.accountId), username };
      },
      validate: async (request) => {
        const who = await s.sessions.validateAccess(request.accessToken);
        return { t: "identity", accountId: who.accountId, sessionId: who.chainId };
      },
      logout: async (request) => {
        const who = await actor(request);
        await s.sessions.revokeChain(who.chainId, RevocationReason.Logout);
        return { t: "lobby_ok" };
      },
      change_password: async (request) => {
        requireTls(request.tls);
        const who = await actor(request);
        await s.recovery.changePassword(who.accountId, request.oldPassword, request.newPassword);
        return { t: "lobby_ok" };
      },
      set_recovery: async (request) => {
        requireTls(request.tls);
        // Everything is checked before anything is written: a bad email leaves the question as it was.
        normaliseQuestion(request.question);
        normaliseAnswer(request.answer);
        const who = await actor(request);
        if (request.email !== undefined) await s.accounts.setEmail(who.accountId, request.email);
        await s.recovery.setSecretQuestion(who.accountId, request.question, request.answer);
        return { t: "lobby_ok" };
      },
      recovery_question: async (request) => ({
        t: "recovery_question_is",
        question: await s.recovery.questionFor(request.username),
      }),
      recover: async (request) => {
        requireTls(request.tls);
        const { accountId } = await s.recovery.recoverByQuestion(
          request.username,
          request.answer,
          request.newPassword,
        );
        const ban = await s.bans.banForAccount(accountId);
        if (ban !== null) {
          // The password is changed (the owner proved it is theirs), but a banned account gets no session.
          throw new LobbyError(LobbyErrorCode.AccountBanned, "this account is banned", {
            context: {
              reason: ban.reason,
              ...(ban.expiresAt === null ? {} : { expiresAt: ban.expiresAt.getTime() }),
            },
          });
        }
        // The owner proved the account is theirs: failed password guesses no longer lock it.
        await s.throttle?.recordSuccess(normaliseUsername(request.username).key);
        const tokens = await s.sessions.issue(accountId);
        const username = await s.accounts.usernameOf(accountId);
        return { t: "session", ...sessionFields(tokens, accountId), username, created: false };
      },
      reset_request: async (request) => {
        await s.resetMails.take(normaliseUsername(request.username).key);
        await s.recovery.requestReset(request.username);
        return { t: "lobby_ok" };
      },
      reset: async (request) => {
        requireTls(request.tls);
        await s.recovery.resetWithToken(request.token, request.newPassword);
        return { t: "lobby_ok" };
      },
      locate: async (request) => {
        const hasId = request.accountId !== undefined;
        const hasName = request.username !== undefined;
        if (hasId === hasName) throw badField("accountId", "give exactly one of accountId and username");
        const where = await s.locator.locate(
          request.accountId !== undefined
            ? { accountId: request.accountId }
            : { username: request.username ?? "" },
        );
        if (!where.online) {
          return { t: "location", accountId: where.accountId, username: where.username, online: false };
        }
        return {
          t: "location",
          accountId: where.accountId,
          username: where.username,
          online: true,
          world: where.world,
          zone: where.zone,
          server: where.server,
          gateway: where.gateway,
          since: where.since,
        };
      },
      stats_report: async (request) => {
        await s.registry.authenticate(request.credential);
        await s.stats.report(request.entries);
        return { t: "stats_applied", entries: request.entries.length };
      },
      player_state_save: async (request) => {
        await authenticateWorldServer(s.registry, request.credential, request.world);
        return { t: "player_state_saved", ...(await s.playerState.save(request.world, request.entries)) };
      },
      player_state_load: async ({ credential, world, accountId }) => {
        await authenticateWorldServer(s.registry, credential, world);
        const stored = await s.playerState.load(world, accountId);
        if (stored === undefined) return { t: "player_state", accountId, world, found: false };
        const { epoch, snapshot, updatedAt } = stored;
        return {
          t: "player_state",
          accountId,
          world,
          found: true,
          epoch,
          snapshot: { ...snapshot },
          updatedAt: updatedAt.getTime(),
        };
      },
      stats_get: async (request) => ({
        t: "stats",
        accountId: request.accountId,
        stats: await s.stats.get(request.accountId),
      }),
      leaderboard: async (request) => {
        const rows = await s.stats.leaderboard(request.stat, {
          ...(request.limit === undefined ? {} : { limit: request.limit }),
          ...(request.offset === undefined ? {} : { offset: request.offset }),
        });
        return { t: "leaderboard_is", stat: request.stat, rows: rows.map((r) => ({ ...r })) };
      },
      server_advertise: async ({ credential, t: _t, ...advertisement }) => ({
        t: "server",
        server: serverFields(await s.registry.advertise(credential, advertisement)),
      }),
      server_heartbeat: async (request) => ({
        t: "server",
        server: serverFields(await s.registry.heartbeat(request.credential, { players: request.players })),
      }),
      server_list: async ({ t: _t, ...query }) => {
        const page = await s.registry.list(query);
        return { t: "server_page", servers: page.servers.map(serverFields), nextCursor: page.nextCursor };
      },
      server_revoke: async (request) => {
        s.admin.assert(request.adminToken);
        await s.registry.revoke(request.serverId, request.reason);
        return { t: "lobby_ok" };
      },
      server_verify: async (request) => ({
        t: "server_verified",
        ...(await s.registry.verify(request.credential)),
      }),
      ban: async (request) => {
        s.admin.assert(request.adminToken);
        const ban = await s.bans.ban({
          kind: request.kind,
          reason: request.reason,
          issuer: request.issuer,
          ...(request.accountId === undefined ? {} : { accountId: request.accountId }),
          ...(request.target === undefined ? {} : { target: request.target }),
          ...(request.expiresAt === undefined ? {} : { expiresAt: new Date(request.expiresAt) }),
        });
        return { t: "ban_is", ban: banFields(ban) };
      },
      unban: async (request) => {
        s.admin.assert(request.adminToken);
        return { t: "ban_is", ban: banFields(await s.bans.lift(request.banId, request.issuer)) };
      },
      ban_snapshot: async (request) => {
        const snapshot = await s.bans.snapshot();
        const offset = request.offset ?? 0;
        const end = offset + (request.limit ?? BAN_SNAPSHOT_PAGE);
        return {
          t: "ban_snapshot",
          version: snapshot.version,
          addresses: snapshot.addresses.slice(offset, end),
          accounts: snapshot.accounts.slice(offset, end),
          more: snapshot.addresses.length > end || snapshot.accounts.length > end,
        };
      },
    };
  }
}

function badField(field: string, message: string): LobbyError {
  return new LobbyError(LobbyErrorCode.BadRequest, message, { context: { field } });
}

function sessionFields(tokens: SessionTokens, accountId: string) {
  return {
    accountId,
    sessionId: tokens.sessionId,
    accessToken: tokens.accessToken,
    accessExpiresAt: tokens.accessExpiresAt.getTime(),
    refreshToken: tokens.refreshToken,
    refreshExpiresAt: tokens.refreshExpiresAt.getTime(),
  };
}

function serverFields(entry: ServerEntry) {
  return { ...entry, tags: [...entry.tags], lastHeartbeatAt: entry.lastHeartbeatAt.getTime() };
}

function banFields(ban: Ban) {
  return {
    ...ban,
    createdAt: ban.createdAt.getTime(),
    expiresAt: ban.expiresAt?.getTime() ?? null,
    liftedAt: ban.liftedAt?.getTime() ?? null,
  };
}

/** A protocol error's `path` (`/username`) as the reply's `field` (`username`). */
function pickField(context: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const path = context.path;
  if (typeof path !== "string" || path.length < 2) return {};
  return { field: path.slice(1).split("/")[0] };
}

/** Copies the context entries the reply schema carries, when they have the right type. */
function copyContext(reply: LobbyErrorReply, context: Readonly<Record<string, unknown>>): void {
  const { retryAfterMs, attemptsLeft, reason, expiresAt, field, protocolCode } = context;
  if (typeof retryAfterMs === "number" && Number.isSafeInteger(retryAfterMs) && retryAfterMs >= 0) {
    reply.retryAfterMs = retryAfterMs;
  }
  if (typeof attemptsLeft === "number" && Number.isSafeInteger(attemptsLeft) && attemptsLeft >= 0) {
    reply.attemptsLeft = attemptsLeft;
  }
  if (typeof reason === "string") reply.reason = reason.slice(0, 500);
  if (typeof expiresAt === "number" && Number.isSafeInteger(expiresAt) && expiresAt >= 0) {
    reply.expiresAt = expiresAt;
  }
  if (typeof field === "string") reply.field = field.slice(0, 64);
  if (typeof protocolCode === "string") reply.protocolCode = protocolCode.slice(0, 64);
}
