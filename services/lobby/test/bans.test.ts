import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AddressList, parseIp } from "@meridian/netengine";
import { createSubjects, type Subjects } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { type BanChangedNotice, type BanRequest, BanService } from "../src/bans/index.js";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { type LobbyError, LobbyErrorCode } from "../src/errors.js";
import { SessionService } from "../src/sessions/index.js";
import { codeOf, insertAccount } from "./helpers/lobby-test-kit.js";

let ctx: TestContext;
let db: Kysely<Database>;
let redis: Redis;
let nc: NatsConnection;
/** A second connection, as a gateway would have: notices are received here. */
let gateway: NatsConnection;
let subjects: Subjects;
let sessions: SessionService;
let bans: BanService;
/** The ban service's clock; tests move it forward. */
let clock = Date.now();

/** The spec: gateways learn of a ban change within 1 s. */
const NOTICE_DEADLINE_MS = 1_000;

before(async () => {
  ctx = await createTestContext();
  db = createDatabase({ url: ctx.postgres.url, poolSize: 10 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
  redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  ctx.defer(() => redis.quit());
  nc = await connect({ servers: ctx.nats.url, name: "lobby-bans-test" });
  ctx.defer(() => nc.close());
  gateway = await connect({ servers: ctx.nats.url, name: "lobby-bans-test-gateway" });
  ctx.defer(() => gateway.close());
  subjects = createSubjects({ prefix: ctx.nats.prefix });
  sessions = new SessionService(db, redis, nc, subjects, ctx.redis.prefix);
  bans = new BanService(db, redis, nc, subjects, ctx.redis.prefix, sessions, { now: () => clock });
  ctx.defer(() => bans.stop());
});
after(() => ctx.cleanup());

function newAccount(): Promise<string> {
  return insertAccount(db, "banned");
}

/**
 * Subscribes (as a gateway) to the ban notices, runs `action`, and resolves with the action's result
 * and the first `count` notices matching `match`; rejects when they have not all arrived within 1 s.
 */
async function noticesAfter<T>(
  action: () => Promise<T>,
  match: (notice: BanChangedNotice) => boolean,
  count = 1,
): Promise<{ result: T; notices: BanChangedNotice[] }> {
  const sub = gateway.subscribe(bans.noticeSubject);
  await gateway.flush(); // the server knows the subscription before the action runs
  let timer: NodeJS.Timeout | undefined;
  try {
    const notices: BanChangedNotice[] = [];
    const received = (async () => {
      for await (const message of sub) {
        const notice = message.json<BanChangedNotice>();
        if (match(notice)) notices.push(notice);
        if (notices.length === count) return notices;
      }
      throw new Error("subscription closed");
    })();
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${count} notice(s) within 1 s`)), NOTICE_DEADLINE_MS);
    });
    const result = await action();
    await Promise.race([received, deadline]);
    return { result, notices };
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
}

async function banWithNotice(request: BanRequest) {
  let id = "";
  const { result, notices } = await noticesAfter(
    async () => {
      const ban = await bans.ban(request);
      id = ban.id;
      return ban;
    },
    (n) => n.banId === id || (id === "" && n.op === "add"),
  );
  const notice = notices[0] as BanChangedNotice;
  assert.equal(notice.banId, result.id);
  return { ban: result, notice };
}

async function liftWithNotice(banId: string) {
  const { result, notices } = await noticesAfter(
    () => bans.lift(banId, "moderator"),
    (n) => n.banId === banId && n.op === "lift",
  );
  return { ban: result, notice: notices[0] as BanChangedNotice };
}

async function version(): Promise<number> {
  return Number((await redis.get(bans.keys.version)) ?? 0);
}

describe("bans", () => {
  it("bans - an account ban: Postgres, mirror, notice within 1 s, sessions revoked", async () => {
    const accountId = await newAccount();
    const tokens = await sessions.issue(accountId);
    assert.equal((await sessions.validateAccess(tokens.accessToken)).accountId, accountId);
    const { ban, notice } = await banWithNotice({
      kind: "account",
      accountId,
      reason: "botting",
      issuer: "alice",
    });
    assert.equal(ban.kind, "account");
    assert.equal(ban.accountId, accountId);
    assert.equal(notice.op, "add");
    assert.equal(notice.kind, "account");
    assert.equal(notice.accountId, accountId);
    assert.equal(notice.expiresAt, null);
    assert.equal(notice.listed, true);
    const row = await db.selectFrom("bans").selectAll().where("id", "=", ban.id).executeTakeFirstOrThrow();
    assert.equal(row.reason, "botting");
    assert.equal(row.issuer, "alice");
    assert.equal(row.lifted_at, null);
    assert.ok((await bans.snapshot()).accounts.includes(accountId));
    assert.equal(await bans.isAccountBanned(accountId), true);
    assert.deepEqual(await bans.banForAccount(accountId), {
      banId: ban.id,
      reason: "botting",
      expiresAt: null,
    });
    assert.equal(await codeOf(sessions.validateAccess(tokens.accessToken)), LobbyErrorCode.TokenRevoked);
    assert.equal(await codeOf(sessions.refresh(tokens.refreshToken)), LobbyErrorCode.TokenRevoked);
  });

  it("bans - IPv4, IPv6, IPv4-mapped IPv6 and CIDR ranges are normalised and mirrored", async () => {
    const cases: { kind: "ip" | "cidr"; target: string; stored: string }[] = [
      { kind: "ip", target: "203.0.113.7", stored: "203.0.113.7/32" },
      { kind: "ip", target: "198.51.100.1/32", stored: "198.51.100.1/32" },
      { kind: "ip", target: "2001:db8::7", stored: "2001:db8::7/128" },
      { kind: "ip", target: "::ffff:198.51.100.9", stored: "198.51.100.9/32" },
      { kind: "cidr", target: "10.20.0.0/16", stored: "10.20.0.0/16" },
      { kind: "cidr", target: "192.0.2.77/24", stored: "192.0.2.0/24" },
      { kind: "cidr", target: "2001:db8:aa::/48", stored: "2001:db8:aa::/48" },
      { kind: "cidr", target: "::ffff:172.16.0.0/108", stored: "172.16.0.0/12" },
    ];
    for (const { kind, target, stored } of cases) {
      const { ban, notice } = await banWithNotice({ kind, target, reason: "abuse", issuer: "bob" });
      assert.equal(ban.target, stored, target);
      assert.equal(notice.target, stored);
      assert.equal(notice.kind, kind);
      assert.equal(notice.listed, true);
      const row = await db
        .selectFrom("bans")
        .select("cidr")
        .where("id", "=", ban.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.cidr, stored);
      assert.equal(await redis.hget(bans.keys.addresses, stored), "0");
      assert.ok((await bans.snapshot()).addresses.includes(stored));
    }
  });

  it("bans - a snapshot loads into netengine's AddressList", async () => {
    const snapshot = await bans.snapshot();
    const list = new AddressList(snapshot.addresses);
    assert.equal(list.size, snapshot.addresses.length);
    for (const ip of ["203.0.113.7", "::ffff:203.0.113.7", "10.20.255.1", "192.0.2.200", "172.31.0.1"]) {
      assert.equal(list.has(parseIp(ip)), true, ip);
    }
    for (const ip of ["2001:db8::7", "2001:db8:aa:1::5", "::ffff:198.51.100.9", "198.51.100.1"]) {
      assert.equal(list.has(parseIp(ip)), true, ip);
    }
    for (const ip of [
      "203.0.113.8",
      "10.21.0.1",
      "172.32.0.1",
      "2001:db8::8",
      "2001:db8:ab::1",
      "127.0.0.1",
    ]) {
      assert.equal(list.has(parseIp(ip)), false, ip);
    }
  });

  it("bans - lift removes the target unless another live ban covers it", async () => {
    const target = "203.0.113.50";
    const first = await banWithNotice({ kind: "ip", target, reason: "spam", issuer: "carol" });
    const second = await banWithNotice({
      kind: "cidr",
      target: "203.0.113.50/32",
      reason: "spam again",
      issuer: "carol",
      expiresAt: new Date(clock + 3_600_000),
    });
    assert.equal(second.notice.expiresAt, null, "the permanent ban keeps the entry permanent");

    const liftFirst = await liftWithNotice(first.ban.id);
    assert.equal(liftFirst.notice.listed, true);
    assert.equal(liftFirst.notice.expiresAt, clock + 3_600_000);
    assert.equal(liftFirst.ban.liftedBy, "moderator");
    assert.ok(liftFirst.ban.liftedAt instanceof Date);
    assert.ok((await bans.snapshot()).addresses.includes("203.0.113.50/32"));

    const liftSecond = await liftWithNotice(second.ban.id);
    assert.equal(liftSecond.notice.listed, false);
    assert.equal(liftSecond.notice.op, "lift");
    assert.equal(await redis.hexists(bans.keys.addresses, "203.0.113.50/32"), 0);
    assert.ok(!(await bans.snapshot()).addresses.includes("203.0.113.50/32"));
    const live = await db
      .selectFrom("bans")
      .select("id")
      .where("cidr", "=", "203.0.113.50/32")
      .where("lifted_at", "is", null)
      .execute();
    assert.deepEqual(live, []);

    const accountId = await newAccount();
    const accountBan = await banWithNotice({
      kind: "account",
      accountId,
      reason: "cheating",
      issuer: "carol",
    });
    await liftWithNotice(accountBan.ban.id);
    assert.equal(await bans.isAccountBanned(accountId), false);
    assert.equal(await bans.banForAccount(accountId), null);
  });

  it("bans - expiry on the injected clock lifts everywhere and announces", async () => {
    const accountId = await newAccount();
    const expiresAt = new Date(clock + 60_000);
    const range = await bans.ban({
      kind: "cidr",
      target: "100.64.0.0/10",
      reason: "cgnat abuse",
      issuer: "dave",
      expiresAt,
    });
    const account = await bans.ban({
      kind: "account",
      accountId,
      reason: "timeout",
      issuer: "dave",
      expiresAt,
    });
    assert.deepEqual(await bans.banForAccount(accountId), {
      banId: account.id,
      reason: "timeout",
      expiresAt,
    });
    assert.equal(await bans.expireDue(), 0, "nothing is due yet");

    clock += 60_000;
    // Due but not yet swept: the mirror still holds the entries, with their expiry; readers skip them.
    assert.equal(await redis.hget(bans.keys.addresses, "100.64.0.0/10"), String(expiresAt.getTime()));
    assert.ok(!(await bans.snapshot()).addresses.includes("100.64.0.0/10"));
    assert.equal(await bans.isAccountBanned(accountId), false);
    assert.equal(await bans.banForAccount(accountId), null);

    const ids = new Set([range.id, account.id]);
    const { result, notices } = await noticesAfter(
      () => bans.expireDue(),
      (n) => n.op === "lift" && ids.has(n.banId ?? ""),
      2,
    );
    assert.equal(result, 2);
    assert.ok(notices.every((n) => n.listed === false));
    const rows = await db
      .selectFrom("bans")
      .selectAll()
      .where("id", "in", [...ids])
      .execute();
    for (const row of rows) {
      assert.equal(row.lifted_by, "expiry");
      assert.equal(row.lifted_at?.getTime(), clock);
    }
    assert.equal(await redis.hexists(bans.keys.addresses, "100.64.0.0/10"), 0);
    assert.equal(await redis.hexists(bans.keys.accounts, accountId), 0);
    assert.equal(await bans.expireDue(), 0, "a lifted ban is not lifted twice");
  });

  it("bans - the expiry timer sweeps due bans", async () => {
    const ban = await bans.ban({
      kind: "ip",
      target: "192.0.2.250",
      reason: "short",
      issuer: "erin",
      expiresAt: new Date(clock + 1_000),
    });
    clock += 1_000;
    await noticesAfter(
      async () => bans.startExpiryTimer(20),
      (n) => n.banId === ban.id && n.op === "lift",
    );
    bans.stop();
    assert.equal(await redis.hexists(bans.keys.addresses, "192.0.2.250/32"), 0);
    assert.throws(
      () => bans.startExpiryTimer(1),
      (e: unknown) => (e as LobbyError).code === LobbyErrorCode.InvalidOptions,
    );
  });

  it("bans - rebuildMirror restores a wiped mirror exactly", async () => {
    const accountId = await newAccount();
    await bans.ban({
      kind: "account",
      accountId,
      reason: "rebuild",
      issuer: "frank",
      expiresAt: new Date(clock + 86_400_000),
    });
    const addressesBefore = await redis.hgetall(bans.keys.addresses);
    const accountsBefore = await redis.hgetall(bans.keys.accounts);
    const snapshotBefore = await bans.snapshot();
    assert.ok(Object.keys(addressesBefore).length > 5);

    await redis.del(bans.keys.addresses, bans.keys.accounts);
    assert.deepEqual((await bans.snapshot()).addresses, []);

    const { result, notices } = await noticesAfter(
      () => bans.rebuildMirror(),
      (n) => n.op === "resync",
    );
    assert.ok(result.version > snapshotBefore.version);
    assert.equal(notices[0]?.version, result.version);
    assert.deepEqual(await redis.hgetall(bans.keys.addresses), addressesBefore);
    assert.deepEqual(await redis.hgetall(bans.keys.accounts), accountsBefore);
    const snapshotAfter = await bans.snapshot();
    assert.deepEqual([...snapshotAfter.addresses].sort(), [...snapshotBefore.addresses].sort());
    assert.deepEqual([...snapshotAfter.accounts].sort(), [...snapshotBefore.accounts].sort());
    assert.equal(result.addresses, snapshotAfter.addresses.length);
    const leftovers = await redis.keys(`${ctx.redis.prefix}bans:*:tmp:*`);
    assert.deepEqual(leftovers, []);
  });

  it("bans - the version strictly increases on every change and matches the notices", async () => {
    const seen: number[] = [await version()];
    const add = await banWithNotice({ kind: "ip", target: "198.18.0.1", reason: "v", issuer: "gus" });
    seen.push(add.notice.version);
    assert.equal(await version(), add.notice.version);
    const again = await banWithNotice({ kind: "cidr", target: "198.18.0.0/15", reason: "v", issuer: "gus" });
    seen.push(again.notice.version);
    const lift = await liftWithNotice(add.ban.id);
    seen.push(lift.notice.version);
    const rebuilt = await bans.rebuildMirror();
    seen.push(rebuilt.version);
    seen.push((await bans.snapshot()).version);
    for (let i = 1; i < seen.length - 1; i++) {
      assert.ok((seen[i] as number) > (seen[i - 1] as number), `version ${i}: ${seen.join(", ")}`);
    }
    assert.equal(seen[seen.length - 1], rebuilt.version, "a snapshot reports the current version");
  });

  it("bans - bad input gets typed errors and writes nothing", async () => {
    const before = await db
      .selectFrom("bans")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow();
    const versionBefore = await version();
    const base = { reason: "x", issuer: "y" };
    const bad: BanRequest[] = [
      { ...base, kind: "cidr", target: "10.0.0.0/33" },
      { ...base, kind: "cidr", target: "10.0.0/8" },
      { ...base, kind: "cidr", target: "2001:db8::/129" },
      { ...base, kind: "cidr", target: "10.0.0.0/" },
      { ...base, kind: "ip", target: "300.1.1.1" },
      { ...base, kind: "ip", target: "banana" },
      { ...base, kind: "ip", target: "fe80::1%eth0" },
      { ...base, kind: "ip", target: "" },
      { ...base, kind: "ip", target: "10.0.0.0/24" },
      { ...base, kind: "ip", target: "2001:db8::/64" },
      { ...base, kind: "ip" },
      { ...base, kind: "account" },
      { ...base, kind: "account", accountId: "abc" },
      { ...base, kind: "account", accountId: "999999999" },
      { ...base, kind: "account", accountId: "1", target: "10.0.0.1" },
      { ...base, kind: "ip", target: "10.0.0.1", accountId: "1" },
      { kind: "ip", target: "10.0.0.1", reason: "", issuer: "y" },
      { kind: "ip", target: "10.0.0.1", reason: "x", issuer: "   " },
      { kind: "ip", target: "10.0.0.1", reason: "x".repeat(501), issuer: "y" },
      { ...base, kind: "ip", target: "10.0.0.1", expiresAt: new Date(clock - 1) },
      { ...base, kind: "ip", target: "10.0.0.1", expiresAt: new Date(Number.NaN) },
      { ...base, kind: "everything" as "ip", target: "10.0.0.1" },
    ];
    for (const request of bad) {
      assert.equal(await codeOf(bans.ban(request)), LobbyErrorCode.InvalidBan, JSON.stringify(request));
    }
    assert.equal(await codeOf(bans.lift("424242", "z")), LobbyErrorCode.BanNotFound);
    assert.equal(await codeOf(bans.lift("not-an-id", "z")), LobbyErrorCode.BanNotFound);
    const some = await db.selectFrom("bans").select("id").executeTakeFirstOrThrow();
    assert.equal(await codeOf(bans.lift(some.id, "")), LobbyErrorCode.InvalidBan);
    const afterCount = await db
      .selectFrom("bans")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow();
    assert.equal(afterCount.n, before.n);
    assert.equal(await version(), versionBefore);
  });
});
