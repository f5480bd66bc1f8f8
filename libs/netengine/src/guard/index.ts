/**
 * The accept guard: address parsing, address lists, per-IP limits and the adaptive tolerance.
 * Every public name of the folder, listed by name for the package's `src/index.ts`.
 *
 * @module
 */
export {
  AcceptGuard,
  type AcceptGuardOptions,
  type AcceptVerdict,
  DEFAULT_IPV6_LIMIT_PREFIX,
  DEFAULT_MAX_CONNECTIONS_PER_IP,
  DEFAULT_MAX_NEW_CONNECTIONS_PER_IP_PER_SECOND,
  DEFAULT_PRE_AUTH_DEADLINE_MS,
  type GuardCounterName,
  type GuardCounters,
  type GuardToleranceState,
  PreAuthOutcome,
  RejectReason,
  type ResolvedAcceptGuardOptions,
} from "./accept-guard.js";
export {
  AdaptiveTolerance,
  type AdaptiveToleranceOptions,
  DEFAULT_MIN_DEADLINE_MS,
  DEFAULT_RELAX_BELOW,
  DEFAULT_TIGHTEN_ABOVE,
  DEFAULT_TOLERANCE_BUCKET_MS,
  DEFAULT_TOLERANCE_FACTOR,
  DEFAULT_TOLERANCE_MAX_LEVEL,
  DEFAULT_TOLERANCE_MIN_SAMPLES,
  DEFAULT_TOLERANCE_STEP_INTERVAL_MS,
  DEFAULT_TOLERANCE_WINDOW_MS,
  type ToleranceState,
} from "./adaptive-tolerance.js";
export { AddressList, type AddressListSource } from "./address-list.js";
export {
  cidrContains,
  formatIp,
  type IpFamily,
  type ParsedCidr,
  type ParsedIp,
  parseCidr,
  parseIp,
  prefixMask,
  tryParseCidr,
  tryParseIp,
} from "./ip-address.js";
export {
  DEFAULT_SWEEP_EVERY,
  PerIpTracker,
  type PerIpTrackerOptions,
  RATE_WINDOW_MS,
  TrackerVerdict,
} from "./per-ip-tracker.js";
