import { FrameError, NetEngineErrorCode, OptionsError } from "../errors.js";

/**
 * Limits shared by the framers of this folder: defaults, option validation and the size check of
 * an outgoing payload. Internal to the folder; the public names are re-exported by the framers.
 * @module
 */

/** Default `maxFrameBytes` of both framers: 64 KiB. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;

/**
 * The largest `maxFrameBytes` a framer accepts (2^31 - 1). A frame is joined into one `Buffer`,
 * and a 31-bit bound keeps sizes exact in every integer operation the engine does on them.
 */
export const MAX_FRAME_BYTES_LIMIT = 0x7fff_ffff;

/** Options shared by the framers, resolved and validated. */
export interface ResolvedFramerLimits {
  readonly maxFrameBytes: number;
  readonly allowEmptyFrames: boolean;
}

/**
 * Validates the options both framers share and rejects keys the framer does not know (a typo such
 * as `maxFrameSize` would otherwise fall back to the default silently).
 * @internal Shared by the framers of this folder; not part of the package's API.
 */
export function resolveFramerLimits(
  framer: string,
  options: unknown,
  knownKeys: readonly string[],
  defaults: ResolvedFramerLimits,
): ResolvedFramerLimits {
  if (options === undefined) return defaults;
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new OptionsError(`${framer} framer: options must be an object`, { framer });
  }
  for (const key of Object.keys(options)) {
    if (!knownKeys.includes(key)) {
      throw new OptionsError(`${framer} framer: unknown option "${key}"`, { framer, option: key });
    }
  }
  const { maxFrameBytes, allowEmptyFrames } = options as Record<string, unknown>;
  if (
    maxFrameBytes !== undefined &&
    (typeof maxFrameBytes !== "number" ||
      !Number.isInteger(maxFrameBytes) ||
      maxFrameBytes < 1 ||
      maxFrameBytes > MAX_FRAME_BYTES_LIMIT)
  ) {
    throw new OptionsError(
      `${framer} framer: maxFrameBytes must be an integer from 1 to ${MAX_FRAME_BYTES_LIMIT}, got ${String(maxFrameBytes)}`,
      { framer, option: "maxFrameBytes", value: maxFrameBytes, limit: MAX_FRAME_BYTES_LIMIT },
    );
  }
  if (allowEmptyFrames !== undefined && typeof allowEmptyFrames !== "boolean") {
    throw new OptionsError(
      `${framer} framer: allowEmptyFrames must be a boolean, got ${String(allowEmptyFrames)}`,
      { framer, option: "allowEmptyFrames", value: allowEmptyFrames },
    );
  }
  return {
    maxFrameBytes: maxFrameBytes ?? defaults.maxFrameBytes,
    allowEmptyFrames: allowEmptyFrames ?? defaults.allowEmptyFrames,
  };
}

/**
 * Throws the framer's error for a payload that breaks the size limits: above `maxFrameBytes`
 * (`NE_FRAME_TOO_LARGE`) or empty where empty frames are not allowed (`NE_FRAME_UNENCODABLE`).
 */
export function checkPayloadLimits(framer: string, payload: Uint8Array, limits: ResolvedFramerLimits): void {
  const { maxFrameBytes, allowEmptyFrames } = limits;
  if (payload.byteLength > maxFrameBytes) {
    throw new FrameError(
      NetEngineErrorCode.FrameTooLarge,
      `${framer} framer: payload of ${payload.byteLength} bytes exceeds the maximum of ${maxFrameBytes}`,
      { context: { framer, payloadBytes: payload.byteLength, maxFrameBytes } },
    );
  }
  if (payload.byteLength === 0 && !allowEmptyFrames) {
    throw new FrameError(
      NetEngineErrorCode.FrameUnencodable,
      `${framer} framer: empty payload while empty frames are not allowed`,
      { context: { framer, payloadBytes: 0 } },
    );
  }
}
