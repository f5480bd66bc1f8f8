/**
 * Usernames: what a player types, and the key that makes case and Unicode variants one name.
 *
 * The key is `lower(NFKC(trim(raw)))`, NFKC'd again after lower-casing (lower-casing can, rarely,
 * produce a sequence NFKC would change). NFKC folds compatibility forms (fullwidth `ＡＢＣ`, ligatures,
 * superscripts) onto their plain letters; `toLowerCase` is Unicode's default lower-casing, locale-free.
 * We chose it over full case folding (which JavaScript lacks) knowingly: it maps every cased letter
 * of every script, and the few names it keeps apart that full folding would merge (`ß` vs `ss`, final
 * `ς` vs `σ`) stay distinct, which errs towards two accounts rather than a stolen one only where the
 * names already look different. Confusables across scripts (Cyrillic `а` vs Latin `a`) are not
 * merged; that is a display-side concern.
 */
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** Shortest username, in code points after normalisation. */
export const MIN_USERNAME_LENGTH = 3;
/** Longest username, in code points after normalisation. */
export const MAX_USERNAME_LENGTH = 32;
/** Raw input longer than this (UTF-16 units) is refused before normalisation does any work. */
const MAX_RAW_LENGTH = 256;

// Letters of any script, decimal digits, `_` and `-`. Combining marks are refused (no "zalgo"):
// NFKC composes the common accented letters into single letters first.
const USERNAME_PATTERN = /^[\p{L}\p{Nd}_-]+$/u;

/** A username as shown (`display`) and as compared and stored unique (`key`). */
export interface NormalisedUsername {
  /** Trimmed and NFKC-normalised, case kept. */
  readonly display: string;
  /** `display` lower-cased (and NFKC again): equal for every case and Unicode variant of a name. */
  readonly key: string;
}

function invalid(reason: string, raw: unknown): LobbyError {
  return new LobbyError(LobbyErrorCode.InvalidUsername, `invalid username: ${reason}`, {
    context: { length: typeof raw === "string" ? raw.length : undefined },
  });
}

/**
 * Normalises a username.
 * @throws LobbyError `LOBBY_INVALID_USERNAME` when it is not a string of 3–32 letters, digits, `_`
 * or `-` after normalisation.
 */
export function normaliseUsername(raw: unknown): NormalisedUsername {
  if (typeof raw !== "string") throw invalid("not a string", raw);
  if (raw.length > MAX_RAW_LENGTH) throw invalid(`longer than ${MAX_USERNAME_LENGTH} characters`, raw);
  const display = raw.trim().normalize("NFKC");
  const key = display.toLowerCase().normalize("NFKC");
  const length = [...key].length;
  if (length < MIN_USERNAME_LENGTH) throw invalid(`shorter than ${MIN_USERNAME_LENGTH} characters`, raw);
  if (length > MAX_USERNAME_LENGTH || [...display].length > MAX_USERNAME_LENGTH) {
    throw invalid(`longer than ${MAX_USERNAME_LENGTH} characters`, raw);
  }
  if (!USERNAME_PATTERN.test(display) || !USERNAME_PATTERN.test(key)) {
    throw invalid("only letters, digits, _ and - are allowed", raw);
  }
  return Object.freeze({ display, key });
}
