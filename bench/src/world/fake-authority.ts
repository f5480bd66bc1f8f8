/**
 * The authority as the world benchmarks need it, over real NATS and Redis: it answers `zone_register`
 * and `zone_heartbeat` with the leases the benchmark chose (renewed at each heartbeat), writes each
 * lease's epoch to `worldKeys.cellEpochs` as the authority does (the checkpoint fence reads it),
 * publishes `world_map` on every change and every 100 ms, and installs players on their cell's owner
 * with `player_install` requests. Ported from the gameserver's test helper (a benchmark may not import
 * a service's tests); the real authority lives in services/authority.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import {
  authorityRequestCodec,
  authoritySubject,
  encodeMessage,
  type PlayerInstalled,
  type Subjects,
  type WorldKeys,
  worldMapSubject,
  ZONE_INSTALL_CHANNEL,
  zoneControlReplyCodec,
} from "@meridian/protocol";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Redis } from "ioredis";

/** A cell's lease. */
export interface BenchLease {
  readonly server: string;
  readonly epoch: number;
}

/** What {@link BenchAuthority.install} sends (the rest is filled in). */
export interface InstallRequest {
  readonly server: string;
  readonly accountId: string;
  readonly cell: string;
  readonly gateway: string;
  readonly x: number;
  readonly y: number;
}

const HEARTBEAT_MS = 100;
const LEASE_MS = 5_000;
const MAP_EVERY_MS = 100;
const INSTALL_TIMEOUT_MS = 10_000;

export class BenchAuthority {
  readonly #nc: NatsConnection;
  readonly #redis: Redis;
  readonly #subjects: Subjects;
  readonly #world: string;
  readonly #keys: WorldKeys;
  readonly #subscriptions: Subscription[] = [];
  /** Cell → its lease. */
  readonly leases = new Map<string, BenchLease>();
  /** Every heartbeat's tick p99 (the server's p99 over its last heartbeat period), with its arrival. */
  readonly tickP99: { readonly server: string; readonly at: number; readonly ms: number }[] = [];
  #version = 0;
  #mapTimer: NodeJS.Timeout | undefined;

  constructor(
    nc: NatsConnection,
    redis: Redis,
    options: { subjects: Subjects; world: string; keys: WorldKeys },
  ) {
    this.#nc = nc;
    this.#redis = redis;
    this.#subjects = options.subjects;
    this.#world = options.world;
    this.#keys = options.keys;
  }

  async start(): Promise<void> {
    const codec = authorityRequestCodec();
    for (const verb of ["zone_register", "zone_heartbeat"] as const) {
      this.#subscriptions.push(
        this.#nc.subscribe(authoritySubject(this.#subjects, verb), {
          callback: (error, msg) => {
            if (error !== null) return;
            const decoded = codec.decode(msg.data);
            if (!decoded.ok) return;
            const request = decoded.message;
            if (request.t === "zone_register") {
              msg.respond(
                encodeMessage({
                  t: "zone_registered",
                  serverId: request.serverId,
                  heartbeatMs: HEARTBEAT_MS,
                  leaseMs: LEASE_MS,
                  leaderEpoch: 1,
                }),
              );
              return;
            }
            if (request.tickP99Ms !== undefined) {
              this.tickP99.push({ server: request.serverId, at: performance.now(), ms: request.tickP99Ms });
            }
            const expiresAt = Date.now() + LEASE_MS;
            const leases = [...this.leases]
              .filter(([, lease]) => lease.server === request.serverId)
              .map(([cell, lease]) => ({ cell, epoch: lease.epoch, expiresAt }));
            msg.respond(
              encodeMessage({ t: "zone_leases", serverId: request.serverId, leaderEpoch: 1, leases }),
            );
          },
        }),
      );
    }
    this.#mapTimer = setInterval(() => this.publishMap(), MAP_EVERY_MS);
    await this.#nc.flush();
  }

  /** Leases `cell` to `server` under a new epoch (above every earlier one) and publishes the map. */
  async lease(cell: string, server: string): Promise<number> {
    const epoch = Number(await this.#redis.hincrby(`${this.#keys.cellEpochs}:counter`, cell, 1));
    await this.#redis.hset(this.#keys.cellEpochs, cell, String(epoch));
    this.leases.set(cell, { server, epoch });
    this.publishMap();
    return epoch;
  }

  publishMap(): void {
    this.#version++;
    this.#nc.publish(
      worldMapSubject(this.#subjects, this.#world),
      encodeMessage({
        t: "world_map",
        world: this.#world,
        leaderEpoch: 1,
        version: this.#version,
        cells: [...this.leases].map(([cell, lease]) => ({ cell, server: lease.server, epoch: lease.epoch })),
      }),
    );
  }

  /**
   * Installs a player on the owner of their cell as the authority does after a login (a new session).
   * @throws Error unless the answer is `player_installed`.
   */
  async install(request: InstallRequest): Promise<PlayerInstalled> {
    const lease = this.leases.get(request.cell);
    if (lease === undefined) throw new Error(`install: ${request.cell} is not leased`);
    const msg = await this.#nc.request(
      this.#subjects.zone(request.server, ZONE_INSTALL_CHANNEL),
      encodeMessage({
        t: "player_install",
        accountId: request.accountId,
        sessionId: randomUUID(),
        username: `walker${request.accountId}`,
        gateway: request.gateway,
        resumed: false,
        cell: request.cell,
        cellEpoch: lease.epoch,
        x: request.x,
        y: request.y,
      }),
      { timeout: INSTALL_TIMEOUT_MS },
    );
    const decoded = zoneControlReplyCodec().decode(msg.data);
    if (!decoded.ok) throw new Error(`install ${request.accountId}: undecodable answer`);
    const reply = decoded.message;
    if (reply.t !== "player_installed") {
      throw new Error(`install ${request.accountId} on ${request.server}: ${JSON.stringify(reply)}`);
    }
    return reply;
  }

  async stop(): Promise<void> {
    clearInterval(this.#mapTimer);
    await Promise.allSettled(this.#subscriptions.splice(0).map((s) => s.drain()));
  }
}
