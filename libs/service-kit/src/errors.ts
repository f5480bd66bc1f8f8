/**
 * `@meridian/service-kit`'s errors (the environment readers report problems instead of throwing).
 * @module
 */

/** The codes of {@link OpsServerError}. */
export const OpsServerErrorCode = {
  /** An option of `startOpsServer` cannot be used (its message names it). */
  InvalidOptions: "OPS_INVALID_OPTIONS",
  /** The port cannot be bound (in use, no permission); the cause is the listen error. */
  ListenFailed: "OPS_LISTEN_FAILED",
} as const;
export type OpsServerErrorCode = (typeof OpsServerErrorCode)[keyof typeof OpsServerErrorCode];

/** The ops server cannot start. */
export class OpsServerError extends Error {
  override readonly name = "OpsServerError";
  readonly code: OpsServerErrorCode;
  constructor(code: OpsServerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
