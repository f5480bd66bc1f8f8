import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { type Kysely, sql } from "kysely";
import { createDatabase, type Database, MIGRATIONS, migrateToLatest, TABLE_NAMES } from "../src/db/index.js";

let ctx: TestContext;
let db: Kysely<Database>;

before(async () => {
  ctx = await createTestContext({ redis: false, nats: false });
  db = createDatabase({ url: ctx.postgres.url, poolSize: 2 });
  ctx.defer(() => db.destroy());
});
after(() => ctx.cleanup());

describe("migrations", () => {
  it("migrations - apply, then a second run is a no-op", async () => {
    const first = await migrateToLatest(db);
    assert.deepEqual(first.applied, Object.keys(MIGRATIONS));
    const second = await migrateToLatest(db);
    assert.deepEqual(second.applied, []);
  });

  it("migrations - create every table of the Database interface", async () => {
    const { rows } = await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = 'public'`.execute(db);
    const tables = new Set(rows.map((r) => r.table_name));
    for (const table of TABLE_NAMES) assert.ok(tables.has(table), `missing table ${table}`);
  });

  it("migrations - bans check their target by kind", async () => {
    const account = await db
      .insertInto("accounts")
      .values({ username_display: "banned", username_key: "banned" })
      .returning("id")
      .executeTakeFirstOrThrow();
    const base = { reason: "test", issuer: "ops" };
    await db
      .insertInto("bans")
      .values({ ...base, kind: "account", account_id: account.id })
      .execute();
    await db
      .insertInto("bans")
      .values({ ...base, kind: "ip", cidr: "203.0.113.7/32" })
      .execute();
    await db
      .insertInto("bans")
      .values({ ...base, kind: "cidr", cidr: "203.0.113.0/24" })
      .execute();
    // an `ip` ban must be one host; an `account` ban needs an account
    await assert.rejects(
      db
        .insertInto("bans")
        .values({ ...base, kind: "ip", cidr: "203.0.113.0/24" })
        .execute(),
      {
        code: "23514",
      },
    );
    await assert.rejects(
      db
        .insertInto("bans")
        .values({ ...base, kind: "account" })
        .execute(),
      { code: "23514" },
    );
  });
});
