/** One input as the gateway keeps it until the owning zone server acknowledges it. */
export interface KeptInput {
  readonly seq: number;
  readonly data: unknown;
}

/** What {@link UnackedInputs.accept} decided. */
export type AcceptResult = "accepted" | "duplicate" | "gap" | "full";

/**
 * One player's inputs that no zone server has acknowledged yet, in sequence order: the gateway's
 * copy of the input stream, re-sent to a new owner after a route switch.
 *
 * - A sequence at or below the last accepted one is a duplicate (a client re-sending after a
 *   resume) and is refused. A sequence above the next one (`last + 1`) is a gap and is refused too:
 *   the stream is contiguous ("one more per input"), which is what lets a zone server apply only
 *   `lastApplied + 1` and so never skip an input that a stale route lost (see the router's docs).
 *   The one exception is a stream whose start is unknown (a session resumed at a gateway that did
 *   not hold it, before the world's `ack` arrives): its first input sets the start.
 * - The buffer is bounded. Beyond `capacity` kept inputs, new ones are refused (`full`) rather than
 *   the oldest being dropped: an input dropped from the front would be lost for good if the owner
 *   had not applied it, silently breaking "no input is lost". Refusing the newest tells the caller
 *   (and so the client) at once, and the buffer frees up as soon as the owner acknowledges.
 */
export class UnackedInputs {
  readonly #capacity: number;
  readonly #inputs: KeptInput[] = [];
  #lastAccepted: number;
  #acked: number;
  #startKnown: boolean;

  /**
   * @param start the last sequence already applied (and so accepted) for the session: 0 for none,
   *   or undefined when not known yet (until the first `acknowledge` or the first input).
   */
  constructor(capacity: number, start: number | undefined = 0) {
    this.#capacity = capacity;
    this.#lastAccepted = start ?? 0;
    this.#acked = start ?? 0;
    this.#startKnown = start !== undefined;
  }

  /** The last sequence accepted (0: none). */
  get lastAccepted(): number {
    return this.#lastAccepted;
  }

  /** The highest sequence the owner acknowledged (0: none). Never decreases. */
  get acked(): number {
    return this.#acked;
  }

  /** How many inputs are kept. */
  get size(): number {
    return this.#inputs.length;
  }

  /** Keeps one input when its sequence is new and there is room. */
  accept(seq: number, data: unknown): AcceptResult {
    if (seq <= this.#lastAccepted) return "duplicate";
    if (seq !== this.#lastAccepted + 1 && this.#startKnown) return "gap";
    if (this.#inputs.length >= this.#capacity) return "full";
    this.#inputs.push({ seq, data });
    this.#lastAccepted = seq;
    this.#startKnown = true;
    return "accepted";
  }

  /**
   * The owner applied every input up to `ack`: forgets them. An `ack` above the last accepted
   * sequence (a session resumed at another gateway) also moves the duplicate threshold up.
   */
  acknowledge(ack: number): void {
    this.#startKnown = true;
    if (ack <= this.#acked) return;
    this.#acked = ack;
    if (ack > this.#lastAccepted) this.#lastAccepted = ack;
    let drop = 0;
    while (drop < this.#inputs.length && (this.#inputs[drop] as KeptInput).seq <= ack) drop++;
    if (drop > 0) this.#inputs.splice(0, drop);
  }

  /** The kept inputs with a sequence above `seq`, in order. */
  *after(seq: number): Generator<KeptInput> {
    for (const input of this.#inputs) if (input.seq > seq) yield input;
  }
}
