/**
 * Framing: one suite run over every framer (length-prefix and delimiter with several delimiters,
 * as kysely runs every test for every dialect), then the tests that only make sense for one of
 * them. Frames are compared against hand-built wire bytes and naive reference decoders.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { FrameError, NetEngineErrorCode, OptionsError } from "../src/errors.js";
import { DEFAULT_DELIMITER, DelimiterFramer } from "../src/framing/delimiter-framer.js";
import type { Framer } from "../src/framing/framer.js";
import {
  DEFAULT_MAX_FRAME_BYTES,
  LENGTH_PREFIX_HEADER_BYTES,
  LengthPrefixFramer,
  MAX_FRAME_BYTES_LIMIT,
} from "../src/framing/length-prefix-framer.js";

/** Frames are Uint8Array views; compare them as Buffers (a view, no copy). */
function asBuffer(frame: Uint8Array): Buffer {
  return Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
}

interface FramerLimits {
  maxFrameBytes?: number;
  allowEmptyFrames?: boolean;
}

/** What a reference decoder makes of a whole stream. */
interface ReferenceResult {
  readonly frames: Buffer[];
  /** The code of the first error, if the stream has one. */
  readonly error?: string;
  /** Bytes left over after the last frame, when there is no error. */
  readonly buffered: number;
}

interface FramerCase {
  readonly label: string;
  create(limits?: FramerLimits): Framer;
  readonly defaultAllowEmptyFrames: boolean;
  /** Bytes the encoder must write per frame besides the payload. */
  readonly overhead: number;
  /** The wire bytes of one frame built by hand, without any check, to feed what encoders refuse. */
  wire(payload: Uint8Array): Buffer;
  /** Bytes over-represented in random payloads: delimiter pieces, length-header-like bytes. */
  readonly interestingBytes: readonly number[];
  /** Turns a random payload into one the framer can encode (drops bytes forming the delimiter). */
  encodable(payload: Uint8Array): Buffer;
  /** A naive decoder of a whole stream, independent of the implementation. */
  reference(stream: Buffer, limits: Required<FramerLimits>): ReferenceResult;
}

const lengthPrefixCase: FramerCase = {
  label: "length-prefix",
  create: (limits) => new LengthPrefixFramer(limits),
  defaultAllowEmptyFrames: false,
  overhead: LENGTH_PREFIX_HEADER_BYTES,
  wire(payload) {
    const out = Buffer.alloc(4 + payload.byteLength);
    out.writeUInt32BE(payload.byteLength, 0);
    out.set(payload, 4);
    return out;
  },
  // Delimiter bytes, NUL, and bytes that read as huge lengths when a header is misaligned.
  interestingBytes: [0x00, 0x0d, 0x0a, 0x7f, 0x80, 0xff],
  encodable: (payload) => Buffer.from(payload),
  reference(stream, { maxFrameBytes, allowEmptyFrames }) {
    const frames: Buffer[] = [];
    let pos = 0;
    while (stream.byteLength - pos >= 4) {
      const length = stream.readUInt32BE(pos);
      if (length > maxFrameBytes) return { frames, error: NetEngineErrorCode.FrameTooLarge, buffered: 0 };
      if (length === 0 && !allowEmptyFrames) {
        return { frames, error: NetEngineErrorCode.FrameMalformed, buffered: 0 };
      }
      if (stream.byteLength - pos - 4 < length) break;
      frames.push(stream.subarray(pos + 4, pos + 4 + length));
      pos += 4 + length;
    }
    return { frames, buffered: stream.byteLength - pos };
  },
};

function delimiterCase(label: string, delimiter: string | Uint8Array): FramerCase {
  const delim = typeof delimiter === "string" ? Buffer.from(delimiter, "utf8") : Buffer.from(delimiter);
  /** Naive: where the delimiter first occurs in `payload` + delimiter, if before the appended one. */
  const breaks = (payload: Buffer): boolean =>
    Buffer.concat([payload, delim]).indexOf(delim) !== payload.byteLength;
  return {
    label,
    create: (limits) => new DelimiterFramer({ delimiter, ...limits }),
    defaultAllowEmptyFrames: true,
    overhead: delim.byteLength,
    wire: (payload) => Buffer.concat([payload, delim]),
    interestingBytes: [...new Set([...delim, 0x00])],
    encodable(payload) {
      let bytes = Buffer.from(payload);
      // Dropping the last byte of each occurrence can form a new one: loop until none is left.
      for (let at = bytes.indexOf(delim); at >= 0; at = bytes.indexOf(delim)) {
        bytes = Buffer.concat([
          bytes.subarray(0, at + delim.byteLength - 1),
          bytes.subarray(at + delim.byteLength),
        ]);
      }
      while (breaks(bytes)) bytes = bytes.subarray(0, bytes.byteLength - 1);
      return bytes;
    },
    reference(stream, { maxFrameBytes, allowEmptyFrames }) {
      const frames: Buffer[] = [];
      let pos = 0;
      for (let at = stream.indexOf(delim, pos); at >= 0; at = stream.indexOf(delim, pos)) {
        if (at - pos > maxFrameBytes) return { frames, error: NetEngineErrorCode.FrameTooLarge, buffered: 0 };
        if (at === pos && !allowEmptyFrames) {
          return { frames, error: NetEngineErrorCode.FrameMalformed, buffered: 0 };
        }
        frames.push(stream.subarray(pos, at));
        pos = at + delim.byteLength;
      }
      const rest = stream.subarray(pos);
      // The end of the rest may be the start of a delimiter still to come: it does not count.
      let partial = Math.min(delim.byteLength - 1, rest.byteLength);
      while (partial > 0 && !rest.subarray(rest.byteLength - partial).equals(delim.subarray(0, partial))) {
        partial--;
      }
      if (rest.byteLength - partial > maxFrameBytes) {
        return { frames, error: NetEngineErrorCode.FrameTooLarge, buffered: 0 };
      }
      return { frames, buffered: rest.byteLength };
    },
  };
}

const framerCases: readonly FramerCase[] = [
  lengthPrefixCase,
  delimiterCase("delimiter (CR LF)", DEFAULT_DELIMITER),
  delimiterCase("delimiter (NUL byte)", Uint8Array.of(0)),
  // Self-overlapping: "\r\n" + "\r\n\r\n" holds the delimiter before its last one.
  delimiterCase("delimiter (CR LF CR LF)", "\r\n\r\n"),
  // Non-ASCII string: encoded as UTF-8 (C2 A7 C2 A7), also self-overlapping.
  delimiterCase("delimiter (UTF-8 §§)", "§§"),
];

// --- helpers ---------------------------------------------------------------------------------

/** What `fn` throws, or undefined when it returns. */
function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

function thrown(fn: () => unknown): unknown {
  const error = caught(fn);
  assert.notEqual(error, undefined, "expected a throw");
  return error;
}

/**
 * Asserts that `error` is a FrameError with `code`. Every `assert.ok` here passes a message: without
 * one, a failing `assert.ok` re-parses the test's source to quote it, which is slow enough to stall
 * fast-check's shrinking.
 */
function assertFrameError(error: unknown, code: string): asserts error is FrameError {
  assert.ok(error instanceof FrameError, `expected a FrameError ${code}, got ${String(error)}`);
  assert.equal(error.code, code);
}

function expectFrameError(fn: () => unknown, code: string): FrameError {
  const error = thrown(fn);
  assertFrameError(error, code);
  return error;
}

type Chunking = { kind: "one-byte" } | { kind: "whole" } | { kind: "random"; cuts: number[] };

/** Splits `stream` into fresh chunks (copies, as a socket would hand them out). */
function split(stream: Buffer, chunking: Chunking): Buffer[] {
  if (chunking.kind === "whole") return [Buffer.from(stream)];
  if (chunking.kind === "one-byte") {
    return Array.from({ length: stream.byteLength }, (_, i) => Buffer.from(stream.subarray(i, i + 1)));
  }
  // Cuts may repeat: empty chunks must be harmless too.
  const cuts = chunking.cuts.map((cut) => cut % (stream.byteLength + 1)).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const cut of [...cuts, stream.byteLength]) {
    chunks.push(Buffer.from(stream.subarray(start, cut)));
    start = cut;
  }
  return chunks;
}

const chunkingArb: fc.Arbitrary<Chunking> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant("random" as const),
      cuts: fc.array(fc.nat(), { maxLength: 24 }),
    }),
    weight: 4,
  },
  fc.constant({ kind: "one-byte" as const }),
  fc.constant({ kind: "whole" as const }),
);

function byteArb(c: FramerCase): fc.Arbitrary<number> {
  return fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...c.interestingBytes));
}

function payloadArb(c: FramerCase, maxLength: number): fc.Arbitrary<Buffer> {
  return fc.array(byteArb(c), { maxLength }).map((bytes) => c.encodable(Uint8Array.from(bytes)));
}

/** Encodes `payloads` back to back into one buffer, as the engine does for one event-loop turn. */
function encodeAll(framer: Framer, payloads: readonly Uint8Array[]): Buffer {
  const total = payloads.reduce((sum, payload) => sum + framer.encodedLength(payload), 0);
  const out = Buffer.alloc(total);
  let offset = 0;
  for (const payload of payloads) offset = framer.encodeInto(payload, out, offset);
  assert.equal(offset, total);
  return out;
}

/**
 * Pushes every chunk into a fresh decoder. Frames are kept as handed out (not copied), so a
 * decoder reusing a buffer behind frames it already emitted shows up as corrupted frames.
 */
function decodeAll(framer: Framer, chunks: readonly Buffer[]): { frames: Buffer[]; buffered: number } {
  const decoder = framer.createDecoder();
  const frames: Buffer[] = [];
  for (const chunk of chunks) decoder.push(chunk, (frame) => frames.push(asBuffer(frame)));
  return { frames, buffered: decoder.bufferedBytes };
}

/**
 * Runs `fn` counting the bytes copied through `Buffer.concat`, `Buffer#copy`, `Uint8Array#set` and
 * `Uint8Array#slice`, and throws as soon as the count passes `limit`: a decoder joining its pending
 * bytes on every push then fails at once, instead of grinding through ~5e11 bytes of memcpy (fast
 * enough to finish, so completing is no proof of linearity). A test-only patch, always restored;
 * Node's internals use their own captured copies of these methods and are not counted.
 */
function countCopiedBytes(limit: number, fn: () => void): number {
  const { concat } = Buffer;
  const { copy } = Buffer.prototype;
  const { set, slice } = Uint8Array.prototype;
  let copied = 0;
  const count = (bytes: number): void => {
    copied += bytes;
    if (copied > limit) throw new Error(`copied more than ${limit} bytes`);
  };
  Buffer.concat = (list, totalLength) => {
    const out = concat(list, totalLength);
    count(out.byteLength);
    return out;
  };
  Buffer.prototype.copy = function (this: Buffer, ...args: Parameters<Buffer["copy"]>): number {
    const bytes = copy.apply(this, args);
    count(bytes);
    return bytes;
  };
  Uint8Array.prototype.set = function (this: Uint8Array, array: ArrayLike<number>, offset?: number): void {
    count(array.length);
    set.call(this, array, offset);
  };
  Uint8Array.prototype.slice = function (this: Uint8Array, start?: number, end?: number) {
    const out = slice.call(this, start, end);
    count(out.byteLength);
    return out;
  };
  try {
    fn();
  } finally {
    Buffer.concat = concat;
    Buffer.prototype.copy = copy;
    Uint8Array.prototype.set = set;
    Uint8Array.prototype.slice = slice;
  }
  return copied;
}

/** A payload of `length` lowercase letters: no delimiter, header-free, cheap to build. */
function letters(length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = 0x61 + (i % 26);
  return out;
}

// --- the shared suite ------------------------------------------------------------------------

for (const c of framerCases) {
  describe(`framing suite - ${c.label}`, () => {
    it("round trip - random frames, encoded and split at random points, reassemble exactly", () => {
      const framer = c.create({ allowEmptyFrames: true, maxFrameBytes: 256 });
      fc.assert(
        fc.property(fc.array(payloadArb(c, 80), { maxLength: 24 }), chunkingArb, (payloads, chunking) => {
          const stream = encodeAll(framer, payloads);
          for (const how of [chunking, { kind: "one-byte" } as const, { kind: "whole" } as const]) {
            const { frames, buffered } = decodeAll(framer, split(stream, how));
            assert.deepEqual(frames, payloads);
            assert.equal(buffered, 0);
          }
        }),
        { numRuns: 300 },
      );
    });

    it("round trip - encodeInto writes the wire format at any offset and nothing around it", () => {
      const framer = c.create({ allowEmptyFrames: true, maxFrameBytes: 256 });
      fc.assert(
        fc.property(
          payloadArb(c, 200),
          fc.nat({ max: 64 }),
          fc.nat({ max: 16 }),
          fc.integer({ min: 0, max: 255 }),
          (payload, offset, slack, fill) => {
            const length = framer.encodedLength(payload);
            assert.equal(length, payload.byteLength + c.overhead);
            const target = Buffer.alloc(offset + length + slack, fill);
            const end = framer.encodeInto(payload, target, offset);
            assert.equal(end, offset + length);
            assert.ok(
              target.subarray(0, offset).every((byte) => byte === fill),
              "bytes before offset kept",
            );
            assert.ok(
              target.subarray(end).every((byte) => byte === fill),
              "bytes after the frame kept",
            );
            assert.deepEqual(target.subarray(offset, end), c.wire(payload));
            assert.deepEqual(decodeAll(framer, [target.subarray(offset, end)]).frames, [payload]);
          },
        ),
        { numRuns: 300 },
      );
    });

    it("decoder - agrees with a naive reference decoder on arbitrary bytes, however split", () => {
      // Valid frames (some oversize or empty) mixed with garbage: frames, errors and leftovers must
      // match a decoder that sees the whole stream at once.
      const piece = fc.oneof(
        fc.array(byteArb(c), { maxLength: 40 }).map((bytes) => c.wire(Uint8Array.from(bytes))),
        fc.array(byteArb(c), { maxLength: 12 }).map((bytes) => Buffer.from(bytes)),
      );
      fc.assert(
        fc.property(
          fc.array(piece, { maxLength: 12 }),
          fc.integer({ min: 1, max: 32 }),
          fc.boolean(),
          chunkingArb,
          (pieces, maxFrameBytes, allowEmptyFrames, chunking) => {
            const framer = c.create({ maxFrameBytes, allowEmptyFrames });
            const stream = Buffer.concat(pieces);
            const expected = c.reference(stream, { maxFrameBytes, allowEmptyFrames });
            const decoder = framer.createDecoder();
            const frames: Buffer[] = [];
            let error: unknown;
            for (const chunk of split(stream, chunking)) {
              try {
                decoder.push(chunk, (frame) => frames.push(asBuffer(frame)));
              } catch (caught) {
                error = caught;
                break;
              }
              // Memory stays bounded by the maximum, whatever the input.
              assert.ok(decoder.bufferedBytes <= maxFrameBytes + c.overhead, "buffered bytes bounded");
            }
            assert.deepEqual(frames, expected.frames);
            if (expected.error === undefined) {
              assert.equal(error, undefined);
              assert.equal(decoder.bufferedBytes, expected.buffered);
            } else {
              assertFrameError(error, expected.error);
            }
          },
        ),
        { numRuns: 500 },
      );
    });

    it("decoder - frames complete within one chunk are views of it, not copies", () => {
      const framer = c.create();
      const chunk = encodeAll(framer, [letters(5), letters(7)]);
      const { frames } = decodeAll(framer, [chunk]);
      assert.deepEqual(frames, [letters(5), letters(7)]);
      for (const frame of frames) assert.equal(frame.buffer, chunk.buffer);
    });

    it("limits - a payload of exactly maxFrameBytes passes, one byte more is FrameTooLarge", () => {
      const framer = c.create({ maxFrameBytes: 100 });
      assert.equal(framer.maxFrameBytes, 100);
      assert.deepEqual(decodeAll(framer, [encodeAll(framer, [letters(100)])]).frames, [letters(100)]);

      expectFrameError(() => framer.encodedLength(letters(101)), NetEngineErrorCode.FrameTooLarge);
      const target = Buffer.alloc(200);
      expectFrameError(() => framer.encodeInto(letters(101), target, 0), NetEngineErrorCode.FrameTooLarge);
      assert.ok(
        target.every((byte) => byte === 0),
        "nothing written for a refused payload",
      );

      const error = expectFrameError(
        () => framer.createDecoder().push(c.wire(letters(101)), () => assert.fail("no frame expected")),
        NetEngineErrorCode.FrameTooLarge,
      );
      assert.equal(error.context.maxFrameBytes, 100);
    });

    it("limits - oversize input fails while at most maxFrameBytes plus framing bytes are buffered", () => {
      const framer = c.create({ maxFrameBytes: 64 });
      const decoder = framer.createDecoder();
      const stream = c.wire(letters(10_000));
      let error: unknown;
      for (let i = 0; i < stream.byteLength && error === undefined; i++) {
        try {
          decoder.push(stream.subarray(i, i + 1), () => assert.fail("no frame expected"));
          assert.ok(decoder.bufferedBytes <= 64 + c.overhead, "buffered bytes bounded");
        } catch (caught) {
          error = caught;
        }
      }
      assertFrameError(error, NetEngineErrorCode.FrameTooLarge);
    });

    it("empty frames - when allowed, an empty payload round-trips", () => {
      const framer = c.create({ allowEmptyFrames: true });
      assert.equal(framer.encodedLength(Buffer.alloc(0)), c.overhead);
      const payloads = [Buffer.alloc(0), letters(3), Buffer.alloc(0), Buffer.alloc(0)];
      const stream = encodeAll(framer, payloads);
      for (const how of [{ kind: "whole" } as const, { kind: "one-byte" } as const]) {
        assert.deepEqual(decodeAll(framer, split(stream, how)).frames, payloads);
      }
    });

    it("empty frames - when not allowed, decoding one is FrameMalformed and encoding one FrameUnencodable", () => {
      const framer = c.create({ allowEmptyFrames: false });
      expectFrameError(() => framer.encodedLength(Buffer.alloc(0)), NetEngineErrorCode.FrameUnencodable);
      expectFrameError(
        () => framer.encodeInto(Buffer.alloc(0), Buffer.alloc(16), 0),
        NetEngineErrorCode.FrameUnencodable,
      );
      const frames: Buffer[] = [];
      const stream = Buffer.concat([c.wire(letters(2)), c.wire(Buffer.alloc(0)), c.wire(letters(3))]);
      expectFrameError(
        () => framer.createDecoder().push(stream, (frame) => frames.push(asBuffer(frame))),
        NetEngineErrorCode.FrameMalformed,
      );
      assert.deepEqual(frames, [letters(2)], "the frame before the bad one is delivered");
    });

    it("errors - after an error the decoder keeps throwing the same error and holds nothing", () => {
      const framer = c.create({ maxFrameBytes: 8 });
      const decoder = framer.createDecoder();
      const frames: Buffer[] = [];
      const oversize = c.wire(letters(9));
      decoder.push(Buffer.concat([c.wire(letters(4)), oversize.subarray(0, 2)]), (frame) =>
        frames.push(asBuffer(frame)),
      );
      assert.deepEqual(frames, [letters(4)]);
      const first = thrown(() => decoder.push(oversize.subarray(2), () => undefined));
      assertFrameError(first, NetEngineErrorCode.FrameTooLarge);
      assert.equal(decoder.bufferedBytes, 0);
      for (const chunk of [c.wire(letters(1)), Buffer.alloc(0), letters(3)]) {
        assert.equal(
          thrown(() => decoder.push(chunk, () => assert.fail("no frame after an error"))),
          first,
        );
      }
    });

    it("errors - an error thrown by onFrame propagates and leaves the decoder failed", () => {
      const framer = c.create();
      const decoder = framer.createDecoder();
      const boom = new Error("handler failed");
      const stream = Buffer.concat([c.wire(letters(2)), c.wire(letters(3))]);
      const seen: Buffer[] = [];
      const onFrame = (frame: Uint8Array): void => {
        seen.push(asBuffer(frame));
        throw boom;
      };
      assert.equal(
        thrown(() => decoder.push(stream, onFrame)),
        boom,
      );
      assert.equal(
        thrown(() => decoder.push(c.wire(letters(1)), onFrame)),
        boom,
      );
      assert.deepEqual(seen, [letters(2)]);
    });

    it("options - defaults and the largest accepted maximum", () => {
      const framer = c.create();
      assert.equal(framer.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES);
      assert.equal(DEFAULT_MAX_FRAME_BYTES, 64 * 1024);
      const empty = caught(() => framer.encodedLength(Buffer.alloc(0)));
      if (c.defaultAllowEmptyFrames) {
        assert.equal(empty, undefined);
      } else {
        assertFrameError(empty, NetEngineErrorCode.FrameUnencodable);
      }
      assert.equal(c.create({ maxFrameBytes: MAX_FRAME_BYTES_LIMIT }).maxFrameBytes, 2 ** 31 - 1);
    });

    it("options - invalid values and unknown keys throw OptionsError", () => {
      const bad: unknown[] = [
        { maxFrameBytes: 0 },
        { maxFrameBytes: -1 },
        { maxFrameBytes: 1.5 },
        { maxFrameBytes: Number.NaN },
        { maxFrameBytes: Number.POSITIVE_INFINITY },
        { maxFrameBytes: 2 ** 31 },
        { maxFrameBytes: "1024" },
        { maxFrameBytes: null },
        { allowEmptyFrames: "yes" },
        { allowEmptyFrames: 1 },
        { maxFrameSize: 1024 },
      ];
      for (const options of bad) {
        const error = thrown(() => c.create(options as FramerLimits));
        assert.ok(error instanceof OptionsError, `expected OptionsError for ${JSON.stringify(options)}`);
        assert.equal(error.code, NetEngineErrorCode.InvalidOptions);
      }
    });

    it("linear time - a 1 MiB frame pushed in 1-byte chunks completes and equals the input", {
      // Not a timing assertion: a decoder that joins or rescans its pending bytes on every push
      // does ~5e11 byte operations here and never finishes; this bound only turns that into a failure.
      timeout: 60_000,
    }, () => {
      const framer = c.create({ maxFrameBytes: 2 * 1024 * 1024 });
      const payload = letters(1024 * 1024);
      const stream = c.wire(payload);
      const decoder = framer.createDecoder();
      const frames: Buffer[] = [];
      // O(n) with a small constant: the final join plus, for a delimiter, the few bytes of its
      // cross-chunk window per push. Pending bytes joined on every push would copy ~n²/2.
      const limit = (4 + c.overhead) * stream.byteLength;
      countCopiedBytes(limit, () => {
        for (let i = 0; i < stream.byteLength; i++) {
          decoder.push(stream.subarray(i, i + 1), (frame) => frames.push(asBuffer(frame)));
        }
      });
      assert.equal(frames.length, 1);
      assert.ok(frames[0]?.equals(payload), "the frame equals the input");
      assert.equal(decoder.bufferedBytes, 0);
    });
  });
}

// --- length-prefix only ----------------------------------------------------------------------

describe("length-prefix framer", () => {
  it("length-prefix - wire format is a 4-byte big-endian length, then the payload", () => {
    const framer = new LengthPrefixFramer();
    assert.equal(framer.name, "length-prefix");
    const out = Buffer.alloc(8);
    assert.equal(framer.encodeInto(Buffer.from("abc"), out, 1), 8);
    assert.deepEqual([...out], [0, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
  });

  it("length-prefix - a header announcing an oversize frame throws before the body is pushed", () => {
    const framer = new LengthPrefixFramer({ maxFrameBytes: 1024 });
    for (const announced of [1025, 2 ** 31, 0xffff_ffff]) {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(announced);
      const decoder = framer.createDecoder();
      // The header alone, even byte by byte: the error must not wait for body bytes.
      decoder.push(header.subarray(0, 1), () => undefined);
      decoder.push(header.subarray(1, 3), () => undefined);
      assert.ok(decoder.bufferedBytes <= 4, "only header bytes buffered");
      const error = expectFrameError(
        () => decoder.push(header.subarray(3), () => undefined),
        NetEngineErrorCode.FrameTooLarge,
      );
      assert.equal(error.context.announcedBytes, announced);
      assert.equal(error.context.maxFrameBytes, 1024);
      assert.equal(decoder.bufferedBytes, 0);
      assert.equal(
        thrown(() => decoder.push(Buffer.alloc(1024), () => undefined)),
        error,
      );
      assert.equal(decoder.bufferedBytes, 0);
    }
  });

  it("length-prefix - a zero-length frame is FrameMalformed by default", () => {
    const framer = new LengthPrefixFramer();
    assert.equal(framer.allowEmptyFrames, false);
    const error = expectFrameError(
      () => framer.createDecoder().push(Buffer.alloc(4), () => assert.fail("no frame expected")),
      NetEngineErrorCode.FrameMalformed,
    );
    assert.equal(error.context.announcedBytes, 0);
  });

  it("length-prefix - payload bytes are opaque: delimiters and header-like bytes round-trip", () => {
    const framer = new LengthPrefixFramer();
    const payloads = [
      Buffer.from("a\r\nb\r\n"),
      Buffer.from([0, 0, 0, 0]),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
    ];
    const stream = encodeAll(framer, payloads);
    assert.deepEqual(decodeAll(framer, split(stream, { kind: "one-byte" })).frames, payloads);
  });
});

// --- delimiter only --------------------------------------------------------------------------

describe("delimiter framer", () => {
  it("delimiter - defaults are CR LF, 64 KiB and empty frames allowed", () => {
    const framer = new DelimiterFramer();
    assert.equal(framer.name, "delimiter");
    assert.deepEqual(framer.delimiter, Buffer.from("\r\n"));
    assert.equal(framer.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES);
    assert.equal(framer.allowEmptyFrames, true);
    assert.deepEqual(decodeAll(framer, [Buffer.from("a\r\n\r\nbc\r\n")]).frames.map(String), ["a", "", "bc"]);
  });

  it("delimiter - undelimited input beyond maxFrameBytes throws without waiting for a delimiter", () => {
    const framer = new DelimiterFramer({ maxFrameBytes: 16 });
    const decoder = framer.createDecoder();
    decoder.push(letters(16), () => assert.fail("no frame expected"));
    assert.equal(decoder.bufferedBytes, 16);
    const error = expectFrameError(
      () => decoder.push(letters(1), () => undefined),
      NetEngineErrorCode.FrameTooLarge,
    );
    assert.equal(error.context.maxFrameBytes, 16);
    assert.equal(decoder.bufferedBytes, 0);
    // In one big chunk as well.
    expectFrameError(
      () => framer.createDecoder().push(letters(1_000_000), () => undefined),
      NetEngineErrorCode.FrameTooLarge,
    );
  });

  it("delimiter - a frame of maxFrameBytes whose delimiter is split across chunks passes", () => {
    const framer = new DelimiterFramer({ delimiter: "\r\n\r\n", maxFrameBytes: 4 });
    const decoder = framer.createDecoder();
    const frames: Buffer[] = [];
    // 4 payload bytes then 3 of the delimiter are pending: 7 > 4, yet the frame may still be valid.
    decoder.push(Buffer.from("abcd\r\n\r"), (frame) => frames.push(asBuffer(frame)));
    decoder.push(Buffer.from("\n"), (frame) => frames.push(asBuffer(frame)));
    assert.deepEqual(frames.map(String), ["abcd"]);
    // Whereas a byte that cannot continue the delimiter makes it too large at once.
    const other = framer.createDecoder();
    other.push(Buffer.from("abcd\r\n"), () => undefined);
    expectFrameError(() => other.push(Buffer.from("x"), () => undefined), NetEngineErrorCode.FrameTooLarge);
  });

  it("delimiter - a multi-byte delimiter split over several chunks is found", () => {
    const framer = new DelimiterFramer({ delimiter: "<END>" });
    const frames: string[] = [];
    const decoder = framer.createDecoder();
    for (const chunk of ["one<E", "N", "D><", "EN", "D>", "<<END", ">three<EN<END>"]) {
      decoder.push(Buffer.from(chunk), (frame) => frames.push(String(frame)));
    }
    assert.deepEqual(frames, ["one", "", "<", "three<EN"]);
    assert.equal(decoder.bufferedBytes, 0);
  });

  it("delimiter - a payload containing the delimiter is FrameUnencodable", () => {
    const framer = new DelimiterFramer();
    const target = Buffer.alloc(32);
    for (const payload of ["a\r\nb", "\r\n", "ab\r\n"]) {
      const error = expectFrameError(
        () => framer.encodedLength(Buffer.from(payload)),
        NetEngineErrorCode.FrameUnencodable,
      );
      assert.equal(error.context.delimiterOffset, Buffer.from(payload).indexOf("\r\n"));
      expectFrameError(
        () => framer.encodeInto(Buffer.from(payload), target, 0),
        NetEngineErrorCode.FrameUnencodable,
      );
    }
    assert.ok(
      target.every((byte) => byte === 0),
      "nothing written for a refused payload",
    );
    // Pieces of the delimiter alone are fine.
    const payloads = [Buffer.from("a\r"), Buffer.from("\nb"), Buffer.from("\n\r")];
    assert.deepEqual(decodeAll(framer, [encodeAll(framer, payloads)]).frames, payloads);
  });

  it("delimiter - a payload whose end would merge with the appended delimiter is FrameUnencodable", () => {
    // "x\r\n" + "\r\n\r\n" = "x\r\n\r\n\r\n": the delimiter first occurs at offset 1, cutting the frame.
    const framer = new DelimiterFramer({ delimiter: "\r\n\r\n" });
    const error = expectFrameError(
      () => framer.encodedLength(Buffer.from("x\r\n")),
      NetEngineErrorCode.FrameUnencodable,
    );
    assert.equal(error.context.delimiterOffset, 1);
    assert.equal(framer.encodedLength(Buffer.from("x\r")), 6);
  });

  it("delimiter - encodability agrees with a naive check of payload + delimiter", () => {
    const alphabet = fc.constantFrom(0x61, 0x62, 0x0d, 0x0a);
    fc.assert(
      fc.property(
        fc.array(alphabet, { minLength: 1, maxLength: 5 }),
        fc.array(alphabet, { maxLength: 12 }),
        (delimiterBytes, payloadBytes) => {
          const delimiter = Buffer.from(delimiterBytes);
          const payload = Buffer.from(payloadBytes);
          const framer = new DelimiterFramer({ delimiter });
          const naive = Buffer.concat([payload, delimiter]).indexOf(delimiter);
          const error = caught(() => framer.encodedLength(payload));
          if (naive === payload.byteLength) {
            assert.equal(error, undefined);
          } else {
            assertFrameError(error, NetEngineErrorCode.FrameUnencodable);
            assert.equal(error.context.delimiterOffset, naive);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("delimiter - random delimiters: frames split at random points reassemble exactly", () => {
    const alphabet = fc.constantFrom(0x61, 0x62, 0x00);
    fc.assert(
      fc.property(
        fc.array(alphabet, { minLength: 1, maxLength: 4 }),
        fc.array(fc.array(alphabet, { maxLength: 16 }), { maxLength: 10 }),
        chunkingArb,
        (delimiterBytes, rawPayloads, chunking) => {
          const c = delimiterCase("random", Uint8Array.from(delimiterBytes));
          const framer = c.create();
          const payloads = rawPayloads.map((bytes) => c.encodable(Uint8Array.from(bytes)));
          assert.deepEqual(decodeAll(framer, split(encodeAll(framer, payloads), chunking)).frames, payloads);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("delimiter - the delimiter option is copied and must be a non-empty string or Uint8Array", () => {
    const bytes = Uint8Array.of(0x7c);
    const framer = new DelimiterFramer({ delimiter: bytes });
    bytes[0] = 0x2c;
    framer.delimiter.fill(0x2c);
    assert.deepEqual(decodeAll(framer, [Buffer.from("a|b,|")]).frames.map(String), ["a", "b,"]);
    for (const delimiter of ["", new Uint8Array(0), 10, null, ["\n"]]) {
      const error = thrown(() => new DelimiterFramer({ delimiter } as unknown as { delimiter: string }));
      assert.ok(error instanceof OptionsError, `expected OptionsError for ${String(delimiter)}`);
      assert.equal(error.code, NetEngineErrorCode.InvalidOptions);
    }
  });
});
