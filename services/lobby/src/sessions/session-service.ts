/**
 * Sessions: opaque access and refresh tokens, refresh-token rotation along a chain, reuse detection and
 * revocation that reaches every gateway within a second.
 *
 * - A login starts a **chain** (`sessionId` = `chain_id`, a uuid). Every refresh rotates: the presented
 *   refresh token gets a successor in the same chain (its row is then "used": a row names it as
 *   `parent_hash`, unique by migration 0002) and a new access token is issued.
 * - Presenting a used refresh token again is **reuse** (one of the two holders is a thief): the whole
 *   chain is revoked and the caller gets `LOBBY_TOKEN_REUSED`. So of N concurrent refreshes with one
 *   token exactly one succeeds, the others get `LOBBY_TOKEN_REUSED`, and the chain (with the winner's
 *   fresh pair) is revoked: a client must never send one refresh token twice, not even by a retry race.
 * - **Serialisation per chain.** Rotation and revocation take a transaction-scoped Postgres advisory
 *   lock on the chain (then `SELECT … FOR UPDATE` the presented row), so a revocation marks every row
 *   of the chain, including one a concurrent rotation just added, and a rotation never sees a
 *   half-revoked chain.
 * - **Access tokens** live in Redis only: `<prefix>access:<sha256>` → `{accountId, chainId, expiresAt}`
 *   with the access TTL, so a gateway validates without Postgres. Revocation sets
 *   `<prefix>revoked:<chainId>` for longer than the access TTL instead of deleting access keys: the
 *   marker outlives every access token of the chain (even one a racing rotation writes just after), and
 *   a revoked token keeps its specific code (`LOBBY_TOKEN_REVOKED`, "you were logged out") instead of
 *   looking unknown. Validation is therefore two reads: the access key, then the marker.
 * - **Order of writes** on revocation: Postgres (the truth) → Redis markers → the NATS notice (then a
 *   flush), so a gateway acting on the notice already finds the marker.
 */
import { randomUUID } from "node:crypto";
import type { Subjects } from "@meridian/protocol";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
import { type Kysely, sql, type Transaction } from "kysely";
import type { Logger } from "pino";
import type { Database } from "../db/database.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";
import {
  type AccessRecord,
  isRevocationReason,
  RevocationReason,
  SESSION_REVOKED_TOPIC,
  type SessionKeys,
  type SessionRevokedNotice,
  sessionKeys,
} from "./session-keys.js";
import { generateToken, hashToken, isWellFormedToken } from "./session-tokens.js";

/** Default access token lifetime: 15 minutes. */
export const DEFAULT_ACCESS_TTL_MS = 15 * 60_000;
/** Default refresh token lifetime: 30 days, counted from each rotation (sliding). */
export const DEFAULT_REFRESH_TTL_MS = 30 * 24 * 60 * 60_000;
/** Default time the revocation marker outlives the access TTL: 60 seconds. */
export const DEFAULT_REVOCATION_MARGIN_MS = 60_000;
/** Smallest access or refresh TTL accepted: 1 second. */
export const MIN_TOKEN_TTL_MS = 1_000;

/** Options of {@link SessionService}. */
export interface SessionServiceOptions {
  /** Lifetime of an access token, ms. Default {@link DEFAULT_ACCESS_TTL_MS} (15 min). */
  readonly accessTtlMs?: number;
  /**
   * Lifetime of a refresh token from its issue, ms (each rotation issues a new one, so an active
   * session slides). At least `accessTtlMs`. Default {@link DEFAULT_REFRESH_TTL_MS} (30 days).
   */
  readonly refreshTtlMs?: number;
  /**
   * How much longer than `accessTtlMs` the Redis revocation marker lives, ms, covering an access token
   * written by a rotation that raced the revocation. Default {@link DEFAULT_REVOCATION_MARGIN_MS} (60 s).
   */
  readonly revocationMarginMs?: number;
  /**
   * The clock, ms since the epoch: token expiry is computed and checked with it (tests inject it).
   * Redis key TTLs still run on Redis's clock. Default `Date.now`.
   */
  readonly now?: () => number;
  /** Logger for security events (refresh-token reuse). Default: none. */
  readonly logger?: Logger;
}

/** The NATS connection as the sessions use it: publish the notice, then flush. */
export type SessionBus = Pick<NatsConnection, "publish" | "flush">;

/** A fresh token pair, given to the client once; only hashes are kept. */
export interface SessionTokens {
  /** Opaque, 256 random bits, base64url (43 characters). Sent with every request to a gateway. */
  readonly accessToken: string;
  /** Opaque, 256 random bits, base64url. Single use: exchange it with {@link SessionService.refresh}. */
  readonly refreshToken: string;
  readonly accessExpiresAt: Date;
  readonly refreshExpiresAt: Date;
  /** The chain (one per login), a uuid: the `chainId` of {@link AccessIdentity} and of the notice. */
  readonly sessionId: string;
  /** Whose session it is (`accounts.id`). */
  readonly accountId: string;
}

/** Who a valid access token belongs to. */
export interface AccessIdentity {
  /** `accounts.id`, a decimal string. */
  readonly accountId: string;
  /** The session (chain) the token belongs to. */
  readonly chainId: string;
}

/** What a revocation did. */
export interface RevocationResult {
  /** The account whose sessions were revoked; null when nothing matched. */
  readonly accountId: string | null;
  /** The chains revoked (and announced); empty when nothing matched. */
  readonly chainIds: readonly string[];
}

interface ResolvedOptions {
  readonly accessTtlMs: number;
  readonly refreshTtlMs: number;
  readonly markerTtlMs: number;
  readonly now: () => number;
  readonly logger: Logger | undefined;
}

/** Namespace (first key) of the lobby's per-chain advisory locks; the second key is `hashtext(chain)`. */
const CHAIN_LOCK_NAMESPACE = 0x5e55;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type RefreshOutcome =
  | { readonly kind: "rotated"; readonly tokens: SessionTokens; readonly accountId: string }
  | { readonly kind: "reused"; readonly accountId: string; readonly chainId: string; readonly fresh: boolean }
  | { readonly kind: "revoked" }
  | { readonly kind: "invalid" };

function invalid(): LobbyError {
  return new LobbyError(LobbyErrorCode.TokenInvalid, "session token is invalid or expired");
}

function revoked(): LobbyError {
  return new LobbyError(LobbyErrorCode.TokenRevoked, "session was revoked");
}

function resolveOptions(options: SessionServiceOptions): ResolvedOptions {
  const accessTtlMs = options.accessTtlMs ?? DEFAULT_ACCESS_TTL_MS;
  const refreshTtlMs = options.refreshTtlMs ?? DEFAULT_REFRESH_TTL_MS;
  const margin = options.revocationMarginMs ?? DEFAULT_REVOCATION_MARGIN_MS;
  const problems: string[] = [];
  if (!Number.isSafeInteger(accessTtlMs) || accessTtlMs < MIN_TOKEN_TTL_MS) {
    problems.push(`accessTtlMs must be an integer ≥ ${MIN_TOKEN_TTL_MS}, got ${accessTtlMs}`);
  }
  if (!Number.isSafeInteger(refreshTtlMs) || refreshTtlMs < accessTtlMs) {
    problems.push(`refreshTtlMs must be an integer ≥ accessTtlMs, got ${refreshTtlMs}`);
  }
  if (!Number.isSafeInteger(margin) || margin < 0) {
    problems.push(`revocationMarginMs must be an integer ≥ 0, got ${margin}`);
  }
  if (options.now !== undefined && typeof options.now !== "function") problems.push("now must be a function");
  if (problems.length > 0) {
    throw new LobbyError(LobbyErrorCode.InvalidOptions, `invalid session options: ${problems.join("; ")}`, {
      context: { problems },
    });
  }
  return Object.freeze({
    accessTtlMs,
    refreshTtlMs,
    markerTtlMs: accessTtlMs + margin,
    now: options.now ?? Date.now,
    logger: options.logger,
  });
}

function parseAccessRecord(raw: string | null): AccessRecord | undefined {
  if (raw === null) return undefined;
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value !== "object" || value === null) return undefined;
    const { accountId, chainId, expiresAt } = value as Record<string, unknown>;
    if (typeof accountId !== "string" || typeof chainId !== "string" || typeof expiresAt !== "number") {
      return undefined;
    }
    return { accountId, chainId, expiresAt };
  } catch {
    return undefined;
  }
}

/** Serialises rotation and revocation of one chain until the transaction ends. */
async function lockChain(trx: Transaction<Database>, chainId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(${CHAIN_LOCK_NAMESPACE}::int4, hashtext(${chainId}::text))`.execute(
    trx,
  );
}

/**
 * Issues, validates, rotates and revokes sessions. Postgres holds refresh tokens (hashed) and is the
 * truth on revocation; Redis holds access tokens (hashed) and revocation markers for gateways; NATS
 * carries the revocation notice on `subjects.event("session.revoked")`.
 */
export class SessionService {
  readonly #db: Kysely<Database>;
  readonly #redis: Redis;
  readonly #bus: SessionBus;
  readonly #noticeSubject: string;
  readonly #keys: SessionKeys;
  readonly #options: ResolvedOptions;

  /**
   * @param db the lobby's kysely (migrated, including `0002_refresh_token_successor`).
   * @param redis an ioredis client; every key is under `redisPrefix`.
   * @param nats the NATS connection the revocation notice is published on.
   * @param subjects subject builders (`createSubjects({ prefix })`).
   * @param redisPrefix prefix of every Redis key, e.g. `meridian:lobby:` (the testkit's `mt:<runId>:`).
   * @throws LobbyError `LOBBY_INVALID_OPTIONS` for bad options.
   */
  constructor(
    db: Kysely<Database>,
    redis: Redis,
    nats: SessionBus,
    subjects: Subjects,
    redisPrefix: string,
    options: SessionServiceOptions = {},
  ) {
    this.#db = db;
    this.#redis = redis;
    this.#bus = nats;
    this.#noticeSubject = subjects.event(SESSION_REVOKED_TOPIC);
    this.#keys = sessionKeys(redisPrefix);
    this.#options = resolveOptions(options);
  }

  /** The subject revocation notices are published on. */
  get noticeSubject(): string {
    return this.#noticeSubject;
  }

  /** Starts a new session (chain) for `accountId` (after a successful login). */
  async issue(accountId: string): Promise<SessionTokens> {
    const chainId = randomUUID();
    const now = this.#options.now();
    const refreshToken = generateToken();
    const refreshExpiresAt = new Date(now + this.#options.refreshTtlMs);
    await this.#db
      .insertInto("refresh_tokens")
      .values({
        token_hash: hashToken(refreshToken),
        account_id: accountId,
        chain_id: chainId,
        parent_hash: null,
        expires_at: refreshExpiresAt,
      })
      .execute();
    const access = await this.#storeAccess(accountId, chainId, now);
    return Object.freeze({ ...access, refreshToken, refreshExpiresAt, sessionId: chainId, accountId });
  }

  /**
   * Who a live session belongs to, by its id: for a trusted caller (a gateway acting for the player
   * logged in on its connection) whose access token may have expired. Reads Postgres (one indexed
   * row: the chain's newest refresh token).
   * @throws LobbyError `LOBBY_TOKEN_INVALID` (not a session id; unknown; expired) or
   * `LOBBY_TOKEN_REVOKED` (the session was revoked).
   */
  async liveSession(sessionId: string): Promise<AccessIdentity> {
    if (typeof sessionId !== "string" || !UUID.test(sessionId)) throw invalid();
    const row = await this.#db
      .selectFrom("refresh_tokens")
      .select(["account_id", "expires_at", "revoked_at"])
      .where("chain_id", "=", sessionId)
      .orderBy("created_at", "desc")
      .limit(1)
      .executeTakeFirst();
    if (row === undefined) throw invalid();
    if (row.revoked_at !== null) throw revoked();
    if (row.expires_at.getTime() <= this.#options.now()) throw invalid();
    return Object.freeze({ accountId: row.account_id, chainId: sessionId });
  }

  /**
   * Who `accessToken` belongs to. Reads Redis only (two keys), never Postgres.
   * @throws LobbyError `LOBBY_TOKEN_INVALID` (malformed: without any I/O; unknown; expired) or
   * `LOBBY_TOKEN_REVOKED` (its chain was revoked).
   */
  async validateAccess(accessToken: string): Promise<AccessIdentity> {
    if (!isWellFormedToken(accessToken)) throw invalid();
    const record = parseAccessRecord(await this.#redis.get(this.#keys.access(hashToken(accessToken))));
    if (record === undefined || record.expiresAt <= this.#options.now()) throw invalid();
    if ((await this.#redis.exists(this.#keys.revoked(record.chainId))) > 0) throw revoked();
    return Object.freeze({ accountId: record.accountId, chainId: record.chainId });
  }

  /**
   * Exchanges `refreshToken` for a new pair in the same chain; the presented token is used up.
   * @throws LobbyError `LOBBY_TOKEN_INVALID` (malformed: without any I/O; unknown; expired),
   * `LOBBY_TOKEN_REVOKED` (chain revoked), or `LOBBY_TOKEN_REUSED` (the token was already rotated: the
   * whole chain is revoked, its holders kicked).
   */
  async refresh(refreshToken: string): Promise<SessionTokens> {
    if (!isWellFormedToken(refreshToken)) throw invalid();
    const hash = hashToken(refreshToken);
    // The chain first, without a lock: the chain lock is always taken before any row lock.
    const found = await this.#db
      .selectFrom("refresh_tokens")
      .select("chain_id")
      .where("token_hash", "=", hash)
      .executeTakeFirst();
    if (found === undefined) throw invalid();

    const now = this.#options.now();
    const outcome = await this.#db.transaction().execute(async (trx): Promise<RefreshOutcome> => {
      await lockChain(trx, found.chain_id);
      const row = await trx
        .selectFrom("refresh_tokens")
        .select(["account_id", "chain_id", "expires_at", "revoked_at"])
        .where("token_hash", "=", hash)
        .forUpdate()
        .executeTakeFirst();
      if (row === undefined) return { kind: "invalid" }; // deleted meanwhile (account removed)
      const successor = await trx
        .selectFrom("refresh_tokens")
        .select("token_hash")
        .where("parent_hash", "=", hash)
        .executeTakeFirst();
      if (successor !== undefined) {
        const fresh = await this.#revokeChainRows(trx, row.chain_id, now);
        return { kind: "reused", accountId: row.account_id, chainId: row.chain_id, fresh: fresh > 0 };
      }
      // Under the chain lock a revocation has marked every row, this one included.
      if (row.revoked_at !== null) return { kind: "revoked" };
      if (row.expires_at.getTime() <= now) return { kind: "invalid" };
      const next = generateToken();
      const refreshExpiresAt = new Date(now + this.#options.refreshTtlMs);
      await trx
        .insertInto("refresh_tokens")
        .values({
          token_hash: hashToken(next),
          account_id: row.account_id,
          chain_id: row.chain_id,
          parent_hash: hash,
          expires_at: refreshExpiresAt,
        })
        .execute();
      return {
        kind: "rotated",
        accountId: row.account_id,
        tokens: {
          accessToken: "",
          accessExpiresAt: new Date(0),
          refreshToken: next,
          refreshExpiresAt,
          sessionId: row.chain_id,
          accountId: row.account_id,
        },
      };
    });

    switch (outcome.kind) {
      case "invalid":
        throw invalid();
      case "revoked":
        throw revoked();
      case "reused": {
        this.#options.logger?.warn(
          { accountId: outcome.accountId, chainId: outcome.chainId, firstDetection: outcome.fresh },
          "refresh token reused: session chain revoked",
        );
        // Only the call that revoked the chain announces it; later reusers find it revoked already.
        if (outcome.fresh) {
          await this.#announce(outcome.accountId, [outcome.chainId], RevocationReason.RefreshReuse);
        }
        throw new LobbyError(LobbyErrorCode.TokenReused, "refresh token was already used; session revoked", {
          context: { chainId: outcome.chainId },
        });
      }
      case "rotated": {
        const access = await this.#storeAccess(outcome.accountId, outcome.tokens.sessionId, now);
        return Object.freeze({ ...outcome.tokens, ...access });
      }
    }
  }

  /**
   * Revokes one session (logout): every refresh token of the chain in Postgres, the Redis marker that
   * kills its access tokens at once, and a notice to the gateways. Idempotent: revoking a revoked chain
   * sets the marker and announces again (so a retry after a Redis or NATS failure completes the job).
   * An unknown or malformed chain id matches nothing.
   * @throws LobbyError `LOBBY_INVALID_OPTIONS` for a reason outside {@link RevocationReason}.
   */
  async revokeChain(chainId: string, reason: RevocationReason): Promise<RevocationResult> {
    assertReason(reason);
    if (typeof chainId !== "string" || !UUID.test(chainId))
      return Object.freeze({ accountId: null, chainIds: [] });
    const now = this.#options.now();
    const accountId = await this.#db.transaction().execute(async (trx) => {
      await lockChain(trx, chainId);
      await this.#revokeChainRows(trx, chainId, now);
      const any = await trx
        .selectFrom("refresh_tokens")
        .select("account_id")
        .where("chain_id", "=", chainId)
        .executeTakeFirst();
      return any?.account_id;
    });
    if (accountId === undefined) return Object.freeze({ accountId: null, chainIds: [] });
    await this.#announce(accountId, [chainId], reason);
    return Object.freeze({ accountId, chainIds: Object.freeze([chainId]) });
  }

  /**
   * Revokes every live session of `accountId` (password change, reset, ban) and announces them in one
   * notice. A session is live when it has a refresh token not yet revoked (expired ones included:
   * their access tokens may still run). Announces nothing when none was live.
   * @throws LobbyError `LOBBY_INVALID_OPTIONS` for a reason outside {@link RevocationReason}.
   */
  async revokeAccount(accountId: string, reason: RevocationReason): Promise<RevocationResult> {
    assertReason(reason);
    const now = this.#options.now();
    const chainIds = await this.#db.transaction().execute(async (trx) => {
      const live = await trx
        .selectFrom("refresh_tokens")
        .select("chain_id")
        .distinct()
        .where("account_id", "=", accountId)
        .where("revoked_at", "is", null)
        .orderBy("chain_id")
        .execute();
      // One order for every multi-chain locker, so two revocations of one account cannot deadlock.
      for (const { chain_id } of live) await lockChain(trx, chain_id);
      const rows = await trx
        .updateTable("refresh_tokens")
        .set({ revoked_at: new Date(now) })
        .where("account_id", "=", accountId)
        .where("revoked_at", "is", null)
        .returning("chain_id")
        .execute();
      return [...new Set(rows.map((r) => r.chain_id))].sort();
    });
    if (chainIds.length === 0) return Object.freeze({ accountId, chainIds: Object.freeze([]) });
    await this.#announce(accountId, chainIds, reason);
    return Object.freeze({ accountId, chainIds: Object.freeze(chainIds) });
  }

  /** Marks every not-yet-revoked row of the chain; returns how many. Call under the chain lock. */
  async #revokeChainRows(trx: Transaction<Database>, chainId: string, now: number): Promise<number> {
    const result = await trx
      .updateTable("refresh_tokens")
      .set({ revoked_at: new Date(now) })
      .where("chain_id", "=", chainId)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async #storeAccess(
    accountId: string,
    chainId: string,
    now: number,
  ): Promise<Pick<SessionTokens, "accessToken" | "accessExpiresAt">> {
    const accessToken = generateToken();
    const expiresAt = now + this.#options.accessTtlMs;
    const record: AccessRecord = { accountId, chainId, expiresAt };
    await this.#redis.set(
      this.#keys.access(hashToken(accessToken)),
      JSON.stringify(record),
      "PX",
      this.#options.accessTtlMs,
    );
    return { accessToken, accessExpiresAt: new Date(expiresAt) };
  }

  /** Redis markers for every chain, then the notice, flushed so it has left when this returns. */
  async #announce(accountId: string, chainIds: readonly string[], reason: RevocationReason): Promise<void> {
    const multi = this.#redis.multi();
    for (const chainId of chainIds) {
      multi.set(this.#keys.revoked(chainId), reason, "PX", this.#options.markerTtlMs);
    }
    const results = await multi.exec();
    const failed = results?.find(([error]) => error !== null)?.[0];
    if (results === null || failed) {
      throw new LobbyError(LobbyErrorCode.Revocation, "writing the session revocation markers failed", {
        cause: failed ?? undefined,
        context: { accountId, chainIds },
      });
    }
    const notice: SessionRevokedNotice = { accountId, chainIds, reason };
    this.#bus.publish(this.#noticeSubject, JSON.stringify(notice));
    await this.#bus.flush();
  }
}

function assertReason(reason: unknown): asserts reason is RevocationReason {
  if (!isRevocationReason(reason)) {
    throw new LobbyError(
      LobbyErrorCode.InvalidOptions,
      `unknown revocation reason ${JSON.stringify(reason)}`,
      {
        context: { reason },
      },
    );
  }
}
