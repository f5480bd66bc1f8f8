export {
  type Account,
  AccountStore,
  isAccountId,
  type LoginOptions,
  type LoginResult,
  MAX_EMAIL_LENGTH,
} from "./account-store.js";
export { DEFAULT_LOGIN_FLUSH_MS, LoginRecorder, type LoginRecorderOptions } from "./login-recorder.js";
export {
  MAX_USERNAME_LENGTH,
  MIN_USERNAME_LENGTH,
  type NormalisedUsername,
  normaliseUsername,
} from "./normalise-username.js";
export {
  formatParams,
  MAX_PASSWORD_BYTES,
  PasswordHasher,
  type PasswordHasherOptions,
  parseHashParams,
  type StoredHashParams,
} from "./password-hasher.js";
