export {
  type Account,
  AccountStore,
  isAccountId,
  type LoginOptions,
  type LoginResult,
  MAX_EMAIL_LENGTH,
} from "./account-store.js";
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
