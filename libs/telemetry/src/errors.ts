/**
 * `@meridian/telemetry`'s errors: one class, a stable `code` from {@link TelemetryErrorCode}.
 * @module
 */

/** The codes of {@link TelemetryError}. */
export const TelemetryErrorCode = {
  /** An option of `initTelemetry` cannot be used (its message names it). */
  InvalidOptions: "TELEMETRY_INVALID_OPTIONS",
  /** `initTelemetry` was called while telemetry is already on in this process. */
  AlreadyOn: "TELEMETRY_ALREADY_ON",
} as const;
export type TelemetryErrorCode = (typeof TelemetryErrorCode)[keyof typeof TelemetryErrorCode];

/** A telemetry set-up that cannot be done. */
export class TelemetryError extends Error {
  override readonly name = "TelemetryError";
  readonly code: TelemetryErrorCode;
  constructor(code: TelemetryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
