/**
 * A framer turns a byte stream into frames and frames back into bytes.
 *
 * The engine keeps one {@link FrameDecoder} per session (decoders are stateful) and shares the
 * {@link Framer} (stateless) between sessions. Encoding is split into `encodedLength` and
 * `encodeInto` so that the engine can write every frame queued in one event-loop turn into a
 * single buffer with one allocation and one syscall.
 */
export interface Framer {
  /** Short name for logs and stats, e.g. `length-prefix` or `delimiter`. */
  readonly name: string;
  /** The largest payload a frame may carry, in bytes. */
  readonly maxFrameBytes: number;
  /** A new decoder for one byte stream. */
  createDecoder(): FrameDecoder;
  /**
   * The number of bytes `payload` takes on the wire once encoded.
   * @throws FrameError `NE_FRAME_TOO_LARGE` above `maxFrameBytes`, `NE_FRAME_UNENCODABLE` when the
   * payload cannot be framed.
   */
  encodedLength(payload: Uint8Array): number;
  /**
   * Writes the encoded frame into `target` at `offset` and returns the offset just past it.
   * `target` has at least `encodedLength(payload)` bytes free at `offset`.
   */
  encodeInto(payload: Uint8Array, target: Buffer, offset: number): number;
}

/** Stateful decoder for one byte stream. */
export interface FrameDecoder {
  /**
   * Feeds the next chunk of the stream; calls `onFrame` once per complete frame, in order.
   *
   * Frames are `Uint8Array`s (some framers hand out `Buffer`s, a subclass): wrap one with
   * `Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)` for Buffer methods, no copy.
   * A frame passed to `onFrame` may be a view into `chunk` (no copy); it stays valid after the
   * call (it keeps the chunk alive), so a handler that keeps frames for long should copy them.
   * Bytes of an incomplete frame are kept without copying until the frame completes, then joined
   * once, so the cost is linear in the stream's length however it is split. The decoder therefore
   * keeps views of earlier chunks: the caller must not reuse or modify a chunk after pushing it
   * (socket `data` chunks are fresh buffers; a pooled read buffer must be copied first).
   *
   * @throws FrameError `NE_FRAME_TOO_LARGE` as soon as a frame is known to exceed the maximum (a
   * length prefix announcing it, or undelimited bytes passing it), before its body is buffered;
   * `NE_FRAME_MALFORMED` for bytes that cannot be a frame. Frames completed earlier in the same
   * chunk have been passed to `onFrame` by then. An error thrown by `onFrame` propagates as is.
   * After any throw the decoder is unusable: it drops what it holds and every later `push` throws
   * the same error, since the rest of the stream can no longer be framed reliably.
   */
  push(chunk: Buffer, onFrame: (frame: Uint8Array) => void): void;
  /** Bytes held for an incomplete frame. */
  readonly bufferedBytes: number;
}
