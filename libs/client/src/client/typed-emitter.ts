/** A listener of an event whose payload is `T`. */
export type Listener<T> = (payload: T) => void;

/**
 * A minimal typed event emitter that runs in browsers and Node alike (no `node:events`). Unlike
 * Node's EventEmitter, an `error` event without listeners is not thrown: the client also reports
 * every failure through the promise of the call that caused it. A listener that throws does not
 * disturb the client: its error is re-thrown on a later turn, where the host reports it.
 */
export class TypedEmitter<E extends object> {
  readonly #listeners = new Map<keyof E, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Adds a listener called at most once. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  /** Removes a listener. */
  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** The number of listeners of an event. */
  listenerCount(event: keyof E): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  protected emit<K extends keyof E>(event: K, payload: E[K]): void {
    const set = this.#listeners.get(event);
    if (set === undefined || set.size === 0) return;
    for (const listener of [...set] as Listener<E[K]>[]) {
      try {
        listener(payload);
      } catch (error) {
        setTimeout(() => {
          throw error;
        }, 0);
      }
    }
  }
}
