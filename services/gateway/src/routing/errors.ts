/**
 * Errors of the gateway's routing. Each carries a stable `code` from {@link RoutingErrorCode}; the
 * gateway core maps them onto its own codes (`WORLD_UNAVAILABLE` keeps its value) and callers branch
 * on the code, never on the message.
 */
export const RoutingErrorCode = {
  /**
   * No world placed the player: nobody answers `svc.world.attach` (NATS no responders), the request
   * timed out, the world answered `world_error` (its code is in `context.worldCode`) or an answer that
   * does not decode, or the router is stopped. The session stays logged in without a place.
   */
  WorldUnavailable: "WORLD_UNAVAILABLE",
  /** Local: a `RouterOptions` value failed validation. Never sent on the wire. */
  InvalidOptions: "ROUTING_INVALID_OPTIONS",
} as const;
export type RoutingErrorCode = (typeof RoutingErrorCode)[keyof typeof RoutingErrorCode];

/** An error of the gateway's routing. */
export class RoutingError extends Error {
  override readonly name: string = "RoutingError";
  readonly code: RoutingErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: RoutingErrorCode,
    message: string,
    options: { cause?: unknown; context?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = Object.freeze({ ...(options.context ?? {}) });
  }
}
