/**
 * A MessagePack writer for the hot batch messages (`gateway_updates`, `ghost_batch`), where most of
 * the bytes are the same objects again and again: a zone's tick shares one object per entity change
 * between the views of every player who sees it (`ViewDelta` in libs/world). msgpackr packs such an
 * object once per view; {@link MessagePackWriter} packs it once per scope ({@link MessagePackWriter.shared})
 * and copies its bytes afterwards.
 *
 * What it writes is plain MessagePack, decoded by any MessagePack library (and by this package's
 * codecs): maps with string keys for plain objects, arrays, strings (UTF-8), integers in their
 * smallest format up to 32 bits, float64 for every other number, booleans, nil for `null` (and for
 * `undefined` inside an array), bin for `Uint8Array`. Object fields holding `undefined` are left out
 * (an absent optional field), as at the top level of `encodeMessage`. Anything else (a `Map`,
 * a `Date`, a class instance, a bigint) is handed to msgpackr with the codec's settings, so it
 * encodes exactly as `encodeMessage` would encode it.
 *
 * Sharing: inside `shared(fn)`, every plain object that is an element of an array below the top
 * level of what is written is memoised by identity: its bytes are written once and copied at each
 * later appearance. The objects must not change during the scope; outside a scope nothing is
 * memoised.
 *
 * @module
 */
import { Packr } from "msgpackr";

const fallback = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });

const INITIAL_BYTES = 64 * 1024;
/** A buffer grown beyond this by a burst is let go at the end of a `shared` scope. */
const MAX_KEPT_BYTES = 64 * 1024 * 1024;

/** Where a memoised value's bytes are in the writer's buffer. */
interface Span {
  readonly start: number;
  readonly end: number;
}

/** A growable MessagePack output buffer. Reused: {@link reset} keeps its memory. */
export class MessagePackWriter {
  #buf: Buffer;
  #view: DataView;
  #pos = 0;

  /**
   * Memoised values of the current `shared` scope (undefined: no scope). Their bytes stay where they
   * were first written: inside a scope the buffer is never rewound, and a copy is a `copyWithin`.
   */
  #memo: Map<object, Span> | undefined;
  /** >0 while writing the bytes of a value being memoised (values inside it are not memoised again). */
  #memoising = 0;

  constructor(initialBytes = INITIAL_BYTES) {
    this.#buf = Buffer.allocUnsafe(Math.max(16, initialBytes));
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  }

  /** Bytes written since the last {@link reset}. */
  get length(): number {
    return this.#pos;
  }

  /** Forgets what was written. Inside a `shared` scope it does nothing (the bytes are memoised). */
  reset(): void {
    if (this.#memo === undefined) this.#pos = 0;
  }

  /** A view of bytes [`start`, `end`) written so far; valid until the next write or reset. */
  view(start = 0, end = this.#pos): Uint8Array {
    return this.#buf.subarray(start, end);
  }

  /** Copies bytes [`start`, `end`) of this writer into `target` at `at`. */
  copyTo(target: Uint8Array, at: number, start: number, end: number): void {
    this.#buf.copy(target, at, start, end);
  }

  /**
   * Runs `fn` with sharing on: array elements that are plain objects are packed once and copied
   * afterwards (see the module's documentation). Inside the scope {@link reset} does not rewind (the
   * memoised bytes stay in the buffer: take each piece's bytes from its start, as
   * {@link encodeSharedBatches} does); the scope starts and ends with an empty writer. A scope
   * inside a scope is the outer one.
   */
  shared<R>(fn: () => R): R {
    if (this.#memo !== undefined) return fn();
    this.#memo = new Map();
    this.#pos = 0;
    try {
      return fn();
    } finally {
      this.#memo = undefined;
      this.#pos = 0;
      // A large buffer from a burst is not kept for ever.
      if (this.#buf.length > MAX_KEPT_BYTES) this.#replace(Buffer.allocUnsafe(INITIAL_BYTES));
    }
  }

  #ensure(extra: number): void {
    const need = this.#pos + extra;
    if (need <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#replace(next);
  }

  #replace(next: Buffer): void {
    this.#buf = next;
    this.#view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  mapHeader(n: number): void {
    this.#ensure(5);
    const b = this.#buf;
    if (n < 16) b[this.#pos++] = 0x80 | n;
    else if (n < 0x10000) {
      b[this.#pos++] = 0xde;
      this.#view.setUint16(this.#pos, n);
      this.#pos += 2;
    } else {
      b[this.#pos++] = 0xdf;
      this.#view.setUint32(this.#pos, n);
      this.#pos += 4;
    }
  }

  arrayHeader(n: number): void {
    this.#ensure(5);
    const b = this.#buf;
    if (n < 16) b[this.#pos++] = 0x90 | n;
    else if (n < 0x10000) {
      b[this.#pos++] = 0xdc;
      this.#view.setUint16(this.#pos, n);
      this.#pos += 2;
    } else {
      b[this.#pos++] = 0xdd;
      this.#view.setUint32(this.#pos, n);
      this.#pos += 4;
    }
  }

  nil(): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = 0xc0;
  }

  bool(v: boolean): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = v ? 0xc3 : 0xc2;
  }

  number(n: number): void {
    this.#ensure(9);
    const b = this.#buf;
    if (Number.isInteger(n) && n >= -0x8000_0000 && n <= 0xffff_ffff) {
      if (n >= 0) {
        if (n < 0x80) b[this.#pos++] = n;
        else if (n < 0x100) {
          b[this.#pos++] = 0xcc;
          b[this.#pos++] = n;
        } else if (n < 0x10000) {
          b[this.#pos++] = 0xcd;
          this.#view.setUint16(this.#pos, n);
          this.#pos += 2;
        } else {
          b[this.#pos++] = 0xce;
          this.#view.setUint32(this.#pos, n);
          this.#pos += 4;
        }
      } else if (n >= -32) b[this.#pos++] = n & 0xff;
      else if (n >= -0x80) {
        b[this.#pos++] = 0xd0;
        this.#view.setInt8(this.#pos++, n);
      } else if (n >= -0x8000) {
        b[this.#pos++] = 0xd1;
        this.#view.setInt16(this.#pos, n);
        this.#pos += 2;
      } else {
        b[this.#pos++] = 0xd2;
        this.#view.setInt32(this.#pos, n);
        this.#pos += 4;
      }
      return;
    }
    b[this.#pos++] = 0xcb;
    this.#view.setFloat64(this.#pos, n);
    this.#pos += 8;
  }

  string(s: string): void {
    const n = s.length;
    // ASCII fast path: one byte per UTF-16 unit, written by a loop.
    if (n < 32) {
      this.#ensure(1 + n * 3);
      const b = this.#buf;
      const start = this.#pos + 1;
      let p = start;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          p = -1;
          break;
        }
        b[p++] = c;
      }
      if (p >= 0) {
        b[this.#pos] = 0xa0 | n;
        this.#pos = p;
        return;
      }
    }
    const bytes = Buffer.byteLength(s, "utf8");
    this.#ensure(5 + bytes);
    const b = this.#buf;
    if (bytes < 32) b[this.#pos++] = 0xa0 | bytes;
    else if (bytes < 0x100) {
      b[this.#pos++] = 0xd9;
      b[this.#pos++] = bytes;
    } else if (bytes < 0x10000) {
      b[this.#pos++] = 0xda;
      this.#view.setUint16(this.#pos, bytes);
      this.#pos += 2;
    } else {
      b[this.#pos++] = 0xdb;
      this.#view.setUint32(this.#pos, bytes);
      this.#pos += 4;
    }
    this.#pos += b.write(s, this.#pos, bytes, "utf8");
  }

  /** Writes `bytes` as they are (an already encoded MessagePack value). */
  raw(bytes: Uint8Array): void {
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  #bin(bytes: Uint8Array): void {
    const n = bytes.length;
    this.#ensure(5 + n);
    const b = this.#buf;
    if (n < 0x100) {
      b[this.#pos++] = 0xc4;
      b[this.#pos++] = n;
    } else if (n < 0x10000) {
      b[this.#pos++] = 0xc5;
      this.#view.setUint16(this.#pos, n);
      this.#pos += 2;
    } else {
      b[this.#pos++] = 0xc6;
      this.#view.setUint32(this.#pos, n);
      this.#pos += 4;
    }
    b.set(bytes, this.#pos);
    this.#pos += n;
  }

  /** Writes any value (see the module's documentation for how each kind is written). */
  value(v: unknown): void {
    this.#value(v, false);
  }

  /**
   * Writes a map of `fields`' defined entries, then `extraKey` (when given) whose value the caller
   * writes next. For envelopes: `{ t, server, tick }` then the item array written item by item.
   */
  objectHead(fields: Readonly<Record<string, unknown>>, extraKey?: string): void {
    let n = extraKey === undefined ? 0 : 1;
    for (const key in fields) if (fields[key] !== undefined && key !== extraKey) n++;
    this.mapHeader(n);
    for (const key in fields) {
      const v = fields[key];
      if (v === undefined || key === extraKey) continue;
      this.string(key);
      this.#value(v, false);
    }
    if (extraKey !== undefined) this.string(extraKey);
  }

  #value(v: unknown, element: boolean): void {
    switch (typeof v) {
      case "string":
        this.string(v);
        return;
      case "number":
        this.number(v);
        return;
      case "boolean":
        this.bool(v);
        return;
      case "undefined":
        this.nil();
        return;
      case "object":
        break;
      default:
        // bigint, symbol, function: what msgpackr makes of them.
        this.raw(fallback.pack(v));
        return;
    }
    if (v === null) {
      this.nil();
      return;
    }
    if (Array.isArray(v)) {
      this.arrayHeader(v.length);
      const memo = this.#memo;
      for (let i = 0; i < v.length; i++) {
        const e: unknown = v[i];
        // The hot path of a shared scope: an element already packed is copied at once.
        if (memo !== undefined && typeof e === "object" && e !== null) {
          const span = memo.get(e);
          if (span !== undefined) {
            this.#copyMemoised(span);
            continue;
          }
        }
        this.#value(e, true);
      }
      return;
    }
    if (v instanceof Uint8Array) {
      this.#bin(v);
      return;
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      this.raw(fallback.pack(v));
      return;
    }
    const memo = this.#memo;
    if (element && memo !== undefined && this.#memoising === 0) {
      // Not packed yet in this scope (the array loop looked).
      const start = this.#pos;
      this.#memoising++;
      try {
        this.#object(v as Record<string, unknown>);
      } finally {
        this.#memoising--;
      }
      memo.set(v, { start, end: this.#pos });
      return;
    }
    this.#object(v as Record<string, unknown>);
  }

  #object(o: Record<string, unknown>): void {
    let n = 0;
    for (const key in o) if (o[key] !== undefined) n++;
    this.mapHeader(n);
    for (const key in o) {
      const v = o[key];
      if (v === undefined) continue;
      this.string(key);
      this.#value(v, false);
    }
  }

  #copyMemoised(span: Span): void {
    const len = span.end - span.start;
    this.#ensure(len);
    this.#buf.copyWithin(this.#pos, span.start, span.end);
    this.#pos += len;
  }
}

/** What {@link encodeSharedBatches} produced (the same shape as `encodeBatches`'). */
export interface SharedBatches {
  /** The messages, in item order; each at most `maxBytes`. */
  readonly messages: Uint8Array[];
  /** Items dropped because one alone is larger than `maxBytes` (with its envelope). */
  readonly dropped: number;
}

/**
 * Encodes `{ ...envelope, [itemsKey]: part }` for consecutive parts of `items`, each part at most
 * `maxItems` items and its message at most `maxBytes`, with `writer` (whose `shared` scope, when
 * one is running, lets objects shared by the items and by other calls in the scope be packed once).
 * Every item is packed exactly once; an empty `items` gives one message with an empty array.
 * Decodes to the same values as `encodeBatches(items, part => ({ ...envelope, [itemsKey]: part }))`.
 */
export function encodeSharedBatches(
  writer: MessagePackWriter,
  envelope: Readonly<Record<string, unknown>> & { readonly t: string },
  itemsKey: string,
  items: readonly unknown[],
  maxItems: number,
  maxBytes: number,
): SharedBatches {
  writer.reset();
  const base = writer.length;
  writer.objectHead(envelope, itemsKey);
  const headEnd = writer.length;
  const headLen = headEnd - base;
  // Item i is bytes [ends[i-1], ends[i]) (ends[-1] = headEnd).
  const ends = new Array<number>(items.length);
  for (let i = 0; i < items.length; i++) {
    writer.value(items[i]);
    ends[i] = writer.length;
  }
  const messages: Uint8Array[] = [];
  let dropped = 0;
  const budget = maxBytes - headLen - 5;
  const emit = (itemStarts: readonly number[], itemEnds: readonly number[]): void => {
    const header = arrayHeaderBytes(itemStarts.length);
    let size = headLen + header.length;
    for (let k = 0; k < itemStarts.length; k++) size += (itemEnds[k] as number) - (itemStarts[k] as number);
    const out = Buffer.allocUnsafe(size);
    writer.copyTo(out, 0, base, headEnd);
    out.set(header, headLen);
    let at = headLen + header.length;
    // Consecutive items are one copy.
    let k = 0;
    while (k < itemStarts.length) {
      const s = itemStarts[k] as number;
      let e = itemEnds[k] as number;
      k++;
      while (k < itemStarts.length && itemStarts[k] === e) {
        e = itemEnds[k] as number;
        k++;
      }
      writer.copyTo(out, at, s, e);
      at += e - s;
    }
    messages.push(out);
  };
  let starts: number[] = [];
  let endsOfPart: number[] = [];
  let size = 0;
  let prev = headEnd;
  for (let i = 0; i < items.length; i++) {
    const s = prev;
    const e = ends[i] as number;
    prev = e;
    const len = e - s;
    if (len > budget) {
      dropped++;
      continue;
    }
    if (starts.length >= maxItems || size + len > budget) {
      emit(starts, endsOfPart);
      starts = [];
      endsOfPart = [];
      size = 0;
    }
    starts.push(s);
    endsOfPart.push(e);
    size += len;
  }
  if (starts.length > 0 || items.length === 0) emit(starts, endsOfPart);
  return { messages, dropped };
}

function arrayHeaderBytes(n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(0x90 | n);
  if (n < 0x10000) return Uint8Array.of(0xdc, n >>> 8, n & 0xff);
  return Uint8Array.of(0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}
