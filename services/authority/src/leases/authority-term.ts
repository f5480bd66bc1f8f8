/**
 * One leadership term of the authority: everything the leader does, from the moment it takes the
 * leader key to the moment it loses or gives it up (then the whole object is dropped; the next term
 * starts from Redis).
 *
 * - **Registration** (`svc.authority.zone_register`, queue group `authority`): the credential is
 *   checked with the lobby (`server_verify`); its registry world must be this world.
 * - **Leases**: a server holds its cells while it heartbeats (`svc.authority.zone_heartbeat`); each
 *   answer lists its leases, valid `leaseMs` from that heartbeat. A server not heard from for
 *   `leaseMs` loses its cells (the sweep runs every quarter heartbeat period), and its later
 *   heartbeats get `WORLD_ZONE_UNKNOWN`.
 * - **Assignment** (`assignment.ts`): cells without a live owner go to the least loaded live server;
 *   a server that registers gets its share by rebalancing. Every change of owner raises the cell's
 *   epoch in Redis, atomically with the owner (`world-store.ts`), fenced by the leader token.
 * - **The world map** (`evt.world.<world>.map`) on every change and every heartbeat period.
 * - **Quarantine**: a credential the lobby now says is revoked or unknown (checked for every server
 *   every `verifyMs`), or an impossible report (more players than twice the capacity, a heartbeat
 *   naming another world): the server's leases are withdrawn at once, its cells reassigned, and it
 *   may not register again for `quarantineMs`.
 * - **Placement** (`svc.world.attach`, queue group `world`): `placement.ts`.
 *
 * **Taking over.** A new term starts from Redis: the cell epochs and the owners of the last
 * committed map. No server is registered with it yet, so each cell that had an owner is *pinned* to
 * that owner for one lease period: the map keeps showing it (gateways and zone servers go on
 * routing, attach goes on installing), and when the owner re-registers — which it does on its first
 * heartbeat to the new leader (`WORLD_ZONE_UNKNOWN`) — it keeps the cell **with the same epoch**, so
 * its players are not disturbed. This is safe: the epoch changes only with the owner, and the
 * committed owner is exactly who held that epoch. Pinned cells whose owner has not come back when
 * the period ends are reassigned (raised epochs) like the cells of any dead server.
 *
 * @module
 */
import {
  AUTHORITY_SERVICE,
  authorityReplyCodec,
  authorityRequestCodec,
  authoritySubject,
  type Subjects,
  WORLD_QUEUE_GROUP,
  type WorldError,
  type WorldMap,
  worldMapCodec,
  worldMapSubject,
  worldReplyCodec,
  worldRequestCodec,
  worldSubject,
  type ZoneHeartbeat,
  type ZoneLeases,
  type ZoneRegister,
  type ZoneRegistered,
} from "@meridian/protocol";
import { allCells, type WorldConfig } from "@meridian/world";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { Placement } from "../attach/placement.js";
import { AuthorityError, AuthorityErrorCode, WorldCode } from "../errors.js";
import type { LeaderTerm } from "../leadership/leader-election.js";
import type { CredentialVerifier, Verdict } from "../lobby/credential-verifier.js";
import { planAssignment } from "./assignment.js";
import type { QuarantineList } from "./quarantine.js";
import type { OwnerChange, WorldStore } from "./world-store.js";

/** The queue group of `svc.authority.*` responders. */
export const AUTHORITY_QUEUE_GROUP = AUTHORITY_SERVICE;

/** What a term needs to know. */
export interface TermSettings {
  readonly world: WorldConfig;
  readonly redisPrefix: string;
  readonly subjects: Subjects;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly verifyMs: number;
  readonly quarantineMs: number;
  readonly attachTimeoutMs: number;
  readonly spawn: { readonly x: number; readonly y: number };
}

export interface TermDeps {
  readonly nc: NatsConnection;
  readonly redis: Redis;
  readonly store: WorldStore;
  readonly verifier: CredentialVerifier;
  readonly quarantine: QuarantineList;
  readonly logger: Logger;
  /** Called once when a fenced write shows the leader key is no longer ours. */
  readonly onFenced: () => void;
}

/** A registered zone server. */
interface ZoneServer {
  readonly id: string;
  readonly lobbyServerId: string;
  readonly credential: string;
  readonly capacity: number;
  players: number;
  tickP99Ms: number | undefined;
  lastHeartbeatAt: number;
}

/** A cell as the leader knows it. */
interface CellState {
  readonly server: string | null;
  readonly epoch: number;
}

/** A snapshot of the term, for logs and tests. */
export interface TermStats {
  /** Subscribed and serving (after the term's state was loaded from Redis). */
  readonly serving: boolean;
  readonly leaderEpoch: number;
  readonly version: number;
  readonly servers: readonly string[];
  readonly pinned: number;
  readonly cells: Readonly<Record<string, CellState>>;
}

type AuthorityAnswer = ZoneRegistered | ZoneLeases | WorldError;

const zoneKey = (id: string) => `zone:${id}`;
const lobbyKey = (id: string) => `lobby:${id}`;

export class AuthorityTerm {
  readonly #term: LeaderTerm;
  readonly #settings: TermSettings;
  readonly #deps: TermDeps;
  readonly #log: Logger;
  readonly #cells = new Map<string, CellState>();
  readonly #servers = new Map<string, ZoneServer>();
  /** Cells awaiting their previous owner after a takeover (see the module's docs). */
  readonly #pinned = new Set<string>();
  #graceUntil = 0;
  #version = 0;
  readonly #subs: Subscription[] = [];
  readonly #timers: NodeJS.Timeout[] = [];
  #closed = false;
  #serving = false;
  #queue: Promise<unknown> = Promise.resolve();
  #verifying = false;
  readonly #placement: Placement;
  readonly #requests = authorityRequestCodec();
  readonly #replies = authorityReplyCodec();
  readonly #mapCodec = worldMapCodec();

  constructor(term: LeaderTerm, settings: TermSettings, deps: TermDeps) {
    this.#term = term;
    this.#settings = settings;
    this.#deps = deps;
    this.#log = deps.logger.child({ subsystem: "term", leaderEpoch: term.leaderEpoch });
    this.#placement = new Placement(
      {
        nc: deps.nc,
        redis: deps.redis,
        logger: this.#log,
        map: {
          owner: (cell) => {
            const state = this.#cells.get(cell);
            return state?.server == null ? undefined : { server: state.server, epoch: state.epoch };
          },
        },
      },
      {
        world: settings.world,
        redisPrefix: settings.redisPrefix,
        subjects: settings.subjects,
        spawn: settings.spawn,
        installTimeoutMs: settings.attachTimeoutMs,
      },
    );
  }

  /** Loads the world from Redis, subscribes, starts the timers and publishes the map. */
  async open(): Promise<void> {
    const stored = await this.#deps.store.load();
    for (const cell of allCells(this.#settings.world)) {
      const server = stored.owners.get(cell) ?? null;
      this.#cells.set(cell, { server, epoch: stored.epochs.get(cell) ?? 0 });
      if (server !== null) this.#pinned.add(cell);
    }
    this.#graceUntil = Date.now() + this.#settings.leaseMs;
    if (this.#closed) return;
    const { nc } = this.#deps;
    const { subjects } = this.#settings;
    const on = (subject: string, queue: string, handle: (msg: Msg) => Promise<void>) =>
      this.#subs.push(
        nc.subscribe(subject, {
          queue,
          callback: (error, msg) => {
            if (error === null)
              void handle(msg).catch((e: unknown) => this.#log.error({ err: e }, "handler failed"));
          },
        }),
      );
    on(authoritySubject(subjects, "zone_register"), AUTHORITY_QUEUE_GROUP, (msg) => this.#onRegister(msg));
    on(authoritySubject(subjects, "zone_heartbeat"), AUTHORITY_QUEUE_GROUP, (msg) => this.#onHeartbeat(msg));
    on(worldSubject(subjects, "attach"), WORLD_QUEUE_GROUP, (msg) => this.#onAttach(msg));
    const { heartbeatMs, verifyMs } = this.#settings;
    this.#every(Math.max(25, Math.floor(heartbeatMs / 4)), () => void this.#serial(() => this.#sweep()));
    this.#every(heartbeatMs, () => this.#publish());
    this.#every(verifyMs, () => void this.#verifyAll());
    this.#publish();
    await nc.flush();
    this.#serving = !this.#closed;
    this.#log.info({ pinned: this.#pinned.size, graceMs: this.#settings.leaseMs }, "term opened");
  }

  /** Unsubscribes and stops the timers; in-flight work finds the term closed. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const sub of this.#subs) sub.unsubscribe();
    for (const timer of this.#timers) clearInterval(timer);
  }

  stats(): TermStats {
    return {
      serving: this.#serving && !this.#closed,
      leaderEpoch: this.#term.leaderEpoch,
      version: this.#version,
      servers: [...this.#servers.keys()].sort(),
      pinned: this.#pinned.size,
      cells: Object.fromEntries(this.#cells),
    };
  }

  #every(ms: number, fn: () => void): void {
    this.#timers.push(setInterval(fn, ms));
  }

  /** Runs state changes one at a time (each may await a fenced commit). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  // ---- requests ----

  async #onRegister(msg: Msg): Promise<void> {
    const decoded = this.#requests.decode(msg.data);
    if (!decoded.ok || decoded.message.t !== "zone_register") {
      return this.#answer(msg, worldError(WorldCode.BadRequest, "expected zone_register"));
    }
    this.#answer(msg, await this.#register(decoded.message));
  }

  async #register(request: ZoneRegister): Promise<AuthorityAnswer> {
    const { world } = this.#settings;
    const log = this.#log.child({ serverId: request.serverId });
    if (request.world !== world.name) {
      return worldError(WorldCode.Unknown, `this authority serves world ${world.name}, not ${request.world}`);
    }
    if (this.#deps.quarantine.has(zoneKey(request.serverId))) {
      return worldError(WorldCode.Unauthorized, "this server is quarantined");
    }
    let verdict: Verdict;
    try {
      verdict = await this.#deps.verifier.verify(request.credential);
    } catch (error) {
      log.warn({ err: error }, "registration: the lobby cannot verify the credential");
      return worldError(WorldCode.Unavailable, "the lobby cannot verify the credential now; try again");
    }
    if (!verdict.ok) {
      log.warn({ reason: verdict.reason }, "registration refused: credential not valid");
      return worldError(WorldCode.Unauthorized, `the credential is ${verdict.reason}`);
    }
    if (verdict.world !== world.name) {
      log.warn({ credentialWorld: verdict.world }, "registration refused: credential of another world");
      return worldError(WorldCode.Unknown, `the credential is for world ${verdict.world}`);
    }
    if (this.#deps.quarantine.has(lobbyKey(verdict.lobbyServerId))) {
      return worldError(WorldCode.Unauthorized, "this server is quarantined");
    }
    return this.#serial(async () => {
      if (this.#closed) return worldError(WorldCode.Unavailable, "this authority is no longer the leader");
      const existing = this.#servers.get(request.serverId);
      if (existing !== undefined && existing.lobbyServerId !== verdict.lobbyServerId) {
        log.warn(
          { lobbyServerId: verdict.lobbyServerId },
          "registration refused: server id held by another credential",
        );
        return worldError(WorldCode.Unauthorized, "this server id is registered with another credential");
      }
      // One live zone server per credential: a restart under a new id replaces the old one.
      for (const other of this.#servers.values()) {
        if (other.lobbyServerId === verdict.lobbyServerId && other.id !== request.serverId) {
          log.info({ replaced: other.id }, "credential re-registered under a new id; the old one is dropped");
          this.#servers.delete(other.id);
        }
      }
      const now = Date.now();
      this.#servers.set(request.serverId, {
        id: request.serverId,
        lobbyServerId: verdict.lobbyServerId,
        credential: request.credential,
        capacity: request.capacity,
        players: existing?.players ?? 0,
        tickP99Ms: existing?.tickP99Ms,
        lastHeartbeatAt: now,
      });
      for (const cell of [...this.#pinned]) {
        if (this.#cells.get(cell)?.server === request.serverId) this.#pinned.delete(cell);
      }
      try {
        await this.#reassign(this.#pinned.size === 0);
      } catch (error) {
        if (error instanceof AuthorityError && error.code === AuthorityErrorCode.NotLeader) {
          return worldError(WorldCode.Unavailable, "this authority is no longer the leader");
        }
        log.warn({ err: error }, "assignment failed; the sweep retries");
      }
      log.info(
        { capacity: request.capacity, lobbyServerId: verdict.lobbyServerId },
        "zone server registered",
      );
      return {
        t: "zone_registered",
        serverId: request.serverId,
        heartbeatMs: this.#settings.heartbeatMs,
        leaseMs: this.#settings.leaseMs,
        leaderEpoch: this.#term.leaderEpoch,
      } satisfies ZoneRegistered;
    });
  }

  async #onHeartbeat(msg: Msg): Promise<void> {
    const decoded = this.#requests.decode(msg.data);
    if (!decoded.ok || decoded.message.t !== "zone_heartbeat") {
      return this.#answer(msg, worldError(WorldCode.BadRequest, "expected zone_heartbeat"));
    }
    this.#answer(msg, await this.#heartbeat(decoded.message));
  }

  async #heartbeat(beat: ZoneHeartbeat): Promise<AuthorityAnswer> {
    if (this.#deps.quarantine.has(zoneKey(beat.serverId))) {
      return worldError(WorldCode.Unauthorized, "this server is quarantined");
    }
    const server = this.#servers.get(beat.serverId);
    const now = Date.now();
    if (server === undefined) return worldError(WorldCode.ZoneUnknown, "unknown zone server: register again");
    if (now - server.lastHeartbeatAt > this.#settings.leaseMs) {
      await this.#serial(() => this.#sweep());
      return worldError(WorldCode.ZoneUnknown, "the lease expired: register again");
    }
    if (beat.world !== this.#settings.world.name) {
      await this.#quarantine(server, `heartbeat names world ${beat.world}`);
      return worldError(WorldCode.Unauthorized, "impossible report: quarantined");
    }
    if (beat.players > server.capacity * 2) {
      await this.#quarantine(server, `reports ${beat.players} players for a capacity of ${server.capacity}`);
      return worldError(WorldCode.Unauthorized, "impossible report: quarantined");
    }
    server.lastHeartbeatAt = now;
    server.players = beat.players;
    server.tickP99Ms = beat.tickP99Ms;
    const expiresAt = now + this.#settings.leaseMs;
    const leases = [];
    for (const [cell, state] of this.#cells) {
      if (state.server === server.id) leases.push({ cell, epoch: state.epoch, expiresAt });
    }
    return { t: "zone_leases", serverId: server.id, leaderEpoch: this.#term.leaderEpoch, leases };
  }

  async #onAttach(msg: Msg): Promise<void> {
    const codec = worldReplyCodec();
    const decoded = worldRequestCodec().decode(msg.data);
    if (!decoded.ok) {
      msg.respond(codec.encode(worldError(WorldCode.BadRequest, "expected player_attach")));
      return;
    }
    const answer = await this.#placement.attach(decoded.message);
    if (answer.t === "player_attached") {
      this.#log.info(
        { accountId: answer.accountId, server: answer.server, cell: answer.zone, epoch: answer.epoch },
        "player placed",
      );
    } else {
      this.#log.warn(
        { accountId: decoded.message.accountId, code: answer.code, why: answer.message },
        "attach failed",
      );
    }
    msg.respond(codec.encode(answer));
  }

  #answer(msg: Msg, answer: AuthorityAnswer): void {
    msg.respond(this.#replies.encode(answer));
  }

  // ---- state changes (inside #serial) ----

  /** Expires silent servers, ends the takeover grace, assigns orphaned cells. */
  async #sweep(): Promise<void> {
    if (this.#closed) return;
    const now = Date.now();
    for (const server of [...this.#servers.values()]) {
      if (now - server.lastHeartbeatAt > this.#settings.leaseMs) {
        this.#log.warn({ serverId: server.id, silentMs: now - server.lastHeartbeatAt }, "lease expired");
        this.#servers.delete(server.id);
      }
    }
    let rebalance = false;
    if (this.#pinned.size > 0 && now >= this.#graceUntil) {
      this.#log.warn({ cells: [...this.#pinned] }, "previous owners did not come back: reassigning");
      this.#pinned.clear();
      rebalance = true;
    }
    try {
      await this.#reassign(rebalance);
    } catch (error) {
      if (!(error instanceof AuthorityError && error.code === AuthorityErrorCode.NotLeader)) {
        this.#log.warn({ err: error }, "assignment failed; retrying at the next sweep");
      }
    }
  }

  /** Plans, commits (fenced) and publishes. @throws AuthorityError `AUTHORITY_NOT_LEADER`. */
  async #reassign(rebalance: boolean): Promise<void> {
    const owners = new Map([...this.#cells].map(([cell, state]) => [cell, state.server]));
    const plan = planAssignment({
      owners,
      servers: [...this.#servers.values()].map((s) => ({
        id: s.id,
        capacity: s.capacity,
        players: s.players,
      })),
      pinned: this.#pinned,
      rebalance,
    });
    if (plan.size === 0) return;
    const changes: OwnerChange[] = [...plan].map(([cell, server]) => ({ cell, server }));
    let epochs: Map<string, number>;
    try {
      epochs = await this.#deps.store.commit(this.#term.token, changes);
    } catch (error) {
      if (error instanceof AuthorityError && error.code === AuthorityErrorCode.NotLeader) {
        this.#log.error("fenced write refused: another authority leads now");
        this.close();
        this.#deps.onFenced();
      }
      throw error;
    }
    if (this.#closed) return;
    for (const change of changes) {
      const epoch = epochs.get(change.cell) ?? (this.#cells.get(change.cell)?.epoch ?? 0) + 1;
      this.#cells.set(change.cell, { server: change.server, epoch });
    }
    this.#version++;
    this.#log.info(
      {
        version: this.#version,
        changes: changes.map((c) => `${c.cell}→${c.server ?? "none"}@${epochs.get(c.cell)}`),
      },
      "cells reassigned",
    );
    this.#publish();
  }

  /** Withdraws `server`'s leases and bars it (zone id and credential) for `quarantineMs`. */
  #quarantine(server: ZoneServer, reason: string): Promise<void> {
    return this.#serial(async () => {
      if (this.#servers.get(server.id) !== server) return;
      this.#log.warn(
        {
          serverId: server.id,
          lobbyServerId: server.lobbyServerId,
          reason,
          forMs: this.#settings.quarantineMs,
        },
        "zone server quarantined",
      );
      this.#deps.quarantine.add(
        [zoneKey(server.id), lobbyKey(server.lobbyServerId)],
        this.#settings.quarantineMs,
      );
      this.#servers.delete(server.id);
      try {
        await this.#reassign(false);
      } catch (error) {
        this.#log.warn({ err: error }, "reassignment after quarantine failed; the sweep retries");
      }
    });
  }

  /** Checks every registered server's credential again; quarantines those no longer valid. */
  async #verifyAll(): Promise<void> {
    if (this.#verifying || this.#closed) return;
    this.#verifying = true;
    try {
      await Promise.all(
        [...this.#servers.values()].map(async (server) => {
          let verdict: Verdict;
          try {
            verdict = await this.#deps.verifier.verify(server.credential);
          } catch (error) {
            // The lobby being down is not the server's fault: keep its leases.
            this.#log.debug(
              { err: error, serverId: server.id },
              "re-verification skipped: lobby unavailable",
            );
            return;
          }
          if (!verdict.ok) await this.#quarantine(server, `credential ${verdict.reason}`);
          else if (verdict.world !== this.#settings.world.name) {
            await this.#quarantine(server, `credential moved to world ${verdict.world}`);
          }
        }),
      );
    } finally {
      this.#verifying = false;
    }
  }

  #publish(): void {
    if (this.#closed) return;
    const map: WorldMap = {
      t: "world_map",
      world: this.#settings.world.name,
      leaderEpoch: this.#term.leaderEpoch,
      version: this.#version,
      cells: [...this.#cells].map(([cell, state]) => ({ cell, server: state.server, epoch: state.epoch })),
    };
    this.#deps.nc.publish(
      worldMapSubject(this.#settings.subjects, this.#settings.world.name),
      this.#mapCodec.encode(map),
    );
  }
}

function worldError(code: WorldCode, message: string): WorldError {
  return { t: "world_error", code, message };
}
