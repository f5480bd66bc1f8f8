/**
 * The optional history stream of a zone server (`ZONE_HISTORY=1`; off by default): per tick, one
 * compact NATS publish on `evt.world.<world>.history` saying which players the server held during
 * the tick, whether each was frozen for a handoff, its epoch and its last applied input, plus the
 * ownership events since the previous tick. The record is JSON (a tool's format, readable with
 * `nats sub`; not a contract of libs/protocol). Tests and tools reconstruct from it who owned whom when,
 * and which inputs each owner applied (services/gameserver/test/helpers/world-checker.ts). It is
 * fire-and-forget (core NATS): a receiver detects a lost record by a hole in a server's `tick`s.
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";

/** The topic of the history stream of `world`: `subjects.event(historyTopic(world))`. */
export const historyTopic = (world: string) => `world.${world}.history`;

/** Why a server started owning a player (`own` events). */
export type HistoryOwnVia = "install" | "handoff" | "restore";

/**
 * One ownership event, as a tuple (compact on the wire):
 * - `["own", accountId, epoch, seq, at, via, peer]`: the player was added to the simulation with
 *   `seq` as its last applied input (the baseline of the inputs this owner applies); `via` says how,
 *   `peer` is the handing-off server for `handoff` ("" otherwise).
 * - `["out", accountId, epoch, seq, at, peer]`: a handoff to `peer` was accepted: released.
 * - `["drop", accountId, epoch, seq, at, reason]`: removed without a handoff (detach, lease lost,
 *   stale copy found by the checkpoint fence, a failed install, a fatal error).
 * `at` is wall-clock ms (`performance.timeOrigin + performance.now()`, sub-ms).
 */
export type HistoryEvent =
  | readonly ["own", string, number, number, number, HistoryOwnVia, string]
  | readonly ["out", string, number, number, number, string]
  | readonly ["drop", string, number, number, number, string];

/**
 * One tick of one server. The step ran from `at` to `at + ms` (wall-clock ms). `players` lists every
 * player held when the step began as `[accountId, epoch, seq, frozen]`: `frozen` 1 when the player
 * was frozen for a handoff during the step (no input applied), `seq` the last applied input after the
 * step. `events` are the ownership events since the previous record, in order.
 */
export interface ZoneHistoryRecord {
  readonly t: "zone_history";
  readonly server: string;
  readonly world: string;
  readonly tick: number;
  readonly at: number;
  readonly ms: number;
  readonly players: readonly (readonly [string, number, number, 0 | 1])[];
  readonly events: readonly HistoryEvent[];
}

/** Wall-clock ms with sub-ms precision (comparable across the processes of one machine). */
export const historyNow = (): number => performance.timeOrigin + performance.now();

/** Collects a zone server's events between ticks and publishes one record per tick. */
export class ZoneHistory {
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #server: string;
  readonly #world: string;
  #events: HistoryEvent[] = [];

  constructor(nc: NatsConnection, subject: string, server: string, world: string) {
    this.#nc = nc;
    this.#subject = subject;
    this.#server = server;
    this.#world = world;
  }

  own(accountId: string, epoch: number, seq: number, via: HistoryOwnVia, peer = ""): void {
    this.#events.push(["own", accountId, epoch, seq, historyNow(), via, peer]);
  }

  out(accountId: string, epoch: number, seq: number, peer: string): void {
    this.#events.push(["out", accountId, epoch, seq, historyNow(), peer]);
  }

  drop(accountId: string, epoch: number, seq: number, reason: string): void {
    this.#events.push(["drop", accountId, epoch, seq, historyNow(), reason]);
  }

  /** Publishes the record of one step (and the events gathered since the previous one). */
  tick(tick: number, at: number, players: ZoneHistoryRecord["players"]): void {
    const record: ZoneHistoryRecord = {
      t: "zone_history",
      server: this.#server,
      world: this.#world,
      tick,
      at,
      ms: historyNow() - at,
      players,
      events: this.#events,
    };
    this.#events = [];
    this.#nc.publish(this.#subject, JSON.stringify(record));
  }
}
