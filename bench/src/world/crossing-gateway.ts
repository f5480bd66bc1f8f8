/**
 * A gateway's inboxes as the handoff benchmark sees them (`gw.<id>.updates` and `gw.<id>.routes`,
 * decoded with the protocol's codec), timestamped on arrival (`performance.now()` of the bench
 * process), and a way to send `zone_inputs` as a gateway does.
 *
 * It keeps, per zone server: the arrival of the first `gateway_updates` of each tick, and for each
 * player the last tick (and its arrival) whose message carried them; per player the newest
 * `route_switch` (epoch, server, arrival), and the first arrival of an update from a given server at
 * a given epoch (the first view from the new owner after a handoff).
 *
 * @module
 */
import {
  encodeMessage,
  GATEWAY_ROUTES_CHANNEL,
  GATEWAY_UPDATES_CHANNEL,
  gatewayInboxCodec,
  type Subjects,
  ZONE_INPUTS_CHANNEL,
} from "@meridian/protocol";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";

/** When a message was seen. */
export interface Seen {
  readonly tick: number;
  /** Arrival, ms (performance.now() of this process). */
  readonly at: number;
}

/** A `route_switch` received. */
export interface RouteSeen {
  readonly server: string;
  readonly epoch: number;
  readonly at: number;
}

export class CrossingGateway {
  readonly id: string;
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #subscriptions: Subscription[] = [];
  /** server → tick → arrival of its first message of that tick. */
  readonly #firstOfTick = new Map<string, Map<number, number>>();
  /** server → accountId → last message carrying the player. */
  readonly #lastSeen = new Map<string, Map<string, Seen>>();
  /** accountId → newest route. */
  readonly #routes = new Map<string, RouteSeen>();
  /** `${server}/${epoch}/${accountId}` → first arrival of an update from that server at that epoch. */
  readonly #firstAtEpoch = new Map<string, number>();
  /** Messages that did not decode. */
  bad = 0;
  updatesMessages = 0;

  constructor(nc: NatsConnection, subjects: Subjects, id: string) {
    this.#nc = nc;
    this.#subjects = subjects;
    this.id = id;
  }

  async start(): Promise<void> {
    const codec = gatewayInboxCodec();
    for (const channel of [GATEWAY_UPDATES_CHANNEL, GATEWAY_ROUTES_CHANNEL]) {
      this.#subscriptions.push(
        this.#nc.subscribe(this.#subjects.gateway(this.id, channel), {
          callback: (error, msg) => {
            if (error !== null) return;
            const at = performance.now();
            const decoded = codec.decode(msg.data);
            if (!decoded.ok) {
              this.bad++;
              return;
            }
            const message = decoded.message;
            if (message.t === "route_switch") {
              const known = this.#routes.get(message.accountId);
              if (known === undefined || message.epoch > known.epoch) {
                this.#routes.set(message.accountId, { server: message.server, epoch: message.epoch, at });
              }
              return;
            }
            this.updatesMessages++;
            const { server, tick } = message;
            let ticks = this.#firstOfTick.get(server);
            if (ticks === undefined) {
              ticks = new Map();
              this.#firstOfTick.set(server, ticks);
            }
            if (!ticks.has(tick)) ticks.set(tick, at);
            let seen = this.#lastSeen.get(server);
            if (seen === undefined) {
              seen = new Map();
              this.#lastSeen.set(server, seen);
            }
            for (const u of message.updates) {
              const last = seen.get(u.accountId);
              if (last === undefined || tick >= last.tick) seen.set(u.accountId, { tick, at });
              const key = `${server}/${u.epoch}/${u.accountId}`;
              if (!this.#firstAtEpoch.has(key)) this.#firstAtEpoch.set(key, at);
            }
          },
        }),
      );
    }
    await this.#nc.flush();
  }

  /** The last message of `server` that carried `accountId`. */
  lastSeen(server: string, accountId: string): Seen | undefined {
    return this.#lastSeen.get(server)?.get(accountId);
  }

  /** Arrival of the first message of `server` with a tick above `tick` (the next tick it published). */
  firstAfter(server: string, tick: number): Seen | undefined {
    const ticks = this.#firstOfTick.get(server);
    if (ticks === undefined) return undefined;
    const exact = ticks.get(tick + 1);
    if (exact !== undefined) return { tick: tick + 1, at: exact };
    let best: Seen | undefined;
    for (const [t, at] of ticks)
      if (t > tick && (best === undefined || t < best.tick)) best = { tick: t, at };
    return best;
  }

  route(accountId: string): RouteSeen | undefined {
    return this.#routes.get(accountId);
  }

  /** First arrival of an update for `accountId` from `server` at `epoch`. */
  firstUpdateAt(server: string, epoch: number, accountId: string): number | undefined {
    return this.#firstAtEpoch.get(`${server}/${epoch}/${accountId}`);
  }

  /** Sends `inputs` to `server` as one `zone_inputs`. */
  send(server: string, inputs: readonly { accountId: string; seq: number; data: unknown }[]): void {
    this.#nc.publish(
      this.#subjects.zone(server, ZONE_INPUTS_CHANNEL),
      encodeMessage({ t: "zone_inputs", gateway: this.id, inputs }),
    );
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.#subscriptions.splice(0).map((s) => s.drain()));
  }
}
