/**
 * The gateway's routing and relay: {@link Router}, the NATS implementation of the session code's
 * `PlayerRouter` (src/router-port.ts).
 * @module
 */
export { RoutingError, RoutingErrorCode } from "./errors.js";
export {
  DEFAULT_ATTACH_TIMEOUT_MS,
  DEFAULT_MAX_PARKED_UPDATES,
  DEFAULT_MAX_UNACKED_INPUTS,
  type RoutedPlayer,
  Router,
  type RouterOptions,
  type RouterStats,
} from "./router.js";
export { type AcceptResult, type KeptInput, UnackedInputs } from "./unacked-inputs.js";
