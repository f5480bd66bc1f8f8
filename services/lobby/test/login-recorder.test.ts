import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestContext, type TestContext } from "@meridian/testkit";
import type { Kysely } from "kysely";
import { AccountStore, LoginRecorder, PasswordHasher } from "../src/accounts/index.js";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { CHEAP_ARGON2, codeOf, insertAccount } from "./helpers/lobby-test-kit.js";

let ctx: TestContext;
let db: Kysely<Database>;

before(async () => {
  ctx = await createTestContext({ redis: false, nats: false });
  db = createDatabase({ url: ctx.postgres.url });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
});
after(() => ctx.cleanup());

async function loginsOf(accountId: string): Promise<number | undefined> {
  const row = await db
    .selectFrom("player_stats")
    .select("value")
    .where("account_id", "=", accountId)
    .where("stat", "=", "logins")
    .executeTakeFirst();
  return row === undefined ? undefined : Number(row.value);
}

async function lastLogin(accountId: string): Promise<Date | null> {
  const row = await db
    .selectFrom("accounts")
    .select("last_login_at")
    .where("id", "=", accountId)
    .executeTakeFirstOrThrow();
  return row.last_login_at;
}

describe("login recorder", () => {
  it("login recorder - batches logins of many accounts into one flush: counters add up, last_login_at set", async () => {
    const recorder = new LoginRecorder(db, { flushMs: 60_000 });
    const a = await insertAccount(db, "rec");
    const b = await insertAccount(db, "rec");
    for (let i = 0; i < 5; i++) recorder.record(a);
    recorder.record(b);
    assert.equal(recorder.pending, 6);
    assert.equal(await loginsOf(a), undefined, "nothing is written before the flush");
    await recorder.flush();
    assert.equal(recorder.pending, 0);
    assert.equal(await loginsOf(a), 5);
    assert.equal(await loginsOf(b), 1);
    assert.ok((await lastLogin(a)) instanceof Date);
    recorder.record(a);
    await recorder.stop();
    assert.equal(await loginsOf(a), 6, "stop flushes what is pending");
  });

  it("login recorder - flushes on its own after flushMs", async () => {
    const recorder = new LoginRecorder(db, { flushMs: 20 });
    const a = await insertAccount(db, "rec");
    recorder.record(a);
    while ((await loginsOf(a)) === undefined) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await loginsOf(a), 1);
    await recorder.stop();
  });

  it("login recorder - a deleted account is skipped, not a failed flush", async () => {
    const recorder = new LoginRecorder(db, { flushMs: 60_000 });
    const gone = await insertAccount(db, "rec");
    const kept = await insertAccount(db, "rec");
    recorder.record(gone);
    recorder.record(kept);
    await db.deleteFrom("accounts").where("id", "=", gone).execute();
    await recorder.flush();
    assert.equal(await loginsOf(kept), 1);
    await recorder.stop();
  });

  it("login recorder - a failed flush keeps its entries for the next one", async () => {
    const url = new URL(ctx.postgres.url);
    url.port = "1";
    const dead = createDatabase({ url: url.href, poolSize: 1 });
    try {
      const recorder = new LoginRecorder(dead, { flushMs: 60_000 });
      recorder.record("1");
      recorder.record("1");
      await assert.rejects(recorder.flush());
      assert.equal(recorder.pending, 2);
      await recorder.stop();
    } finally {
      await dead.destroy();
    }
  });

  it("login recorder - refuses a bad flushMs", async () => {
    for (const flushMs of [0, 9, 60_001, 1.5]) {
      assert.equal(await codeOf((async () => new LoginRecorder(db, { flushMs }))()), "LOBBY_INVALID_OPTIONS");
    }
  });

  it("login recorder - the account store records logins (and creations) through it", async () => {
    const recorder = new LoginRecorder(db, { flushMs: 60_000 });
    const store = new AccountStore(db, new PasswordHasher(CHEAP_ARGON2, { allowWeakParameters: true }), {
      loginRecorder: recorder,
    });
    const first = await store.loginOrCreate("recorded_player", "pw", { autoCreate: true });
    assert.equal(first.created, true);
    const second = await store.loginOrCreate("recorded_player", "pw", { autoCreate: true });
    assert.ok(second.account.lastLoginAt instanceof Date);
    await recorder.flush();
    assert.equal(await loginsOf(first.account.id), 2);
    await recorder.stop();
  });
});
