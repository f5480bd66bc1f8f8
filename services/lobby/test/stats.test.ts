import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { type Kysely, sql } from "kysely";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { LobbyError, LobbyErrorCode } from "../src/errors.js";
import {
  MAX_ENTRIES_PER_REPORT,
  MAX_LEADERBOARD_LIMIT,
  MAX_LEADERBOARD_OFFSET,
  MAX_STAT_VALUE,
  MAX_STATS_PER_ENTRY,
  type StatReportEntry,
  StatsService,
  WellKnownStat,
} from "../src/stats/index.js";
import { codeOf, insertAccount } from "./helpers/lobby-test-kit.js";

let ctx: TestContext;
let db: Kysely<Database>;
let stats: StatsService;

before(async () => {
  ctx = await createTestContext();
  db = createDatabase({ url: ctx.postgres.url, poolSize: 25 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
  stats = new StatsService(db);
});
after(() => ctx.cleanup());

function newAccount(): Promise<string> {
  return insertAccount(db, "statplayer");
}

async function rowCount(): Promise<number> {
  const { count } = await db
    .selectFrom("player_stats")
    .select((eb) => eb.fn.countAll<string>().as("count"))
    .executeTakeFirstOrThrow();
  return Number(count);
}

/** The rejection's LobbyError, for asserting on code and `context.field`. */
async function rejection(promise: Promise<unknown>): Promise<LobbyError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof LobbyError, `expected a LobbyError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a rejection");
}

let stats_ = 0;
/** A stat name no other test uses, so leaderboards are per test. */
function freshStat(): string {
  stats_++;
  return `game.score_${stats_}`;
}

describe("stats - reports", () => {
  it("applies a batch and reads it back per player", async () => {
    const [a, b] = [await newAccount(), await newAccount()];
    const result = await stats.report([
      { accountId: a, increments: { [WellKnownStat.PlaytimeSeconds]: 60, "pvp.kills": 3 } },
      { accountId: b, increments: { [WellKnownStat.PlaytimeSeconds]: 30 } },
      { accountId: a, increments: { "pvp.kills": 2, zero_stat: 0 } },
    ]);
    assert.equal(result.counters, 4);
    assert.deepEqual(await stats.get(a), { "pvp.kills": 5, playtime_s: 60, zero_stat: 0 });
    assert.deepEqual(await stats.get(b), { playtime_s: 30 });
    await stats.report([{ accountId: a, increments: { playtime_s: 15 } }]);
    assert.equal((await stats.get(a)).playtime_s, 75);
  });

  it("counts logins with increment", async () => {
    const a = await newAccount();
    await stats.increment(a, WellKnownStat.Logins);
    await stats.increment(a, WellKnownStat.Logins);
    await stats.increment(a, WellKnownStat.Logins, 5);
    assert.deepEqual(await stats.get(a), { logins: 7 });
  });

  it("accepts an empty batch and empty entries as no-ops", async () => {
    const before = await rowCount();
    assert.deepEqual(await stats.report([]), { counters: 0 });
    assert.deepEqual(await stats.report([{ accountId: "999999999", increments: {} }]), { counters: 0 });
    assert.equal(await rowCount(), before);
  });

  it("sums concurrent reports from many servers exactly, without deadlocks", async () => {
    const players = await Promise.all(Array.from({ length: 30 }, () => newAccount()));
    const servers = 20;
    // Every server reports every player, in its own (shuffled) order, several stats each.
    const batches: StatReportEntry[][] = Array.from({ length: servers }, (_, server) =>
      [...players]
        .sort(() => Math.random() - 0.5)
        .map((accountId) => ({
          accountId,
          increments: { playtime_s: server + 1, logins: 1, "pve.kills": 2 },
        })),
    );
    await Promise.all(batches.map((batch) => stats.report(batch)));
    const expectedPlaytime = (servers * (servers + 1)) / 2;
    for (const accountId of players) {
      assert.deepEqual(await stats.get(accountId), {
        logins: servers,
        playtime_s: expectedPlaytime,
        "pve.kills": 2 * servers,
      });
    }
  });

  it("takes the largest batch: 1,000 entries of 64 stats in one statement", async () => {
    const players = await Promise.all(Array.from({ length: 10 }, () => newAccount()));
    const increments = Object.fromEntries(
      Array.from({ length: MAX_STATS_PER_ENTRY }, (_, i) => [`s${i}`, 1]),
    );
    const entries = Array.from({ length: MAX_ENTRIES_PER_REPORT }, (_, i) => ({
      accountId: players[i % players.length] as string,
      increments,
    }));
    assert.deepEqual(await stats.report(entries), { counters: players.length * MAX_STATS_PER_ENTRY });
    const read = await stats.get(players[0] as string);
    assert.equal(Object.keys(read).length, MAX_STATS_PER_ENTRY);
    assert.ok(Object.values(read).every((v) => v === MAX_ENTRIES_PER_REPORT / players.length));
  });

  it("saturates counters at Number.MAX_SAFE_INTEGER", async () => {
    const a = await newAccount();
    await stats.report([
      { accountId: a, increments: { big: MAX_STAT_VALUE } },
      { accountId: a, increments: { big: MAX_STAT_VALUE } },
    ]);
    await stats.increment(a, "big", 10);
    assert.deepEqual(await stats.get(a), { big: MAX_STAT_VALUE });
    // A value written past the safe range by other means reads clamped.
    await db
      .updateTable("player_stats")
      .set({ value: "9223372036854775000" })
      .where("account_id", "=", a)
      .execute();
    assert.deepEqual(await stats.get(a), { big: MAX_STAT_VALUE });
    await stats.increment(a, "big", 1);
    assert.deepEqual(await stats.get(a), { big: MAX_STAT_VALUE });
  });
});

describe("stats - refused reports apply nothing", () => {
  it("refuses bad stat names, deltas and sizes with LOBBY_INVALID_STAT naming the field", async () => {
    const a = await newAccount();
    await stats.increment(a, "kept", 1);
    const before = await rowCount();
    const tooMany = Object.fromEntries(
      Array.from({ length: MAX_STATS_PER_ENTRY + 1 }, (_, i) => [`s${i}`, 1]),
    );
    const cases: [unknown, string][] = [
      [[{ accountId: a, increments: { ok: 1, "Bad-Name": 1 } }], "stat"],
      [[{ accountId: a, increments: { "1st": 1 } }], "stat"],
      [[{ accountId: a, increments: { "": 1 } }], "stat"],
      [[{ accountId: a, increments: { [`a${"b".repeat(64)}`]: 1 } }], "stat"],
      [[{ accountId: a, increments: JSON.parse('{"ok":1,"__proto__":1}') }], "stat"],
      [[{ accountId: a, increments: { ok: -1 } }], "delta"],
      [[{ accountId: a, increments: { ok: 1.5 } }], "delta"],
      [[{ accountId: a, increments: { ok: Number.MAX_SAFE_INTEGER + 1 } }], "delta"],
      [[{ accountId: a, increments: { ok: "1" } }], "delta"],
      [[{ accountId: a, increments: { ok: Number.NaN } }], "delta"],
      [[{ accountId: a, increments: tooMany }], "increments"],
      [[{ accountId: a, increments: null }], "increments"],
      [[{ accountId: a, increments: [1] }], "increments"],
      [[{ accountId: a }], "increments"],
      [[null], "entries"],
      [
        Array.from({ length: MAX_ENTRIES_PER_REPORT + 1 }, () => ({ accountId: a, increments: {} })),
        "entries",
      ],
      [{ accountId: a, increments: { ok: 1 } }, "entries"],
    ];
    for (const [entries, field] of cases) {
      // The good entry first: it must not be applied either.
      const batch = Array.isArray(entries)
        ? [{ accountId: a, increments: { kept: 1 } }, ...entries]
        : entries;
      const error = await rejection(stats.report(batch as StatReportEntry[]));
      assert.equal(error.code, LobbyErrorCode.InvalidStat, JSON.stringify(entries)?.slice(0, 80));
      assert.equal(error.context.field, field, JSON.stringify(entries)?.slice(0, 80));
    }
    assert.equal(await codeOf(stats.increment(a, "Nope")), LobbyErrorCode.InvalidStat);
    assert.equal(await codeOf(stats.increment(a, "ok", -3)), LobbyErrorCode.InvalidStat);
    assert.equal(await rowCount(), before);
    assert.deepEqual(await stats.get(a), { kept: 1 });
  });

  it("refuses a batch naming an unknown account with LOBBY_PLAYER_UNKNOWN, applying nothing", async () => {
    const [a, b] = [await newAccount(), await newAccount()];
    const unknown = "987654321";
    const error = await rejection(
      stats.report([
        { accountId: a, increments: { playtime_s: 10 } },
        { accountId: unknown, increments: { playtime_s: 10 } },
        { accountId: b, increments: { playtime_s: 10 } },
      ]),
    );
    assert.equal(error.code, LobbyErrorCode.PlayerUnknown);
    assert.deepEqual(error.context.accountIds, [unknown]);
    assert.deepEqual(await stats.get(a), {});
    assert.deepEqual(await stats.get(b), {});
  });

  it("refuses malformed account ids before any I/O", async () => {
    for (const accountId of ["", "0", "-5", "1.0", "x1", "9223372036854775808", 12 as unknown as string]) {
      assert.equal(
        await codeOf(stats.report([{ accountId, increments: { ok: 1 } }])),
        LobbyErrorCode.PlayerUnknown,
        String(accountId),
      );
    }
  });
});

describe("stats - reads", () => {
  it("returns {} for a player without stats and refuses an unknown one", async () => {
    assert.deepEqual(await stats.get(await newAccount()), {});
    for (const accountId of ["999999998", "0", "abc", "9223372036854775808"]) {
      assert.equal(await codeOf(stats.get(accountId)), LobbyErrorCode.PlayerUnknown, accountId);
    }
  });
});

describe("stats - leaderboard", () => {
  /** Accounts with the given values of `stat`, created in order (so ids ascend). */
  async function board(stat: string, values: readonly number[]): Promise<string[]> {
    const ids: string[] = [];
    for (const _ of values) ids.push(await newAccount());
    await stats.report(
      ids.map((accountId, i) => ({ accountId, increments: { [stat]: values[i] as number } })),
    );
    return ids;
  }

  it("orders by value descending, ties by account id, with standard competition ranks", async () => {
    const stat = freshStat();
    const ids = await board(stat, [50, 70, 50, 90, 50, 10]);
    const [p0, p1, p2, p3, p4, p5] = ids as [string, string, string, string, string, string];
    const rows = await stats.leaderboard(stat);
    assert.deepEqual(
      rows.map((r) => [r.rank, r.accountId, r.value]),
      [
        [1, p3, 90],
        [2, p1, 70],
        [3, p0, 50],
        [3, p2, 50],
        [3, p4, 50],
        [6, p5, 10],
      ],
    );
    const names = await db
      .selectFrom("accounts")
      .select(["id", "username_display"])
      .where("id", "in", ids)
      .execute();
    for (const row of rows) {
      assert.equal(row.username, names.find((n) => n.id === row.accountId)?.username_display);
    }
    // Another stat's rows and players without this stat are not listed.
    await stats.increment(p5, freshStat(), 1000);
    assert.equal((await stats.leaderboard(stat, { limit: 100 })).length, 6);
  });

  it("orders tied account ids numerically, not as text", async () => {
    const stat = freshStat();
    const low = await newAccount();
    // An id with more digits than every other in this database.
    const high = (
      await db
        .insertInto("accounts")
        .values({ id: "100000000000", username_display: "highid", username_key: "highid" } as never)
        .returning("id")
        .executeTakeFirstOrThrow()
    ).id;
    await stats.report([
      { accountId: high, increments: { [stat]: 5 } },
      { accountId: low, increments: { [stat]: 5 } },
    ]);
    assert.deepEqual(
      (await stats.leaderboard(stat)).map((r) => [r.rank, r.accountId]),
      [
        [1, low],
        [1, high],
      ],
    );
  });

  it("pages with limit and offset, ranks staying global", async () => {
    const stat = freshStat();
    const values = [9, 8, 8, 7, 6, 6, 6, 5, 4, 3, 2, 1];
    await board(stat, values);
    const all = await stats.leaderboard(stat, { limit: MAX_LEADERBOARD_LIMIT });
    assert.equal(all.length, values.length);
    assert.deepEqual(
      all.map((r) => r.rank),
      [1, 2, 2, 4, 5, 5, 5, 8, 9, 10, 11, 12],
    );
    assert.equal((await stats.leaderboard(stat)).length, 10);
    const pages = [];
    for (let offset = 0; offset < values.length; offset += 5) {
      pages.push(...(await stats.leaderboard(stat, { limit: 5, offset })));
    }
    assert.deepEqual(pages, all);
    assert.deepEqual(await stats.leaderboard(stat, { offset: values.length }), []);
    assert.deepEqual(await stats.leaderboard(freshStat()), []);
  });

  it("refuses bad queries with LOBBY_INVALID_STAT naming the field", async () => {
    const cases: [string, object, string][] = [
      ["Bad", {}, "stat"],
      ["", {}, "stat"],
      ["ok", { limit: 0 }, "limit"],
      ["ok", { limit: MAX_LEADERBOARD_LIMIT + 1 }, "limit"],
      ["ok", { limit: 2.5 }, "limit"],
      ["ok", { limit: "10" }, "limit"],
      ["ok", { offset: -1 }, "offset"],
      ["ok", { offset: MAX_LEADERBOARD_OFFSET + 1 }, "offset"],
      ["ok", { offset: Number.NaN }, "offset"],
    ];
    for (const [stat, query, field] of cases) {
      const error = await rejection(stats.leaderboard(stat, query));
      assert.equal(error.code, LobbyErrorCode.InvalidStat);
      assert.equal(error.context.field, field, `${stat} ${JSON.stringify(query)}`);
    }
  });

  it("walks the leaderboard index", async () => {
    const stat = freshStat();
    await board(stat, [3, 2, 1]);
    await sql`analyze player_stats`.execute(db);
    await sql`set enable_seqscan = off`.execute(db);
    const { rows } = await sql<{ "QUERY PLAN": string }>`
      explain select account_id, value, rank() over (order by value desc) as rank
      from player_stats where stat = ${stat}
      order by value desc, account_id offset 0 limit 10
    `.execute(db);
    await sql`reset enable_seqscan`.execute(db);
    assert.ok(
      rows.some((r) => r["QUERY PLAN"].includes("player_stats_leaderboard")),
      JSON.stringify(rows),
    );
  });
});
