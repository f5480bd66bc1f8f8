/**
 * What the gateway's session code needs from routing (`src/routing/`): place a player in the world,
 * forward their inputs to the zone server that owns them, relay that server's updates back, and let
 * go of them. The session code depends on this interface only; `Router` implements it over NATS
 * (libs/protocol's world contract), and a gateway without a world (tests of the edge alone) can run
 * with {@link NO_WORLD}.
 *
 * @module
 */
import type { DetachReason, Update } from "@meridian/protocol";

/** Who is being placed. */
export interface PlayerIdentity {
  readonly accountId: string;
  readonly sessionId: string;
  readonly username: string;
  /** True for a resume (the session continues), false for a fresh login. */
  readonly resumed: boolean;
}

/** Where a player is, as presence records it. */
export interface PlayerPlace {
  readonly world: string;
  /** Null while the player is between zones, or when the world could not place them. */
  readonly zone: string | null;
  readonly server: string | null;
  /** The last input sequence the owning server applied for this session (0: none). */
  readonly ack: number;
}

/** Receives what the world sends one player. Called synchronously, in order, never re-entrantly. */
export interface PlayerSink {
  /** One update for the player (already decoded; `t: "update"`). */
  update(update: Update): void;
  /** The player's place changed (a handoff): presence is rewritten. */
  moved(place: PlayerPlace): void;
}

/** The gateway's routing, as the session code uses it. */
export interface PlayerRouter {
  /**
   * Places the player (a `svc.world.attach` request) and starts relaying the owner's updates to
   * `sink`. Resolves with the player's place; rejects with a `GatewayError` of code
   * `WORLD_UNAVAILABLE` when no world answers in time (the session stays logged in without a world).
   */
  attach(player: PlayerIdentity, sink: PlayerSink): Promise<PlayerPlace>;
  /**
   * One input from the player: kept until the owner acknowledges it, forwarded to the owner (batched
   * per event-loop turn). Returns false when `seq` is not above the last sequence accepted for the
   * session (a duplicate: dropped).
   */
  input(accountId: string, seq: number, data: unknown): boolean;
  /** The session ended (logout, grace expiry, kick): tells the owner and stops relaying. */
  detach(accountId: string, sessionId: string, reason: DetachReason): void;
  /** Stops relaying for a player whose connection dropped, keeping the route for a resume. */
  suspend(accountId: string): void;
}

/** A router for a gateway that runs without a world: places nobody, drops inputs. */
export const NO_WORLD: PlayerRouter = Object.freeze({
  attach: async () => ({ world: "none", zone: null, server: null, ack: 0 }),
  input: () => false,
  detach: () => undefined,
  suspend: () => undefined,
});
