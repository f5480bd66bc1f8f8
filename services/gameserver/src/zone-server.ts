/**
 * A zone server: drives a {@link ZoneSim} at the world's tick rate for the cells the authority leases
 * it, and speaks the world's contracts over NATS (libs/protocol `zone-messages.ts` and
 * `world-messages.ts`):
 *
 *   authority ◄── zone_register / zone_heartbeat ──► zone_leases (AuthorityClient, LeaseTable)
 *   evt.world.<world>.map ──► WorldMapView (owners of every cell: handoffs, ghosts)
 *   zone.<id>.inputs  ◄── gateways (and a former owner forwarding)    sim.input, or forwarded
 *   zone.<id>.detach  ◄── gateways                                     checkpoint, remove
 *   zone.<id>.install ◄── authority (request)                          restore or spawn
 *   zone.<id>.handoff ◄── neighbours (request)                         install, route_switch, accept
 *   zone.<id>.ghosts  ◄── neighbours                                    sim.setGhosts
 *   every tick ──► gw.<gateway>.updates (one per gateway), zone.<owner>.ghosts, handoff offers
 *
 * Ownership of a player: exactly one server applies a player's inputs at any time. The source stops
 * applying at the freeze (the sim reports the crossing and applies nothing to the player until
 * `release`/`keep`; inputs that arrive meanwhile are held aside); the target starts at its accept,
 * having installed the player with the offer's epoch (source's + 1) before answering. Inputs that
 * still reach the source after the accept are forwarded to the target for `forwardGraceMs`; the
 * target applies them by the contiguity rule, so none is lost or applied twice. Checkpoints are
 * fenced by cell epoch and player epoch (CheckpointStore): a stale owner's write is refused.
 * @module
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import {
  DetachReason,
  encodeBatches,
  encodeMessage,
  encodeSharedBatches,
  GATEWAY_ROUTES_CHANNEL,
  GATEWAY_UPDATES_CHANNEL,
  type GatewayUpdates,
  type GhostBatch,
  type HandoffAccept,
  type HandoffAnswers,
  type HandoffOffer,
  type HandoffOffers,
  MAX_HANDOFF_BATCH,
  MessagePackWriter,
  type PlayerDetach,
  type PlayerInstall,
  type Subjects,
  WORLD_MAX_MESSAGE_BYTES,
  worldKeys,
  worldMapCodec,
  worldMapSubject,
  ZONE_DETACH_CHANNEL,
  ZONE_GHOSTS_CHANNEL,
  ZONE_HANDOFF_CHANNEL,
  ZONE_INPUTS_CHANNEL,
  ZONE_INSTALL_CHANNEL,
  type ZoneInputs,
  type ZoneLeases,
  zoneControlCodec,
  zoneControlReplyCodec,
  zoneInboxCodec,
} from "@meridian/protocol";
import {
  type Crossing,
  cellAt,
  cellCentre,
  type GhostEntity,
  inBounds,
  type PlayerSnapshot,
  playerEntityId,
  type TickResult,
  tickMs,
  type WorldConfig,
  type ZoneSim,
} from "@meridian/world";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { AuthorityClient, AuthorityUnavailable } from "./authority/authority-client.js";
import { type HeldLease, LeaseTable } from "./authority/lease-table.js";
import { WorldMapView } from "./authority/world-map-view.js";
import { CheckpointStore } from "./checkpoint/checkpoint-store.js";
import { GameServerError, GameServerErrorCode } from "./errors.js";
import { historyNow, historyTopic, ZoneHistory, type ZoneHistoryRecord } from "./history/zone-history.js";
import { Histogram, type HistogramSnapshot } from "./metrics/histogram.js";
import { DEFAULT_OBSERVER_HZ, ObserverFeed } from "./observer-feed.js";
import { DEFAULT_ORPHAN_SWEEP_MS, OrphanSweep } from "./orphan-sweep.js";
import {
  DEFAULT_PERSIST_MS,
  DEFAULT_PERSIST_STOP_MS,
  DEFAULT_PERSIST_TIMEOUT_MS,
  type PersistEntry,
  PlayerStatePersister,
  type PlayerStatePersisterStats,
} from "./persist/player-state-persister.js";
import { ZoneTelemetry } from "./telemetry/zone-telemetry.js";
import { TickLoop } from "./tick/tick-loop.js";

/** Default grace during which a former owner forwards a player's late inputs, ms. */
export const DEFAULT_FORWARD_GRACE_MS = 10_000;
/** Default attempts of an unanswered handoff offer. */
export const DEFAULT_HANDOFF_ATTEMPTS = 4;
/** Default bound on one authority request, ms. */
export const DEFAULT_AUTHORITY_TIMEOUT_MS = 1_000;
/** Default pause between registration attempts while no authority answers, ms. */
export const DEFAULT_REGISTER_RETRY_MS = 1_000;
/** How long an accepted handoff's answer is remembered (a retried offer gets it again), ms. */
export const HANDOFF_MEMORY_MS = 60_000;

/** Options of {@link ZoneServer}. */
export interface ZoneServerOptions {
  /** This server's id: one subject token; its inboxes are `zone.<serverId>.*`. */
  readonly serverId: string;
  /** The server credential issued by the lobby's registry. */
  readonly credential: string;
  /** Players the server holds at most. */
  readonly capacity: number;
  readonly world: WorldConfig;
  readonly subjects: Subjects;
  /** The cluster's Redis key prefix (checkpoints under `worldKeys(prefix, world)`). */
  readonly redisPrefix: string;
  /** Period of the checkpoints of every player, ms. Default 5000. */
  readonly checkpointMs?: number;
  /** Bound on one handoff offer, ms. Default two ticks. */
  readonly handoffTimeoutMs?: number;
  /**
   * Offers sent (same id, one per tick) while no answer comes, before the checkpoint decides.
   * Default {@link DEFAULT_HANDOFF_ATTEMPTS}.
   */
  readonly handoffAttempts?: number;
  /** Forwarding of a handed-off player's late inputs, ms. Default {@link DEFAULT_FORWARD_GRACE_MS}. */
  readonly forwardGraceMs?: number;
  /** Bound on one authority request, ms. Default {@link DEFAULT_AUTHORITY_TIMEOUT_MS}. */
  readonly authorityTimeoutMs?: number;
  /** Pause between registrations while no authority answers, ms. Default {@link DEFAULT_REGISTER_RETRY_MS}. */
  readonly registerRetryMs?: number;
  /**
   * Publish the history stream (one record per tick on `evt.world.<world>.history`: players held,
   * epochs, last applied inputs, ownership events; `src/history/zone-history.ts`). For tests and
   * tools. Default false.
   */
  readonly history?: boolean;
  /**
   * Observer snapshots per second (`zone_snapshot` on `evt.world.<world>.zone.<server>.snapshot`,
   * and `zone_handoff` events; `src/observer-feed.ts`); 0 publishes none. Default 4.
   */
  readonly observerHz?: number;
  /**
   * Period of the sweep that drops players whose gateway is gone (no presence in Redis for two sweeps
   * in a row; `src/orphan-sweep.ts`), ms; 0 turns it off. Default {@link DEFAULT_ORPHAN_SWEEP_MS}.
   */
  readonly orphanSweepMs?: number;
  /**
   * Period of the persists of every player held to the lobby (Postgres, `player_state_save`;
   * `src/persist/`), ms; 0 turns the periodic persists off (logout and stop still persist).
   * Default {@link DEFAULT_PERSIST_MS}.
   */
  readonly persistMs?: number;
  /** Bound on one persist request to the lobby, ms. Default {@link DEFAULT_PERSIST_TIMEOUT_MS}. */
  readonly persistTimeoutMs?: number;
  /** Bound on the persist of every player at stop, ms. Default {@link DEFAULT_PERSIST_STOP_MS}. */
  readonly persistStopMs?: number;
  /**
   * Player state in Postgres through the lobby (saves and loads). With it, an install that finds no
   * Redis checkpoint and cannot ask the lobby is refused (`WORLD_UNAVAILABLE`, retryable) rather
   * than given a fresh character whose later saves could overwrite the real one. Off: no saves, no
   * loads (a cluster without a lobby, tests). Default true.
   */
  readonly persistence?: boolean;
}

/** What a zone server is built from (owned by the caller: `stop()` closes neither connection). */
export interface ZoneServerDeps {
  readonly nc: NatsConnection;
  readonly redis: Redis;
  readonly logger: Logger;
  /** Creates the simulation (`createZoneSim` of `@meridian/world`). */
  readonly createSim: (config: WorldConfig) => ZoneSim;
  /**
   * The server cannot go on (`WORLD_UNAUTHORIZED`): it has dropped every player and stopped
   * ticking; the process should exit non-zero. Default: log only.
   */
  readonly onFatal?: (error: GameServerError) => void;
}

/** What the server knows of a player it owns. */
interface PlayerMeta {
  readonly sessionId: string;
  readonly username: string;
  gateway: string;
  /** The player's ownership epoch here (per-entry `epoch` of the updates). */
  epoch: number;
  /** The held cell the player was last checkpointed in. */
  cell: string;
}

/** One input held aside while its player is frozen for a handoff. */
interface HeldInput {
  readonly gateway: string;
  readonly accountId: string;
  readonly seq: number;
  readonly data: unknown;
}

/** A handoff in flight from this server. */
/** How long a target that left a `handoff_offers` unanswered gets lone offers only, ms. */
const LONE_OFFERS_MS = 60_000;

/** Added to a `handoff_offers` request's timeout per offer it carries, ms. */
const BATCH_TIMEOUT_PER_OFFER_MS = 0.5;

/** An offer waiting for the end of the turn to be sent. */
interface QueuedOffer {
  readonly accountId: string;
  readonly pending: OutgoingHandoff;
}

interface OutgoingHandoff {
  readonly handoffId: string;
  target: string;
  readonly cell: string;
  readonly frozenAt: number;
  readonly held: HeldInput[];
  detach: PlayerDetach | undefined;
  offer: HandoffOffer | undefined;
  attempts: number;
}

/** Counters and histograms, for tests, logs and benchmarks. */
export interface ZoneServerStats {
  readonly serverId: string;
  readonly tick: number;
  readonly players: number;
  readonly cells: readonly string[];
  readonly registered: boolean;
  readonly inputsApplied: number;
  readonly inputsRefused: number;
  /**
   * Restored players whose input stream was re-based on the first input after the restore (the
   * inputs between their checkpoint and the gateway's acknowledgement died with the crashed owner).
   */
  readonly inputsRebased: number;
  readonly inputsForwarded: number;
  readonly inputsDropped: number;
  readonly handoffsOut: number;
  readonly handoffsIn: number;
  readonly handoffRetries: number;
  readonly restored: number;
  readonly checkpointsRefused: number;
  readonly badMessages: number;
  /** Players dropped because their gateway was gone (no presence; `src/orphan-sweep.ts`). */
  readonly orphansDropped: number;
  /** Freeze → accept (after the target sent `route_switch`) per handoff out, ms. */
  readonly handoffStallMs: HistogramSnapshot;
  readonly tickMs: HistogramSnapshot;
  readonly ticksSkipped: number;
}

type Counters = {
  -readonly [K in keyof ZoneServerStats as ZoneServerStats[K] extends number ? K : never]: number;
};

export class ZoneServer {
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #onFatal: (error: GameServerError) => void;
  readonly #options: Required<ZoneServerOptions>;
  readonly #sim: ZoneSim;
  readonly #store: CheckpointStore;
  readonly #authority: AuthorityClient;
  readonly #leases = new LeaseTable();
  readonly #map: WorldMapView;
  readonly #loop: TickLoop;
  /** Traces and recorded metrics (no-ops while telemetry is off). */
  readonly #telemetry: ZoneTelemetry;
  readonly #stall = new Histogram();
  readonly #history: ZoneHistory | undefined;
  readonly #observer: ObserverFeed;
  readonly #orphans: OrphanSweep;
  readonly #players = new Map<string, PlayerMeta>();
  readonly #outgoing = new Map<string, OutgoingHandoff>();
  /** The id of each player's last refused offer: reused while the map (and the target) stay the same. */
  readonly #retryIds = new Map<
    string,
    { handoffId: string; target: string; cell: string; cellEpoch: number }
  >();
  /** Players restored after a crash whose next input may re-base their stream (see #applyInput). */
  readonly #rebase = new Set<string>();
  readonly #forwards = new Map<string, { target: string; until: number }>();
  readonly #accepted = new Map<string, { answer: HandoffAccept; at: number }>();
  readonly #subscriptions: Subscription[] = [];
  readonly #ghostTargets = new Set<string>();
  /** Installs from offers in progress (until their checkpoint is written), by player. */
  readonly #installing = new Map<string, Promise<HandoffAccept>>();
  /** Offers to send at the end of the turn, by target server. */
  readonly #offerQueue = new Map<string, QueuedOffer[]>();
  #offerFlushQueued = false;
  /** Offers to re-send (no answer yet), and the one timer that will. */
  readonly #retries = new Map<string, OutgoingHandoff>();
  /** Targets that left a batch unanswered, and until when they get lone offers only (ms since the epoch). */
  readonly #loneOffersUntil = new Map<string, number>();
  #retryTimer: NodeJS.Timeout | undefined;
  /** Packs the tick's outgoing batches (reused: its buffer stays warm). */
  readonly #writer = new MessagePackWriter();
  readonly #counters: Counters = {
    tick: 0,
    players: 0,
    inputsApplied: 0,
    inputsRefused: 0,
    inputsRebased: 0,
    inputsForwarded: 0,
    inputsDropped: 0,
    handoffsOut: 0,
    handoffsIn: 0,
    handoffRetries: 0,
    restored: 0,
    checkpointsRefused: 0,
    badMessages: 0,
    orphansDropped: 0,
    ticksSkipped: 0,
  };
  #registered = false;
  #heartbeatMs = 1_000;
  #stopped = false;
  #started = false;
  #sleep: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  #authorityLoop: Promise<void> | undefined;
  #checkpointTimer: NodeJS.Timeout | undefined;
  #checkpointing: Promise<void> | undefined;
  /** Persisted player state: saves to and loads from the lobby (Postgres), never into the tick's way. */
  readonly #persister: PlayerStatePersister;
  #persistTimer: NodeJS.Timeout | undefined;
  #persisting: Promise<boolean> | undefined;

  constructor(deps: ZoneServerDeps, options: ZoneServerOptions) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(options.serverId)) {
      throw new GameServerError(GameServerErrorCode.InvalidOptions, `bad serverId "${options.serverId}"`);
    }
    this.#nc = deps.nc;
    this.#log = deps.logger.child({ zone: options.serverId });
    this.#onFatal = deps.onFatal ?? (() => undefined);
    const tick = tickMs(options.world);
    this.#options = Object.freeze({
      checkpointMs: 5_000,
      handoffTimeoutMs: Math.max(2 * tick, 20),
      handoffAttempts: DEFAULT_HANDOFF_ATTEMPTS,
      forwardGraceMs: DEFAULT_FORWARD_GRACE_MS,
      authorityTimeoutMs: DEFAULT_AUTHORITY_TIMEOUT_MS,
      registerRetryMs: DEFAULT_REGISTER_RETRY_MS,
      history: false,
      observerHz: DEFAULT_OBSERVER_HZ,
      orphanSweepMs: DEFAULT_ORPHAN_SWEEP_MS,
      persistMs: DEFAULT_PERSIST_MS,
      persistTimeoutMs: DEFAULT_PERSIST_TIMEOUT_MS,
      persistStopMs: DEFAULT_PERSIST_STOP_MS,
      persistence: true,
      ...stripUndefined(options),
    });
    if (!Number.isSafeInteger(this.#options.persistMs) || this.#options.persistMs < 0) {
      throw new GameServerError(GameServerErrorCode.InvalidOptions, "persistMs must be an integer ≥ 0");
    }
    this.#persister = new PlayerStatePersister(deps.nc, this.#log, {
      subjects: options.subjects,
      credential: options.credential,
      world: options.world.name,
      serverId: options.serverId,
      timeoutMs: this.#options.persistTimeoutMs,
    });
    this.#history = this.#options.history
      ? new ZoneHistory(
          deps.nc,
          options.subjects.event(historyTopic(options.world.name)),
          options.serverId,
          options.world.name,
        )
      : undefined;
    this.#sim = deps.createSim(options.world);
    this.#sim.setCells([]);
    this.#store = new CheckpointStore(deps.redis, worldKeys(options.redisPrefix, options.world.name));
    this.#authority = new AuthorityClient(deps.nc, {
      subjects: options.subjects,
      serverId: options.serverId,
      credential: options.credential,
      world: options.world.name,
      capacity: options.capacity,
      timeoutMs: this.#options.authorityTimeoutMs,
    });
    this.#map = new WorldMapView(options.world.name);
    this.#loop = new TickLoop(
      tick,
      () => this.#tick(),
      (error) => this.#log.error({ err: error }, "tick failed"),
    );
    this.#telemetry = new ZoneTelemetry(options.serverId);
    this.#loop.onDuration = this.#telemetry.onTick;
    this.#observer = new ObserverFeed(deps.nc, this, this.#log, {
      subjects: options.subjects,
      serverId: options.serverId,
      world: options.world,
      hz: this.#options.observerHz,
    });
    this.#orphans = new OrphanSweep(
      deps.redis,
      { intervalMs: this.#options.orphanSweepMs, redisPrefix: options.redisPrefix },
      () => this.#sweepable(),
      (accountId) => this.#orphaned(accountId),
      this.#log,
    );
  }

  get serverId(): string {
    return this.#options.serverId;
  }

  /** The simulation (read it in tests and tools; the server drives it). */
  get sim(): ZoneSim {
    return this.#sim;
  }

  /** Whether this server owns `accountId` now (holds them, not frozen for a handoff). */
  owns(accountId: string): boolean {
    return this.#players.has(accountId) && !this.#outgoing.has(accountId);
  }

  /** The player's ownership epoch here, or undefined. */
  epochOf(accountId: string): number | undefined {
    return this.#players.get(accountId)?.epoch;
  }

  /** The cells held now. */
  cells(): string[] {
    return this.#leases.cells();
  }

  /** The leases held now, and the highest authority leader epoch seen (the observer feed). */
  leases(): { readonly leaderEpoch: number; readonly leases: readonly HeldLease[] } {
    const leases = this.#leases.cells().flatMap((cell) => this.#leases.get(cell) ?? []);
    return { leaderEpoch: this.#leases.leaderEpoch, leases };
  }

  stats(): ZoneServerStats {
    return {
      ...this.#counters,
      serverId: this.#options.serverId,
      tick: this.#sim.tick,
      players: this.#players.size,
      cells: this.#leases.cells(),
      registered: this.#registered,
      handoffStallMs: this.#stall.snapshot(),
      tickMs: this.#loop.durations.snapshot(),
      ticksSkipped: this.#loop.skipped,
    };
  }

  /**
   * Subscribes to the inboxes and the world map, registers with the authority (first contact awaited,
   * bounded; without an authority the server keeps trying in the background) and starts ticking.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#store.load();
    this.#subscribeAll();
    await this.#nc.flush();
    let firstContact!: () => void;
    const contacted = new Promise<void>((resolve) => {
      firstContact = resolve;
    });
    this.#authorityLoop = this.#runAuthority(firstContact);
    await contacted;
    this.#loop.start();
    this.#observer.start();
    this.#orphans.start();
    this.#checkpointTimer = setInterval(() => void this.checkpointAll(), this.#options.checkpointMs);
    if (this.#options.persistence && this.#options.persistMs > 0) {
      this.#persistTimer = setInterval(() => void this.persistAll(), this.#options.persistMs);
    }
    this.#log.info({ cells: this.#leases.cells(), registered: this.#registered }, "zone started");
  }

  /**
   * Stops ticking, checkpoints every player, stops heartbeating (the leases lapse: there is no
   * deregistration verb) and closes the subscriptions. Closes neither NATS nor Redis.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#loop.stop();
    this.#observer.stop();
    await this.#orphans.stop();
    if (this.#checkpointTimer !== undefined) clearInterval(this.#checkpointTimer);
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#wake();
    await this.#authorityLoop;
    await this.#checkpointing;
    await this.checkpointAll(true);
    if (this.#persistTimer !== undefined) clearInterval(this.#persistTimer);
    await this.#persistOnStop();
    const subscriptions = this.#subscriptions.splice(0);
    await Promise.allSettled(subscriptions.map((s) => s.drain()));
  }

  /**
   * Persists every player this server owns to the lobby (Postgres): periodically, and at stop.
   * Resolves with whether every batch was answered; never rejects (failures are logged, counted and
   * retried with the next persist). One run at a time unless `force`d (the persister queues runs).
   */
  persistAll(reason = "periodic", force = false): Promise<boolean> {
    if (!this.#options.persistence) return Promise.resolve(true);
    if (this.#persisting !== undefined && !force) return this.#persisting;
    const entries: PersistEntry[] = [];
    for (const [accountId, meta] of this.#players) {
      if (this.#outgoing.has(accountId)) continue;
      const snapshot = this.#sim.snapshot(accountId);
      if (snapshot !== undefined) entries.push({ epoch: meta.epoch, snapshot });
    }
    const run = this.#persister.save(entries, reason);
    this.#persisting = run;
    void run.then(() => {
      if (this.#persisting === run) this.#persisting = undefined;
    });
    return run;
  }

  /** The persister's counters (saved, stale, failures…). */
  persistStats(): PlayerStatePersisterStats {
    return this.#persister.stats();
  }

  /** The persist of every player at stop, bounded by `persistStopMs` (the shutdown must end). */
  async #persistOnStop(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.#options.persistStopMs);
    });
    const result = await Promise.race([this.persistAll("shutdown", true), bound]);
    clearTimeout(timer);
    if (result === "timeout") {
      this.#log.warn(
        { timeoutMs: this.#options.persistStopMs, players: this.#players.size },
        "persisting players at shutdown timed out (their Redis checkpoints hold their state)",
      );
    }
  }

  /** Checkpoints every player this server owns in a held cell; returns how many were written. */
  async checkpointAll(force = false): Promise<number> {
    if (this.#checkpointing !== undefined && !force) return 0;
    const run = (async () => {
      const writes: Promise<boolean>[] = [];
      for (const [accountId, meta] of this.#players) {
        if (this.#outgoing.has(accountId)) continue;
        const snapshot = this.#sim.snapshot(accountId);
        if (snapshot !== undefined) writes.push(this.#checkpoint(snapshot, meta, true));
      }
      const results = await Promise.allSettled(writes);
      return results.filter((r) => r.status === "fulfilled" && r.value).length;
    })();
    const done = run.then(
      () => undefined,
      () => undefined,
    );
    this.#checkpointing = done;
    try {
      return await run;
    } finally {
      if (this.#checkpointing === done) this.#checkpointing = undefined;
    }
  }

  // ---- the authority ----

  async #runAuthority(firstContact: () => void): Promise<void> {
    while (!this.#stopped) {
      try {
        if (!this.#registered) {
          const registered = await this.#authority.register();
          this.#registered = true;
          this.#heartbeatMs = Math.max(50, registered.heartbeatMs);
          this.#log.info({ heartbeatMs: registered.heartbeatMs, leaseMs: registered.leaseMs }, "registered");
        }
        const leases = await this.#authority.heartbeat(this.#players.size, this.#loop.takeP99());
        this.#applyLeases(leases);
        firstContact();
        await this.#pause(this.#heartbeatMs);
      } catch (error) {
        firstContact();
        if (error instanceof GameServerError && error.code === GameServerErrorCode.ZoneUnknown) {
          this.#log.warn("the authority does not know this server: registering again");
          this.#registered = false;
          await this.#pause(Math.min(100, this.#options.registerRetryMs));
          continue;
        }
        if (
          error instanceof GameServerError &&
          (error.code === GameServerErrorCode.Unauthorized || error.code === GameServerErrorCode.UnknownWorld)
        ) {
          this.#fatal(error);
          return;
        }
        const unavailable = error instanceof AuthorityUnavailable;
        this.#log.warn(
          { err: unavailable ? undefined : error, reason: String(error) },
          "no authority answer",
        );
        await this.#pause(this.#registered ? this.#heartbeatMs : this.#options.registerRetryMs);
      }
    }
  }

  #pause(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#sleep = undefined;
        resolve();
      }, ms);
      this.#sleep = { timer, resolve };
    });
  }

  #wake(): void {
    const sleep = this.#sleep;
    this.#sleep = undefined;
    if (sleep !== undefined) {
      clearTimeout(sleep.timer);
      sleep.resolve();
    }
  }

  #fatal(error: GameServerError): void {
    this.#log.fatal({ code: error.code }, `${error.message}: dropping every player and stopping`);
    this.#stopped = true;
    this.#loop.stop();
    this.#observer.stop();
    void this.#orphans.stop();
    if (this.#checkpointTimer !== undefined) clearInterval(this.#checkpointTimer);
    if (this.#persistTimer !== undefined) clearInterval(this.#persistTimer);
    for (const [accountId, meta] of this.#players) {
      this.#historyDrop(accountId, meta, this.#sim.removePlayer(accountId), "fatal");
    }
    this.#players.clear();
    this.#outgoing.clear();
    this.#forwards.clear();
    this.#leases.clear();
    this.#sim.setCells([]);
    for (const s of this.#subscriptions.splice(0)) s.unsubscribe();
    this.#onFatal(error);
  }

  #applyLeases(message: ZoneLeases): void {
    if (this.#stopped) return;
    const change = this.#leases.apply(message.leaderEpoch, message.leases);
    if (change === undefined) {
      this.#log.warn({ leaderEpoch: message.leaderEpoch }, "leases from a stale authority leader ignored");
      return;
    }
    if (change.gained.length === 0 && change.lost.length === 0) return;
    this.#sim.setCells(this.#leases.cells());
    if (change.lost.length > 0) this.#dropCells(change.lost);
    this.#log.info(
      { gained: change.gained.map((l) => `${l.cell}@${l.epoch}`), lost: change.lost },
      "leases changed",
    );
    for (const lease of change.gained) {
      void this.#restoreCell(lease).catch((error: unknown) =>
        this.#log.error({ err: error, cell: lease.cell }, "restoring a cell failed"),
      );
    }
  }

  /** Cells lost (expired or taken away): stop acting for their players (their new owner restores them). */
  #dropCells(cells: readonly string[]): void {
    const lost = new Set(cells);
    for (const [accountId, meta] of this.#players) {
      if (this.#outgoing.has(accountId)) continue;
      const snapshot = this.#sim.snapshot(accountId);
      const cell = snapshot === undefined ? meta.cell : this.#cellOf(snapshot);
      if (lost.has(cell) || lost.has(meta.cell)) {
        this.#historyDrop(accountId, meta, this.#sim.removePlayer(accountId), "lease lost");
        this.#players.delete(accountId);
      }
    }
  }

  /** Crash recovery: a cell gained restores the players checkpointed online in it. */
  async #restoreCell(lease: HeldLease): Promise<void> {
    const accounts = await this.#store.cellPlayers(lease.cell);
    for (const accountId of accounts) {
      if (this.#players.has(accountId) || this.#stopped) continue;
      const checkpoint = await this.#store.read(accountId);
      if (checkpoint === undefined || checkpoint.cell !== lease.cell || !checkpoint.online) continue;
      if (!this.#leases.holds(lease.cell, lease.epoch) || this.#players.has(accountId)) return;
      const meta: PlayerMeta = {
        sessionId: checkpoint.sessionId,
        username: checkpoint.snapshot.username,
        gateway: checkpoint.gateway,
        epoch: checkpoint.epoch + 1,
        cell: lease.cell,
      };
      this.#forwards.delete(accountId);
      this.#sim.addPlayer(checkpoint.snapshot);
      this.#players.set(accountId, meta);
      this.#history?.own(accountId, meta.epoch, checkpoint.snapshot.lastSeq, "restore");
      if (!(await this.#checkpoint(checkpoint.snapshot, meta, true))) {
        if (this.#players.get(accountId) === meta) {
          this.#historyDrop(accountId, meta, this.#sim.removePlayer(accountId), "restore refused");
          this.#players.delete(accountId);
        }
        continue;
      }
      this.#counters.restored++;
      this.#rebase.add(accountId);
      this.#routeSwitch(accountId, meta, lease.cell);
      this.#log.info({ accountId, cell: lease.cell, epoch: meta.epoch }, "player restored from checkpoint");
    }
  }

  // ---- the tick ----

  #tick(): void {
    const expired = this.#leases.expire();
    if (expired.length > 0) {
      this.#log.warn({ cells: expired }, "leases expired: no longer acting for these cells");
      this.#sim.setCells(this.#leases.cells());
      this.#dropCells(expired);
    }
    if (this.#history === undefined) {
      const result = this.#sim.step();
      this.#publishUpdates(result);
      this.#publishGhosts(result);
      for (const crossing of result.crossings) this.#handOff(crossing, result.tick);
      return;
    }
    const at = historyNow();
    const held = [...this.#players].map(([id, meta]) => [id, meta.epoch, this.#outgoing.has(id)] as const);
    const result = this.#sim.step();
    this.#history.tick(result.tick, at, this.#historyPlayers(held, result));
    this.#publishUpdates(result);
    this.#publishGhosts(result);
    for (const crossing of result.crossings) this.#handOff(crossing, result.tick);
  }

  /** The `players` of a history record: those held when the step began, with their ack after it. */
  #historyPlayers(
    held: readonly (readonly [string, number, boolean])[],
    result: TickResult,
  ): ZoneHistoryRecord["players"] {
    const acks = new Map<string, number>();
    for (const view of result.views) acks.set(view.accountId, view.ack);
    for (const crossing of result.crossings) acks.set(crossing.accountId, crossing.snapshot.lastSeq);
    return held.map(([id, epoch, frozen]) => {
      const seq = acks.get(id) ?? this.#sim.snapshot(id)?.lastSeq ?? 0;
      return [id, epoch, seq, frozen ? 1 : 0] as const;
    });
  }

  /** A history `drop` event (when the stream is on). */
  #historyDrop(
    accountId: string,
    meta: PlayerMeta,
    snapshot: PlayerSnapshot | undefined,
    reason: string,
  ): void {
    this.#history?.drop(accountId, meta.epoch, snapshot?.lastSeq ?? 0, reason);
  }

  #publishUpdates(result: TickResult): void {
    const byGateway = new Map<string, GatewayUpdates["updates"][number][]>();
    for (const view of result.views) {
      const meta = this.#players.get(view.accountId);
      if (meta === undefined) continue;
      let entries = byGateway.get(meta.gateway);
      if (entries === undefined) {
        entries = [];
        byGateway.set(meta.gateway, entries);
      }
      entries.push({ accountId: view.accountId, epoch: meta.epoch, ack: view.ack, data: view.data });
    }
    // The views of one tick share an object per entity change: packed once for every gateway.
    const writer = this.#writer;
    const envelope = { t: "gateway_updates", server: this.#options.serverId, tick: result.tick } as const;
    writer.shared(() => {
      for (const [gateway, updates] of byGateway) {
        const subject = this.#options.subjects.gateway(gateway, GATEWAY_UPDATES_CHANNEL);
        const { messages, dropped } = encodeSharedBatches(
          writer,
          envelope,
          "updates",
          updates,
          10_000,
          WORLD_MAX_MESSAGE_BYTES,
        );
        for (const bytes of messages) this.#nc.publish(subject, bytes);
        if (dropped > 0) this.#log.error({ subject, dropped }, "entries larger than a message: dropped");
      }
    });
  }

  /**
   * Publishes `items` in as few messages as fit `maxItems` and the world's size limit
   * (`encodeBatches`: each item measured once, each part encoded once).
   */
  #publishSplit<T extends object>(
    subject: string,
    items: readonly T[],
    maxItems: number,
    build: (part: readonly T[]) => { readonly t: string },
  ): void {
    const { messages, dropped } = encodeBatches(items, build, maxItems, WORLD_MAX_MESSAGE_BYTES);
    for (const bytes of messages) this.#nc.publish(subject, bytes);
    if (dropped > 0) this.#log.error({ subject, dropped }, "entries larger than a message: dropped");
  }

  #publishGhosts(result: TickResult): void {
    const byOwner = new Map<string, { entities: Map<string, GhostEntity>; events: unknown[] }>();
    for (const [cell, batch] of result.ghosts) {
      const owner = this.#map.owner(cell)?.server;
      if (owner === undefined || owner === null || owner === this.#options.serverId) continue;
      let group = byOwner.get(owner);
      if (group === undefined) {
        group = { entities: new Map(), events: [] };
        byOwner.set(owner, group);
      }
      for (const entity of batch.entities) group.entities.set(entity.id, entity);
      group.events.push(...batch.events);
    }
    // A neighbour that got ghosts last tick and none now gets an empty batch (a batch replaces the last).
    for (const owner of this.#ghostTargets) {
      if (!byOwner.has(owner)) byOwner.set(owner, { entities: new Map(), events: [] });
    }
    this.#ghostTargets.clear();
    for (const [owner, group] of byOwner) {
      if (group.entities.size > 0 || group.events.length > 0) this.#ghostTargets.add(owner);
      const batch: GhostBatch = {
        t: "ghost_batch",
        server: this.#options.serverId,
        world: this.#options.world.name,
        tick: result.tick,
        entities: [...group.entities.values()],
        events: group.events,
      };
      const bytes = encodeMessage(batch);
      if (bytes.length > WORLD_MAX_MESSAGE_BYTES) {
        this.#log.error({ owner, bytes: bytes.length }, "ghost batch too large: dropped");
        continue;
      }
      this.#nc.publish(this.#options.subjects.zone(owner, ZONE_GHOSTS_CHANNEL), bytes);
    }
  }

  // ---- handoff out ----

  #handOff(crossing: Crossing, tick: number): void {
    const { accountId } = crossing;
    const meta = this.#players.get(accountId);
    const owner = this.#map.owner(crossing.cell);
    if (
      meta === undefined ||
      owner === undefined ||
      owner.server === null ||
      owner.server === this.#options.serverId
    ) {
      // Nobody to hand to yet (no map, an unowned cell, or our lease has not arrived): retry next tick.
      this.#sim.keep(accountId);
      return;
    }
    const target = owner.server;
    // The same id while the target, the cell and its epoch stay the same (a retry after a refusal).
    const previous = this.#retryIds.get(accountId);
    const handoffId =
      previous !== undefined &&
      previous.target === target &&
      previous.cell === crossing.cell &&
      previous.cellEpoch === owner.epoch
        ? previous.handoffId
        : randomUUID();
    if (previous?.handoffId === handoffId) this.#counters.handoffRetries++;
    this.#retryIds.set(accountId, { handoffId, target, cell: crossing.cell, cellEpoch: owner.epoch });
    const pending: OutgoingHandoff = {
      handoffId,
      target,
      cell: crossing.cell,
      frozenAt: performance.now(),
      held: [],
      detach: undefined,
      offer: undefined,
      attempts: 0,
    };
    this.#outgoing.set(accountId, pending);
    // The source's checkpoint at the freeze: the state it hands over, in the cell it held the player
    // in (a crash before the target accepts restores the player there; the target's write, one
    // player epoch higher, supersedes it whichever lands first).
    void this.#checkpoint(crossing.snapshot, meta, true);
    pending.offer = {
      t: "handoff_offer",
      handoffId,
      accountId,
      sessionId: meta.sessionId,
      username: meta.username,
      gateway: meta.gateway,
      fromServer: this.#options.serverId,
      cell: crossing.cell,
      cellEpoch: owner.epoch,
      playerEpoch: meta.epoch + 1,
      lastSeq: crossing.snapshot.lastSeq,
      tick,
      state: crossing.snapshot,
    };
    this.#sendOffer(accountId, pending);
  }

  /**
   * Sends (or re-sends, same id) the offer. A definitive answer settles the handoff; no answer (a
   * timeout, no responders, an answer that does not decode) leaves it uncertain: the target may have
   * accepted and only the answer was lost. The player then stays frozen and the same offer is re-sent
   * next tick (the target answers a known id as it did the first time), and after the last attempt
   * the checkpoint decides: a write with the offer's player epoch or above means the target took the
   * player. Unfreezing on a mere timeout could leave two servers applying the player's inputs.
   */
  #sendOffer(accountId: string, pending: OutgoingHandoff): void {
    if (pending.offer === undefined) return;
    pending.attempts++;
    if (pending.attempts > 1) this.#counters.handoffRetries++;
    // Queued, and sent when the current turn ends: the offers of one tick to one target travel in
    // one request (`handoff_offers`), a lone offer as `handoff_offer`.
    let queue = this.#offerQueue.get(pending.target);
    if (queue === undefined) {
      queue = [];
      this.#offerQueue.set(pending.target, queue);
    }
    queue.push({ accountId, pending });
    if (!this.#offerFlushQueued) {
      this.#offerFlushQueued = true;
      queueMicrotask(() => this.#flushOffers());
    }
  }

  /** Sends the queued offers: per target, one request per batch of up to {@link MAX_HANDOFF_BATCH}. */
  #flushOffers(): void {
    this.#offerFlushQueued = false;
    const queues = [...this.#offerQueue];
    this.#offerQueue.clear();
    for (const [target, queue] of queues) {
      const live = queue.filter(({ accountId, pending }) => this.#outgoing.get(accountId) === pending);
      // A target that left a batch unanswered may not know `handoff_offers` (a server of an older
      // version, during a rolling upgrade): it gets lone offers for a while.
      if ((this.#loneOffersUntil.get(target) ?? 0) > Date.now()) {
        for (const queued of live) this.#requestOffer(target, queued);
        continue;
      }
      for (let i = 0; i < live.length; i += MAX_HANDOFF_BATCH) {
        const part = live.slice(i, i + MAX_HANDOFF_BATCH);
        if (part.length === 1) this.#requestOffer(target, part[0] as QueuedOffer);
        else this.#requestOffers(target, part);
      }
    }
  }

  /** One offer, one request (`handoff_offer`; its trace context in the NATS headers). */
  #requestOffer(target: string, { accountId, pending }: QueuedOffer): void {
    const offer = pending.offer as HandoffOffer;
    this.#nc
      .request(this.#options.subjects.zone(target, ZONE_HANDOFF_CHANNEL), encodeMessage(offer), {
        timeout: this.#options.handoffTimeoutMs,
        headers: this.#telemetry.offerHeaders(offer, target),
      })
      .then(
        (msg) => {
          const decoded = zoneControlReplyCodec().decode(msg.data);
          const answer = decoded.ok && decoded.message.t === "handoff_accept" ? decoded.message : undefined;
          this.#settleOffer(accountId, pending, answer);
        },
        () => this.#uncertain(accountId, pending),
      );
  }

  /**
   * Many offers, one request (`handoff_offers`, each entry with its own trace context); a batch too
   * large for one message is halved until it fits. An answer missing or not matching its offer
   * leaves that offer uncertain, as a lost answer does.
   */
  #requestOffers(target: string, part: readonly QueuedOffer[]): void {
    const message: HandoffOffers = {
      t: "handoff_offers",
      fromServer: this.#options.serverId,
      offers: part.map(({ pending }) => {
        const { t: _t, ...offer } = pending.offer as HandoffOffer;
        const trace = this.#telemetry.offerTrace(pending.offer as HandoffOffer, target);
        return trace === undefined ? offer : { ...offer, trace };
      }),
    };
    const bytes = encodeMessage(message);
    if (bytes.length > WORLD_MAX_MESSAGE_BYTES && part.length > 1) {
      const half = Math.ceil(part.length / 2);
      this.#requestOffers(target, part.slice(0, half));
      this.#requestOffers(target, part.slice(half));
      return;
    }
    this.#nc
      .request(this.#options.subjects.zone(target, ZONE_HANDOFF_CHANNEL), bytes, {
        // The target installs and checkpoints every entry before answering: a batch gets longer.
        timeout: this.#options.handoffTimeoutMs + part.length * BATCH_TIMEOUT_PER_OFFER_MS,
      })
      .then(
        (msg) => {
          const decoded = zoneControlReplyCodec().decode(msg.data);
          const answers =
            decoded.ok && decoded.message.t === "handoff_answers" ? decoded.message.answers : [];
          part.forEach(({ accountId, pending }, i) => {
            this.#settleOffer(accountId, pending, answers[i]);
          });
        },
        () => {
          this.#loneOffersUntil.set(target, Date.now() + LONE_OFFERS_MS);
          for (const { accountId, pending } of part) this.#uncertain(accountId, pending);
        },
      );
  }

  /** What an offer's answer (or its absence) means for the player. */
  #settleOffer(
    accountId: string,
    pending: OutgoingHandoff,
    answer: Omit<HandoffAccept, "t"> | undefined,
  ): void {
    if (answer === undefined || answer.handoffId !== pending.handoffId) this.#uncertain(accountId, pending);
    else if (answer.accepted) this.#handOffDone(accountId, pending, true, "accepted");
    else if (answer.reason === GameServerErrorCode.StaleEpoch)
      void this.#settleByCheckpoint(accountId, pending);
    else this.#handOffDone(accountId, pending, false, answer.reason ?? "refused");
  }

  #uncertain(accountId: string, pending: OutgoingHandoff): void {
    if (this.#outgoing.get(accountId) !== pending) return;
    if (pending.attempts < this.#options.handoffAttempts && !this.#stopped) {
      // One timer for every offer left uncertain in this turn (a batch that timed out): re-sent
      // together, so they travel as one batch again.
      this.#retries.set(accountId, pending);
      this.#retryTimer ??= setTimeout(() => {
        this.#retryTimer = undefined;
        const due = [...this.#retries];
        this.#retries.clear();
        for (const [id, waiting] of due) {
          if (this.#outgoing.get(id) === waiting && !this.#stopped) this.#sendOffer(id, waiting);
        }
      }, tickMs(this.#options.world));
      return;
    }
    void this.#settleByCheckpoint(accountId, pending);
  }

  async #settleByCheckpoint(accountId: string, pending: OutgoingHandoff): Promise<void> {
    const checkpoint = await this.#store.read(accountId).catch(() => undefined);
    const taken =
      checkpoint !== undefined &&
      checkpoint.epoch >= (pending.offer?.playerEpoch ?? Number.POSITIVE_INFINITY) &&
      checkpoint.server !== this.#options.serverId;
    if (taken) pending.target = checkpoint.server;
    this.#handOffDone(accountId, pending, taken, taken ? "taken (checkpoint)" : "no answer");
  }

  #handOffDone(accountId: string, pending: OutgoingHandoff, accepted: boolean, reason: string): void {
    if (this.#outgoing.get(accountId) !== pending) return;
    this.#telemetry.offerDone(pending.handoffId, accepted, reason, performance.now() - pending.frozenAt);
    this.#outgoing.delete(accountId);
    if (this.#stopped && !accepted) return;
    if (accepted) {
      if (this.#history !== undefined) {
        const meta = this.#players.get(accountId);
        const seq = this.#sim.snapshot(accountId)?.lastSeq ?? 0;
        this.#history.out(accountId, meta?.epoch ?? 0, seq, pending.target);
      }
      this.#sim.release(accountId);
      this.#players.delete(accountId);
      this.#retryIds.delete(accountId);
      this.#forwards.set(accountId, {
        target: pending.target,
        until: Date.now() + this.#options.forwardGraceMs,
      });
      this.#stall.record(performance.now() - pending.frozenAt);
      this.#counters.handoffsOut++;
      this.#observer.handoff(
        playerEntityId(accountId),
        pending.target,
        pending.cell,
        pending.offer?.playerEpoch ?? 0,
        performance.now() - pending.frozenAt,
      );
      this.#forward(pending.target, pending.held);
      if (pending.detach !== undefined) {
        this.#nc.publish(
          this.#options.subjects.zone(pending.target, ZONE_DETACH_CHANNEL),
          encodeMessage(pending.detach),
        );
      }
      this.#log.debug({ accountId, to: pending.target, handoffId: pending.handoffId, reason }, "handed off");
      return;
    }
    this.#sim.keep(accountId);
    this.#log.debug({ accountId, to: pending.target, reason }, "handoff not accepted: kept, retrying");
    for (const input of pending.held) this.#applyInput(input.accountId, input.seq, input.data);
    if (pending.detach !== undefined) this.#onDetach(pending.detach);
  }

  /** Forwards held or late inputs to the player's new owner, one `zone_inputs` per gateway. */
  #forward(target: string, inputs: readonly HeldInput[]): void {
    const byGateway = new Map<string, ZoneInputs["inputs"][number][]>();
    for (const input of inputs) {
      let list = byGateway.get(input.gateway);
      if (list === undefined) {
        list = [];
        byGateway.set(input.gateway, list);
      }
      list.push({ accountId: input.accountId, seq: input.seq, data: input.data });
    }
    const subject = this.#options.subjects.zone(target, ZONE_INPUTS_CHANNEL);
    for (const [gateway, list] of byGateway) {
      this.#counters.inputsForwarded += list.length;
      this.#publishSplit(subject, list, 10_000, (part) => ({ t: "zone_inputs", gateway, inputs: part }));
    }
  }

  // ---- inboxes ----

  #subscribeAll(): void {
    const subjects = this.#options.subjects;
    const id = this.#options.serverId;
    const inbox = zoneInboxCodec();
    const control = zoneControlCodec();
    const maps = worldMapCodec();
    const on = (subject: string, handle: (msg: Msg) => void) => {
      this.#subscriptions.push(
        this.#nc.subscribe(subject, {
          callback: (error, msg) => {
            if (error !== null || this.#stopped) return;
            try {
              handle(msg);
            } catch (caught) {
              this.#log.error({ err: caught, subject }, "handler failed");
            }
          },
        }),
      );
    };
    on(subjects.zone(id, ZONE_INPUTS_CHANNEL), (msg) => {
      const decoded = inbox.decode(msg.data);
      if (!decoded.ok || decoded.message.t !== "zone_inputs") return void this.#counters.badMessages++;
      const inputs = decoded.message;
      if (this.#telemetry.enabled) this.#telemetry.inputs(msg, inputs.inputs, () => this.#onInputs(inputs));
      else this.#onInputs(inputs);
    });
    on(subjects.zone(id, ZONE_DETACH_CHANNEL), (msg) => {
      const decoded = inbox.decode(msg.data);
      if (!decoded.ok || decoded.message.t !== "player_detach") return void this.#counters.badMessages++;
      this.#onDetach(decoded.message);
    });
    on(subjects.zone(id, ZONE_INSTALL_CHANNEL), (msg) => {
      const decoded = control.decode(msg.data);
      if (!decoded.ok || decoded.message.t !== "player_install") return void this.#counters.badMessages++;
      void this.#onInstall(decoded.message).then(
        (answer) => msg.respond(encodeMessage(answer)),
        (error: unknown) => {
          this.#log.error({ err: error }, "install failed");
          msg.respond(encodeMessage(worldError(GameServerErrorCode.NotOwner, "install failed")));
        },
      );
    });
    on(subjects.zone(id, ZONE_HANDOFF_CHANNEL), (msg) => {
      const decoded = control.decode(msg.data);
      if (decoded.ok && decoded.message.t === "handoff_offers")
        return void this.#onOffers(msg, decoded.message);
      if (!decoded.ok || decoded.message.t !== "handoff_offer") return void this.#counters.badMessages++;
      const offer = decoded.message;
      void this.#telemetry
        .accept(msg, offer, () => this.#onOffer(offer))
        .then(
          (answer) => msg.respond(encodeMessage(answer)),
          (error: unknown) => {
            this.#log.error({ err: error }, "handoff in failed");
            msg.respond(encodeMessage(refusal(offer.handoffId, GameServerErrorCode.StaleEpoch)));
          },
        );
    });
    on(subjects.zone(id, ZONE_GHOSTS_CHANNEL), (msg) => {
      const decoded = control.decode(msg.data);
      if (!decoded.ok || decoded.message.t !== "ghost_batch") return void this.#counters.badMessages++;
      const batch = decoded.message;
      if (batch.server === id || batch.world !== this.#options.world.name) return;
      this.#sim.setGhosts(batch.server, batch.entities, batch.events ?? []);
    });
    on(worldMapSubject(subjects, this.#options.world.name), (msg) => {
      const decoded = maps.decode(msg.data);
      if (!decoded.ok) return void this.#counters.badMessages++;
      this.#map.apply(decoded.message);
    });
  }

  #onInputs(message: ZoneInputs): void {
    const now = Date.now();
    const forwards = new Map<string, HeldInput[]>();
    for (const input of message.inputs) {
      const { accountId, seq, data } = input;
      const pending = this.#outgoing.get(accountId);
      if (pending !== undefined) {
        pending.held.push({ gateway: message.gateway, accountId, seq, data });
        continue;
      }
      if (this.#players.has(accountId)) {
        this.#applyInput(accountId, seq, data);
        continue;
      }
      const forward = this.#forwards.get(accountId);
      if (forward !== undefined && forward.until > now) {
        let list = forwards.get(forward.target);
        if (list === undefined) {
          list = [];
          forwards.set(forward.target, list);
        }
        list.push({ gateway: message.gateway, accountId, seq, data });
        continue;
      }
      if (forward !== undefined) this.#forwards.delete(accountId);
      this.#counters.inputsDropped++;
    }
    for (const [target, list] of forwards) this.#forward(target, list);
  }

  #applyInput(accountId: string, seq: number, data: unknown): void {
    let result = this.#sim.input(accountId, seq, data);
    if (this.#rebase.has(accountId)) {
      // A player restored from a checkpoint after a crash: the gateway already trimmed the inputs the
      // dead owner acknowledged after that checkpoint, so its re-sent stream starts above the
      // checkpoint's seq. The first input after the restore re-bases the stream (docs/protocol.md
      // §12, crash recovery): the progress lost is bounded by one checkpoint interval, and the
      // stream flows again instead of stalling on a hole nobody can fill.
      if (result === "gap") {
        const snapshot = this.#sim.snapshot(accountId);
        if (snapshot !== undefined) {
          this.#sim.addPlayer({ ...snapshot, lastSeq: seq - 1 });
          this.#counters.inputsRebased++;
          result = this.#sim.input(accountId, seq, data);
        }
      }
      if (result === "applied") this.#rebase.delete(accountId);
    }
    if (result === "applied") this.#counters.inputsApplied++;
    else this.#counters.inputsRefused++;
  }

  /** Players the orphan sweep looks at: those held and not being handed off. */
  *#sweepable(): Iterable<string> {
    for (const accountId of this.#players.keys()) if (!this.#outgoing.has(accountId)) yield accountId;
  }

  /** The orphan sweep found no presence for a held player: their gateway is gone, the grace is over. */
  #orphaned(accountId: string): void {
    const meta = this.#players.get(accountId);
    if (meta === undefined || this.#outgoing.has(accountId)) return;
    this.#counters.orphansDropped++;
    this.#onDetach({
      t: "player_detach",
      accountId,
      sessionId: meta.sessionId,
      gateway: meta.gateway,
      reason: DetachReason.GraceExpired,
    });
  }

  #onDetach(detach: PlayerDetach): void {
    const { accountId } = detach;
    const meta = this.#players.get(accountId);
    if (meta === undefined) {
      const forward = this.#forwards.get(accountId);
      if (forward !== undefined && forward.until > Date.now()) {
        this.#nc.publish(
          this.#options.subjects.zone(forward.target, ZONE_DETACH_CHANNEL),
          encodeMessage(detach),
        );
      }
      return;
    }
    // A late detach from a gateway the player left, or of a session replaced, must not remove them.
    if (meta.gateway !== detach.gateway || meta.sessionId !== detach.sessionId) return;
    const pending = this.#outgoing.get(accountId);
    if (pending !== undefined) {
      pending.detach = detach;
      return;
    }
    const snapshot = this.#sim.removePlayer(accountId);
    this.#historyDrop(accountId, meta, snapshot, `detach ${detach.reason}`);
    this.#players.delete(accountId);
    this.#retryIds.delete(accountId);
    if (snapshot !== undefined) {
      void this.#checkpoint(snapshot, meta, false);
      // Logout, or the gateway's resume grace ended: the player's state goes to Postgres too.
      if (this.#options.persistence) {
        void this.#persister.save([{ epoch: meta.epoch, snapshot }], `detach ${detach.reason}`);
      }
    }
    this.#log.debug({ accountId, reason: detach.reason }, "player detached");
  }

  async #onInstall(install: PlayerInstall) {
    const { accountId, cell, cellEpoch } = install;
    const notOwner = () =>
      worldError(
        GameServerErrorCode.NotOwner,
        `${this.#options.serverId} does not hold ${cell}@${cellEpoch}`,
      );
    if (!this.#leases.holds(cell, cellEpoch) || this.#outgoing.has(accountId)) return notOwner();
    const existing = this.#players.get(accountId);
    if (existing !== undefined && install.resumed && existing.sessionId === install.sessionId) {
      // The session continues (maybe through another gateway): same entity, same epoch.
      existing.gateway = install.gateway;
      const snapshot = this.#sim.snapshot(accountId);
      return installed(
        this.#options.serverId,
        accountId,
        existing.cell,
        existing.epoch,
        snapshot?.lastSeq ?? 0,
      );
    }
    if (existing === undefined && this.#players.size >= this.#options.capacity) {
      return worldError(GameServerErrorCode.Full, `${this.#options.serverId} is full`);
    }
    let snapshot: PlayerSnapshot;
    let epoch: number;
    // Inputs of a new session start again at 1; the same session continues after its last input.
    if (existing !== undefined) {
      // A new session of a player already here: the live entity is newer than any checkpoint.
      const live = this.#sim.snapshot(accountId);
      epoch = existing.epoch + 1;
      snapshot = live ?? this.#sim.spawnPlayer(accountId, install.username, install.x, install.y);
      if (existing.sessionId !== install.sessionId) snapshot = { ...snapshot, lastSeq: 0 };
    } else {
      const checkpoint = await this.#store.read(accountId);
      // No Redis checkpoint (a first login, or Redis lost it): the state the lobby persisted, if any.
      // A failed load is logged by the persister; the player then starts fresh (fenced below the
      // persisted epoch, so the persisted state is not overwritten).
      const persisted =
        checkpoint === undefined && this.#options.persistence
          ? await this.#persister.load(accountId)
          : undefined;
      if (this.#players.has(accountId) || !this.#leases.holds(cell, cellEpoch)) return notOwner();
      if (persisted?.status === "failed") {
        // Neither Redis nor the lobby can say what this player has: a fresh character now would, a
        // few logins later, overwrite the saved one in Postgres. Retryable.
        return worldError(
          GameServerErrorCode.Unavailable,
          `${accountId} has no checkpoint and the lobby did not answer for its saved state; try again`,
        );
      }
      if (checkpoint !== undefined) {
        epoch = checkpoint.epoch + 1;
        snapshot = {
          ...checkpoint.snapshot,
          lastSeq: checkpoint.sessionId === install.sessionId ? checkpoint.seq : 0,
        };
      } else if (persisted?.status === "found") {
        // Postgres keeps no session: a new session starts at 1; a resumed one re-bases on its next input.
        epoch = persisted.epoch + 1;
        snapshot = { ...persisted.snapshot, lastSeq: 0 };
        if (!inBounds(this.#options.world, snapshot.x, snapshot.y)) {
          snapshot = { ...snapshot, ...cellCentre(this.#options.world, cell) };
        }
        if (install.resumed) this.#rebase.add(accountId);
        this.#log.info({ accountId, epoch }, "player restored from the lobby's persisted state");
      } else {
        epoch = 1;
        const at = inBounds(this.#options.world, install.x, install.y)
          ? { x: install.x, y: install.y }
          : cellCentre(this.#options.world, cell);
        snapshot = this.#sim.spawnPlayer(accountId, install.username, at.x, at.y);
      }
    }
    snapshot = { ...snapshot, username: install.username };
    this.#sim.addPlayer(snapshot);
    const meta: PlayerMeta = {
      sessionId: install.sessionId,
      username: install.username,
      gateway: install.gateway,
      epoch,
      cell,
    };
    this.#players.set(accountId, meta);
    this.#history?.own(accountId, epoch, snapshot.lastSeq, "install");
    this.#forwards.delete(accountId);
    this.#retryIds.delete(accountId);
    if (!(await this.#checkpoint(snapshot, meta, true))) {
      this.#historyDrop(accountId, meta, this.#sim.removePlayer(accountId), "install refused");
      this.#players.delete(accountId);
      return worldError(GameServerErrorCode.StaleEpoch, `checkpoint of ${accountId} refused: stale epoch`);
    }
    this.#log.debug({ accountId, epoch, cell }, "player installed");
    return installed(this.#options.serverId, accountId, cell, epoch, snapshot.lastSeq);
  }

  /**
   * A batch of offers: each handled as a lone offer would be, all at once (their checkpoints go to
   * Redis together), then one answer per offer, in order.
   */
  async #onOffers(msg: Msg, batch: HandoffOffers): Promise<void> {
    const answers = await Promise.all(
      batch.offers.map(({ trace, ...fields }) => {
        const offer: HandoffOffer = { t: "handoff_offer", ...fields };
        return this.#telemetry
          .acceptTraced(trace, offer, () => this.#onOffer(offer))
          .catch((error: unknown) => {
            this.#log.error({ err: error, accountId: offer.accountId }, "handoff in failed");
            return refusal(offer.handoffId, GameServerErrorCode.StaleEpoch);
          });
      }),
    );
    const reply: HandoffAnswers = {
      t: "handoff_answers",
      answers: answers.map(({ t: _t, ...answer }) => answer),
    };
    msg.respond(encodeMessage(reply));
  }

  /**
   * One offer. While an install of the player is in progress here (its checkpoint not yet written),
   * another offer for them (a re-send after a timeout, or the same transfer under another id) waits
   * for it and is then answered from its outcome: never "accepted" before the checkpoint is written,
   * nor a second install meanwhile.
   */
  async #onOffer(offer: HandoffOffer): Promise<HandoffAccept> {
    for (;;) {
      const inProgress = this.#installing.get(offer.accountId);
      if (inProgress === undefined) break;
      await inProgress.catch(() => undefined);
    }
    const install = this.#installOffer(offer);
    this.#installing.set(offer.accountId, install);
    try {
      return await install;
    } finally {
      if (this.#installing.get(offer.accountId) === install) this.#installing.delete(offer.accountId);
    }
  }

  async #installOffer(offer: HandoffOffer): Promise<HandoffAccept> {
    const { accountId, handoffId } = offer;
    const remembered = this.#accepted.get(handoffId);
    if (remembered !== undefined) return remembered.answer;
    if (!this.#leases.holds(offer.cell, offer.cellEpoch))
      return refusal(handoffId, GameServerErrorCode.NotOwner);
    const existing = this.#players.get(accountId);
    if (existing !== undefined) {
      if (existing.epoch === offer.playerEpoch && !this.#outgoing.has(accountId)) {
        // The same transfer under another id (an answer was lost and the map changed): already here.
        return this.#remember({ t: "handoff_accept", handoffId, accepted: true });
      }
      if (existing.epoch > offer.playerEpoch) return refusal(handoffId, GameServerErrorCode.StaleEpoch);
    }
    if (existing === undefined && this.#players.size >= this.#options.capacity) {
      return refusal(handoffId, GameServerErrorCode.Full);
    }
    const state = asSnapshot(offer.state);
    if (state === undefined) return refusal(handoffId, GameServerErrorCode.BadRequest);
    const snapshot: PlayerSnapshot = {
      accountId,
      username: offer.username,
      x: state.x,
      y: state.y,
      lastSeq: offer.lastSeq,
      state: state.state,
    };
    this.#outgoing.delete(accountId);
    this.#sim.addPlayer(snapshot);
    const meta: PlayerMeta = {
      sessionId: offer.sessionId,
      username: offer.username,
      gateway: offer.gateway,
      epoch: offer.playerEpoch,
      cell: offer.cell,
    };
    this.#players.set(accountId, meta);
    this.#history?.own(accountId, offer.playerEpoch, offer.lastSeq, "handoff", offer.fromServer);
    this.#forwards.delete(accountId);
    this.#retryIds.delete(accountId);
    // Checkpoint before accepting: from the accept on, the target's state is the player's truth.
    if (!(await this.#checkpoint(snapshot, meta, true))) {
      if (this.#players.get(accountId) === meta) {
        this.#historyDrop(accountId, meta, this.#sim.removePlayer(accountId), "handoff refused");
        this.#players.delete(accountId);
      }
      return refusal(handoffId, GameServerErrorCode.StaleEpoch);
    }
    if (this.#players.get(accountId) !== meta) return refusal(handoffId, GameServerErrorCode.StaleEpoch);
    this.#routeSwitch(accountId, meta, offer.cell);
    this.#counters.handoffsIn++;
    return this.#remember({ t: "handoff_accept", handoffId, accepted: true });
  }

  #remember(answer: HandoffAccept): HandoffAccept {
    const now = Date.now();
    this.#accepted.set(answer.handoffId, { answer, at: now });
    // Forget the oldest (insertion order is time order).
    for (const [id, entry] of this.#accepted) {
      if (entry.at > now - HANDOFF_MEMORY_MS && this.#accepted.size <= 100_000) break;
      this.#accepted.delete(id);
    }
    return answer;
  }

  #routeSwitch(accountId: string, meta: PlayerMeta, cell: string): void {
    this.#nc.publish(
      this.#options.subjects.gateway(meta.gateway, GATEWAY_ROUTES_CHANNEL),
      encodeMessage({
        t: "route_switch",
        accountId,
        server: this.#options.serverId,
        zone: cell,
        world: this.#options.world.name,
        epoch: meta.epoch,
      }),
      { headers: this.#telemetry.routeHeaders(accountId) },
    );
  }

  // ---- checkpoints ----

  #cellOf(snapshot: PlayerSnapshot): string {
    return inBounds(this.#options.world, snapshot.x, snapshot.y)
      ? cellAt(this.#options.world, snapshot.x, snapshot.y)
      : "";
  }

  /**
   * Writes the player's checkpoint under the lease of the held cell they are in (or, when they stand
   * in a cell not held, e.g. frozen at a crossing, the held cell they were last in). Returns whether
   * it was written; false when no held cell applies or the fence refused it.
   */
  async #checkpoint(snapshot: PlayerSnapshot, meta: PlayerMeta, online: boolean): Promise<boolean> {
    const here = this.#cellOf(snapshot);
    const cell = this.#leases.get(here) !== undefined ? here : meta.cell;
    const lease = this.#leases.get(cell);
    if (lease === undefined) return false;
    meta.cell = cell;
    try {
      const result = await this.#store.write({
        snapshot,
        cell,
        cellEpoch: lease.epoch,
        epoch: meta.epoch,
        server: this.#options.serverId,
        gateway: meta.gateway,
        sessionId: meta.sessionId,
        online,
      });
      if (result !== "ok") {
        this.#counters.checkpointsRefused++;
        this.#log.warn({ accountId: snapshot.accountId, cell, result }, "checkpoint refused");
        const { accountId } = snapshot;
        if (
          result === "stale_player" &&
          this.#players.get(accountId) === meta &&
          !this.#outgoing.has(accountId)
        ) {
          // Another server owns the player under a higher epoch (an answer lost, a restore elsewhere):
          // this copy is stale, stop acting for it.
          this.#historyDrop(accountId, meta, this.#sim.removePlayer(accountId), "stale epoch");
          this.#players.delete(accountId);
          this.#log.warn(
            { accountId, epoch: meta.epoch },
            "player owned elsewhere at a higher epoch: dropped",
          );
        }
        return false;
      }
      return true;
    } catch (error) {
      this.#log.error({ err: error, accountId: snapshot.accountId }, "checkpoint failed");
      return false;
    }
  }
}

function installed(server: string, accountId: string, cell: string, epoch: number, ack: number) {
  return { t: "player_installed" as const, accountId, server, cell, epoch, ack };
}

function worldError(code: GameServerErrorCode, message: string) {
  return { t: "world_error" as const, code, message };
}

function refusal(handoffId: string, reason: GameServerErrorCode): HandoffAccept {
  return { t: "handoff_accept", handoffId, accepted: false, reason };
}

/** The snapshot a handoff offer carries in `state`, checked. */
function asSnapshot(value: unknown): { x: number; y: number; state: unknown } | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const { x, y } = record;
  if (typeof x !== "number" || typeof y !== "number" || !Number.isFinite(x) || !Number.isFinite(y)) {
    return undefined;
  }
  return { x, y, state: record.state };
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
