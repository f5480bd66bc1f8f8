import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestContext, type TestContext } from "@meridian/testkit";
import type { Kysely } from "kysely";
import {
  AccountStore,
  isAccountId,
  MAX_EMAIL_LENGTH,
  MAX_PASSWORD_BYTES,
  PasswordHasher,
  parseHashParams,
} from "../src/accounts/index.js";
import { MIN_ARGON2_MEMORY_KIB, MIN_ARGON2_TIME_COST } from "../src/config.js";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { LobbyErrorCode } from "../src/errors.js";
import { CHEAP_ARGON2, CountingHasher, codeOf, insertAccount } from "./helpers/lobby-test-kit.js";

// Cheap argon2 parameters, far below OWASP's minimum, IN THIS TEST ONLY: the race makes ~2,000
// hashes and must finish in seconds. The configuration refuses such values; constructing the hasher
// directly with `allowWeakParameters` is the only way to get them.
const CHEAP = CHEAP_ARGON2;
const OWASP = { memoryKib: MIN_ARGON2_MEMORY_KIB, timeCost: MIN_ARGON2_TIME_COST, parallelism: 1 };

let ctx: TestContext;
let db: Kysely<Database>;
let store: AccountStore;
const cheap = new PasswordHasher(CHEAP, { allowWeakParameters: true });

before(async () => {
  ctx = await createTestContext({ redis: false, nats: false });
  db = createDatabase({ url: ctx.postgres.url, poolSize: 10 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
  store = new AccountStore(db, cheap);
});
after(() => ctx.cleanup());

async function countAccounts(key: string): Promise<number> {
  const row = await db
    .selectFrom("accounts")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("username_key", "=", key)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe("accounts", () => {
  it("accounts - hasher refuses parameters below OWASP unless told, and hashes argon2id", async () => {
    assert.throws(() => new PasswordHasher(CHEAP), { code: LobbyErrorCode.InvalidOptions });
    assert.throws(() => new PasswordHasher({ ...OWASP, parallelism: 0 }), {
      code: LobbyErrorCode.InvalidOptions,
    });
    const phc = await cheap.hash("secret");
    assert.match(phc, /^\$argon2id\$/);
    assert.deepEqual(parseHashParams(phc), { algorithm: "argon2id", ...CHEAP });
    assert.equal(await cheap.verify(phc, "secret"), true);
    assert.equal(await cheap.verify(phc, "Secret"), false);
  });

  it("accounts - first login creates, second logs in, wrong password is refused", async () => {
    const first = await store.loginOrCreate("Hero", "correct horse", { autoCreate: true });
    assert.equal(first.created, true);
    assert.equal(first.account.username, "Hero");
    assert.equal(first.account.usernameKey, "hero");
    assert.ok(first.account.lastLoginAt instanceof Date);

    const second = await store.loginOrCreate("HERO", "correct horse", { autoCreate: true });
    assert.equal(second.created, false);
    assert.equal(second.account.id, first.account.id);
    assert.equal(second.account.username, "Hero", "the first registration's display name stays");
    assert.ok((second.account.lastLoginAt?.getTime() ?? 0) >= (first.account.lastLoginAt?.getTime() ?? 0));

    await assert.rejects(store.loginOrCreate("hero", "wrong", { autoCreate: true }), {
      code: LobbyErrorCode.BadCredentials,
    });
    assert.equal(await countAccounts("hero"), 1);
  });

  it("accounts - with auto-create off, an unknown name gets the wrong-password code", async () => {
    await assert.rejects(store.loginOrCreate("nobody", "whatever", { autoCreate: false }), {
      code: LobbyErrorCode.BadCredentials,
    });
    assert.equal(await countAccounts("nobody"), 0);
    await store.loginOrCreate("somebody", "pw-1", { autoCreate: true });
    const again = await store.loginOrCreate("somebody", "pw-1", { autoCreate: false });
    assert.equal(again.created, false);
    await assert.rejects(store.loginOrCreate("somebody", "pw-2", { autoCreate: false }), {
      code: LobbyErrorCode.BadCredentials,
    });
  });

  it("accounts - bad usernames are refused with their code", async () => {
    for (const name of ["ab", "bad name", "x".repeat(33)]) {
      await assert.rejects(store.loginOrCreate(name, "pw", { autoCreate: true }), {
        code: LobbyErrorCode.InvalidUsername,
      });
    }
  });

  it("accounts - a password over 1 KiB is refused before any hashing", async () => {
    const counting = new CountingHasher(CHEAP, { allowWeakParameters: true });
    const countingStore = new AccountStore(db, counting);
    const tooLong = "x".repeat(MAX_PASSWORD_BYTES + 1);
    const tooLongUtf8 = "é".repeat(MAX_PASSWORD_BYTES / 2 + 1); // 2 bytes each: over in bytes, not in characters
    for (const password of [tooLong, tooLongUtf8]) {
      await assert.rejects(countingStore.loginOrCreate("longpass", password, { autoCreate: true }), {
        code: LobbyErrorCode.PasswordTooLong,
      });
      await assert.rejects(counting.hash(password), { code: LobbyErrorCode.PasswordTooLong });
    }
    assert.equal(counting.calls, 2, "only the two direct hash() calls were counted, and neither hashed");
    assert.equal(await countAccounts("longpass"), 0);
    const exact = await countingStore.loginOrCreate("longpass", "x".repeat(MAX_PASSWORD_BYTES), {
      autoCreate: true,
    });
    assert.equal(exact.created, true);
  });

  it("accounts - the stored hash is upgraded on login when the parameters rise", async () => {
    await store.loginOrCreate("upgrader", "pw", { autoCreate: true });
    const before = await db
      .selectFrom("credentials")
      .innerJoin("accounts", "accounts.id", "credentials.account_id")
      .select(["credentials.password_hash", "credentials.params", "accounts.id"])
      .where("accounts.username_key", "=", "upgrader")
      .executeTakeFirstOrThrow();
    assert.equal(before.params, "m=1024,t=1,p=1");

    const stronger = new PasswordHasher(
      { memoryKib: 2048, timeCost: 2, parallelism: 1 },
      { allowWeakParameters: true },
    );
    assert.equal(stronger.needsRehash(before.password_hash), true);
    const strongerStore = new AccountStore(db, stronger);
    await strongerStore.loginOrCreate("upgrader", "pw", { autoCreate: true });
    const after = await db
      .selectFrom("credentials")
      .select(["password_hash", "params"])
      .where("account_id", "=", before.id)
      .executeTakeFirstOrThrow();
    assert.equal(after.params, "m=2048,t=2,p=1");
    assert.deepEqual(parseHashParams(after.password_hash), {
      algorithm: "argon2id",
      memoryKib: 2048,
      timeCost: 2,
      parallelism: 1,
    });
    assert.equal(stronger.needsRehash(after.password_hash), false);
    // the upgraded hash still verifies, and a weaker hasher does not downgrade it
    await store.loginOrCreate("upgrader", "pw", { autoCreate: true });
    const unchanged = await db
      .selectFrom("credentials")
      .select("password_hash")
      .where("account_id", "=", before.id)
      .executeTakeFirstOrThrow();
    assert.equal(unchanged.password_hash, after.password_hash);
  });

  it("accounts - 1000 concurrent first logins of one name (case and Unicode variants) create one account", async () => {
    const variants = ["Racer", "racer", "RACER", "ＲＡＣＥＲ", "ｒａｃｅｒ", " rAcEr "];
    const calls = Array.from({ length: 1000 }, (_, i) =>
      store.loginOrCreate(variants[i % variants.length] ?? "racer", "same password", { autoCreate: true }),
    );
    const results = await Promise.allSettled(calls);
    const rejected = results.filter((r) => r.status === "rejected");
    assert.deepEqual(rejected, [], "every login succeeds");
    const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    assert.equal(ok.filter((r) => r.created).length, 1, "exactly one call created the account");
    assert.equal(new Set(ok.map((r) => r.account.id)).size, 1, "every call got the same account");
    assert.equal(await countAccounts("racer"), 1);
    const credentials = await db
      .selectFrom("credentials")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("account_id", "=", ok[0]?.account.id ?? "0")
      .executeTakeFirstOrThrow();
    assert.equal(Number(credentials.n), 1);
  });

  it("accounts - a racer with another password gets bad credentials, not a second account", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        store.loginOrCreate(i % 2 ? "Duel" : "ＤＵＥＬ", "first", { autoCreate: true }),
      ).concat([store.loginOrCreate("duel", "other", { autoCreate: true })]),
    );
    assert.equal(await countAccounts("duel"), 1);
    const failures = results.filter((r) => r.status === "rejected");
    // Either the odd one out lost (bad credentials) or it won and all the others lost.
    for (const failure of failures) {
      assert.equal((failure as PromiseRejectedResult).reason.code, LobbyErrorCode.BadCredentials);
    }
    assert.ok(failures.length === 1 || failures.length === 50, `failures: ${failures.length}`);
  });

  it("accounts - findByUsername finds any variant of a name; unknown names are undefined", async () => {
    const { account } = await store.loginOrCreate("Finder", "pw", { autoCreate: true });
    for (const variant of ["Finder", "FINDER", " finder ", "ｆｉｎｄｅｒ"]) {
      assert.deepEqual(await store.findByUsername(variant), account, variant);
    }
    assert.equal(await store.findByUsername("not-finder"), undefined);
    await assert.rejects(store.findByUsername("x"), { code: LobbyErrorCode.InvalidUsername });
  });

  it("accounts - setPassword replaces the password (hashed with the store's parameters) or creates credentials", async () => {
    const { account } = await store.loginOrCreate("Resetter", "before", { autoCreate: true });
    await store.setPassword(account.id, "after");
    await assert.rejects(store.loginOrCreate("resetter", "before", { autoCreate: false }), {
      code: LobbyErrorCode.BadCredentials,
    });
    await store.loginOrCreate("resetter", "after", { autoCreate: false });
    const row = await db
      .selectFrom("credentials")
      .selectAll()
      .where("account_id", "=", account.id)
      .executeTakeFirstOrThrow();
    assert.match(row.password_hash, /^\$argon2id\$/);
    assert.equal(row.params, cheap.paramsText);

    // An account without credentials gets them.
    const bare = await insertAccount(db, "bare");
    await store.setPassword(bare, "first");
    const name = await db
      .selectFrom("accounts")
      .select("username_key")
      .where("id", "=", bare)
      .executeTakeFirstOrThrow();
    await store.loginOrCreate(name.username_key, "first", { autoCreate: false });

    const counting = new CountingHasher(CHEAP, { allowWeakParameters: true });
    const countingStore = new AccountStore(db, counting);
    const tooLong = "x".repeat(MAX_PASSWORD_BYTES + 1);
    assert.equal(
      await codeOf(countingStore.setPassword(account.id, tooLong)),
      LobbyErrorCode.PasswordTooLong,
    );
    assert.equal(counting.calls, 0, "refused before hashing");
    for (const unknown of ["999999999", "0", "-1", "1.5", "abc", "9223372036854775808"]) {
      assert.equal(await codeOf(store.setPassword(unknown, "pw")), LobbyErrorCode.PlayerUnknown, unknown);
    }
    assert.equal(isAccountId("9223372036854775807"), true);
    assert.equal(isAccountId("9223372036854775808"), false);
  });

  it("accounts - replacePassword needs the current password; of two racing changes one wins", async () => {
    const { account } = await store.loginOrCreate("Changer", "current", { autoCreate: true });
    assert.equal(
      await codeOf(store.replacePassword(account.id, "wrong", "next")),
      LobbyErrorCode.BadCredentials,
    );
    await store.loginOrCreate("changer", "current", { autoCreate: false });
    await store.replacePassword(account.id, "current", "next");
    await store.loginOrCreate("changer", "next", { autoCreate: false });
    await assert.rejects(store.loginOrCreate("changer", "current", { autoCreate: false }), {
      code: LobbyErrorCode.BadCredentials,
    });

    const results = await Promise.allSettled([
      store.replacePassword(account.id, "next", "racer-a"),
      store.replacePassword(account.id, "next", "racer-b"),
    ]);
    const won = results.filter((r) => r.status === "fulfilled").length;
    assert.equal(won, 1, "the loser's old password no longer matched");
    for (const r of results) {
      if (r.status === "rejected") assert.equal(r.reason.code, LobbyErrorCode.BadCredentials);
    }

    const bare = await insertAccount(db, "nopw");
    assert.equal(await codeOf(store.replacePassword(bare, "", "x")), LobbyErrorCode.BadCredentials);
    assert.equal(await codeOf(store.replacePassword("999999999", "a", "b")), LobbyErrorCode.PlayerUnknown);
    const tooLong = "x".repeat(MAX_PASSWORD_BYTES + 1);
    assert.equal(
      await codeOf(store.replacePassword(account.id, tooLong, "b")),
      LobbyErrorCode.PasswordTooLong,
    );
    assert.equal(
      await codeOf(store.replacePassword(account.id, "a", tooLong)),
      LobbyErrorCode.PasswordTooLong,
    );
  });

  it("accounts - setEmail sets a trimmed address or removes it; bad addresses are refused with the field", async () => {
    const { account } = await store.loginOrCreate("Mailed", "pw", { autoCreate: true });
    await store.setEmail(account.id, "  mailed@example.test ");
    assert.equal((await store.findByUsername("mailed"))?.email, "mailed@example.test");
    await store.setEmail(account.id, null);
    assert.equal((await store.findByUsername("mailed"))?.email, null);
    const bad: unknown[] = [
      "",
      "   ",
      "no-at-sign",
      "two@@example.test",
      "a@b@c",
      "@example.test",
      "local@",
      "line\nbreak@example.test",
      "sp ace@example.test",
      `a@${"d".repeat(MAX_EMAIL_LENGTH)}`,
      42,
    ];
    for (const email of bad) {
      await assert.rejects(
        store.setEmail(account.id, email as string),
        {
          code: LobbyErrorCode.InvalidRecovery,
          context: { field: "email", length: typeof email === "string" ? email.length : undefined },
        },
        JSON.stringify(email),
      );
    }
    assert.equal(await codeOf(store.setEmail("999999999", "x@example.test")), LobbyErrorCode.PlayerUnknown);
  });
});
