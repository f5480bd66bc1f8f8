/**
 * A small stand-in for the authority over real NATS and Redis (the real one lives in
 * services/authority and is tested there): it answers `zone_register` and `zone_heartbeat` with the
 * leases a test chooses, writes each lease's epoch to `worldKeys.cellEpochs` as the authority does,
 * and publishes `world_map` on demand. It can answer with a `world_error` code instead.
 */
import {
  authorityRequestCodec,
  authoritySubject,
  encodeMessage,
  type Subjects,
  type WorldKeys,
  worldMapSubject,
} from "@meridian/protocol";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Redis } from "ioredis";

export interface FakeLease {
  server: string;
  epoch: number;
  expiresAt: number;
}

export class FakeAuthority {
  readonly #nc: NatsConnection;
  readonly #redis: Redis;
  readonly #subjects: Subjects;
  readonly #world: string;
  readonly #keys: WorldKeys;
  readonly #subscriptions: Subscription[] = [];
  /** Cell → its lease. */
  readonly leases = new Map<string, FakeLease>();
  /** Registrations received, by server. */
  readonly registrations = new Map<string, number>();
  /** Heartbeats received, by server. */
  readonly heartbeats = new Map<string, number>();
  /** When set, answers this server's requests with `world_error` of this code. */
  readonly errors = new Map<string, string>();
  /** When set, answers this server's next heartbeat (once) with `world_error` of this code. */
  readonly nextHeartbeatError = new Map<string, string>();
  leaderEpoch = 1;
  heartbeatMs = 100;
  leaseMs = 2_000;
  #version = 0;
  #mapTimer: NodeJS.Timeout | undefined;
  /** While true, the fake does not answer (an authority outage). */
  silent = false;

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
          callback: (_error, msg) => {
            if (this.silent) return;
            const decoded = codec.decode(msg.data);
            if (!decoded.ok) return;
            const request = decoded.message;
            let code = this.errors.get(request.serverId);
            if (code === undefined && request.t === "zone_heartbeat") {
              code = this.nextHeartbeatError.get(request.serverId);
              this.nextHeartbeatError.delete(request.serverId);
            }
            if (code !== undefined) {
              msg.respond(encodeMessage({ t: "world_error", code, message: "refused by the fake" }));
              return;
            }
            if (request.t === "zone_register") {
              this.registrations.set(request.serverId, (this.registrations.get(request.serverId) ?? 0) + 1);
              msg.respond(
                encodeMessage({
                  t: "zone_registered",
                  serverId: request.serverId,
                  heartbeatMs: this.heartbeatMs,
                  leaseMs: this.leaseMs,
                  leaderEpoch: this.leaderEpoch,
                }),
              );
              return;
            }
            this.heartbeats.set(request.serverId, (this.heartbeats.get(request.serverId) ?? 0) + 1);
            const now = Date.now();
            const leases = [];
            for (const [cell, lease] of this.leases) {
              if (lease.server !== request.serverId) continue;
              lease.expiresAt = now + this.leaseMs;
              leases.push({ cell, epoch: lease.epoch, expiresAt: lease.expiresAt });
            }
            msg.respond(
              encodeMessage({
                t: "zone_leases",
                serverId: request.serverId,
                leaderEpoch: this.leaderEpoch,
                leases,
              }),
            );
          },
        }),
      );
    }
    // As the authority does: the map on every change and periodically.
    this.#mapTimer = setInterval(() => {
      if (!this.silent) this.publishMap();
    }, 100);
    await this.#nc.flush();
  }

  /** Leases `cell` to `server` under a new epoch (above every earlier one), and publishes the map. */
  async lease(cell: string, server: string): Promise<number> {
    const epoch = Number(await this.#redis.hincrby(`${this.#keys.cellEpochs}:counter`, cell, 1));
    await this.#redis.hset(this.#keys.cellEpochs, cell, String(epoch));
    this.leases.set(cell, { server, epoch, expiresAt: Date.now() + this.leaseMs });
    this.publishMap();
    return epoch;
  }

  /** Takes `cell` away from its server (the next heartbeat drops it). */
  unlease(cell: string): void {
    this.leases.delete(cell);
    this.publishMap();
  }

  publishMap(): void {
    this.#version++;
    this.#nc.publish(
      worldMapSubject(this.#subjects, this.#world),
      encodeMessage({
        t: "world_map",
        world: this.#world,
        leaderEpoch: this.leaderEpoch,
        version: this.#version,
        cells: [...this.leases].map(([cell, lease]) => ({ cell, server: lease.server, epoch: lease.epoch })),
      }),
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.#mapTimer);
    await Promise.allSettled(this.#subscriptions.splice(0).map((s) => s.drain()));
  }
}
