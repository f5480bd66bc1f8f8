import { randomInt } from "node:crypto";

const LETTERS = "abcdefghijklmnopqrstuvwxyz";
const ALPHANUMERIC = `${LETTERS}0123456789`;

/** Length of a run id: 10 characters, about 51 bits of randomness. */
export const RUN_ID_LENGTH = 10;

/**
 * A short random id, safe as (part of) a Postgres identifier, a Redis key, a NATS subject token and a
 * JetStream stream name: a lowercase letter then lowercase letters and digits, always
 * {@link RUN_ID_LENGTH} long, so `MT_<runId>` is never the prefix of another run's names.
 */
export function createRunId(): string {
  let id = LETTERS[randomInt(LETTERS.length)] ?? "a";
  while (id.length < RUN_ID_LENGTH) id += ALPHANUMERIC[randomInt(ALPHANUMERIC.length)] ?? "0";
  return id;
}
