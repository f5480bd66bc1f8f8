/**
 * The console's NATS side: it listens, never answers or publishes. Subscribes to the authority's
 * world map (`evt.world.<world>.map`) and to every zone server's observer feed
 * (`evt.world.<world>.zone.>`: `zone_snapshot`, `zone_handoff`), decodes them with libs/protocol's
 * codecs and writes them into a {@link WorldState}. A message that fails to decode is counted and
 * logged (the first few), never thrown.
 * @module
 */
import {
  observerCodec,
  observerWildcard,
  type Subjects,
  worldMapCodec,
  worldMapSubject,
} from "@meridian/protocol";
import type { Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { WorldState } from "../state/world-state.js";

/** Bad messages logged individually before the console only counts them. */
const LOGGED_BAD_MESSAGES = 5;

/** The NATS slice the feed uses. */
export interface FeedConnection {
  subscribe(
    subject: string,
    options: {
      callback: (error: Error | null, msg: { readonly subject: string; readonly data: Uint8Array }) => void;
    },
  ): Subscription;
  flush(): Promise<void>;
}

/** The console's subscriptions for one world; `stop()` unsubscribes. */
export class NatsFeed {
  readonly #subscriptions: Subscription[] = [];
  readonly #log: Logger;
  readonly #state: WorldState;

  private constructor(state: WorldState, logger: Logger) {
    this.#state = state;
    this.#log = logger;
  }

  /** Subscribes (and flushes, so the subscriptions are live when this resolves). */
  static async start(
    nc: FeedConnection,
    subjects: Subjects,
    state: WorldState,
    logger: Logger,
  ): Promise<NatsFeed> {
    const feed = new NatsFeed(state, logger);
    const maps = worldMapCodec();
    const observer = observerCodec();
    feed.#subscriptions.push(
      nc.subscribe(worldMapSubject(subjects, state.world), {
        callback: (error, msg) => {
          if (error !== null) return;
          const decoded = maps.decode(msg.data);
          if (decoded.ok) state.onMap(decoded.message);
          else feed.#bad(msg.subject, decoded.error);
        },
      }),
      nc.subscribe(observerWildcard(subjects, state.world), {
        callback: (error, msg) => {
          if (error !== null) return;
          const decoded = observer.decode(msg.data);
          if (!decoded.ok) feed.#bad(msg.subject, decoded.error);
          else if (decoded.message.t === "zone_snapshot") state.onSnapshot(decoded.message);
          else state.onHandoff(decoded.message);
        },
      }),
    );
    await nc.flush();
    return feed;
  }

  #bad(subject: string, error: Error & { readonly code?: string }): void {
    this.#state.badMessages++;
    if (this.#state.badMessages <= LOGGED_BAD_MESSAGES) {
      this.#log.warn({ subject, code: error.code, err: error }, "undecodable observer message");
    }
  }

  stop(): void {
    for (const subscription of this.#subscriptions.splice(0)) subscription.unsubscribe();
  }
}
