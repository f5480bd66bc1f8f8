/**
 * The admin API's routes over the lobby's services (docs/admin-api.md is the reference). Handlers
 * validate what the services do not (path ids, query strings, body shapes), call one service each,
 * and answer JSON: ids are decimal strings, times ISO-8601 strings.
 *
 * @module
 */
import type { Account } from "../accounts/index.js";
import type { Ban } from "../bans/index.js";
import type { BanKind } from "../db/database.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";
import type { Lobby } from "../lobby.js";
import type { PlayerLocation } from "../locator/index.js";
import type { ServerEntry } from "../registry/index.js";
import { RevocationReason } from "../sessions/index.js";
import { HttpStatus } from "./admin-http-errors.js";
import {
  bodyObject,
  checkQuery,
  invalid,
  isDecimalId,
  isoDate,
  optionalString,
  queryBoolean,
  queryInt,
  queryString,
  requiredString,
} from "./admin-inputs.js";
import { AdminRouter } from "./admin-router.js";

/** `issuer` of bans made or lifted through the API when the request names none. */
export const DEFAULT_ADMIN_ISSUER = "admin";
/** Longest `reason` of a session revocation (logged, not stored). */
export const MAX_REVOKE_SESSIONS_REASON_LENGTH = 500;

/** An account as the API shows it. */
export interface AdminAccount {
  readonly id: string;
  readonly username: string;
  readonly email: string | null;
  readonly createdAt: Date;
  readonly lastLoginAt: Date | null;
  /** The live ban that ends last (a permanent one first); null when the account is not banned. */
  readonly banned: Ban | null;
}

/** Called with what each mutating route did, for the audit log. */
export type AdminAudit = (action: string, details: Record<string, unknown>) => void;

function unknownAccount(accountId: string): LobbyError {
  return new LobbyError(LobbyErrorCode.PlayerUnknown, "no such account", {
    context: { accountId: accountId.slice(0, 32) },
  });
}

function accountIdParam(raw: string | undefined): string {
  const id = raw ?? "";
  if (!isDecimalId(id)) throw unknownAccount(id);
  return id;
}

/** The admin API's routes, bound to `lobby`. */
export function adminRoutes(lobby: Lobby, audit: AdminAudit): AdminRouter {
  const s = lobby.services;

  const accountView = async (account: Account): Promise<AdminAccount> => {
    const live = await s.bans.banForAccount(account.id);
    const banned = live === null ? null : ((await s.bans.get(live.banId)) ?? null);
    return {
      id: account.id,
      username: account.username,
      email: account.email,
      createdAt: account.createdAt,
      lastLoginAt: account.lastLoginAt,
      banned,
    };
  };

  /** By id: the display name, then the row by its normalised name (the store looks up by name only). */
  const accountById = async (accountId: string): Promise<Account> => {
    const username = await s.accounts.usernameOf(accountId);
    const account = await s.accountStore.findByUsername(username);
    if (account === undefined || account.id !== accountId) {
      throw new Error(`account ${accountId}: its display name does not lead back to it`);
    }
    return account;
  };

  return new AdminRouter()
    .add("GET", "/admin/accounts", async ({ query }) => {
      checkQuery(query, ["username"]);
      const username = queryString(query, "username");
      if (username === undefined) {
        throw invalid(LobbyErrorCode.BadRequest, "username", "username is required");
      }
      let account: Account | undefined;
      try {
        account = await s.accountStore.findByUsername(username);
      } catch (error) {
        if (error instanceof LobbyError && error.code === LobbyErrorCode.InvalidUsername) {
          throw new LobbyError(error.code, error.message, { cause: error, context: { field: "username" } });
        }
        throw error;
      }
      if (account === undefined) throw new LobbyError(LobbyErrorCode.PlayerUnknown, "no such account");
      return { body: await accountView(account) };
    })
    .add("GET", "/admin/accounts/:id", async ({ params, query }) => {
      checkQuery(query, []);
      return { body: await accountView(await accountById(accountIdParam(params.id))) };
    })
    .add(
      "POST",
      "/admin/accounts/:id/revoke-sessions",
      async ({ params, query, body }) => {
        checkQuery(query, []);
        const input = bodyObject(body, ["reason"]);
        const reason = optionalString(input, "reason", LobbyErrorCode.BadRequest);
        if (reason !== undefined && reason.length > MAX_REVOKE_SESSIONS_REASON_LENGTH) {
          throw invalid(
            LobbyErrorCode.BadRequest,
            "reason",
            `reason must be at most ${MAX_REVOKE_SESSIONS_REASON_LENGTH} characters`,
          );
        }
        const accountId = accountIdParam(params.id);
        await s.accounts.usernameOf(accountId); // 404 for an unknown account, not an empty success
        const result = await s.sessions.revokeAccount(accountId, RevocationReason.Admin);
        audit("revoke-sessions", { accountId, reason, revoked: result.chainIds.length });
        return { body: { accountId, revoked: [...result.chainIds] } };
      },
      true,
    )
    .add("GET", "/admin/accounts/:id/location", async ({ params, query }) => {
      checkQuery(query, []);
      return { body: locationView(await s.locatorService.locate({ accountId: accountIdParam(params.id) })) };
    })
    .add("GET", "/admin/accounts/:id/stats", async ({ params, query }) => {
      checkQuery(query, []);
      const accountId = accountIdParam(params.id);
      return { body: { accountId, stats: await s.statsService.get(accountId) } };
    })
    .add("GET", "/admin/leaderboard/:stat", async ({ params, query }) => {
      checkQuery(query, ["limit", "offset"]);
      const stat = params.stat ?? "";
      const limit = queryInt(query, "limit", LobbyErrorCode.InvalidStat);
      const offset = queryInt(query, "offset", LobbyErrorCode.InvalidStat);
      const rows = await s.statsService.leaderboard(stat, {
        ...(limit === undefined ? {} : { limit }),
        ...(offset === undefined ? {} : { offset }),
      });
      return { body: { stat, rows } };
    })
    .add("GET", "/admin/bans", async ({ query }) => {
      checkQuery(query, ["live", "kind", "accountId", "target", "limit", "cursor"]);
      const live = queryBoolean(query, "live", LobbyErrorCode.InvalidBan);
      const kind = queryString(query, "kind");
      const accountId = queryString(query, "accountId");
      const target = queryString(query, "target");
      const limit = queryInt(query, "limit", LobbyErrorCode.InvalidBan);
      const cursor = queryString(query, "cursor");
      const page = await s.bans.list({
        ...(live === undefined ? {} : { live }),
        ...(kind === undefined ? {} : { kind: kind as BanKind }),
        ...(accountId === undefined ? {} : { accountId }),
        ...(target === undefined ? {} : { target }),
        ...(limit === undefined ? {} : { limit }),
        ...(cursor === undefined ? {} : { cursor }),
      });
      return { body: { bans: page.bans, nextCursor: page.nextCursor } };
    })
    .add(
      "POST",
      "/admin/bans",
      async ({ query, body }) => {
        checkQuery(query, []);
        const input = bodyObject(body, ["kind", "accountId", "target", "reason", "issuer", "expiresAt"]);
        const code = LobbyErrorCode.InvalidBan;
        const kind = requiredString(input, "kind", code);
        const accountId = optionalString(input, "accountId", code);
        const target = optionalString(input, "target", code);
        const reason = requiredString(input, "reason", code);
        const issuer = optionalString(input, "issuer", code) ?? DEFAULT_ADMIN_ISSUER;
        const expiresAt = optionalString(input, "expiresAt", code);
        const ban = await s.bans.ban({
          kind: kind as BanKind,
          reason,
          issuer,
          ...(accountId === undefined ? {} : { accountId }),
          ...(target === undefined ? {} : { target }),
          ...(expiresAt === undefined ? {} : { expiresAt: isoDate(expiresAt, "expiresAt", code) }),
        });
        audit("ban", { banId: ban.id, kind: ban.kind, accountId: ban.accountId, target: ban.target, issuer });
        return { status: HttpStatus.Created, body: ban };
      },
      true,
    )
    .add("GET", "/admin/bans/:id", async ({ params, query }) => {
      checkQuery(query, []);
      const banId = params.id ?? "";
      const ban = await s.bans.get(banId);
      if (ban === undefined) {
        throw new LobbyError(LobbyErrorCode.BanNotFound, "no such ban", {
          context: { banId: banId.slice(0, 32) },
        });
      }
      return { body: ban };
    })
    .add("DELETE", "/admin/bans/:id", async ({ params, query }) => {
      checkQuery(query, ["issuer"]);
      const banId = params.id ?? "";
      if (!isDecimalId(banId)) {
        throw new LobbyError(LobbyErrorCode.BanNotFound, "no such ban", {
          context: { banId: banId.slice(0, 32) },
        });
      }
      const issuer = queryString(query, "issuer") ?? DEFAULT_ADMIN_ISSUER;
      const ban = await s.bans.lift(banId, issuer);
      audit("unban", { banId, issuer });
      return { body: ban };
    })
    .add("GET", "/admin/servers", async ({ query }) => {
      checkQuery(query, ["world", "tag", "hasRoom", "versionPrefix", "limit", "cursor"]);
      const world = queryString(query, "world");
      const tag = queryString(query, "tag");
      const hasRoom = queryBoolean(query, "hasRoom", LobbyErrorCode.InvalidServer);
      const versionPrefix = queryString(query, "versionPrefix");
      const limit = queryInt(query, "limit", LobbyErrorCode.InvalidServer);
      const cursor = queryString(query, "cursor");
      const page = await s.registry.list({
        ...(world === undefined ? {} : { world }),
        ...(tag === undefined ? {} : { tag }),
        ...(hasRoom === undefined ? {} : { hasRoom }),
        ...(versionPrefix === undefined ? {} : { versionPrefix }),
        ...(limit === undefined ? {} : { limit }),
        ...(cursor === undefined ? {} : { cursor }),
      });
      return { body: { servers: page.servers.map(serverView), nextCursor: page.nextCursor } };
    })
    .add(
      "POST",
      "/admin/servers",
      async ({ query, body }) => {
        checkQuery(query, []);
        const input = bodyObject(body, ["name", "world"]);
        const name = requiredString(input, "name", LobbyErrorCode.InvalidServer);
        const world = requiredString(input, "world", LobbyErrorCode.InvalidServer);
        const issued = await s.registry.issueCredential({ name, world });
        audit("server-issue", { serverId: issued.serverId, name, world });
        return {
          status: HttpStatus.Created,
          body: { serverId: issued.serverId, credential: issued.credential },
        };
      },
      true,
    )
    .add(
      "POST",
      "/admin/servers/:id/revoke",
      async ({ params, query, body }) => {
        checkQuery(query, []);
        const input = bodyObject(body, ["reason"]);
        const reason = requiredString(input, "reason", LobbyErrorCode.InvalidServer);
        const serverId = params.id ?? "";
        if (!isDecimalId(serverId)) throw new LobbyError(LobbyErrorCode.ServerUnknown, "unknown server");
        const revocation = await s.registry.revoke(serverId, reason);
        audit("server-revoke", { serverId, reason: revocation.reason });
        return { body: revocation };
      },
      true,
    );
}

function serverView(entry: ServerEntry) {
  return { ...entry, tags: [...entry.tags] };
}

function locationView(where: PlayerLocation) {
  if (!where.online) return { online: false, accountId: where.accountId, username: where.username };
  return {
    online: true,
    accountId: where.accountId,
    username: where.username,
    world: where.world,
    zone: where.zone,
    server: where.server,
    gateway: where.gateway,
    since: new Date(where.since).toISOString(),
    updatedAt: new Date(where.updatedAt).toISOString(),
  };
}
