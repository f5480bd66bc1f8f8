/**
 * Secret questions and answers as players type them, and the form an answer is hashed in.
 *
 * **Answers** are compared after {@link normaliseAnswer}: NFKC, then a locale-free case fold, NFKC
 * again, then trimmed with every run of whitespace collapsed to one space. So `Mr. Whiskers`,
 * `  MR.   WHISKERS `, `mr.\u00a0whiskers` and fullwidth `ｍｒ．　ｗｈｉｓｋｅｒｓ` are one answer.
 * The case fold is `toUpperCase().toLowerCase()` rather than plain `toLowerCase()` (JavaScript lacks
 * Unicode full case folding): upper-casing first folds `ß` onto `ss` and final `ς` onto `σ`, as full
 * folding does, so `Straße` and `STRASSE` match; for every other cased letter it equals lower-casing.
 * An answer, unlike a username, is not an identity that two players must keep apart, so erring
 * towards "same answer" is the friendlier side. Punctuation is kept (`mr whiskers` is another answer).
 * The stored hash depends on this exact function: changing it orphans every stored answer, so a
 * change needs a migration that asks players to set their answer again.
 *
 * **Questions** are shown back to the player: trimmed, NFC, one line, 1–{@link MAX_QUESTION_LENGTH}
 * characters.
 */
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** Longest secret question, in code points after trimming. */
export const MAX_QUESTION_LENGTH = 200;
/** Longest answer, in code points after normalisation (≤ 1 KiB of UTF-8, the hasher's cap). */
export const MAX_ANSWER_LENGTH = 256;
/** Raw input longer than this (UTF-16 units) is refused before normalisation does any work. */
const MAX_RAW_LENGTH = 2_048;

function invalid(field: "question" | "answer", reason: string, raw: unknown): LobbyError {
  return new LobbyError(LobbyErrorCode.InvalidRecovery, `invalid secret ${field}: ${reason}`, {
    context: { field, length: typeof raw === "string" ? raw.length : undefined },
  });
}

/**
 * The answer as hashed and compared (see the module doc).
 * @throws LobbyError `LOBBY_INVALID_RECOVERY` (`context.field` = `answer`) when it is not a string
 * or is empty or longer than {@link MAX_ANSWER_LENGTH} code points after normalisation.
 */
export function normaliseAnswer(raw: unknown): string {
  if (typeof raw !== "string") throw invalid("answer", "not a string", raw);
  if (raw.length > MAX_RAW_LENGTH)
    throw invalid("answer", `longer than ${MAX_ANSWER_LENGTH} characters`, raw);
  const folded = raw.normalize("NFKC").toUpperCase().toLowerCase().normalize("NFKC");
  const answer = folded.trim().replace(/\s+/gu, " ");
  const length = [...answer].length;
  if (length === 0) throw invalid("answer", "empty", raw);
  if (length > MAX_ANSWER_LENGTH) throw invalid("answer", `longer than ${MAX_ANSWER_LENGTH} characters`, raw);
  return answer;
}

/**
 * The question as stored and shown: trimmed and NFC.
 * @throws LobbyError `LOBBY_INVALID_RECOVERY` (`context.field` = `question`) when it is not a
 * string, is empty, longer than {@link MAX_QUESTION_LENGTH} code points or holds control characters
 * (line breaks included).
 */
export function normaliseQuestion(raw: unknown): string {
  if (typeof raw !== "string") throw invalid("question", "not a string", raw);
  if (raw.length > MAX_RAW_LENGTH) {
    throw invalid("question", `longer than ${MAX_QUESTION_LENGTH} characters`, raw);
  }
  const question = raw.trim().normalize("NFC");
  const length = [...question].length;
  if (length === 0) throw invalid("question", "empty", raw);
  if (length > MAX_QUESTION_LENGTH) {
    throw invalid("question", `longer than ${MAX_QUESTION_LENGTH} characters`, raw);
  }
  if (/\p{Cc}/u.test(question)) throw invalid("question", "control characters are not allowed", raw);
  return question;
}
