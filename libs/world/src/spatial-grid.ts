/**
 * A uniform-grid spatial hash: items at points, bucketed by `floor(x / cellSize)`,
 * `floor(y / cellSize)`. Insert, move and remove are O(1); a radius or rectangle query visits only
 * the buckets the shape overlaps. With a bucket about the size of the query radius, a query visits
 * 3×3 buckets, whatever the number of items.
 *
 * Buckets are a spatial index only: they are unrelated to the world's cells (the unit of ownership).
 *
 * @module
 */
import { WorldError, WorldErrorCode } from "./errors.js";

/** Options of {@link SpatialGrid}. */
export interface SpatialGridOptions {
  /** The side of a bucket, world units; about the usual query radius. Positive. */
  readonly cellSize: number;
}

interface Slot<T> {
  readonly item: T;
  x: number;
  y: number;
  key: number;
  /** The slot's index in its bucket (swap-remove keeps removal O(1)). */
  index: number;
}

// Bucket coordinates are packed in one safe integer: ±2^20 buckets on each axis.
const OFFSET = 2 ** 20;
const SPAN = 2 ** 21;

function clampIndex(i: number): number {
  return Math.max(-OFFSET, Math.min(OFFSET - 1, i));
}

/** A uniform-grid spatial hash of items (ids, usually) at points. */
export class SpatialGrid<T> {
  readonly cellSize: number;
  // Buckets hold the slots themselves, so a query reads positions without a lookup per item.
  readonly #buckets = new Map<number, Slot<T>[]>();
  readonly #slots = new Map<T, Slot<T>>();

  constructor(options: SpatialGridOptions) {
    if (!Number.isFinite(options.cellSize) || options.cellSize <= 0) {
      throw new WorldError(WorldErrorCode.InvalidConfig, `cellSize must be a positive number`, {
        problems: [`cellSize must be a positive number, got ${options.cellSize}`],
      });
    }
    this.cellSize = options.cellSize;
  }

  /** The number of items. */
  get size(): number {
    return this.#slots.size;
  }

  has(item: T): boolean {
    return this.#slots.has(item);
  }

  /** The item's position, or undefined. */
  position(item: T): { readonly x: number; readonly y: number } | undefined {
    const slot = this.#slots.get(item);
    return slot === undefined ? undefined : { x: slot.x, y: slot.y };
  }

  /** Adds `item` at (`x`, `y`); an item already present is moved there. */
  insert(item: T, x: number, y: number): void {
    if (this.#slots.has(item)) {
      this.move(item, x, y);
      return;
    }
    const key = this.#key(x, y);
    const slot: Slot<T> = { item, x, y, key, index: 0 };
    this.#slots.set(item, slot);
    this.#add(slot);
  }

  /** Moves `item` to (`x`, `y`); an unknown item is inserted. */
  move(item: T, x: number, y: number): void {
    const slot = this.#slots.get(item);
    if (slot === undefined) {
      this.insert(item, x, y);
      return;
    }
    const key = this.#key(x, y);
    slot.x = x;
    slot.y = y;
    if (key === slot.key) return;
    this.#unbucket(slot);
    slot.key = key;
    this.#add(slot);
  }

  /** Removes `item`; false when it was not there. */
  remove(item: T): boolean {
    const slot = this.#slots.get(item);
    if (slot === undefined) return false;
    this.#slots.delete(item);
    this.#unbucket(slot);
    return true;
  }

  clear(): void {
    this.#slots.clear();
    this.#buckets.clear();
  }

  /** The items within `radius` of (`x`, `y`) (the circle's edge included), appended to `out`. */
  queryRadius(x: number, y: number, radius: number, out: T[] = []): T[] {
    this.visitRadius(x, y, radius, (item) => {
      out.push(item);
    });
    return out;
  }

  /** The items in [`minX`, `maxX`] × [`minY`, `maxY`] (edges included), appended to `out`. */
  queryRect(minX: number, minY: number, maxX: number, maxY: number, out: T[] = []): T[] {
    if (!(minX <= maxX && minY <= maxY)) return out;
    const s = this.cellSize;
    const c0 = clampIndex(Math.floor(minX / s));
    const c1 = clampIndex(Math.floor(maxX / s));
    const r0 = clampIndex(Math.floor(minY / s));
    const r1 = clampIndex(Math.floor(maxY / s));
    for (let c = c0; c <= c1; c++) {
      for (let r = r0; r <= r1; r++) {
        const bucket = this.#buckets.get((c + OFFSET) * SPAN + (r + OFFSET));
        if (bucket === undefined) continue;
        for (const slot of bucket) {
          if (slot.x >= minX && slot.x <= maxX && slot.y >= minY && slot.y <= maxY) out.push(slot.item);
        }
      }
    }
    return out;
  }

  /**
   * Calls `visit` for each item within `radius` of (`x`, `y`), without allocating: the hot path of
   * interest management. `visit` must not insert, move or remove items.
   */
  visitRadius(x: number, y: number, radius: number, visit: (item: T, x: number, y: number) => void): void {
    if (!(radius >= 0)) return;
    const s = this.cellSize;
    const r2 = radius * radius;
    // Float rounding (and underflow of tiny squares) may accept a point a hair outside the
    // circle's bounding box: widen the box by a hair so its bucket is visited.
    const reach = radius + 1e-9 * Math.max(1, radius, Math.abs(x), Math.abs(y));
    const c0 = clampIndex(Math.floor((x - reach) / s));
    const c1 = clampIndex(Math.floor((x + reach) / s));
    const r0 = clampIndex(Math.floor((y - reach) / s));
    const r1 = clampIndex(Math.floor((y + reach) / s));
    for (let c = c0; c <= c1; c++) {
      for (let r = r0; r <= r1; r++) {
        const bucket = this.#buckets.get((c + OFFSET) * SPAN + (r + OFFSET));
        if (bucket === undefined) continue;
        for (let i = 0; i < bucket.length; i++) {
          const slot = bucket[i] as Slot<T>;
          const dx = slot.x - x;
          const dy = slot.y - y;
          if (dx * dx + dy * dy <= r2) visit(slot.item, slot.x, slot.y);
        }
      }
    }
  }

  /**
   * The items within `radius` of (`x`, `y`) with their positions, written into `items`, `xs` and
   * `ys` from index 0 (the arrays are reused by the caller; entries past the count are stale).
   * Returns the count. No callback per item: the caller's loop over the result can be inlined,
   * where a shared visitor's call site sees many closures.
   */
  collectRadius(x: number, y: number, radius: number, items: T[], xs: number[], ys: number[]): number {
    if (!(radius >= 0)) return 0;
    const s = this.cellSize;
    const r2 = radius * radius;
    const reach = radius + 1e-9 * Math.max(1, radius, Math.abs(x), Math.abs(y));
    const c0 = clampIndex(Math.floor((x - reach) / s));
    const c1 = clampIndex(Math.floor((x + reach) / s));
    const r0 = clampIndex(Math.floor((y - reach) / s));
    const r1 = clampIndex(Math.floor((y + reach) / s));
    let n = 0;
    for (let c = c0; c <= c1; c++) {
      for (let r = r0; r <= r1; r++) {
        const bucket = this.#buckets.get((c + OFFSET) * SPAN + (r + OFFSET));
        if (bucket === undefined) continue;
        for (let i = 0; i < bucket.length; i++) {
          const slot = bucket[i] as Slot<T>;
          const dx = slot.x - x;
          const dy = slot.y - y;
          if (dx * dx + dy * dy <= r2) {
            items[n] = slot.item;
            xs[n] = slot.x;
            ys[n] = slot.y;
            n++;
          }
        }
      }
    }
    return n;
  }

  #key(x: number, y: number): number {
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      throw new WorldError(WorldErrorCode.OutOfBounds, `(${x}, ${y}) is not a finite point`, { x, y });
    }
    const c = clampIndex(Math.floor(x / this.cellSize));
    const r = clampIndex(Math.floor(y / this.cellSize));
    return (c + OFFSET) * SPAN + (r + OFFSET);
  }

  #add(slot: Slot<T>): void {
    let bucket = this.#buckets.get(slot.key);
    if (bucket === undefined) {
      bucket = [];
      this.#buckets.set(slot.key, bucket);
    }
    slot.index = bucket.length;
    bucket.push(slot);
  }

  #unbucket(slot: Slot<T>): void {
    const bucket = this.#buckets.get(slot.key);
    if (bucket === undefined) return;
    const last = bucket.pop() as Slot<T>;
    if (last !== slot) {
      bucket[slot.index] = last;
      last.index = slot.index;
    }
    if (bucket.length === 0) this.#buckets.delete(slot.key);
  }
}
