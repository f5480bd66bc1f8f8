export {
  CreationLimit,
  type CreationLimitOptions,
  DEFAULT_CREATION_WINDOW_MS,
  DEFAULT_MAX_ACCOUNTS_PER_IP,
} from "./creation-limit.js";
export { ipThrottleKey } from "./ip-key.js";
export {
  DEFAULT_BASE_DELAY_MS,
  DEFAULT_FREE_ATTEMPTS,
  DEFAULT_IP_FREE_ATTEMPTS,
  DEFAULT_MAX_DELAY_MS,
  DEFAULT_THROTTLE_WINDOW_MS,
  type FailureCount,
  type FailureRecord,
  LoginThrottle,
  type LoginThrottleOptions,
  type ThrottleDecision,
  type ThrottleRedis,
} from "./login-throttle.js";
