export { type Account, AccountStore, type LoginOptions, type LoginResult } from "./account-store.js";
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
