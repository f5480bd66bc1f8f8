import { FrameError, NetEngineErrorCode, OptionsError } from "../errors.js";
import type { FrameDecoder, Framer } from "./framer.js";
import { checkPayloadLimits, DEFAULT_MAX_FRAME_BYTES, resolveFramerLimits } from "./framer-limits.js";

/** Default `delimiter` of {@link DelimiterFramer}: CR LF, as in line-based text protocols. */
export const DEFAULT_DELIMITER = "\r\n";

/** Options of {@link DelimiterFramer}. */
export interface DelimiterFramerOptions {
  /**
   * The bytes that end every frame; a string is encoded as UTF-8. Must not be empty. The framer
   * keeps its own copy, so changing the array afterwards has no effect.
   * @default DEFAULT_DELIMITER ("\r\n")
   */
  delimiter?: Uint8Array | string;
  /**
   * The largest payload a frame may carry, in bytes, not counting the delimiter. Once the bytes
   * received since the last delimiter cannot fit any more (whatever comes next), the decoder fails
   * with `NE_FRAME_TOO_LARGE`, so this also bounds the memory one session can make it hold.
   * A positive integer up to `MAX_FRAME_BYTES_LIMIT` (2^31 - 1).
   * @default DEFAULT_MAX_FRAME_BYTES (65536)
   */
  maxFrameBytes?: number;
  /**
   * Whether a frame may carry zero bytes (two delimiters in a row, or one at the start of the
   * stream). When `false`, the decoder fails with `NE_FRAME_MALFORMED` on one and encoding an
   * empty payload fails with `NE_FRAME_UNENCODABLE`.
   * @default true
   */
  allowEmptyFrames?: boolean;
}

const NAME = "delimiter";
const KNOWN_OPTIONS = ["delimiter", "maxFrameBytes", "allowEmptyFrames"] as const;

interface ResolvedDelimiterOptions {
  readonly matcher: DelimiterMatcher;
  readonly maxFrameBytes: number;
  readonly allowEmptyFrames: boolean;
}

/**
 * Frames as the payload followed by a delimiter (CR LF by default); the decoder strips it. A
 * payload can be framed only if the delimiter does not occur in it, nor straddle its end and the
 * delimiter appended to it (possible with a self-overlapping delimiter such as `"\r\n\r\n"`).
 *
 * ```ts
 * const framer = new DelimiterFramer({ delimiter: "\n", maxFrameBytes: 4096 });
 * ```
 */
export class DelimiterFramer implements Framer {
  readonly name = NAME;
  readonly #options: ResolvedDelimiterOptions;

  /** @throws OptionsError `NE_INVALID_OPTIONS` for an invalid or unknown option. */
  constructor(options?: DelimiterFramerOptions) {
    const limits = resolveFramerLimits(NAME, options, KNOWN_OPTIONS, {
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      allowEmptyFrames: true,
    });
    this.#options = Object.freeze({
      ...limits,
      matcher: new DelimiterMatcher(resolveDelimiter(options?.delimiter)),
    });
  }

  /** The largest payload a frame may carry, in bytes (delimiter excluded). */
  get maxFrameBytes(): number {
    return this.#options.maxFrameBytes;
  }

  /** Whether zero-length frames are accepted and produced. */
  get allowEmptyFrames(): boolean {
    return this.#options.allowEmptyFrames;
  }

  /** A copy of the delimiter bytes. */
  get delimiter(): Buffer {
    return Buffer.from(this.#options.matcher.delimiter);
  }

  createDecoder(): FrameDecoder {
    return new DelimiterDecoder(this.#options);
  }

  encodedLength(payload: Uint8Array): number {
    this.#check(payload);
    return payload.byteLength + this.#options.matcher.delimiter.byteLength;
  }

  /** Validates the payload again (a scan of it): a frame written unchecked would desync the peer. */
  encodeInto(payload: Uint8Array, target: Buffer, offset: number): number {
    this.#check(payload);
    const { delimiter } = this.#options.matcher;
    target.set(payload, offset);
    target.set(delimiter, offset + payload.byteLength);
    return offset + payload.byteLength + delimiter.byteLength;
  }

  #check(payload: Uint8Array): void {
    const { matcher } = this.#options;
    checkPayloadLimits(NAME, payload, this.#options);
    const at = matcher.occurrenceInFrame(payload);
    if (at >= 0) {
      throw new FrameError(
        NetEngineErrorCode.FrameUnencodable,
        `${NAME} framer: the delimiter occurs in the payload at offset ${at}`,
        { context: { framer: NAME, payloadBytes: payload.byteLength, delimiterOffset: at } },
      );
    }
  }
}

function resolveDelimiter(value: unknown): Buffer {
  if (value === undefined) return Buffer.from(DEFAULT_DELIMITER, "utf8");
  if (typeof value !== "string" && !(value instanceof Uint8Array)) {
    throw new OptionsError(`${NAME} framer: delimiter must be a string or a Uint8Array`, {
      framer: NAME,
      option: "delimiter",
    });
  }
  // A copy, so that the caller cannot change the delimiter under a running decoder.
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
  if (bytes.byteLength === 0) {
    throw new OptionsError(`${NAME} framer: delimiter must not be empty`, {
      framer: NAME,
      option: "delimiter",
    });
  }
  return bytes;
}

/**
 * Knuth-Morris-Pratt automaton over the delimiter. Whole-buffer searches use the native
 * `Buffer.indexOf`; the automaton only answers questions about at most `delimiter.length` bytes
 * at a frame's edge, which keeps every check linear even for a self-overlapping delimiter.
 */
class DelimiterMatcher {
  readonly delimiter: Buffer;
  /** `#border[i]`: length of the longest proper border of `delimiter[0..i]`. */
  readonly #border: Int32Array;

  constructor(delimiter: Buffer) {
    this.delimiter = delimiter;
    this.#border = new Int32Array(delimiter.byteLength);
    let k = 0;
    for (let i = 1; i < delimiter.byteLength; i++) {
      while (k > 0 && delimiter[i] !== delimiter[k]) k = this.#border[k - 1] ?? 0;
      if (delimiter[i] === delimiter[k]) k++;
      this.#border[i] = k;
    }
  }

  /** The automaton state (bytes of the delimiter matched) after `state` reads `byte`. */
  step(state: number, byte: number): number {
    let s = state === this.delimiter.byteLength ? (this.#border[state - 1] ?? 0) : state;
    while (s > 0 && this.delimiter[s] !== byte) s = this.#border[s - 1] ?? 0;
    return this.delimiter[s] === byte ? s + 1 : s;
  }

  /**
   * The length of the longest suffix of `bytes` that is a proper prefix of the delimiter, for
   * `bytes` that hold no whole delimiter. Only the last `delimiter.length - 1` bytes can matter.
   */
  partialAtEnd(bytes: Uint8Array): number {
    let state = 0;
    for (let i = Math.max(0, bytes.byteLength - this.delimiter.byteLength + 1); i < bytes.byteLength; i++) {
      state = this.step(state, bytes[i] ?? 0);
    }
    return state;
  }

  /**
   * Where the delimiter first occurs in `payload` followed by the delimiter, if before the appended
   * one (which would cut the frame short); -1 when the payload can be framed.
   */
  occurrenceInFrame(payload: Uint8Array): number {
    const view = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const inside = view.indexOf(this.delimiter);
    if (inside >= 0) return inside;
    // An occurrence straddling the payload's end and the appended delimiter.
    let state = this.partialAtEnd(view);
    const d = this.delimiter.byteLength;
    for (let j = 0; j < d - 1; j++) {
      state = this.step(state, this.delimiter[j] ?? 0);
      if (state === d) return view.byteLength + j + 1 - d;
    }
    return -1;
  }
}

class DelimiterDecoder implements FrameDecoder {
  readonly #matcher: DelimiterMatcher;
  readonly #delimiter: Buffer;
  readonly #maxFrameBytes: number;
  readonly #allowEmptyFrames: boolean;
  /** Views of the chunks received since the last delimiter, joined once when a frame completes. */
  #parts: Buffer[] = [];
  #partsBytes = 0;
  /**
   * Copy of the last `delimiter.length - 1` pending bytes (fewer if fewer are pending): where a
   * delimiter split across chunks starts. Keeping them lets each push search only its new bytes.
   */
  readonly #tail: Buffer;
  #tailBytes = 0;
  /** Scratch space: the tail followed by the head of the next chunk. */
  readonly #window: Buffer;
  /** Stream offsets of the first byte of the current chunk and of the pending frame, for errors. */
  #streamOffset = 0;
  #pendingOffset = 0;
  /** Set by the first throw; every later push rethrows it, as the stream position is lost. */
  #failure: { readonly error: unknown } | undefined;

  constructor(options: ResolvedDelimiterOptions) {
    this.#matcher = options.matcher;
    this.#delimiter = options.matcher.delimiter;
    this.#maxFrameBytes = options.maxFrameBytes;
    this.#allowEmptyFrames = options.allowEmptyFrames;
    this.#tail = Buffer.alloc(this.#delimiter.byteLength - 1);
    this.#window = Buffer.alloc(2 * (this.#delimiter.byteLength - 1));
  }

  get bufferedBytes(): number {
    return this.#partsBytes;
  }

  push(chunk: Buffer, onFrame: (frame: Uint8Array) => void): void {
    if (this.#failure !== undefined) throw this.#failure.error;
    try {
      this.#decode(chunk, onFrame);
      this.#streamOffset += chunk.byteLength;
    } catch (error) {
      // A throw leaves the rest of the chunk unread (or the stream invalid): nothing after it can
      // be framed reliably, so the decoder stays failed and lets go of what it holds.
      this.#failure = { error };
      this.#resetPending();
      throw error;
    }
  }

  #decode(chunk: Buffer, onFrame: (frame: Uint8Array) => void): void {
    const d = this.#delimiter.byteLength;
    let pos = 0;
    if (this.#tailBytes > 0) {
      // A delimiter may start in the pending bytes and end in this chunk; the pending bytes hold
      // no whole delimiter, so only the window of tail + first d-1 chunk bytes needs a look.
      const head = Math.min(d - 1, chunk.byteLength);
      this.#tail.copy(this.#window, 0, 0, this.#tailBytes);
      chunk.copy(this.#window, this.#tailBytes, 0, head);
      const at = this.#window.subarray(0, this.#tailBytes + head).indexOf(this.#delimiter);
      if (at >= 0 && at < this.#tailBytes) {
        const delimiterInPending = this.#tailBytes - at;
        this.#emitPending(this.#partsBytes - delimiterInPending, onFrame);
        pos = d - delimiterInPending;
      }
    }
    for (let at = chunk.indexOf(this.#delimiter, pos); at >= 0; at = chunk.indexOf(this.#delimiter, pos)) {
      if (this.#partsBytes === 0) {
        // The whole frame is in this chunk: hand out a view, no copy.
        this.#checkFrame(at - pos, this.#streamOffset + pos);
        onFrame(at === pos ? Buffer.alloc(0) : chunk.subarray(pos, at));
      } else {
        this.#parts.push(chunk.subarray(pos, at));
        this.#partsBytes += at - pos;
        this.#emitPending(this.#partsBytes, onFrame);
      }
      pos = at + d;
    }
    if (pos < chunk.byteLength) this.#keep(chunk, pos);
  }

  /** Emits the first `frameBytes` pending bytes as a frame and drops everything pending. */
  #emitPending(frameBytes: number, onFrame: (frame: Uint8Array) => void): void {
    this.#checkFrame(frameBytes, this.#pendingOffset);
    const first = this.#parts[0];
    // One join per frame; none when the frame lies in a single earlier chunk.
    const frame =
      frameBytes === 0
        ? Buffer.alloc(0)
        : first !== undefined && first.byteLength >= frameBytes
          ? first.subarray(0, frameBytes)
          : Buffer.concat(this.#parts, frameBytes);
    this.#resetPending();
    onFrame(frame);
  }

  /** Keeps `chunk` from `pos` on, none of it a frame yet. */
  #keep(chunk: Buffer, pos: number): void {
    const rest = chunk.subarray(pos);
    if (this.#partsBytes === 0) this.#pendingOffset = this.#streamOffset + pos;
    this.#parts.push(rest);
    this.#partsBytes += rest.byteLength;
    const tailCapacity = this.#tail.byteLength;
    if (tailCapacity > 0) {
      if (rest.byteLength >= tailCapacity) {
        rest.copy(this.#tail, 0, rest.byteLength - tailCapacity);
        this.#tailBytes = tailCapacity;
      } else {
        const kept = Math.min(this.#tailBytes, tailCapacity - rest.byteLength);
        this.#tail.copyWithin(0, this.#tailBytes - kept, this.#tailBytes);
        rest.copy(this.#tail, kept);
        this.#tailBytes = kept + rest.byteLength;
      }
    }
    if (this.#partsBytes > this.#maxFrameBytes) {
      // Pending bytes ending in the start of a delimiter may still close a frame of the maximum
      // size; fail as soon as no continuation can.
      const partial = this.#matcher.partialAtEnd(this.#tail.subarray(0, this.#tailBytes));
      if (this.#partsBytes - partial > this.#maxFrameBytes) {
        throw new FrameError(
          NetEngineErrorCode.FrameTooLarge,
          `${NAME} framer: ${this.#partsBytes - partial} bytes without a delimiter, above the maximum of ${this.#maxFrameBytes}`,
          {
            context: {
              framer: NAME,
              bufferedBytes: this.#partsBytes,
              maxFrameBytes: this.#maxFrameBytes,
              streamOffset: this.#pendingOffset,
            },
          },
        );
      }
    }
  }

  #checkFrame(frameBytes: number, frameOffset: number): void {
    if (frameBytes > this.#maxFrameBytes) {
      throw new FrameError(
        NetEngineErrorCode.FrameTooLarge,
        `${NAME} framer: frame of ${frameBytes} bytes exceeds the maximum of ${this.#maxFrameBytes}`,
        {
          context: {
            framer: NAME,
            frameBytes,
            maxFrameBytes: this.#maxFrameBytes,
            streamOffset: frameOffset,
          },
        },
      );
    }
    if (frameBytes === 0 && !this.#allowEmptyFrames) {
      throw new FrameError(
        NetEngineErrorCode.FrameMalformed,
        `${NAME} framer: empty frame while empty frames are not allowed`,
        { context: { framer: NAME, frameBytes: 0, streamOffset: frameOffset } },
      );
    }
  }

  #resetPending(): void {
    this.#parts = [];
    this.#partsBytes = 0;
    this.#tailBytes = 0;
  }
}
