/**
 * Helpers shared by the lobby's test files. Storage and services are the real ones; these only
 * save each file from repeating the same small utilities.
 */
import assert from "node:assert/strict";
import type { Kysely } from "kysely";
import { PasswordHasher } from "../../src/accounts/index.js";
import type { Database } from "../../src/db/index.js";
import { LobbyError } from "../../src/errors.js";

/**
 * argon2id parameters far below the OWASP floor, for tests only (the hasher needs
 * `allowWeakParameters`, which config never sets): races of hundreds of logins stay fast.
 */
export const CHEAP_ARGON2 = Object.freeze({ memoryKib: 1024, timeCost: 1, parallelism: 1 });

/** The `LobbyError` code a promise rejects with, or `"resolved"`; any other rejection fails the test. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof LobbyError, `expected a LobbyError, got ${String(error)}`);
    return error.code;
  }
  return "resolved";
}

let accounts = 0;

/** Inserts an account row directly (no credentials) and returns its id. */
export async function insertAccount(db: Kysely<Database>, namePrefix: string): Promise<string> {
  accounts++;
  const name = `${namePrefix}${accounts}`;
  const row = await db
    .insertInto("accounts")
    .values({ username_display: name, username_key: name })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

/** A hasher that counts every hash and verify, to show that a path did no argon2 work. */
export class CountingHasher extends PasswordHasher {
  calls = 0;

  override async hash(password: string): Promise<string> {
    this.calls++;
    return super.hash(password);
  }

  override async verify(phc: string, password: string): Promise<boolean> {
    this.calls++;
    return super.verify(phc, password);
  }
}
