/**
 * The gateway's routing over NATS: the {@link PlayerRouter} the session code uses. It places players
 * (`svc.world.attach`), forwards their inputs to the zone server that owns them (`zone.<server>.inputs`,
 * batched per event-loop turn), relays that server's updates back (`gw.<gateway>.updates`) and follows
 * handoffs (`gw.<gateway>.routes`), per libs/protocol's world contract (`world-messages.ts`).
 *
 * The gateway is the source of truth of each player's input stream. Per player it keeps the inputs no
 * owner has acknowledged yet ({@link UnackedInputs}); every update's `ack` trims them; after a route
 * switch every one still kept is re-sent, in order, to the new owner. So whichever way a switch and an
 * input race, nothing is lost: an input the old owner dropped (it no longer owned the player) or never
 * received is still kept and goes to the new one. Re-sent inputs the new owner already has (the old
 * owner applied them and handed the state over) arrive again: dropping a sequence it already applied
 * is the zone server's job, as the contract says, so the gateway never has to guess what was applied.
 *
 * What this asks of zone servers: apply a player's sequence only when it is `lastApplied + 1` (drop
 * it at or below: a duplicate; above: a gap). "Above the last applied" is not enough: when a server
 * loses a player and gets them back before the gateway hears of either switch (A → B → A), the inputs
 * the gateway sent it meanwhile were dropped (B owned the player), and the next ones would be applied
 * over the hole. With the contiguity rule they wait, and the gateway re-sends the hole and what
 * follows once the last `route_switch` arrives. The gateway keeps its side of it: it refuses an input
 * that skips a sequence (see {@link Router.input}), so it never forwards a hole of its own.
 *
 * Ordering: a player's inputs leave in sequence order. Within one flush they are built from the ordered
 * buffer; across flushes they go out on one NATS connection, which keeps publish order. After a switch
 * the re-sent inputs and any newer ones leave together, re-sent first.
 *
 * Fencing: a route carries the owner's epoch, and each player has a fence, the highest epoch known
 * (the route's, or higher when the route's own server already spoke with a higher one: it lost the
 * player and got them back before the switches arrived). A `route_switch` is applied only when its
 * epoch is above the route's and not below the fence; an attach reply only when its epoch is not
 * below either (a resume re-attaches to the same route). An update is relayed only when it comes
 * from the route's server with an epoch, when present, not below the fence (and raises the fence).
 * An update from another server naming an epoch above the fence is the next owner speaking before
 * its `route_switch` arrived (updates and routes are separate subjects, possibly from separate
 * publishers): it is parked (bounded) and relayed once that route is applied, instead of being lost.
 * Anything else is a stale owner's and is dropped. So the acks and updates a sink sees come from one
 * line of owners, in epoch order, and never go back.
 *
 * @module
 */
import {
  type DetachReason,
  encodeMessage,
  GATEWAY_ROUTES_CHANNEL,
  GATEWAY_UPDATES_CHANNEL,
  type GatewayUpdates,
  gatewayInboxCodec,
  type RouteSwitch,
  type Subjects,
  WORLD_MAX_MESSAGE_BYTES,
  worldReplyCodec,
  worldSubject,
  ZONE_DETACH_CHANNEL,
  ZONE_INPUTS_CHANNEL,
} from "@meridian/protocol";
import {
  extractTraceContext,
  injectTraceHeaders,
  inSpan,
  recordNatsRequest,
  SpanAttr,
  SpanKind,
  sampleHot,
  startSpan,
  telemetry,
  trace,
  context as traceContext,
} from "@meridian/telemetry";
import type { MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { PlayerIdentity, PlayerPlace, PlayerRouter, PlayerSink } from "../router-port.js";
import { RoutingError, RoutingErrorCode } from "./errors.js";
import { UnackedInputs } from "./unacked-inputs.js";

/** Default bound on a `svc.world.attach` request, milliseconds: 3 s. */
export const DEFAULT_ATTACH_TIMEOUT_MS = 3_000;
/** Default bound on the inputs kept per player until acknowledged: 256. */
export const DEFAULT_MAX_UNACKED_INPUTS = 256;
/** Default bound on the updates parked per player while their owner's route switch is awaited: 64. */
export const DEFAULT_MAX_PARKED_UPDATES = 64;

/** Most inputs in one `zone_inputs` message (the contract's `maxItems`). */
const MAX_INPUTS_PER_MESSAGE = 10_000;
const UINT32_MAX = 0xffff_ffff;
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** Options of {@link Router}. */
export interface RouterOptions {
  /** This gateway's id: one subject token (`gw.<gatewayId>.*` is its inbox). Required. */
  readonly gatewayId: string;
  /** The subject builders (with the deployment's or the test run's prefix). Required. */
  readonly subjects: Subjects;
  /**
   * Bound on a `svc.world.attach` request, milliseconds; past it `attach` rejects with
   * `WORLD_UNAVAILABLE`. Default {@link DEFAULT_ATTACH_TIMEOUT_MS} (3 s). An integer from 1 to 60 000.
   */
  readonly attachTimeoutMs?: number;
  /**
   * Most inputs kept per player until the owner acknowledges them. Beyond it `input` refuses new
   * inputs (returns false) rather than dropping old ones (see {@link UnackedInputs}). Default
   * {@link DEFAULT_MAX_UNACKED_INPUTS} (256). An integer from 1 to 1 000 000.
   */
  readonly maxUnackedInputs?: number;
  /**
   * Most updates parked per player while the route switch of the owner that sent them is awaited;
   * beyond it the oldest parked one is dropped. Default {@link DEFAULT_MAX_PARKED_UPDATES} (64). An
   * integer from 0 (never park: drop them) to 10 000.
   */
  readonly maxParkedUpdates?: number;
  /** Routing's logger (a child of the gateway's). Default: no logging. */
  readonly logger?: Logger;
}

/** Counters of a {@link Router} since it was made (a snapshot). */
export interface RouterStats {
  /** Players known to the router now (attached, suspended, or attach pending or failed). */
  players: number;
  /** `attach` calls, and those that rejected with `WORLD_UNAVAILABLE`. */
  attaches: number;
  attachFailures: number;
  /** Inputs accepted; refused as duplicates (seq not above the last accepted); refused because the buffer was full. */
  inputsAccepted: number;
  inputsDuplicate: number;
  /** Inputs refused because their seq skipped ahead (not `last + 1`). */
  inputsGap: number;
  inputsRefusedFull: number;
  /** Inputs for a player not attached here, or with a sequence outside 1…2^32 − 1: refused. */
  inputsRefusedInvalid: number;
  /** Inputs published to zone servers (re-sends included), and of those the re-sends. */
  inputsForwarded: number;
  inputsResent: number;
  /** `zone_inputs` messages published. */
  inputBatches: number;
  /** Inputs too large for any `zone_inputs` message: never forwarded (kept until an ack passes them). */
  inputsUndeliverable: number;
  /** Update entries handed to a player's sink. */
  updatesRelayed: number;
  /** Update entries from a stale owner (another server, or a lower epoch): dropped. */
  updatesStale: number;
  /** Update entries from the next owner, parked until its route switch (relayed then, or dropped). */
  updatesParked: number;
  /** Update entries for a suspended player: dropped (their `ack` still trims the inputs). */
  updatesSuspended: number;
  /** Update entries for a player not attached here: ignored. */
  updatesUnknownPlayer: number;
  /** Route switches applied; ignored as stale (epoch not above the route's); for unknown players. */
  routeSwitches: number;
  routeSwitchesStale: number;
  routeSwitchesUnknownPlayer: number;
  /** `player_detach` messages published, and detaches of unknown players or other sessions (ignored). */
  detaches: number;
  detachesIgnored: number;
  /** Messages on the gateway's inboxes (and world replies) that did not decode, or came on the wrong inbox. */
  badMessages: number;
  /** Publishes that threw (connection closed or draining). */
  publishErrors: number;
  /** Sink calls that threw (the session code's bug; relaying goes on). */
  sinkErrors: number;
}

/** What the router knows of one player (for the session code's diagnostics and for tests). */
export interface RoutedPlayer {
  readonly sessionId: string;
  /** The player's place, or null while no route is known (attach pending or failed). */
  readonly place: PlayerPlace | null;
  /** The route's ownership epoch, or null without a route. */
  readonly epoch: number | null;
  /** The last input sequence accepted. */
  readonly lastSeq: number;
  /** How many inputs are kept unacknowledged. */
  readonly unacked: number;
  readonly suspended: boolean;
}

interface Route {
  readonly server: string;
  readonly zone: string;
  readonly epoch: number;
  readonly world: string;
}

interface ParkedUpdate {
  readonly server: string;
  readonly epoch: number | undefined;
  readonly tick: number;
  readonly ack: number;
  readonly data: unknown;
}

interface PlayerState {
  readonly accountId: string;
  readonly sessionId: string;
  sink: PlayerSink;
  suspended: boolean;
  route: Route | null;
  readonly inputs: UnackedInputs;
  /** The highest sequence published to the current route (reset to the ack when the route changes). */
  sentUpTo: number;
  /** The highest sequence ever published (to any route): what is below it and sent again is a re-send. */
  everSent: number;
  readonly parked: ParkedUpdate[];
  /**
   * The highest ownership epoch known for the player: the route's, or higher when the route's server
   * already spoke with a higher epoch (it lost the player and got them back before the switches
   * arrived). Updates and routes below it are stale.
   */
  fence: number;
}

interface ForwardedInput {
  readonly accountId: string;
  readonly seq: number;
  readonly data: unknown;
}

type Verdict = "current" | "next" | "stale";

/**
 * {@link PlayerRouter} over NATS. Make one per gateway, `start()` it before the first attach, `stop()`
 * it at shutdown.
 *
 * Sinks are called synchronously from NATS message callbacks, in order, never re-entrantly. A sink may
 * receive updates before `attach` resolves (the owner may speak as soon as it has placed the player).
 */
export class Router implements PlayerRouter {
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #gatewayId: string;
  readonly #attachTimeoutMs: number;
  readonly #maxUnacked: number;
  readonly #maxParked: number;
  readonly #log: Logger | undefined;
  readonly #inbox = gatewayInboxCodec();
  readonly #replies = worldReplyCodec();
  readonly #players = new Map<string, PlayerState>();
  /** Players with inputs to publish at the next flush, in the order they became dirty. */
  readonly #dirty = new Set<PlayerState>();
  readonly #subscriptions: Subscription[] = [];
  readonly #stats: RouterStats = {
    players: 0,
    attaches: 0,
    attachFailures: 0,
    inputsAccepted: 0,
    inputsDuplicate: 0,
    inputsGap: 0,
    inputsRefusedFull: 0,
    inputsRefusedInvalid: 0,
    inputsForwarded: 0,
    inputsResent: 0,
    inputBatches: 0,
    inputsUndeliverable: 0,
    updatesRelayed: 0,
    updatesStale: 0,
    updatesParked: 0,
    updatesSuspended: 0,
    updatesUnknownPlayer: 0,
    routeSwitches: 0,
    routeSwitchesStale: 0,
    routeSwitchesUnknownPlayer: 0,
    detaches: 0,
    detachesIgnored: 0,
    badMessages: 0,
    publishErrors: 0,
    sinkErrors: 0,
  };
  #flushTimer: NodeJS.Immediate | undefined;
  #started = false;
  #stopped = false;

  /** @throws RoutingError `ROUTING_INVALID_OPTIONS` for a bad option. */
  constructor(nc: NatsConnection, options: RouterOptions) {
    if (typeof options.gatewayId !== "string" || !TOKEN.test(options.gatewayId)) {
      throw invalidOption("gatewayId", options.gatewayId, "one subject token of letters, digits, _ and -");
    }
    this.#nc = nc;
    this.#subjects = options.subjects;
    this.#gatewayId = options.gatewayId;
    this.#attachTimeoutMs = integerOption(
      "attachTimeoutMs",
      options.attachTimeoutMs,
      DEFAULT_ATTACH_TIMEOUT_MS,
      1,
      60_000,
    );
    this.#maxUnacked = integerOption(
      "maxUnackedInputs",
      options.maxUnackedInputs,
      DEFAULT_MAX_UNACKED_INPUTS,
      1,
      1_000_000,
    );
    this.#maxParked = integerOption(
      "maxParkedUpdates",
      options.maxParkedUpdates,
      DEFAULT_MAX_PARKED_UPDATES,
      0,
      10_000,
    );
    this.#log = options.logger;
  }

  /** This gateway's id, as sent in `player_attach`, `zone_inputs` and `player_detach`. */
  get gatewayId(): string {
    return this.#gatewayId;
  }

  /** Subscribes the gateway's inboxes; resolves once NATS has the subscriptions. Idempotent. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#subscribe(GATEWAY_UPDATES_CHANNEL, "gateway_updates");
    this.#subscribe(GATEWAY_ROUTES_CHANNEL, "route_switch");
    await this.#nc.flush();
  }

  /**
   * Publishes the inputs of this turn, then drains the inboxes. Afterwards `attach` rejects with
   * `WORLD_UNAVAILABLE` and accepted inputs are kept but no longer forwarded.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#flush();
    const subscriptions = this.#subscriptions.splice(0);
    await Promise.allSettled(subscriptions.map((s) => s.drain()));
  }

  /** The counters (a copy). */
  stats(): RouterStats {
    return { ...this.#stats, players: this.#players.size };
  }

  /** What the router knows of a player, or undefined when it does not know them. */
  player(accountId: string): RoutedPlayer | undefined {
    const state = this.#players.get(accountId);
    if (state === undefined) return undefined;
    return {
      sessionId: state.sessionId,
      place: state.route === null ? null : placeOf(state, state.route),
      epoch: state.route?.epoch ?? null,
      lastSeq: state.inputs.lastAccepted,
      unacked: state.inputs.size,
      suspended: state.suspended,
    };
  }

  /**
   * Places the player and relays their owner's updates to `sink`. The same session attaching again
   * (a resume: same `sessionId`) keeps its inputs and route and swaps the sink; another session of the
   * account starts afresh. The player stays known when the world does not answer: inputs are kept and
   * forwarded once a route arrives (a later attach or a `route_switch`).
   * @throws RoutingError `WORLD_UNAVAILABLE` when no world placed the player within `attachTimeoutMs`.
   */
  async attach(player: PlayerIdentity, sink: PlayerSink): Promise<PlayerPlace> {
    this.#stats.attaches++;
    let state = this.#players.get(player.accountId);
    if (state !== undefined && state.sessionId === player.sessionId) {
      state.sink = sink;
      state.suspended = false;
    } else {
      if (state !== undefined) this.#forget(state);
      state = {
        accountId: player.accountId,
        sessionId: player.sessionId,
        sink,
        suspended: false,
        route: null,
        // A fresh login starts at 1; a resume this gateway did not hold starts where the world says.
        inputs: new UnackedInputs(this.#maxUnacked, player.resumed ? undefined : 0),
        sentUpTo: 0,
        everSent: 0,
        parked: [],
        fence: 0,
      };
      this.#players.set(player.accountId, state);
    }
    if (this.#stopped) throw this.#unavailable(player.accountId, "the gateway's routing is stopped");

    let bytes: Uint8Array;
    // Traced: the attach carries the login's context to the world (authority, then the zone's install).
    const traced = telemetry.enabled;
    const started = traced ? performance.now() : 0;
    try {
      const reply = await this.#nc.request(
        worldSubject(this.#subjects, "attach"),
        encodeMessage({
          t: "player_attach",
          accountId: player.accountId,
          sessionId: player.sessionId,
          username: player.username,
          gateway: this.#gatewayId,
          resumed: player.resumed,
        }),
        { timeout: this.#attachTimeoutMs, headers: traced ? injectTraceHeaders() : undefined },
      );
      bytes = reply.data;
      if (traced) recordNatsRequest("gateway", "world.attach", performance.now() - started, true);
    } catch (cause) {
      if (traced) recordNatsRequest("gateway", "world.attach", performance.now() - started, false);
      throw this.#unavailable(
        player.accountId,
        `no world placed the player within ${this.#attachTimeoutMs} ms`,
        cause,
      );
    }
    const decoded = this.#replies.decode(bytes);
    if (!decoded.ok) {
      this.#stats.badMessages++;
      throw this.#unavailable(player.accountId, "the world's answer does not decode", decoded.error);
    }
    const reply = decoded.message;
    if (reply.t === "world_error") {
      throw this.#unavailable(player.accountId, `the world refused: ${reply.message}`, undefined, reply.code);
    }
    if (reply.accountId !== player.accountId) {
      this.#stats.badMessages++;
      throw this.#unavailable(player.accountId, "the world answered about another player");
    }
    const route: Route = { server: reply.server, zone: reply.zone, epoch: reply.epoch, world: reply.world };
    if (this.#players.get(player.accountId) !== state) {
      // Detached, or replaced by another session, while the request was in flight: nothing to route.
      return { world: route.world, zone: route.zone, server: route.server, ack: reply.ack };
    }
    state.inputs.acknowledge(reply.ack);
    const current = state.route;
    if (current === null || (route.epoch >= current.epoch && route.epoch >= state.fence)) {
      this.#applyRoute(state, route);
      this.#releaseParked(state);
      return placeOf(state, route);
    }
    // A route switch with a higher epoch won the race with this reply: it stands.
    return placeOf(state, current);
  }

  /**
   * Keeps one input and forwards it to the owner at the end of this event-loop turn (with every other
   * input of the turn for that server, in one `zone_inputs`). Returns false, dropping the input, when
   * the player is not attached here; `seq` is not above the last accepted sequence (a duplicate),
   * skips ahead of `last + 1` (a gap: the stream is contiguous) or is outside 1…2^32 − 1; or the
   * player already has `maxUnackedInputs` inputs awaiting acknowledgement (the client should slow
   * down and send the same `seq` again; nothing already accepted is dropped).
   */
  input(accountId: string, seq: number, data: unknown): boolean {
    const state = this.#players.get(accountId);
    if (state === undefined || !Number.isInteger(seq) || seq < 1 || seq > UINT32_MAX) {
      this.#stats.inputsRefusedInvalid++;
      return false;
    }
    switch (state.inputs.accept(seq, data)) {
      case "duplicate":
        this.#stats.inputsDuplicate++;
        return false;
      case "gap":
        this.#stats.inputsGap++;
        return false;
      case "full":
        this.#stats.inputsRefusedFull++;
        return false;
      case "accepted":
        this.#stats.inputsAccepted++;
        if (state.route !== null) this.#markDirty(state);
        return true;
    }
  }

  /**
   * The session ended: publishes `player_detach` to the owner (after the player's inputs of this turn)
   * and forgets the player. A detach for another session than the current one (say, the grace expiry
   * of a session the account has since replaced) is ignored.
   */
  detach(accountId: string, sessionId: string, reason: DetachReason): void {
    const state = this.#players.get(accountId);
    if (state === undefined || state.sessionId !== sessionId) {
      this.#stats.detachesIgnored++;
      return;
    }
    if (state.route !== null) {
      if (this.#dirty.has(state)) this.#flush(); // its last inputs reach the owner before the detach
      const sent = this.#publish(
        this.#subjects.zone(state.route.server, ZONE_DETACH_CHANNEL),
        encodeMessage({ t: "player_detach", accountId, sessionId, gateway: this.#gatewayId, reason }),
      );
      if (sent) this.#stats.detaches++;
    }
    this.#forget(state);
  }

  /**
   * The connection dropped: stops calling the sink (updates are dropped, their acks still trim the
   * inputs) and keeps the route and the inputs for a resume (`attach` of the same session).
   */
  suspend(accountId: string): void {
    const state = this.#players.get(accountId);
    if (state !== undefined) state.suspended = true;
  }

  // ---- inboxes ----

  #subscribe(channel: string, expected: "gateway_updates" | "route_switch"): void {
    const subject = this.#subjects.gateway(this.#gatewayId, channel);
    const subscription = this.#nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error !== null) {
          this.#log?.error({ err: error, subject }, "gateway inbox subscription failed");
          return;
        }
        const decoded = this.#inbox.decode(msg.data);
        if (!decoded.ok || decoded.message.t !== expected) {
          this.#stats.badMessages++;
          this.#log?.warn(
            { subject, code: decoded.ok ? "WRONG_INBOX" : decoded.error.code },
            "dropped a bad message on the gateway's inbox",
          );
          return;
        }
        const message = decoded.message;
        try {
          if (message.t === "gateway_updates") this.#onUpdates(message);
          else if (!telemetry.enabled) this.#onRouteSwitch(message);
          else {
            // Traced: the zone server that took the player sent its accept's context along.
            const attributes = { [SpanAttr.Service]: "gateway", [SpanAttr.Instance]: this.#gatewayId };
            inSpan(
              "gateway",
              "gateway.route_switch",
              { kind: SpanKind.CONSUMER, parent: extractTraceContext(msg.headers), attributes },
              () => this.#onRouteSwitch(message),
            );
          }
        } catch (error) {
          // A bug must not end the subscription: every later message would be lost with it.
          this.#log?.error({ err: error, subject }, "failed to handle a gateway inbox message");
        }
      },
    });
    this.#subscriptions.push(subscription);
  }

  #onUpdates(message: GatewayUpdates): void {
    for (const entry of message.updates) {
      const state = this.#players.get(entry.accountId);
      if (state === undefined) {
        this.#stats.updatesUnknownPlayer++;
        continue;
      }
      const update: ParkedUpdate = {
        server: message.server,
        epoch: entry.epoch,
        tick: message.tick,
        ack: entry.ack,
        data: entry.data,
      };
      switch (judge(state, update)) {
        case "current":
          this.#deliver(state, update);
          break;
        case "next":
          this.#park(state, update);
          break;
        case "stale":
          this.#stats.updatesStale++;
          break;
      }
    }
  }

  #onRouteSwitch(message: RouteSwitch): void {
    const state = this.#players.get(message.accountId);
    if (state === undefined) {
      this.#stats.routeSwitchesUnknownPlayer++;
      return;
    }
    const current = state.route;
    if (current !== null && (message.epoch <= current.epoch || message.epoch < state.fence)) {
      this.#stats.routeSwitchesStale++;
      return;
    }
    const route: Route = {
      server: message.server,
      zone: message.zone,
      epoch: message.epoch,
      world: message.world,
    };
    this.#applyRoute(state, route);
    this.#stats.routeSwitches++;
    if (!state.suspended) {
      try {
        state.sink.moved(placeOf(state, route));
      } catch (error) {
        this.#sinkFailed(state, error);
      }
    }
    this.#releaseParked(state);
  }

  /** Adopts `route` and schedules every kept input for it (a re-send when they went elsewhere). */
  #applyRoute(state: PlayerState, route: Route): void {
    state.route = route;
    if (route.epoch > state.fence) state.fence = route.epoch;
    state.sentUpTo = state.inputs.acked;
    if (state.inputs.size > 0) this.#markDirty(state);
  }

  #deliver(state: PlayerState, update: ParkedUpdate): void {
    if (update.epoch !== undefined && update.epoch > state.fence) state.fence = update.epoch;
    state.inputs.acknowledge(update.ack);
    if (state.suspended) {
      this.#stats.updatesSuspended++;
      return;
    }
    try {
      state.sink.update({ t: "update", tick: update.tick, ack: update.ack, data: update.data });
      this.#stats.updatesRelayed++;
    } catch (error) {
      this.#sinkFailed(state, error);
    }
  }

  #park(state: PlayerState, update: ParkedUpdate): void {
    if (this.#maxParked === 0) {
      this.#stats.updatesStale++;
      return;
    }
    if (state.parked.length >= this.#maxParked) {
      state.parked.shift();
      this.#stats.updatesStale++;
    }
    state.parked.push(update);
    this.#stats.updatesParked++;
  }

  /** After a route change: relays the parked updates the new owner sent, keeps a later owner's. */
  #releaseParked(state: PlayerState): void {
    if (state.parked.length === 0) return;
    const parked = state.parked.splice(0);
    for (const update of parked) {
      switch (judge(state, update)) {
        case "current":
          this.#deliver(state, update);
          break;
        case "next":
          state.parked.push(update);
          break;
        case "stale":
          this.#stats.updatesStale++;
          break;
      }
    }
  }

  #sinkFailed(state: PlayerState, error: unknown): void {
    this.#stats.sinkErrors++;
    this.#log?.error({ err: error, accountId: state.accountId }, "a player sink threw");
  }

  // ---- forwarding ----

  #markDirty(state: PlayerState): void {
    this.#dirty.add(state);
    if (this.#flushTimer === undefined && !this.#stopped) {
      this.#flushTimer = setImmediate(() => this.#flush());
    }
  }

  /** Publishes every dirty player's unsent inputs: one `zone_inputs` per server (split only past its limits). */
  #flush(): void {
    if (this.#flushTimer !== undefined) {
      clearImmediate(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    if (this.#dirty.size === 0) return;
    const batches = new Map<string, ForwardedInput[]>();
    for (const state of this.#dirty) {
      const route = state.route;
      if (route === null) continue;
      let batch = batches.get(route.server);
      if (batch === undefined) {
        batch = [];
        batches.set(route.server, batch);
      }
      for (const input of state.inputs.after(state.sentUpTo)) {
        batch.push({ accountId: state.accountId, seq: input.seq, data: input.data });
        state.sentUpTo = input.seq;
        if (input.seq <= state.everSent) this.#stats.inputsResent++;
        else state.everSent = input.seq;
      }
    }
    this.#dirty.clear();
    for (const [server, inputs] of batches) {
      const subject = this.#subjects.zone(server, ZONE_INPUTS_CHANNEL);
      for (let i = 0; i < inputs.length; i += MAX_INPUTS_PER_MESSAGE) {
        this.#publishInputs(server, subject, inputs.slice(i, i + MAX_INPUTS_PER_MESSAGE));
      }
    }
  }

  /** Publishes one `zone_inputs`, halving it while it is larger than a world message may be. */
  #publishInputs(server: string, subject: string, inputs: ForwardedInput[]): void {
    if (inputs.length === 0) return;
    const bytes = encodeMessage({ t: "zone_inputs", gateway: this.#gatewayId, inputs });
    if (bytes.byteLength > WORLD_MAX_MESSAGE_BYTES) {
      if (inputs.length > 1) {
        const half = Math.ceil(inputs.length / 2);
        this.#publishInputs(server, subject, inputs.slice(0, half));
        this.#publishInputs(server, subject, inputs.slice(half));
        return;
      }
      // One input larger than a world message: it can never be delivered. It stays kept (a later ack
      // passes it); the zone server sees a gap in the sequence, which the contract allows.
      this.#stats.inputsUndeliverable++;
      const input = inputs[0] as ForwardedInput;
      this.#log?.warn(
        { accountId: input.accountId, seq: input.seq, server, size: bytes.byteLength },
        "an input is too large to forward",
      );
      return;
    }
    // Traced (telemetry on): one batch in `MERIDIAN_TELEMETRY_SAMPLE_EVERY` (the relay's hot path).
    const sent = sampleHot()
      ? this.#publishTraced(server, subject, bytes, inputs.length)
      : this.#publish(subject, bytes);
    if (sent) {
      this.#stats.inputBatches++;
      this.#stats.inputsForwarded += inputs.length;
    }
  }

  /** {@link #publish} in a `gateway.inputs.publish` span whose context the zone server receives. */
  #publishTraced(server: string, subject: string, bytes: Uint8Array, count: number): boolean {
    const span = startSpan("gateway", "gateway.inputs.publish", {
      kind: SpanKind.PRODUCER,
      attributes: {
        [SpanAttr.Service]: "gateway",
        [SpanAttr.Instance]: this.#gatewayId,
        "meridian.zone.server": server,
        "meridian.inputs": count,
      },
    });
    const sent = this.#publish(
      subject,
      bytes,
      injectTraceHeaders(trace.setSpan(traceContext.active(), span)),
    );
    span.end();
    return sent;
  }

  #publish(subject: string, bytes: Uint8Array, headers?: MsgHdrs): boolean {
    try {
      this.#nc.publish(subject, bytes, headers === undefined ? undefined : { headers });
      return true;
    } catch (error) {
      // Closed or draining connection. Inputs stay kept and go again with the next route or resume.
      this.#stats.publishErrors++;
      this.#log?.warn({ err: error, subject }, "could not publish to a zone server");
      return false;
    }
  }

  #forget(state: PlayerState): void {
    this.#players.delete(state.accountId);
    this.#dirty.delete(state);
  }

  #unavailable(accountId: string, message: string, cause?: unknown, worldCode?: string): RoutingError {
    this.#stats.attachFailures++;
    const context: Record<string, unknown> = { accountId };
    if (worldCode !== undefined) context.worldCode = worldCode;
    return new RoutingError(RoutingErrorCode.WorldUnavailable, message, { cause, context });
  }
}

/** Who sent an update, relative to the player's route: its owner, the next owner, or a stale one. */
function judge(state: PlayerState, update: ParkedUpdate): Verdict {
  const route = state.route;
  // Without a route yet (attach pending or failed), whoever speaks may be the owner: wait and see.
  if (route === null) return "next";
  const epoch = update.epoch;
  if (update.server === route.server && (epoch === undefined || epoch >= state.fence)) return "current";
  if (epoch !== undefined && epoch > state.fence) return "next";
  return "stale";
}

function placeOf(state: PlayerState, route: Route): PlayerPlace {
  return { world: route.world, zone: route.zone, server: route.server, ack: state.inputs.acked };
}

function invalidOption(option: string, value: unknown, expected: string): RoutingError {
  return new RoutingError(
    RoutingErrorCode.InvalidOptions,
    `routing option ${option} must be ${expected}, got ${JSON.stringify(value)}`,
    { context: { option, value } },
  );
}

function integerOption(
  option: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
) {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(option, value, `an integer from ${min} to ${max}`);
  }
  return value;
}
