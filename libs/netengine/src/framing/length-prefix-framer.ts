import { FrameError, NetEngineErrorCode } from "../errors.js";
import type { FrameDecoder, Framer } from "./framer.js";
import { checkPayloadLimits, DEFAULT_MAX_FRAME_BYTES, resolveFramerLimits } from "./framer-limits.js";

export { DEFAULT_MAX_FRAME_BYTES, MAX_FRAME_BYTES_LIMIT } from "./framer-limits.js";

/** Size of the length header of {@link LengthPrefixFramer}: a 32-bit unsigned big-endian integer. */
export const LENGTH_PREFIX_HEADER_BYTES = 4;

/** Options of {@link LengthPrefixFramer}. */
export interface LengthPrefixFramerOptions {
  /**
   * The largest payload a frame may carry, in bytes (the 4-byte header is not counted). A header
   * announcing more fails the decoder with `NE_FRAME_TOO_LARGE` before any body byte is buffered,
   * so this also bounds the memory one session can make the decoder hold.
   * A positive integer up to {@link MAX_FRAME_BYTES_LIMIT}.
   * @default DEFAULT_MAX_FRAME_BYTES (65536)
   */
  maxFrameBytes?: number;
  /**
   * Whether a frame may carry zero bytes. When `false`, a zero length header fails the decoder
   * with `NE_FRAME_MALFORMED` and encoding an empty payload fails with `NE_FRAME_UNENCODABLE`.
   * @default false
   */
  allowEmptyFrames?: boolean;
}

const NAME = "length-prefix";
const KNOWN_OPTIONS = ["maxFrameBytes", "allowEmptyFrames"] as const;

/**
 * Frames as a 4-byte big-endian unsigned payload length followed by the payload. Any payload up to
 * `maxFrameBytes` can be framed, whatever its bytes.
 *
 * ```ts
 * const framer = new LengthPrefixFramer({ maxFrameBytes: 16 * 1024 });
 * const decoder = framer.createDecoder();
 * socket.on("data", (chunk) => decoder.push(chunk, (frame) => handle(frame)));
 * ```
 */
export class LengthPrefixFramer implements Framer {
  readonly name = NAME;
  readonly #options: Readonly<Required<LengthPrefixFramerOptions>>;
  // Copies of the options in plain fields: read per frame on the send path.
  readonly #max: number;
  readonly #minPayload: number;

  /** @throws OptionsError `NE_INVALID_OPTIONS` for an invalid or unknown option. */
  constructor(options?: LengthPrefixFramerOptions) {
    this.#options = Object.freeze(
      resolveFramerLimits(NAME, options, KNOWN_OPTIONS, {
        maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
        allowEmptyFrames: false,
      }),
    );
    this.#max = this.#options.maxFrameBytes;
    this.#minPayload = this.#options.allowEmptyFrames ? 0 : 1;
  }

  /** The largest payload a frame may carry, in bytes (header excluded). */
  get maxFrameBytes(): number {
    return this.#options.maxFrameBytes;
  }

  /** Whether zero-length frames are accepted and produced. */
  get allowEmptyFrames(): boolean {
    return this.#options.allowEmptyFrames;
  }

  createDecoder(): FrameDecoder {
    return new LengthPrefixDecoder(this.#options);
  }

  encodedLength(payload: Uint8Array): number {
    const n = payload.byteLength;
    if (n > this.#max || n < this.#minPayload) this.#check(payload);
    return LENGTH_PREFIX_HEADER_BYTES + n;
  }

  encodeInto(payload: Uint8Array, target: Buffer, offset: number): number {
    const n = payload.byteLength;
    if (n > this.#max || n < this.#minPayload) this.#check(payload);
    // Byte stores instead of writeUInt32BE: no argument validation on the per-frame path.
    target[offset] = n >>> 24;
    target[offset + 1] = (n >>> 16) & 0xff;
    target[offset + 2] = (n >>> 8) & 0xff;
    target[offset + 3] = n & 0xff;
    target.set(payload, offset + LENGTH_PREFIX_HEADER_BYTES);
    return offset + LENGTH_PREFIX_HEADER_BYTES + n;
  }

  #check(payload: Uint8Array): void {
    checkPayloadLimits(NAME, payload, this.#options);
  }
}

/** Sentinel of {@link LengthPrefixDecoder} for "reading a header, body length not known yet". */
const AWAITING_HEADER = -1;

class LengthPrefixDecoder implements FrameDecoder {
  readonly #maxFrameBytes: number;
  readonly #allowEmptyFrames: boolean;
  /** Header bytes received so far when the header is split across chunks (copied: at most 4). */
  readonly #header = Buffer.alloc(LENGTH_PREFIX_HEADER_BYTES);
  #headerBytes = 0;
  /** Body length announced by the current header, or {@link AWAITING_HEADER}. */
  #bodyBytes: number = AWAITING_HEADER;
  /** Views of the chunks holding the current body so far, joined once when it completes. */
  #parts: Buffer[] = [];
  #partsBytes = 0;
  /** Stream offset of the first byte of the current chunk, for error context. */
  #streamOffset = 0;
  /** Set by the first throw; every later push rethrows it, as the stream position is lost. */
  #failure: { readonly error: unknown } | undefined;

  constructor(options: Readonly<Required<LengthPrefixFramerOptions>>) {
    this.#maxFrameBytes = options.maxFrameBytes;
    this.#allowEmptyFrames = options.allowEmptyFrames;
  }

  get bufferedBytes(): number {
    return this.#headerBytes + this.#partsBytes;
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
      this.#parts = [];
      this.#partsBytes = 0;
      this.#headerBytes = 0;
      throw error;
    }
  }

  #decode(chunk: Buffer, onFrame: (frame: Uint8Array) => void): void {
    let pos = 0;
    const size = chunk.byteLength;
    const { buffer, byteOffset } = chunk;
    if (this.#bodyBytes === AWAITING_HEADER && this.#headerBytes === 0) {
      // Fast path: whole frames lying in this chunk, nothing pending. Anything else (a split frame,
      // an empty or oversize length) falls through to the general loop below at `pos`.
      const max = this.#maxFrameBytes;
      while (size - pos >= LENGTH_PREFIX_HEADER_BYTES) {
        const length =
          (((chunk[pos] as number) << 24) |
            ((chunk[pos + 1] as number) << 16) |
            ((chunk[pos + 2] as number) << 8) |
            (chunk[pos + 3] as number)) >>>
          0;
        const start = pos + LENGTH_PREFIX_HEADER_BYTES;
        if (length === 0 || length > max || size - start < length) break;
        pos = start + length;
        // A plain Uint8Array view costs a third of a Buffer view (`subarray`) to make.
        onFrame(new Uint8Array(buffer, byteOffset + start, length));
      }
    }
    while (pos < size) {
      if (this.#bodyBytes === AWAITING_HEADER) {
        let length: number;
        if (this.#headerBytes === 0 && chunk.byteLength - pos >= LENGTH_PREFIX_HEADER_BYTES) {
          length = chunk.readUInt32BE(pos);
          pos += LENGTH_PREFIX_HEADER_BYTES;
        } else {
          const take = Math.min(LENGTH_PREFIX_HEADER_BYTES - this.#headerBytes, chunk.byteLength - pos);
          chunk.copy(this.#header, this.#headerBytes, pos, pos + take);
          this.#headerBytes += take;
          pos += take;
          if (this.#headerBytes < LENGTH_PREFIX_HEADER_BYTES) return;
          this.#headerBytes = 0;
          length = this.#header.readUInt32BE(0);
        }
        this.#checkLength(length, this.#streamOffset + pos - LENGTH_PREFIX_HEADER_BYTES);
        if (length === 0) {
          onFrame(new Uint8Array(0));
          continue;
        }
        this.#bodyBytes = length;
      }

      const available = chunk.byteLength - pos;
      if (this.#partsBytes === 0 && available >= this.#bodyBytes) {
        // The whole body is in this chunk: hand out a view, no copy.
        const end = pos + this.#bodyBytes;
        this.#bodyBytes = AWAITING_HEADER;
        onFrame(new Uint8Array(buffer, byteOffset + pos, end - pos));
        pos = end;
        continue;
      }
      const take = Math.min(this.#bodyBytes - this.#partsBytes, available);
      this.#parts.push(chunk.subarray(pos, pos + take));
      this.#partsBytes += take;
      pos += take;
      if (this.#partsBytes === this.#bodyBytes) {
        // The only copy of a split body: one join, once it is complete.
        const frame = Buffer.concat(this.#parts, this.#partsBytes);
        this.#parts = [];
        this.#partsBytes = 0;
        this.#bodyBytes = AWAITING_HEADER;
        onFrame(frame);
      }
    }
  }

  #checkLength(length: number, headerOffset: number): void {
    if (length > this.#maxFrameBytes) {
      throw new FrameError(
        NetEngineErrorCode.FrameTooLarge,
        `${NAME} framer: header announces ${length} bytes, above the maximum of ${this.#maxFrameBytes}`,
        {
          context: {
            framer: NAME,
            announcedBytes: length,
            maxFrameBytes: this.#maxFrameBytes,
            streamOffset: headerOffset,
          },
        },
      );
    }
    if (length === 0 && !this.#allowEmptyFrames) {
      throw new FrameError(
        NetEngineErrorCode.FrameMalformed,
        `${NAME} framer: zero-length frame while empty frames are not allowed`,
        { context: { framer: NAME, announcedBytes: 0, streamOffset: headerOffset } },
      );
    }
  }
}
