/**
 * The authority: one instance per process; any number of processes per world, of which exactly one
 * leads at a time (`leadership/leader-election.ts`). While it leads, an {@link AuthorityTerm} does the
 * work; when it loses the key (or a fenced write shows someone else holds it), the term is closed —
 * subscriptions dropped, timers stopped — and the instance campaigns again as a standby.
 *
 * @module
 */
import { type Subjects, worldKeys } from "@meridian/protocol";
import type { WorldConfig } from "@meridian/world";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { type DeposedReason, LeaderElection, type LeaderTerm } from "./leadership/leader-election.js";
import { AuthorityTerm, type TermStats } from "./leases/authority-term.js";
import { QuarantineList } from "./leases/quarantine.js";
import { WorldStore } from "./leases/world-store.js";
import { type CredentialVerifier, LobbyCredentialVerifier } from "./lobby/credential-verifier.js";

/** The authority's options (`config.ts` builds them from the environment). */
export interface AuthorityOptions {
  /** This instance's id (in the leader key and logs). */
  readonly id: string;
  readonly world: WorldConfig;
  readonly redisPrefix: string;
  readonly subjects: Subjects;
  /** A lease lasts this long from the heartbeat that renewed it, ms. */
  readonly leaseMs: number;
  /** Heartbeat period asked of zone servers; the map is re-published as often, ms. */
  readonly heartbeatMs: number;
  /** Time-to-live of the leader key, ms. */
  readonly leaderTtlMs: number;
  /** Period of the re-verification of every credential with the lobby, ms (below `leaseMs`). */
  readonly verifyMs: number;
  /** How long a quarantined server may not register, ms. */
  readonly quarantineMs: number;
  /** Bound on one `player_install`, ms. */
  readonly attachTimeoutMs: number;
  /** Bound on one `server_verify`, ms. */
  readonly lobbyTimeoutMs: number;
  /** Where players without a checkpoint start. */
  readonly spawn: { readonly x: number; readonly y: number };
}

export interface AuthorityDeps {
  readonly redis: Redis;
  readonly nc: NatsConnection;
  readonly logger: Logger;
  /** Default: the lobby's `server_verify` over `nc`. */
  readonly verifier?: CredentialVerifier;
}

/** What {@link Authority.stats} reports. */
export interface AuthorityStats {
  readonly id: string;
  readonly leader: boolean;
  /** The current term's state, while leading. */
  readonly term: TermStats | undefined;
}

export class Authority {
  readonly #options: AuthorityOptions;
  readonly #deps: AuthorityDeps;
  readonly #log: Logger;
  readonly #election: LeaderElection;
  readonly #store: WorldStore;
  readonly #verifier: CredentialVerifier;
  readonly #quarantine = new QuarantineList();
  #term: AuthorityTerm | undefined;
  #stopped = false;

  constructor(deps: AuthorityDeps, options: AuthorityOptions) {
    this.#options = Object.freeze({ ...options });
    this.#deps = deps;
    this.#log = deps.logger.child({ authority: options.id, world: options.world.name });
    const keys = worldKeys(options.redisPrefix, options.world.name);
    this.#store = new WorldStore(deps.redis, { redisPrefix: options.redisPrefix, world: options.world.name });
    this.#verifier =
      deps.verifier ??
      new LobbyCredentialVerifier(deps.nc, options.subjects, { timeoutMs: options.lobbyTimeoutMs });
    this.#election = new LeaderElection(
      deps.redis,
      { id: options.id, leaderKey: keys.leader, epochKey: keys.leaderEpoch, ttlMs: options.leaderTtlMs },
      this.#log,
      { elected: (term) => this.#elected(term), deposed: (term, reason) => this.#deposed(term, reason) },
    );
  }

  /** Starts campaigning; the instance leads as soon as it takes the key. */
  start(): void {
    this.#election.start();
  }

  /** Stops leading (gives the key up at once) and campaigning. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#election.stop();
    this.#term?.close();
    this.#term = undefined;
  }

  /** Whether this instance leads now. */
  get isLeader(): boolean {
    return this.#election.term !== undefined;
  }

  /** The current leader term, while leading. */
  get leaderTerm(): LeaderTerm | undefined {
    return this.#election.term;
  }

  stats(): AuthorityStats {
    return { id: this.#options.id, leader: this.isLeader, term: this.#term?.stats() };
  }

  #elected(leader: LeaderTerm): void {
    const term = new AuthorityTerm(leader, this.#options, {
      nc: this.#deps.nc,
      redis: this.#deps.redis,
      store: this.#store,
      verifier: this.#verifier,
      quarantine: this.#quarantine,
      logger: this.#log,
      onFenced: () => void this.#election.resign(),
    });
    this.#term = term;
    term.open().catch((error: unknown) => {
      this.#log.error({ err: error }, "could not open the term; resigning");
      term.close();
      if (this.#term === term) void this.#election.resign();
    });
  }

  #deposed(_leader: LeaderTerm, reason: DeposedReason): void {
    this.#term?.close();
    this.#term = undefined;
    if (!this.#stopped) this.#log.warn({ reason }, "deposed: back to standby");
  }
}
