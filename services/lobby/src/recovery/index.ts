export {
  MAX_ANSWER_LENGTH,
  MAX_QUESTION_LENGTH,
  normaliseAnswer,
  normaliseQuestion,
} from "./recovery-inputs.js";
export {
  DEFAULT_LOCK_MS,
  DEFAULT_MAX_GUESSES,
  DEFAULT_MAX_LIVE_RESET_TOKENS,
  DEFAULT_RESET_TOKEN_TTL_MS,
  MAX_GUESSES,
  MAX_LIVE_RESET_TOKENS,
  MAX_RESET_TOKEN_TTL_MS,
  MIN_GUESSES,
  MIN_LOCK_MS,
  MIN_RESET_TOKEN_TTL_MS,
  type RecoveryResult,
  RecoveryService,
  type RecoveryServiceOptions,
} from "./recovery-service.js";
