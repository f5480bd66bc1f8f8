import type { DisconnectInfo } from "./reasons.js";
import type { Session } from "./session/session.js";

/**
 * The event passed to every sink method. A sink chained behind a protocol handler calls
 * `preventDefault()` to stop the handler's default action for this event (the `default*` method of
 * the handler, which runs after every sink).
 */
export interface SessionEvent {
  preventDefault(): void;
  readonly defaultPrevented: boolean;
}

/**
 * Event-sink methods, the seed's `OnXXXCompleted`. All are optional and synchronous; the engine
 * never calls two of them re-entrantly for one session except `onDisconnected`, which may be
 * dispatched from inside another sink that closed the session.
 *
 * A sink that throws closes the session with reason `handler_error`.
 */
export interface EventSink<U = unknown> {
  /** Server side: a connection passed the accept guard and became a session. */
  onAccepted?(session: Session<U>, ev: SessionEvent): void;
  /** Client side: the connection is open. */
  onConnected?(session: Session<U>, ev: SessionEvent): void;
  /**
   * One complete frame arrived. The frame may be a view into a receive buffer: copy it to keep it
   * for long. A server protocol calls `session.markEstablished()` on the first valid frame, which
   * ends the pre-auth deadline.
   */
  onFrame?(session: Session<U>, frame: Uint8Array, ev: SessionEvent): void;
  /** The transport's write buffer drained after it had filled up. */
  onWriteDrained?(session: Session<U>, ev: SessionEvent): void;
  /** The session ended; always exactly once, always with a reason. */
  onDisconnected?(session: Session<U>, info: DisconnectInfo, ev: SessionEvent): void;
  /** An event posted with `session.post()` (the seed's user-defined completion jobs). */
  onUserEvent?(session: Session<U>, event: unknown, ev: SessionEvent): void;
  /**
   * Heartbeat due (`heartbeatIntervalMs`). WebSocket sessions also get a protocol-level ping from
   * the engine; on TCP, where the engine cannot know the protocol, the handler sends its own.
   */
  onHeartbeat?(session: Session<U>, ev: SessionEvent): void;
}

/**
 * A protocol handler: the first link of a session's chain (the seed's `NetworkProtocol`).
 * Its `on*` methods run first, then each chained application sink's, then, unless a sink called
 * `ev.preventDefault()`, the handler's matching `default*` method.
 */
export interface ProtocolHandler<U = unknown> extends EventSink<U> {
  defaultAccepted?(session: Session<U>): void;
  defaultConnected?(session: Session<U>): void;
  defaultFrame?(session: Session<U>, frame: Uint8Array): void;
  defaultWriteDrained?(session: Session<U>): void;
  defaultDisconnected?(session: Session<U>, info: DisconnectInfo): void;
  defaultUserEvent?(session: Session<U>, event: unknown): void;
  defaultHeartbeat?(session: Session<U>): void;
}

class DispatchEvent implements SessionEvent {
  defaultPrevented = false;
  preventDefault(): void {
    this.defaultPrevented = true;
  }
}

/** An event whose default cannot be prevented, used when there is nothing to prevent. */
const INERT_EVENT: SessionEvent = Object.freeze({
  defaultPrevented: false,
  preventDefault() {},
});

type SinkMethod = Exclude<keyof EventSink, never>;
type DefaultMethod<K extends SinkMethod> = K extends `on${infer Rest}` ? `default${Rest}` : never;

/**
 * A protocol handler and the application sinks chained behind it. Immutable; shared by every
 * session of a listener or connector.
 */
export class HandlerChain<U = unknown> {
  readonly handler: ProtocolHandler<U>;
  readonly sinks: readonly EventSink<U>[];
  readonly #fastFrame: boolean;
  /** Reused by frame dispatch when no sink can keep it; `#frameDepth` guards nested dispatch. */
  readonly #frameEvent = new DispatchEvent();
  #frameDepth = 0;

  constructor(handler: ProtocolHandler<U>, sinks: readonly EventSink<U>[] = []) {
    this.handler = handler;
    this.sinks = Object.freeze([...sinks]);
    this.#fastFrame = this.sinks.length === 0 && handler.defaultFrame === undefined;
  }

  /** Hot path: one frame. */
  frame(session: Session<U>, frame: Uint8Array): void {
    if (this.#fastFrame) {
      this.handler.onFrame?.(session, frame, INERT_EVENT);
      return;
    }
    if (this.sinks.length === 0 && this.#frameDepth === 0) {
      const ev = this.#frameEvent;
      ev.defaultPrevented = false;
      this.#frameDepth++;
      try {
        this.handler.onFrame?.(session, frame, ev);
        if (!ev.defaultPrevented) this.handler.defaultFrame?.(session, frame);
      } finally {
        this.#frameDepth--;
      }
      return;
    }
    const ev = new DispatchEvent();
    this.handler.onFrame?.(session, frame, ev);
    for (const sink of this.sinks) sink.onFrame?.(session, frame, ev);
    if (!ev.defaultPrevented) this.handler.defaultFrame?.(session, frame);
  }

  accepted(session: Session<U>): void {
    this.#dispatch("onAccepted", session);
  }
  connected(session: Session<U>): void {
    this.#dispatch("onConnected", session);
  }
  writeDrained(session: Session<U>): void {
    this.#dispatch("onWriteDrained", session);
  }
  heartbeat(session: Session<U>): void {
    this.#dispatch("onHeartbeat", session);
  }
  userEvent(session: Session<U>, event: unknown): void {
    const ev = new DispatchEvent();
    this.handler.onUserEvent?.(session, event, ev);
    for (const sink of this.sinks) sink.onUserEvent?.(session, event, ev);
    if (!ev.defaultPrevented) this.handler.defaultUserEvent?.(session, event);
  }
  /**
   * Every link hears of a disconnect, even when an earlier one throws: each link's error goes to
   * `report` and the next link still runs.
   */
  disconnected(session: Session<U>, info: DisconnectInfo, report: (error: unknown) => void): void {
    const ev = new DispatchEvent();
    const guarded = (fn: () => void): void => {
      try {
        fn();
      } catch (error) {
        report(error);
      }
    };
    guarded(() => this.handler.onDisconnected?.(session, info, ev));
    for (const sink of this.sinks) guarded(() => sink.onDisconnected?.(session, info, ev));
    if (!ev.defaultPrevented) guarded(() => this.handler.defaultDisconnected?.(session, info));
  }

  #dispatch<K extends "onAccepted" | "onConnected" | "onWriteDrained" | "onHeartbeat">(
    method: K,
    session: Session<U>,
  ): void {
    const ev = new DispatchEvent();
    this.handler[method]?.(session, ev);
    for (const sink of this.sinks) sink[method]?.(session, ev);
    if (ev.defaultPrevented) return;
    const name = `default${method.slice(2)}` as DefaultMethod<K>;
    this.handler[name]?.(session);
  }
}
