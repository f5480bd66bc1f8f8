/**
 * The server registry behind the server browser. An operator issues a game server a credential; the
 * server advertises itself with it and heartbeats; players list the servers that heartbeat.
 *
 * - **Credentials** are 256-bit opaque tokens (the session token helpers: 32 CSPRNG bytes, base64url),
 *   stored only as SHA-256 in `servers.credential_hash`. One credential per row, one row per server.
 * - **Listed** means: advertised, not revoked, and a heartbeat (or advertisement) less than
 *   `heartbeatTimeoutMs` ago on the injected clock. Nothing needs to run for a silent server to drop
 *   out of the list, and its next heartbeat brings it back.
 * - **Revocation** is final: `revoke` sets `revoked_at`, the listing filters it out in the same
 *   statement that lists, and every later `advertise`/`heartbeat` with that credential fails with
 *   `LOBBY_SERVER_REVOKED`. The write paths re-check `revoked_at is null` in their `UPDATE … WHERE`,
 *   so an advertisement racing a revocation cannot win (Postgres re-evaluates the predicate on the
 *   row the revocation updated). Revoked rows are kept as tombstones.
 * - **Pruning** (`pruneStale`) clears the advertisement of servers silent for `pruneAfterMs` (default
 *   10 × the timeout): the row and its credential stay, the server is unlisted until it advertises
 *   again, and a heartbeat before that gets `LOBBY_SERVER_NOT_ADVERTISED` (the server's cue to
 *   re-advertise). Listing does not depend on it; it keeps stale rows out of the listing index.
 */
import type { Kysely, Selectable } from "kysely";
import { sql } from "kysely";
import type { Database, ServersTable } from "../db/database.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";
import { generateToken, hashToken, isWellFormedToken } from "../sessions/session-tokens.js";
import { decodeCursor, encodeCursor, isServerId } from "./server-cursor.js";
import {
  checkAdvertisement,
  checkIdentifier,
  checkInteger,
  checkServerName,
  checkVersion,
  invalidServer,
  MAX_SERVER_CAPACITY,
  MAX_TAG_LENGTH,
  type ServerAdvertisement,
} from "./server-fields.js";

/** Default {@link ServerRegistryOptions.heartbeatTimeoutMs}: 15 s, three missed 5 s heartbeats. */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 15_000;
/** Default {@link ServerRegistryOptions.pruneAfterMs}, as a multiple of the heartbeat timeout. */
export const DEFAULT_PRUNE_FACTOR = 10;
/** Default page size of {@link ServerRegistry.list}. */
export const DEFAULT_LIST_LIMIT = 50;
/** Largest page size of {@link ServerRegistry.list}. */
export const MAX_LIST_LIMIT = 200;
/** Longest revocation `reason`, in characters. */
export const MAX_REVOKE_REASON_LENGTH = 500;
const MAX_TIMEOUT_MS = 86_400_000;

/** Options of {@link ServerRegistry}; validated at construction (`LOBBY_INVALID_OPTIONS`). */
export interface ServerRegistryOptions {
  /** A server is listed while its last heartbeat is less than this old, ms (1 to 1 day). Default 15000. */
  readonly heartbeatTimeoutMs?: number;
  /** `pruneStale` clears advertisements silent this long, ms (at least the timeout). Default 10 × timeout. */
  readonly pruneAfterMs?: number;
  /** The clock, ms since the epoch (tests inject it). Default `Date.now`. */
  readonly now?: () => number;
}

/** What an operator gives to register a server. */
export interface ServerRegistration {
  /** Shown in the browser: 1–64 characters (trimmed), no control characters. */
  readonly name: string;
  /** The world it serves: 1–32 characters of `[a-z0-9_-]`. */
  readonly world: string;
}

/** A newly issued credential: hand `credential` to the game server; the lobby keeps only its hash. */
export interface IssuedCredential {
  /** `servers.id`, decimal string. */
  readonly serverId: string;
  /** 43 base64url characters (256 bits). Shown once; it cannot be recovered, only revoked. */
  readonly credential: string;
}

/** One server as the browser shows it. */
export interface ServerEntry {
  /** `servers.id`, decimal string. */
  readonly id: string;
  readonly name: string;
  readonly world: string;
  readonly address: string;
  readonly port: number;
  readonly capacity: number;
  readonly players: number;
  readonly version: string;
  readonly tags: readonly string[];
  readonly lastHeartbeatAt: Date;
}

/** A heartbeat: the server's current player count (0 to its advertised capacity). */
export interface ServerHeartbeat {
  readonly players: number;
}

/** Filters (combined with AND) and paging of {@link ServerRegistry.list}. */
export interface ServerListQuery {
  /** Only servers of this world. */
  readonly world?: string;
  /** Only servers with this tag. */
  readonly tag?: string;
  /** `true`: only servers with a free slot (`players < capacity`). `false` or absent: no filter. */
  readonly hasRoom?: boolean;
  /** Only servers whose version starts with this (case-sensitive, 1–32 printable characters). */
  readonly versionPrefix?: string;
  /** Page size, 1–200. Default 50. */
  readonly limit?: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** A page of servers: players descending, then id ascending. */
export interface ServerPage {
  readonly servers: readonly ServerEntry[];
  /** Pass as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}

/** A revocation. */
export interface ServerRevocation {
  readonly serverId: string;
  readonly revokedAt: Date;
  readonly reason: string;
}

type ServerRow = Selectable<ServersTable>;

function toEntry(row: ServerRow): ServerEntry {
  // The 0004 checks make every advertised column non-null once the server has a heartbeat.
  if (row.address === null || row.port === null || row.capacity === null || row.version === null) {
    throw new Error(`server ${row.id} has no advertisement`);
  }
  return Object.freeze({
    id: row.id,
    name: row.name,
    world: row.world,
    address: row.address,
    port: row.port,
    capacity: row.capacity,
    players: row.players,
    version: row.version,
    tags: Object.freeze([...row.tags]),
    lastHeartbeatAt: row.last_heartbeat_at ?? new Date(0),
  });
}

function checkOptions(options: ServerRegistryOptions): Required<ServerRegistryOptions> {
  const problems: string[] = [];
  const timeout = options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_TIMEOUT_MS) {
    problems.push(`heartbeatTimeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS}`);
  }
  const pruneAfter = options.pruneAfterMs ?? timeout * DEFAULT_PRUNE_FACTOR;
  if (!Number.isInteger(pruneAfter) || pruneAfter < timeout) {
    problems.push("pruneAfterMs must be an integer of at least heartbeatTimeoutMs");
  }
  if (options.now !== undefined && typeof options.now !== "function") problems.push("now must be a function");
  if (problems.length > 0) {
    throw new LobbyError(
      LobbyErrorCode.InvalidOptions,
      `invalid server registry options: ${problems.join("; ")}`,
      {
        context: { problems },
      },
    );
  }
  return Object.freeze({
    heartbeatTimeoutMs: timeout,
    pruneAfterMs: pruneAfter,
    now: options.now ?? Date.now,
  });
}

/** The server registry on Postgres (`servers`). See the module doc for the lifecycle. */
export class ServerRegistry {
  readonly #db: Kysely<Database>;
  readonly #options: Required<ServerRegistryOptions>;

  constructor(db: Kysely<Database>, options: ServerRegistryOptions = {}) {
    this.#db = db;
    this.#options = checkOptions(options);
  }

  /** The effective heartbeat timeout, ms. */
  get heartbeatTimeoutMs(): number {
    return this.#options.heartbeatTimeoutMs;
  }

  /** Operator: registers a server and issues its credential. The server is unlisted until it advertises. */
  async issueCredential(registration: ServerRegistration): Promise<IssuedCredential> {
    const name = checkServerName(registration?.name);
    const world = checkIdentifier("world", registration?.world);
    const credential = generateToken();
    const row = await this.#db
      .insertInto("servers")
      .values({ name, world, credential_hash: hashToken(credential), created_at: this.#now() })
      .returning("id")
      .executeTakeFirstOrThrow();
    return Object.freeze({ serverId: row.id, credential });
  }

  /**
   * Game server: records its advertisement and counts as a heartbeat. May be repeated (a restart, a
   * new address). `LOBBY_SERVER_UNKNOWN`, `LOBBY_SERVER_REVOKED` or `LOBBY_INVALID_SERVER`.
   */
  async advertise(credential: string, advertisement: ServerAdvertisement): Promise<ServerEntry> {
    const hash = this.#credentialHash(credential);
    const ad = checkAdvertisement(advertisement);
    const row = await this.#db
      .updateTable("servers")
      .set({
        address: ad.address,
        port: ad.port,
        capacity: ad.capacity,
        players: ad.players,
        version: ad.version,
        tags: [...ad.tags],
        last_heartbeat_at: this.#now(),
      })
      .where("credential_hash", "=", hash)
      .where("revoked_at", "is", null)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw await this.#refusal(hash);
    return toEntry(row);
  }

  /**
   * Game server: refreshes its heartbeat and player count (0 to the advertised capacity).
   * `LOBBY_SERVER_UNKNOWN`, `LOBBY_SERVER_REVOKED`, `LOBBY_SERVER_NOT_ADVERTISED` (advertise again)
   * or `LOBBY_INVALID_SERVER` (`players`).
   */
  async heartbeat(credential: string, heartbeat: ServerHeartbeat): Promise<ServerEntry> {
    const hash = this.#credentialHash(credential);
    const players = checkInteger("players", heartbeat?.players, 0, MAX_SERVER_CAPACITY);
    const row = await this.#db
      .updateTable("servers")
      .set({ players, last_heartbeat_at: this.#now() })
      .where("credential_hash", "=", hash)
      .where("revoked_at", "is", null)
      .where("address", "is not", null)
      .where("capacity", ">=", players)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw await this.#refusal(hash);
    return toEntry(row);
  }

  /**
   * Who holds this credential: the server's id, for requests that act as a server (stats reports).
   * `LOBBY_SERVER_UNKNOWN` for a credential the lobby did not issue, `LOBBY_SERVER_REVOKED` for a
   * revoked one. One indexed read; no advertisement needed.
   */
  async authenticate(credential: string): Promise<string> {
    return (await this.verify(credential)).serverId;
  }

  /**
   * {@link authenticate}, with the server's registered name and world (the authority admits zone
   * servers to their world by it). Same errors.
   */
  async verify(credential: string): Promise<{ serverId: string; name: string; world: string }> {
    const hash = this.#credentialHash(credential);
    const row = await this.#db
      .selectFrom("servers")
      .select(["id", "name", "world", "revoked_at"])
      .where("credential_hash", "=", hash)
      .executeTakeFirst();
    if (row === undefined) throw unknownServer();
    if (row.revoked_at !== null) {
      throw new LobbyError(LobbyErrorCode.ServerRevoked, "this server's credential was revoked", {
        context: { serverId: row.id },
      });
    }
    return { serverId: row.id, name: row.name, world: row.world };
  }

  /**
   * Operator: revokes a server's credential for good; it leaves the list at once. Revoking a revoked
   * server changes nothing and returns the first revocation. `LOBBY_SERVER_UNKNOWN` for an unknown id,
   * `LOBBY_INVALID_SERVER` (`reason`: 1–500 characters) otherwise.
   */
  async revoke(serverId: string, reason: string): Promise<ServerRevocation> {
    const why = typeof reason === "string" ? reason.trim() : "";
    if (why.length === 0 || why.length > MAX_REVOKE_REASON_LENGTH) {
      throw invalidServer("reason", `reason must be 1–${MAX_REVOKE_REASON_LENGTH} characters`);
    }
    if (!isServerId(serverId)) throw unknownServer();
    await this.#db
      .updateTable("servers")
      .set({ revoked_at: this.#now(), revoked_reason: why })
      .where("id", "=", serverId)
      .where("revoked_at", "is", null)
      .execute();
    const row = await this.#db
      .selectFrom("servers")
      .select(["revoked_at", "revoked_reason"])
      .where("id", "=", serverId)
      .executeTakeFirst();
    if (row?.revoked_at == null) throw unknownServer();
    return Object.freeze({ serverId, revokedAt: row.revoked_at, reason: row.revoked_reason ?? why });
  }

  /**
   * Players: one page of listed servers, players descending then id ascending. `LOBBY_INVALID_SERVER`
   * for a bad filter or limit, `LOBBY_INVALID_CURSOR` for a bad cursor. Player counts move between
   * pages, so a server whose count changes while a client pages may be shown twice or skipped: the
   * price of a live sort order without snapshots.
   */
  async list(query: ServerListQuery = {}): Promise<ServerPage> {
    const limit =
      query.limit === undefined ? DEFAULT_LIST_LIMIT : checkInteger("limit", query.limit, 1, MAX_LIST_LIMIT);
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    if (query.hasRoom !== undefined && typeof query.hasRoom !== "boolean") {
      throw invalidServer("hasRoom", "hasRoom must be a boolean");
    }
    const world = query.world === undefined ? undefined : checkIdentifier("world", query.world);
    const tag = query.tag === undefined ? undefined : checkIdentifier("tag", query.tag, MAX_TAG_LENGTH);
    const prefix =
      query.versionPrefix === undefined ? undefined : checkVersion("versionPrefix", query.versionPrefix);

    let select = this.#db
      .selectFrom("servers")
      .selectAll()
      .where("revoked_at", "is", null)
      .where("last_heartbeat_at", ">", new Date(this.#options.now() - this.#options.heartbeatTimeoutMs));
    if (world !== undefined) select = select.where("world", "=", world);
    if (tag !== undefined) select = select.where(sql<boolean>`${sql.ref("tags")} @> array[${tag}]::text[]`);
    if (query.hasRoom === true)
      select = select.where(sql<boolean>`${sql.ref("players")} < ${sql.ref("capacity")}`);
    if (prefix !== undefined)
      select = select.where(sql<boolean>`starts_with(${sql.ref("version")}, ${prefix})`);
    if (after !== undefined) {
      select = select.where((eb) =>
        eb.or([
          eb("players", "<", after.players),
          eb.and([eb("players", "=", after.players), eb("id", ">", after.id)]),
        ]),
      );
    }
    const rows = await select
      .orderBy("players", "desc")
      .orderBy("id", "asc")
      .limit(limit + 1)
      .execute();
    const servers = rows.slice(0, limit).map(toEntry);
    const last = servers[servers.length - 1];
    const nextCursor =
      rows.length > limit && last !== undefined ? encodeCursor({ players: last.players, id: last.id }) : null;
    return Object.freeze({ servers: Object.freeze(servers), nextCursor });
  }

  /**
   * Housekeeping: clears the advertisement of every unrevoked server silent for `pruneAfterMs`; returns
   * how many. Their credentials stay valid: each must advertise again to be listed.
   */
  async pruneStale(): Promise<number> {
    const rows = await this.#db
      .updateTable("servers")
      .set({
        address: null,
        port: null,
        capacity: null,
        version: null,
        players: 0,
        tags: [],
        last_heartbeat_at: null,
      })
      .where("revoked_at", "is", null)
      .where("last_heartbeat_at", "<=", new Date(this.#options.now() - this.#options.pruneAfterMs))
      .returning("id")
      .execute();
    return rows.length;
  }

  #now(): Date {
    return new Date(this.#options.now());
  }

  /** Malformed credentials never reach Postgres: they cannot be one the lobby issued. */
  #credentialHash(credential: string): string {
    if (!isWellFormedToken(credential)) throw unknownServer();
    return hashToken(credential);
  }

  /** Why a write by credential matched no row (for a heartbeat, the last case is players > capacity). */
  async #refusal(hash: string): Promise<LobbyError> {
    const row = await this.#db
      .selectFrom("servers")
      .select(["id", "revoked_at", "address"])
      .where("credential_hash", "=", hash)
      .executeTakeFirst();
    if (row === undefined) return unknownServer();
    if (row.revoked_at !== null) {
      return new LobbyError(LobbyErrorCode.ServerRevoked, "this server's credential was revoked", {
        context: { serverId: row.id },
      });
    }
    if (row.address === null) {
      return new LobbyError(LobbyErrorCode.ServerNotAdvertised, "the server must advertise again", {
        context: { serverId: row.id },
      });
    }
    return invalidServer("players", "players must not exceed the advertised capacity");
  }
}

function unknownServer(): LobbyError {
  return new LobbyError(LobbyErrorCode.ServerUnknown, "unknown server");
}
