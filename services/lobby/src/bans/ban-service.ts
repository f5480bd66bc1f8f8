/**
 * Bans by account, by IP and by CIDR range: Postgres is the source of truth, Redis holds the mirror
 * that gateways load into memory, NATS carries a change notice for every change.
 *
 * - **Mirror.** `<prefix>bans:addr` and `<prefix>bans:account` are hashes, entry → expiry (ms since
 *   the epoch, `0` = permanent), holding every *target* with at least one live ban (not lifted, not
 *   expired). Several bans may cover one target: the entry stays while any of them lives, with the
 *   latest expiry. `<prefix>bans:version` is `INCR`ed in the same `MULTI` as every change, so a
 *   gateway can tell a missed notice from the version.
 * - **Order of writes** per change: Postgres row → mirror entry (recomputed from the live rows of that
 *   target, so it is right whatever came before) and version → notice; all under a transaction-scoped
 *   advisory lock on the target, so changes of one target are applied and announced in order. Account
 *   bans then revoke the account's sessions (`SessionService.revokeAccount(id, "ban")`), whose own
 *   notice closes online sessions within 1 s.
 * - **Rebuild** takes the exclusive side of a global advisory lock whose shared side every change
 *   holds: no change can interleave between the rebuild's read of Postgres and its swap of the mirror.
 * - **Expiry** is decided on the injected clock: `expireDue()` lifts every due ban the same way an
 *   operator's lift does (`lifted_by = 'expiry'`). Between two sweeps an expired entry may still sit
 *   in the mirror; its expiry travels with it, so readers ({@link BanService.snapshot}, a gateway)
 *   can skip it.
 * - If Postgres fails to commit after the mirror was written (rare), the mirror holds a change that
 *   Postgres lacks until the next change of that target or a {@link BanService.rebuildMirror}, which
 *   the lobby runs at start.
 */
import type { Subjects } from "@meridian/protocol";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ChainableCommander, Redis } from "ioredis";
import { type Kysely, type Selectable, sql, type Transaction } from "kysely";
import type { Logger } from "pino";
import { BanKind, type BansTable, type Database } from "../db/database.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";
import type { SessionService } from "../sessions/index.js";
import { BAN_CHANGED_TOPIC, type BanChangedNotice, type BanKeys, BanNoticeOp, banKeys } from "./ban-keys.js";
import { parseBanAddress } from "./ban-target.js";

/** Longest accepted `reason`, in characters. */
export const MAX_BAN_REASON_LENGTH = 500;
/** Longest accepted `issuer`, in characters. */
export const MAX_BAN_ISSUER_LENGTH = 200;
/** Smallest interval of {@link BanService.startExpiryTimer}, ms. */
export const MIN_EXPIRY_INTERVAL_MS = 10;
/** `lifted_by` of a ban lifted by {@link BanService.expireDue}. */
export const EXPIRY_ISSUER = "expiry";
/** Default page size of {@link BanService.list}. */
export const DEFAULT_BAN_LIST_LIMIT = 50;
/** Largest page size of {@link BanService.list}. */
export const MAX_BAN_LIST_LIMIT = 200;

/** Options of {@link BanService}. */
export interface BanServiceOptions {
  /** The clock, ms since the epoch: decides which bans are live and due (tests inject it). Default `Date.now`. */
  readonly now?: () => number;
  /** Logger for failures of the expiry timer. Default: none. */
  readonly logger?: Logger;
}

/** A ban request. */
export interface BanRequest {
  readonly kind: BanKind;
  /** For `account`: `accounts.id`, decimal string. Must not be given for other kinds. */
  readonly accountId?: string;
  /**
   * For `ip`: one address (`10.0.0.1`, `10.0.0.1/32`, `::ffff:10.0.0.1`, `2001:db8::1`). For `cidr`:
   * a range (`10.0.0.0/8`, `2001:db8::/32`; host bits are cleared). Must not be given for `account`.
   */
  readonly target?: string;
  /** Shown to the banned player; 1–500 characters. */
  readonly reason: string;
  /** Who banned (operator name, tool); 1–200 characters. */
  readonly issuer: string;
  /** When the ban ends; must be after now. Absent = permanent. */
  readonly expiresAt?: Date;
}

/** A ban as stored. */
export interface Ban {
  /** `bans.id`, decimal string. */
  readonly id: string;
  readonly kind: BanKind;
  readonly accountId: string | null;
  /** For `ip`/`cidr`: Postgres's canonical `cidr` text, the mirror entry. */
  readonly target: string | null;
  readonly reason: string;
  readonly issuer: string;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly liftedAt: Date | null;
  readonly liftedBy: string | null;
}

/** What a gateway loads for a full resync. */
export interface BanSnapshot {
  /** The mirror's version when read (0 before the first change). */
  readonly version: number;
  /** Address entries (`cidr` text) of live bans; load with netengine's `AddressList.replaceAll`. */
  readonly addresses: readonly string[];
  /** Account ids with a live ban. */
  readonly accounts: readonly string[];
}

/** Why an account may not log in: the live ban that ends last. */
export interface AccountBan {
  readonly banId: string;
  readonly reason: string;
  /** Null for a permanent ban. */
  readonly expiresAt: Date | null;
}

/** Filters (combined with AND) and paging of {@link BanService.list}. */
export interface BanListQuery {
  /** `true` (default): only live bans (not lifted, not expired on the injected clock). `false`: every ban. */
  readonly live?: boolean;
  readonly kind?: BanKind;
  /** Only bans of this account (decimal string). */
  readonly accountId?: string;
  /** Only address bans of exactly this target (normalised as a ban's target is: `10.0.0.1` = `10.0.0.1/32`). */
  readonly target?: string;
  /** Page size, 1–{@link MAX_BAN_LIST_LIMIT}. Default {@link DEFAULT_BAN_LIST_LIMIT}. */
  readonly limit?: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** A page of bans, newest (highest id) first. */
export interface BanPage {
  readonly bans: readonly Ban[];
  /** Pass as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}

/** What {@link BanService.rebuildMirror} wrote. */
export interface MirrorRebuild {
  readonly version: number;
  readonly addresses: number;
  readonly accounts: number;
}

/** The NATS connection as bans use it: publish the notice, then flush. */
export type BanBus = Pick<NatsConnection, "publish" | "flush">;

type BanRow = Selectable<BansTable>;

/** Advisory lock namespaces (first key): the global change/rebuild lock, and per-target locks. */
const GLOBAL_LOCK_NAMESPACE = 0xba40;
const TARGET_LOCK_NAMESPACE = 0xba45;
const ACCOUNT_ID = /^[1-9][0-9]{0,18}$/;
const REBUILD_CHUNK = 1_000;

function invalidBan(field: string, message: string, cause?: unknown): LobbyError {
  return new LobbyError(LobbyErrorCode.InvalidBan, message, { cause, context: { field } });
}

function toBan(row: BanRow): Ban {
  return Object.freeze({
    id: row.id,
    kind: row.kind,
    accountId: row.account_id,
    target: row.cidr,
    reason: row.reason,
    issuer: row.issuer,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    liftedAt: row.lifted_at,
    liftedBy: row.lifted_by,
  });
}

function checkText(field: string, value: unknown, max: number): string {
  if (typeof value !== "string" || value.trim() === "" || value.length > max) {
    throw invalidBan(field, `${field} must be 1 to ${max} characters`);
  }
  return value;
}

/** The mirror entry a ban row maps to. */
interface Target {
  readonly kind: BanKind;
  /** `cidr` text or account id. */
  readonly entry: string;
}

function targetOf(row: BanRow): Target {
  const entry = row.kind === BanKind.Account ? row.account_id : row.cidr;
  if (entry === null) throw new Error(`ban ${row.id} has no target`); // excluded by the bans_target check
  return { kind: row.kind, entry };
}

async function exec(multi: ChainableCommander): Promise<unknown[]> {
  const results = await multi.exec();
  if (results === null) throw new Error("redis transaction aborted");
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}

/**
 * The ban service (see the module doc). One per lobby process; several lobbies may share a database,
 * Redis prefix and NATS prefix.
 */
export class BanService {
  readonly #db: Kysely<Database>;
  readonly #redis: Redis;
  readonly #bus: BanBus;
  readonly #keys: BanKeys;
  readonly #subject: string;
  readonly #sessions: SessionService;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sweeping = false;

  /**
   * @param subjects the notice goes to `subjects.event("ban.changed")`.
   * @param redisPrefix prefix of the mirror keys ({@link banKeys}).
   * @param sessions revokes a banned account's sessions.
   */
  constructor(
    db: Kysely<Database>,
    redis: Redis,
    nats: BanBus,
    subjects: Subjects,
    redisPrefix: string,
    sessions: SessionService,
    options: BanServiceOptions = {},
  ) {
    if (options.now !== undefined && typeof options.now !== "function") {
      throw new LobbyError(
        LobbyErrorCode.InvalidOptions,
        "now must be a function returning ms since the epoch",
      );
    }
    this.#db = db;
    this.#redis = redis;
    this.#bus = nats;
    this.#keys = banKeys(redisPrefix);
    this.#subject = subjects.event(BAN_CHANGED_TOPIC);
    this.#sessions = sessions;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
  }

  /** The subject change notices are published on. */
  get noticeSubject(): string {
    return this.#subject;
  }

  /** The Redis keys of the mirror. */
  get keys(): BanKeys {
    return this.#keys;
  }

  /**
   * Bans an account, an IP or a CIDR range: Postgres, then the mirror and its version, then the
   * notice (flushed); for an account, then revokes its sessions.
   * @throws LobbyError `LOBBY_INVALID_BAN` for bad input (see {@link BanRequest}) or an unknown account.
   */
  async ban(request: BanRequest): Promise<Ban> {
    const values = this.#validate(request);
    let row: BanRow;
    try {
      row = await this.#db.transaction().execute(async (trx) => {
        await this.#lockShared(trx);
        await this.#lockTarget(trx, { kind: values.kind, entry: values.account_id ?? values.cidr ?? "" });
        const inserted = await trx.insertInto("bans").values(values).returningAll().executeTakeFirstOrThrow();
        await this.#syncTarget(trx, inserted, BanNoticeOp.Add);
        return inserted;
      });
    } catch (error) {
      if ((error as { code?: unknown }).code === "23503") {
        throw invalidBan("accountId", `no account ${request.accountId}`, error);
      }
      throw error;
    }
    await this.#bus.flush();
    if (row.kind === BanKind.Account && row.account_id !== null) {
      await this.#sessions.revokeAccount(row.account_id, "ban");
    }
    return toBan(row);
  }

  /**
   * Lifts a ban: `lifted_at`/`lifted_by` in Postgres, then the mirror (the target stays listed while
   * another live ban covers it), the version and a `lift` notice. Lifting an already lifted ban
   * changes no row but re-syncs and re-announces its target (a retry completes a failed lift).
   * @throws LobbyError `LOBBY_BAN_NOT_FOUND`, or `LOBBY_INVALID_BAN` for an empty issuer.
   */
  async lift(banId: string, issuer: string): Promise<Ban> {
    checkText("issuer", issuer, MAX_BAN_ISSUER_LENGTH);
    const { ban } = await this.#lift(banId, issuer, false);
    return ban;
  }

  /**
   * Lifts every unlifted ban whose `expires_at` ≤ now (the injected clock), everywhere: Postgres
   * (`lifted_by = 'expiry'`), the mirror, a notice each.
   * @returns how many bans this call lifted.
   */
  async expireDue(): Promise<number> {
    const due = await this.#db
      .selectFrom("bans")
      .select("id")
      .where("lifted_at", "is", null)
      .where("expires_at", "<=", new Date(this.#now()))
      .orderBy("expires_at")
      .execute();
    let lifted = 0;
    for (const { id } of due) {
      if ((await this.#lift(id, EXPIRY_ISSUER, true)).lifted) lifted++;
    }
    return lifted;
  }

  /**
   * Runs {@link BanService.expireDue} every `intervalMs` (an unref'd timer: it never keeps the process
   * alive; sweeps never overlap). Restarts the timer when already started. Failures are logged.
   * @throws LobbyError `LOBBY_INVALID_OPTIONS` for an interval below {@link MIN_EXPIRY_INTERVAL_MS}.
   */
  startExpiryTimer(intervalMs: number): void {
    if (!Number.isSafeInteger(intervalMs) || intervalMs < MIN_EXPIRY_INTERVAL_MS) {
      throw new LobbyError(
        LobbyErrorCode.InvalidOptions,
        `expiry interval must be an integer ≥ ${MIN_EXPIRY_INTERVAL_MS} ms, got ${intervalMs}`,
      );
    }
    this.stop();
    this.#timer = setInterval(() => {
      if (this.#sweeping) return;
      this.#sweeping = true;
      this.expireDue()
        .catch((error: unknown) => this.#logger?.error({ err: error }, "ban expiry sweep failed"))
        .finally(() => {
          this.#sweeping = false;
        });
    }, intervalMs);
    this.#timer.unref();
  }

  /** Stops the expiry timer (a sweep in flight finishes). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Rewrites the mirror from Postgres's live bans: built under temporary keys, then swapped in with
   * `RENAME` and the version bumped in one `MULTI`; then a `resync` notice. Run at start and by
   * operators.
   */
  async rebuildMirror(): Promise<MirrorRebuild> {
    const result = await this.#db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${GLOBAL_LOCK_NAMESPACE}, 0)`.execute(trx);
      const rows = await this.#liveBans(trx).selectAll().execute();
      const addresses = new Map<string, number>();
      const accounts = new Map<string, number>();
      for (const row of rows) {
        const { kind, entry } = targetOf(row);
        const map = kind === BanKind.Account ? accounts : addresses;
        map.set(entry, mergeExpiry(map.get(entry), row.expires_at));
      }
      const stamp = `${process.pid}:${this.#now()}:${Math.random().toString(36).slice(2)}`;
      const tmpAddresses = `${this.#keys.addresses}:tmp:${stamp}`;
      const tmpAccounts = `${this.#keys.accounts}:tmp:${stamp}`;
      try {
        await this.#fill(tmpAddresses, addresses);
        await this.#fill(tmpAccounts, accounts);
        const multi = this.#redis.multi();
        if (addresses.size > 0) multi.rename(tmpAddresses, this.#keys.addresses);
        else multi.del(this.#keys.addresses);
        if (accounts.size > 0) multi.rename(tmpAccounts, this.#keys.accounts);
        else multi.del(this.#keys.accounts);
        multi.incr(this.#keys.version);
        const out = await exec(multi);
        const version = Number(out[out.length - 1]);
        const notice: BanChangedNotice = { version, op: BanNoticeOp.Resync };
        this.#bus.publish(this.#subject, JSON.stringify(notice));
        return { version, addresses: addresses.size, accounts: accounts.size };
      } finally {
        await this.#redis.del(tmpAddresses, tmpAccounts);
      }
    });
    await this.#bus.flush();
    return Object.freeze(result);
  }

  /**
   * The mirror as a gateway loads it, read in one `MULTI` (version and entries agree); entries whose
   * expiry has passed on the injected clock are left out.
   */
  async snapshot(): Promise<BanSnapshot> {
    const [version, addresses, accounts] = await exec(
      this.#redis.multi().get(this.#keys.version).hgetall(this.#keys.addresses).hgetall(this.#keys.accounts),
    );
    const now = this.#now();
    const live = (hash: unknown) =>
      Object.entries(hash as Record<string, string>)
        .filter(([, expiry]) => expiry === "0" || Number(expiry) > now)
        .map(([entry]) => entry);
    return Object.freeze({
      version: Number(version ?? 0),
      addresses: Object.freeze(live(addresses)),
      accounts: Object.freeze(live(accounts)),
    });
  }

  /** Whether the account has a live ban, from the mirror (one Redis read). */
  async isAccountBanned(accountId: string): Promise<boolean> {
    const expiry = await this.#redis.hget(this.#keys.accounts, accountId);
    return expiry !== null && (expiry === "0" || Number(expiry) > this.#now());
  }

  /** The account's live ban that ends last (a permanent one first), from Postgres; null when none. */
  async banForAccount(accountId: string): Promise<AccountBan | null> {
    if (!ACCOUNT_ID.test(accountId)) return null;
    const row = await this.#liveBans(this.#db)
      .select(["id", "reason", "expires_at"])
      .where("kind", "=", BanKind.Account)
      .where("account_id", "=", accountId)
      .orderBy(sql`expires_at desc nulls first`)
      .limit(1)
      .executeTakeFirst();
    return row === undefined
      ? null
      : Object.freeze({ banId: row.id, reason: row.reason, expiresAt: row.expires_at });
  }

  /** The ban with this id, lifted or not; `undefined` when there is none (or the id is malformed). */
  async get(banId: string): Promise<Ban | undefined> {
    if (!isBigintId(banId)) return undefined;
    const row = await this.#db.selectFrom("bans").selectAll().where("id", "=", banId).executeTakeFirst();
    return row === undefined ? undefined : toBan(row);
  }

  /**
   * A page of bans from Postgres, newest first (by id; the cursor is the last id of the page, so bans
   * made while paging never shift a page). Read-only.
   * @throws LobbyError `LOBBY_INVALID_BAN` with `context.field` (`live`, `kind`, `accountId`, `target`,
   * `limit`, `cursor`) for a bad filter.
   */
  async list(query: BanListQuery = {}): Promise<BanPage> {
    const limit = query.limit ?? DEFAULT_BAN_LIST_LIMIT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_BAN_LIST_LIMIT) {
      throw invalidBan("limit", `limit must be an integer from 1 to ${MAX_BAN_LIST_LIMIT}`);
    }
    if (query.live !== undefined && typeof query.live !== "boolean") {
      throw invalidBan("live", "live must be a boolean");
    }
    if (query.kind !== undefined && !(Object.values(BanKind) as unknown[]).includes(query.kind)) {
      throw invalidBan("kind", `kind must be one of ${Object.values(BanKind).join(", ")}`);
    }
    if (query.accountId !== undefined && !isBigintId(query.accountId)) {
      throw invalidBan("accountId", "accountId must be a decimal account id");
    }
    if (query.cursor !== undefined && !isBigintId(query.cursor)) {
      throw invalidBan("cursor", "cursor must be a nextCursor of a previous page");
    }
    let target: string | undefined;
    if (query.target !== undefined) {
      const address = typeof query.target === "string" ? parseBanAddress(query.target.trim()) : undefined;
      if (address === undefined) throw invalidBan("target", "target must be an IP address or CIDR range");
      target = address.text;
    }
    let select = query.live === false ? this.#db.selectFrom("bans") : this.#liveBans(this.#db);
    if (query.kind !== undefined) select = select.where("kind", "=", query.kind);
    if (query.accountId !== undefined) select = select.where("account_id", "=", query.accountId);
    // `cidr` equality on the canonical value: Postgres compares the parsed networks, not the text.
    if (target !== undefined) select = select.where(sql<boolean>`${sql.ref("cidr")} = ${target}::cidr`);
    if (query.cursor !== undefined)
      select = select.where(sql<boolean>`${sql.ref("id")} < ${query.cursor}::int8`);
    const rows = await select
      .selectAll()
      .orderBy(sql`id desc`)
      .limit(limit + 1)
      .execute();
    const bans = rows.slice(0, limit).map(toBan);
    const last = bans[bans.length - 1];
    const nextCursor = rows.length > limit && last !== undefined ? last.id : null;
    return Object.freeze({ bans: Object.freeze(bans), nextCursor });
  }

  #validate(request: BanRequest): {
    kind: BanKind;
    account_id: string | null;
    cidr: string | null;
    reason: string;
    issuer: string;
    expires_at: Date | null;
  } {
    const reason = checkText("reason", request.reason, MAX_BAN_REASON_LENGTH);
    const issuer = checkText("issuer", request.issuer, MAX_BAN_ISSUER_LENGTH);
    let expiresAt: Date | null = null;
    if (request.expiresAt !== undefined) {
      if (!(request.expiresAt instanceof Date) || Number.isNaN(request.expiresAt.getTime())) {
        throw invalidBan("expiresAt", "expiresAt must be a valid Date");
      }
      if (request.expiresAt.getTime() <= this.#now())
        throw invalidBan("expiresAt", "expiresAt is not in the future");
      expiresAt = request.expiresAt;
    }
    const base = { reason, issuer, expires_at: expiresAt };
    switch (request.kind) {
      case BanKind.Account: {
        if (request.target !== undefined) throw invalidBan("target", "an account ban takes no address");
        if (typeof request.accountId !== "string" || !ACCOUNT_ID.test(request.accountId)) {
          throw invalidBan("accountId", "an account ban needs an account id");
        }
        return { ...base, kind: BanKind.Account, account_id: request.accountId, cidr: null };
      }
      case BanKind.Ip:
      case BanKind.Cidr: {
        if (request.accountId !== undefined) throw invalidBan("accountId", "an address ban takes no account");
        const address =
          typeof request.target === "string" ? parseBanAddress(request.target.trim()) : undefined;
        if (address === undefined)
          throw invalidBan("target", `not an IP address or CIDR range: ${request.target}`);
        if (request.kind === BanKind.Ip && !address.host) {
          throw invalidBan("target", `an ip ban takes one address, not a range: ${request.target}`);
        }
        return { ...base, kind: request.kind, account_id: null, cidr: address.text };
      }
      default:
        throw invalidBan("kind", `unknown ban kind: ${String((request as { kind: unknown }).kind)}`);
    }
  }

  async #lift(banId: string, issuer: string, onlyIfDue: boolean): Promise<{ ban: Ban; lifted: boolean }> {
    if (typeof banId !== "string" || !ACCOUNT_ID.test(banId)) throw notFound(banId);
    const existing = await this.#db.selectFrom("bans").selectAll().where("id", "=", banId).executeTakeFirst();
    if (existing === undefined) throw notFound(banId);
    const outcome = await this.#db.transaction().execute(async (trx) => {
      await this.#lockShared(trx);
      await this.#lockTarget(trx, targetOf(existing));
      const now = new Date(this.#now());
      let update = trx
        .updateTable("bans")
        .set({ lifted_at: now, lifted_by: issuer })
        .where("id", "=", banId)
        .where("lifted_at", "is", null);
      if (onlyIfDue) update = update.where("expires_at", "<=", now);
      const updated = await update.returningAll().executeTakeFirst();
      if (updated === undefined && onlyIfDue) return { row: existing, lifted: false };
      const row =
        updated ??
        (await trx.selectFrom("bans").selectAll().where("id", "=", banId).executeTakeFirstOrThrow());
      await this.#syncTarget(trx, row, BanNoticeOp.Lift);
      return { row, lifted: updated !== undefined };
    });
    await this.#bus.flush();
    return { ban: toBan(outcome.row), lifted: outcome.lifted };
  }

  /** Live bans: not lifted, not expired on the injected clock. */
  #liveBans(db: Kysely<Database> | Transaction<Database>) {
    const now = new Date(this.#now());
    return db
      .selectFrom("bans")
      .where("lifted_at", "is", null)
      .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]));
  }

  /** Recomputes the mirror entry of `row`'s target from its live bans, bumps the version, publishes. */
  async #syncTarget(trx: Transaction<Database>, row: BanRow, op: BanNoticeOp): Promise<void> {
    const target = targetOf(row);
    const account = target.kind === BanKind.Account;
    const live = await this.#liveBans(trx)
      .select("expires_at")
      .where(account ? "account_id" : "cidr", "=", target.entry)
      .execute();
    let expiry: number | undefined;
    for (const ban of live) expiry = mergeExpiry(expiry, ban.expires_at);
    const key = account ? this.#keys.accounts : this.#keys.addresses;
    const multi = this.#redis.multi();
    if (expiry === undefined) multi.hdel(key, target.entry);
    else multi.hset(key, target.entry, String(expiry));
    multi.incr(this.#keys.version);
    const out = await exec(multi);
    const notice: BanChangedNotice = {
      version: Number(out[1]),
      op,
      banId: row.id,
      kind: row.kind,
      ...(account ? { accountId: target.entry } : { target: target.entry }),
      expiresAt: expiry === undefined || expiry === 0 ? null : expiry,
      listed: expiry !== undefined,
    };
    this.#bus.publish(this.#subject, JSON.stringify(notice));
  }

  async #fill(key: string, entries: ReadonlyMap<string, number>): Promise<void> {
    await this.#redis.del(key);
    const all = [...entries];
    for (let i = 0; i < all.length; i += REBUILD_CHUNK) {
      const chunk = all.slice(i, i + REBUILD_CHUNK).flatMap(([entry, expiry]) => [entry, String(expiry)]);
      await this.#redis.hset(key, ...chunk);
    }
  }

  async #lockShared(trx: Transaction<Database>): Promise<void> {
    await sql`select pg_advisory_xact_lock_shared(${GLOBAL_LOCK_NAMESPACE}, 0)`.execute(trx);
  }

  async #lockTarget(trx: Transaction<Database>, target: Target): Promise<void> {
    const key = `${target.kind === BanKind.Account ? "account" : "addr"}:${target.entry}`;
    await sql`select pg_advisory_xact_lock(${TARGET_LOCK_NAMESPACE}, hashtext(${key}))`.execute(trx);
  }
}

const MAX_INT8 = 2n ** 63n - 1n;

/** Whether `value` is a positive `bigint` id Postgres can hold, in decimal. */
function isBigintId(value: unknown): value is string {
  return typeof value === "string" && ACCOUNT_ID.test(value) && BigInt(value) <= MAX_INT8;
}

function notFound(banId: unknown): LobbyError {
  return new LobbyError(LobbyErrorCode.BanNotFound, `no ban ${String(banId)}`, { context: { banId } });
}

/** Combines mirror expiries: `0` (permanent) wins, otherwise the latest. */
function mergeExpiry(current: number | undefined, expiresAt: Date | null): number {
  const next = expiresAt === null ? 0 : expiresAt.getTime();
  if (current === undefined) return next;
  if (current === 0 || next === 0) return 0;
  return Math.max(current, next);
}
