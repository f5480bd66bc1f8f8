/**
 * A test double of the world over real NATS, standing in for the authority and the zone servers until
 * they exist: it answers `svc.world.attach` (queue group `world`), plays one or more zone servers
 * (`zone.<server>.inputs` and `.detach`), applies each player's inputs at most once, acknowledges them
 * to the gateway with `gateway_updates`, and hands players from server to server (`route_switch`).
 *
 * What it models of the real world, and no more:
 * - Ownership: each player is owned by one server with an epoch. Only the owner applies a player's
 *   inputs; the others drop them (a stale owner cannot write).
 * - Exactly-once, in-order application: a server applies only the player's next sequence
 *   (`lastApplied + 1`, shared by every server: a handoff carries it). A re-send (at or below it) is
 *   dropped as a duplicate; one above it is dropped as a gap: an earlier input was lost in a stale
 *   window (sent to this server while another owned the player) and the gateway re-sends from its
 *   ack once the route switch reaches it.
 * - A handoff (`switch`) moves ownership at once and bumps the epoch; the gateway hears of it with the
 *   `route_switch` (optionally later, to open the race window).
 *
 * It records every applied input so that tests can prove no loss and no duplicate.
 * @module
 */
import {
  encodeMessage,
  GATEWAY_ROUTES_CHANNEL,
  GATEWAY_UPDATES_CHANNEL,
  type PlayerDetach,
  type Subjects,
  WORLD_QUEUE_GROUP,
  worldRequestCodec,
  worldSubject,
  ZONE_DETACH_CHANNEL,
  ZONE_INPUTS_CHANNEL,
  zoneInboxCodec,
} from "@meridian/protocol";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";

/** Options of {@link ZoneDouble}. */
export interface ZoneDoubleOptions {
  readonly subjects: Subjects;
  /** The zone servers it plays (their ids). */
  readonly servers: readonly string[];
  /** Where `svc.world.attach` places a new player. Default the first server. Settable later. */
  readonly placeOn?: string;
  /** The world's name in `player_attached`. Default `w1`. */
  readonly world?: string;
  /**
   * Update cadence: undefined (default) acknowledges each `zone_inputs` at once (an update for the
   * players it touched); a number sends, every tick of that many milliseconds, an update for every
   * player the double owns (one `gateway_updates` per gateway and server per tick, each entry with its epoch).
   */
  readonly tickMs?: number;
  /** Answer attaches with `world_error` of this code. Default: place players. Settable later. */
  readonly attachError?: string;
}

/** One input a server applied. */
export interface AppliedInput {
  readonly seq: number;
  readonly data: unknown;
  readonly server: string;
  readonly epoch: number;
}

/** Who owns a player, as the double sees it. */
export interface Ownership {
  server: string;
  epoch: number;
  lastApplied: number;
  gateway: string;
  readonly sessionId: string;
}

export class ZoneDouble {
  /** Where a new player is placed. */
  placeOn: string;
  /** When set, attaches are answered `world_error` with this code. */
  attachError: string | undefined;
  /** Inputs applied per player (of their current session), in application order. */
  readonly applied = new Map<string, AppliedInput[]>();
  /** Every `player_detach` received, with the server it reached. */
  readonly detaches: (PlayerDetach & { readonly server: string })[] = [];
  /** Inputs a server received for a player it does not own (dropped). */
  notOwner = 0;
  /** Inputs received again after being applied (dropped). */
  duplicates = 0;
  /** Inputs received ahead of the next sequence (dropped). */
  gaps = 0;
  /** `zone_inputs` messages received per server. */
  readonly batches = new Map<string, number>();

  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #servers: readonly string[];
  readonly #world: string;
  readonly #tickMs: number | undefined;
  readonly #owners = new Map<string, Ownership>();
  readonly #subscriptions: Subscription[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Players with inputs applied since their last update, and what was applied. */
  readonly #touched = new Map<string, unknown[]>();
  #tick = 0;
  #ticker: NodeJS.Timeout | undefined;

  constructor(nc: NatsConnection, options: ZoneDoubleOptions) {
    this.#nc = nc;
    this.#subjects = options.subjects;
    this.#servers = options.servers;
    this.placeOn = options.placeOn ?? (options.servers[0] as string);
    this.#world = options.world ?? "w1";
    this.#tickMs = options.tickMs;
    this.attachError = options.attachError;
  }

  async start(): Promise<void> {
    const requests = worldRequestCodec();
    this.#subscriptions.push(
      this.#nc.subscribe(worldSubject(this.#subjects, "attach"), {
        queue: WORLD_QUEUE_GROUP,
        callback: (_error, msg) => {
          const decoded = requests.decode(msg.data);
          if (!decoded.ok) return;
          const attach = decoded.message;
          if (this.attachError !== undefined) {
            msg.respond(encodeMessage({ t: "world_error", code: this.attachError, message: "refused" }));
            return;
          }
          let owner = this.#owners.get(attach.accountId);
          if (owner === undefined || owner.sessionId !== attach.sessionId) {
            owner = {
              server: this.placeOn,
              epoch: (owner?.epoch ?? 0) + 1,
              lastApplied: 0,
              gateway: attach.gateway,
              sessionId: attach.sessionId,
            };
            this.#owners.set(attach.accountId, owner);
            this.applied.set(attach.accountId, []);
          } else {
            // The session continues on another gateway (a resume): updates go there from now on.
            owner.gateway = attach.gateway;
          }
          msg.respond(
            encodeMessage({
              t: "player_attached",
              accountId: attach.accountId,
              server: owner.server,
              zone: zoneOf(owner.server),
              epoch: owner.epoch,
              ack: owner.lastApplied,
              world: this.#world,
            }),
          );
        },
      }),
    );
    const inbox = zoneInboxCodec();
    for (const server of this.#servers) {
      for (const channel of [ZONE_INPUTS_CHANNEL, ZONE_DETACH_CHANNEL]) {
        this.#subscriptions.push(
          this.#nc.subscribe(this.#subjects.zone(server, channel), {
            callback: (_error, msg) => {
              const decoded = inbox.decode(msg.data);
              if (!decoded.ok) return;
              const message = decoded.message;
              if (message.t === "player_detach") {
                this.detaches.push({ ...message, server });
                return;
              }
              this.batches.set(server, (this.batches.get(server) ?? 0) + 1);
              for (const input of message.inputs) this.#apply(server, input.accountId, input.seq, input.data);
              if (this.#tickMs === undefined) this.#publishUpdates();
            },
          }),
        );
      }
    }
    if (this.#tickMs !== undefined) {
      // As a zone server does: every tick, an update for every player it owns.
      this.#ticker = setInterval(() => this.#publishUpdates([...this.#owners.keys()]), this.#tickMs);
    }
    await this.#nc.flush();
  }

  async stop(): Promise<void> {
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const subscriptions = this.#subscriptions.splice(0);
    await Promise.allSettled(subscriptions.map((s) => s.drain()));
  }

  /** Who owns `accountId` now. */
  owner(accountId: string): Readonly<Ownership> | undefined {
    return this.#owners.get(accountId);
  }

  /** The sequences applied for `accountId`, in application order. */
  appliedSeqs(accountId: string): number[] {
    return (this.applied.get(accountId) ?? []).map((input) => input.seq);
  }

  /**
   * A handoff of `accountId` to `toServer`: ownership (and the last applied sequence) moves at once,
   * the epoch goes up by one, and the gateway is sent `route_switch`, after `routeDelayMs` when given
   * (meanwhile the gateway still sends to the old owner, which drops the inputs). With `ackFirst`
   * the old owner first reports what it applied but had not acknowledged yet; without it that ack is
   * never sent (the new owner's first update carries it). Returns the epoch.
   */
  switch(
    accountId: string,
    toServer: string,
    options: { readonly routeDelayMs?: number; readonly ackFirst?: boolean } = {},
  ): number {
    const owner = this.#owners.get(accountId);
    if (owner === undefined) throw new Error(`zone double: ${accountId} is not attached`);
    if (options.ackFirst === true) this.#flushTouched(accountId);
    owner.server = toServer;
    owner.epoch++;
    const bytes = encodeMessage({
      t: "route_switch",
      accountId,
      server: toServer,
      zone: zoneOf(toServer),
      world: this.#world,
      epoch: owner.epoch,
    });
    const subject = this.#subjects.gateway(owner.gateway, GATEWAY_ROUTES_CHANNEL);
    if (options.routeDelayMs === undefined) {
      this.#nc.publish(subject, bytes);
    } else {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#nc.publish(subject, bytes);
      }, options.routeDelayMs);
      this.#timers.add(timer);
    }
    return owner.epoch;
  }

  /** Resolves once `accountId` has `seq` applied; rejects after `timeoutMs`. */
  async waitForApplied(accountId: string, seq: number, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.#owners.get(accountId)?.lastApplied ?? 0) < seq) {
      if (Date.now() > deadline) {
        throw new Error(
          `zone double: ${accountId} has ${this.#owners.get(accountId)?.lastApplied ?? 0} applied, not ${seq}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  #apply(server: string, accountId: string, seq: number, data: unknown): void {
    const owner = this.#owners.get(accountId);
    if (owner === undefined || owner.server !== server) {
      this.notOwner++;
      return;
    }
    if (seq <= owner.lastApplied) {
      this.duplicates++;
      return;
    }
    if (seq !== owner.lastApplied + 1) {
      this.gaps++;
      return;
    }
    owner.lastApplied = seq;
    this.applied.get(accountId)?.push({ seq, data, server, epoch: owner.epoch });
    const touched = this.#touched.get(accountId);
    if (touched === undefined) this.#touched.set(accountId, [data]);
    else touched.push(data);
  }

  /** Sends one player's pending acknowledgement now (before a handoff moves them). */
  #flushTouched(accountId: string): void {
    if (this.#touched.has(accountId)) this.#publishUpdates([accountId]);
  }

  /**
   * One `gateway_updates` per gateway and server with the given players (default: those touched): `ack` is the last
   * applied sequence, `data` echoes what was applied since the previous update.
   */
  #publishUpdates(only?: readonly string[]): void {
    const accounts = only ?? [...this.#touched.keys()];
    if (accounts.length === 0) return;
    this.#tick++;
    const groups = new Map<
      string,
      {
        gateway: string;
        server: string;
        updates: { accountId: string; epoch: number; ack: number; data: unknown }[];
      }
    >();
    for (const accountId of accounts) {
      const owner = this.#owners.get(accountId);
      const data = this.#touched.get(accountId) ?? [];
      this.#touched.delete(accountId);
      if (owner === undefined) continue;
      const key = `${owner.gateway}/${owner.server}`;
      let group = groups.get(key);
      if (group === undefined) {
        group = { gateway: owner.gateway, server: owner.server, updates: [] };
        groups.set(key, group);
      }
      group.updates.push({ accountId, epoch: owner.epoch, ack: owner.lastApplied, data });
    }
    for (const group of groups.values()) {
      this.#nc.publish(
        this.#subjects.gateway(group.gateway, GATEWAY_UPDATES_CHANNEL),
        encodeMessage({
          t: "gateway_updates",
          server: group.server,
          tick: this.#tick,
          updates: group.updates,
        }),
      );
    }
  }
}

/** The zone the double reports for a server. */
export function zoneOf(server: string): string {
  return `zone-${server}`;
}
