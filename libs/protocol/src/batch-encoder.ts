/**
 * Encoding a batch message (`gateway_updates`, `ghost_batch`…) whose item list may not fit one
 * message: `encodeBatches` cuts the items into as few messages as fit both an item count and a byte
 * limit, measuring each item once and encoding each part once (a naive split that halves and
 * re-encodes costs several encodes per item on large batches).
 *
 * @module
 */
import { encodeMessage } from "./message-codec.js";

/** Batches of at most this many items are first encoded whole. */
const SMALL_BATCH = 64;

/** What {@link encodeBatches} produced. */
export interface EncodedBatches {
  /** The messages, in item order; each at most `maxBytes`. */
  readonly messages: Uint8Array[];
  /** Items dropped because one alone is larger than `maxBytes` (with its envelope). */
  readonly dropped: number;
}

/**
 * Encodes `build(part)` for consecutive parts of `items`, each part at most `maxItems` items and its
 * message at most `maxBytes`. An empty `items` gives one message (an empty batch still says
 * something, e.g. "no ghosts now"). Item sizes are measured as standalone MessagePack values; the
 * rare part that still comes out too large (absent fields encode as nil inside an array) is halved
 * until it fits.
 */
export function encodeBatches<T extends object>(
  items: readonly T[],
  build: (part: readonly T[]) => { readonly t: string },
  maxItems: number,
  maxBytes: number,
): EncodedBatches {
  const messages: Uint8Array[] = [];
  let dropped = 0;
  // A small batch is tried whole (one encode). A large one is measured first, as a whole attempt that
  // fails would be a third encode of every item.
  if (items.length <= Math.min(maxItems, SMALL_BATCH)) {
    const whole = encodeMessage(build(items));
    if (whole.length <= maxBytes) return { messages: [whole], dropped };
  }
  // The envelope (everything but the items), plus the largest array header (5 bytes).
  const budget = maxBytes - encodeMessage(build([])).length - 5;
  const halving = (part: readonly T[]): void => {
    const bytes = encodeMessage(build(part));
    if (bytes.length <= maxBytes) messages.push(bytes);
    else if (part.length > 1) {
      const half = Math.ceil(part.length / 2);
      halving(part.slice(0, half));
      halving(part.slice(half));
    } else dropped++;
  };
  let part: T[] = [];
  let size = 0;
  for (const item of items) {
    // An item measured as a map of its own: `encodeMessage` packs any object (its `t` is not read).
    const itemBytes = encodeMessage(item as T & { readonly t: string }).length;
    if (itemBytes > budget) {
      dropped++;
      continue;
    }
    if (part.length >= maxItems || size + itemBytes > budget) {
      halving(part);
      part = [];
      size = 0;
    }
    part.push(item);
    size += itemBytes;
  }
  if (part.length > 0) halving(part);
  return { messages, dropped };
}
