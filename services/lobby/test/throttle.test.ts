import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { AccountStore, type LoginOptions } from "../src/accounts/index.js";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { LobbyError, LobbyErrorCode } from "../src/errors.js";
import {
  CreationLimit,
  type CreationLimitOptions,
  DEFAULT_BASE_DELAY_MS,
  DEFAULT_FREE_ATTEMPTS,
  DEFAULT_IP_FREE_ATTEMPTS,
  DEFAULT_MAX_DELAY_MS,
  ipThrottleKey,
  LoginThrottle,
  type LoginThrottleOptions,
} from "../src/throttle/index.js";
import { CHEAP_ARGON2, CountingHasher, codeOf } from "./helpers/lobby-test-kit.js";

// Cheap argon2 parameters in this test only (see accounts.test.ts); the configuration refuses them.

let ctx: TestContext;
let db: Kysely<Database>;
let redis: Redis;
const hasher = new CountingHasher(CHEAP_ARGON2, { allowWeakParameters: true });
let store: AccountStore;
/** The injected clock: tests move it; nothing sleeps for the delays. */
let now = 1_700_000_000_000;
const clock = (): number => now;
let scopes = 0;

before(async () => {
  ctx = await createTestContext({ nats: false });
  db = createDatabase({ url: ctx.postgres.url, poolSize: 20 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
  redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  ctx.defer(() => redis.quit());
  store = new AccountStore(db, hasher);
});
after(() => ctx.cleanup());

/** A key prefix of its own for each test, under the run's prefix (which the test kit cleans up). */
function scope(): string {
  scopes++;
  return `${ctx.redis.prefix}t${scopes}:`;
}

function throttle(options: LoginThrottleOptions = {}, prefix = scope()): LoginThrottle {
  return new LoginThrottle(redis, prefix, { now: clock, ...options });
}

function limit(options: CreationLimitOptions = {}, prefix = scope()): CreationLimit {
  return new CreationLimit(redis, prefix, { now: clock, ...options });
}

async function retryAfterOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof LobbyError, `expected a LobbyError, got ${String(error)}`);
    assert.equal(error.code, LobbyErrorCode.Throttled);
    const retryAfterMs = error.context.retryAfterMs;
    assert.equal(typeof retryAfterMs, "number");
    return retryAfterMs as number;
  }
  assert.fail("expected LOBBY_THROTTLED");
}

async function account(name: string, password: string): Promise<void> {
  const result = await store.loginOrCreate(name, password, { autoCreate: true });
  assert.equal(result.created, true);
}

describe("throttle", () => {
  it("throttle - options are validated, defaults as documented", () => {
    assert.deepEqual(throttle().limits, {
      freeAttempts: DEFAULT_FREE_ATTEMPTS,
      ipFreeAttempts: DEFAULT_IP_FREE_ATTEMPTS,
      baseDelayMs: DEFAULT_BASE_DELAY_MS,
      maxDelayMs: DEFAULT_MAX_DELAY_MS,
      windowMs: 15 * 60_000,
    });
    assert.equal(DEFAULT_FREE_ATTEMPTS, 5);
    assert.equal(DEFAULT_IP_FREE_ATTEMPTS, 20);
    for (const bad of [
      { freeAttempts: 0 },
      { baseDelayMs: 1.5 },
      { windowMs: -1 },
      { baseDelayMs: 10, maxDelayMs: 5 },
    ]) {
      assert.throws(() => throttle(bad), { code: LobbyErrorCode.InvalidOptions });
    }
    assert.throws(() => limit({ maxPerWindow: 0 }), { code: LobbyErrorCode.InvalidOptions });
  });

  it("throttle - IPv4 counts per address, IPv6 per /64, mapped IPv4 as IPv4", () => {
    assert.equal(ipThrottleKey("203.0.113.7"), "v4:203.0.113.7");
    assert.equal(ipThrottleKey("::ffff:203.0.113.7"), "v4:203.0.113.7");
    assert.equal(ipThrottleKey("2001:db8:0:1::a"), "v6:2001:db8:0:1::/64");
    assert.equal(ipThrottleKey("2001:0DB8:0000:0001:ffff:1:2:3"), "v6:2001:db8:0:1::/64");
    assert.equal(ipThrottleKey("fe80::1%eth0"), "v6:fe80:0:0:0::/64");
    assert.equal(ipThrottleKey("64:ff9b::192.0.2.1"), "v6:64:ff9b:0:0::/64");
    for (const bad of ["", "not-an-ip", "300.1.1.1", "1::2::3"]) {
      assert.throws(() => ipThrottleKey(bad), { code: LobbyErrorCode.InvalidOptions });
    }
  });

  it("throttle - locks out after the free attempts, the delay doubling 1 s, 2 s, 4 s… up to the cap", async () => {
    await account("Locksmith", "right");
    const t = throttle({ maxDelayMs: 8_000 });
    const opts: LoginOptions = { autoCreate: true, ip: "198.51.100.1", throttle: t };
    for (let i = 0; i < DEFAULT_FREE_ATTEMPTS; i++) {
      assert.equal(
        await codeOf(store.loginOrCreate("locksmith", "wrong", opts)),
        LobbyErrorCode.BadCredentials,
      );
      assert.deepEqual(await t.check("locksmith", opts.ip), { allowed: true });
    }
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      // The next failure (the 6th, 7th…) is recorded, and locks.
      assert.equal(
        await codeOf(store.loginOrCreate("LOCKSMITH", "wrong", opts)),
        LobbyErrorCode.BadCredentials,
      );
      const delay = await retryAfterOf(store.loginOrCreate("locksmith", "wrong", opts));
      delays.push(delay);
      // Even the right password waits: the check comes before the password is looked at.
      assert.equal(await retryAfterOf(store.loginOrCreate("locksmith", "right", opts)), delay);
      now += delay / 4;
      assert.equal(await retryAfterOf(store.loginOrCreate("locksmith", "right", opts)), delay - delay / 4);
      now += delay - delay / 4;
    }
    assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    const state = await t.state("locksmith", opts.ip);
    assert.equal(state.account.failures, DEFAULT_FREE_ATTEMPTS + 6);
    assert.equal(state.ip?.failures, DEFAULT_FREE_ATTEMPTS + 6);
    // Lockout over: the owner gets in, and that clears the account's counter.
    assert.equal((await store.loginOrCreate("locksmith", "right", opts)).created, false);
    assert.equal((await t.state("locksmith")).account.failures, 0);
  });

  it("throttle - a success clears the account's counter, not the IP's", async () => {
    await account("Forgetful", "pw");
    const t = throttle();
    const ip = "198.51.100.2";
    const opts: LoginOptions = { autoCreate: false, ip, throttle: t };
    for (let i = 0; i < 4; i++) {
      assert.equal(
        await codeOf(store.loginOrCreate("forgetful", "nope", opts)),
        LobbyErrorCode.BadCredentials,
      );
    }
    await store.loginOrCreate("forgetful", "pw", opts);
    const state = await t.state("forgetful", ip);
    assert.equal(state.account.failures, 0);
    assert.equal(state.ip?.failures, 4);
    // Five free failures again before a lockout.
    for (let i = 0; i < DEFAULT_FREE_ATTEMPTS; i++) {
      assert.equal(
        await codeOf(store.loginOrCreate("forgetful", "nope", opts)),
        LobbyErrorCode.BadCredentials,
      );
    }
    assert.equal(await codeOf(store.loginOrCreate("forgetful", "pw", opts)), "resolved");
    for (let i = 0; i <= DEFAULT_FREE_ATTEMPTS; i++) {
      assert.equal(
        await codeOf(store.loginOrCreate("forgetful", "nope", opts)),
        LobbyErrorCode.BadCredentials,
      );
    }
    assert.equal(await retryAfterOf(store.loginOrCreate("forgetful", "pw", opts)), DEFAULT_BASE_DELAY_MS);
  });

  it("throttle - one IP (one IPv6 /64) guessing many accounts is throttled; unknown names count as failures", async () => {
    const t = throttle();
    const attacker = (i: number): string => `2001:db8:7:7::${(i + 1).toString(16)}`;
    // Unknown names with auto-create off: the same reply as a wrong password, and counted the same.
    for (let i = 0; i <= DEFAULT_IP_FREE_ATTEMPTS; i++) {
      const opts: LoginOptions = { autoCreate: false, ip: attacker(i), throttle: t };
      assert.equal(
        await codeOf(store.loginOrCreate(`victim${i}`, "guess", opts)),
        LobbyErrorCode.BadCredentials,
      );
    }
    const state = await t.state("victim0", attacker(0));
    assert.equal(state.account.failures, 1, "each name failed once: far from its own limit");
    assert.equal(state.ip?.failures, DEFAULT_IP_FREE_ATTEMPTS + 1);
    // A fresh name from the same /64 is refused before any work…
    const before = hasher.calls;
    const opts: LoginOptions = { autoCreate: false, ip: "2001:db8:7:7:ffff::9", throttle: t };
    assert.equal(await retryAfterOf(store.loginOrCreate("victim999", "guess", opts)), DEFAULT_BASE_DELAY_MS);
    assert.equal(hasher.calls, before);
    // …while another /64 and another IPv4 address are not throttled.
    for (const ip of ["2001:db8:7:8::1", "192.0.2.10"]) {
      assert.equal(
        await codeOf(store.loginOrCreate("victim999", "guess", { autoCreate: false, ip, throttle: t })),
        LobbyErrorCode.BadCredentials,
      );
    }
  });

  it("throttle - counters expire after the window (injected clock and Redis TTL)", async () => {
    const prefix = scope();
    const t = throttle({ freeAttempts: 2, windowMs: 2_000 }, prefix);
    const ip = "198.51.100.3";
    for (let i = 0; i < 3; i++) await t.recordFailure("expiring", ip);
    assert.deepEqual(await t.check("expiring", ip), { allowed: false, retryAfterMs: 1_000 });
    // The key lives for the lockout plus the window, in ms: memory is bounded.
    const ttl = await redis.pttl(`${prefix}throttle:acct:expiring`);
    assert.ok(ttl > 2_000 && ttl <= 3_000, `pttl ${ttl}`);
    now += 2_999;
    assert.equal((await t.state("expiring", ip)).account.failures, 3, "remembered until the window ends");
    now += 1;
    const state = await t.state("expiring", ip);
    assert.equal(state.account.failures, 0);
    assert.equal(state.ip?.failures, 0);
    assert.equal((await t.recordFailure("expiring", ip)).account.failures, 1, "a new window starts at 1");

    // With the real clock and a short window, Redis itself drops the keys.
    const realPrefix = scope();
    const real = new LoginThrottle(redis, realPrefix, { windowMs: 50 });
    await real.recordFailure("shortlived", "198.51.100.4");
    const deadline = Date.now() + 5_000;
    while (
      (await redis.exists(
        `${realPrefix}throttle:acct:shortlived`,
        `${realPrefix}throttle:ip:v4:198.51.100.4`,
      )) > 0
    ) {
      assert.ok(Date.now() < deadline, "Redis expired the keys");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  it("throttle - 50 concurrent wrong passwords count exactly 50", async () => {
    await account("Crowded", "pw");
    const t = throttle({ freeAttempts: 1_000, ipFreeAttempts: 1_000 });
    const ip = "198.51.100.5";
    const codes = await Promise.all(
      Array.from({ length: 50 }, () =>
        codeOf(store.loginOrCreate("crowded", "wrong", { autoCreate: true, ip, throttle: t })),
      ),
    );
    assert.deepEqual(new Set(codes), new Set([LobbyErrorCode.BadCredentials]));
    const state = await t.state("crowded", ip);
    assert.equal(state.account.failures, 50);
    assert.equal(state.ip?.failures, 50);
    // And straight at the throttle: 200 concurrent failures get 200 distinct counts.
    const records = await Promise.all(Array.from({ length: 200 }, () => t.recordFailure("direct", ip)));
    assert.deepEqual(
      records.map((r) => r.account.failures).sort((a, b) => a - b),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    assert.equal((await t.state("direct", ip)).ip?.failures, 250);
  });

  it("throttle - a throttled login does no hashing and no counting", async () => {
    await account("Hashless", "pw");
    const t = throttle({ freeAttempts: 1 });
    const opts: LoginOptions = { autoCreate: true, ip: "198.51.100.6", throttle: t };
    for (let i = 0; i < 2; i++) {
      assert.equal(
        await codeOf(store.loginOrCreate("hashless", "wrong", opts)),
        LobbyErrorCode.BadCredentials,
      );
    }
    hasher.calls = 0;
    for (const password of ["wrong", "pw"]) {
      assert.equal(await codeOf(store.loginOrCreate("hashless", password, opts)), LobbyErrorCode.Throttled);
    }
    assert.equal(hasher.calls, 0, "no argon2 call for a throttled caller");
    assert.equal((await t.state("hashless")).account.failures, 2, "refusals are not failures");
  });
});

describe("creation limit", () => {
  it("creation limit - the (N+1)th new account from one IP is refused; other IPs and existing accounts are fine", async () => {
    const cap = limit({ maxPerWindow: 3, windowMs: 60 * 60_000 });
    const ipA = "203.0.113.20";
    const start = now;
    for (let i = 0; i < 3; i++) {
      const result = await store.loginOrCreate(`maker${i}`, "pw", {
        autoCreate: true,
        ip: ipA,
        creationLimit: cap,
      });
      assert.equal(result.created, true);
    }
    now += 10 * 60_000;
    hasher.calls = 0;
    try {
      await store.loginOrCreate("maker3", "pw", { autoCreate: true, ip: ipA, creationLimit: cap });
      assert.fail("expected LOBBY_CREATION_LIMITED");
    } catch (error) {
      assert.ok(error instanceof LobbyError);
      assert.equal(error.code, LobbyErrorCode.CreationLimited);
      assert.equal(error.context.retryAfterMs, 60 * 60_000 - (now - start));
    }
    assert.equal(hasher.calls, 0, "refused before hashing the new password");
    // Another IP may create it; logins to existing accounts from the limited IP still work.
    const other = await store.loginOrCreate("maker3", "pw", {
      autoCreate: true,
      ip: "203.0.113.21",
      creationLimit: cap,
    });
    assert.equal(other.created, true);
    for (const name of ["maker0", "maker3"]) {
      const again = await store.loginOrCreate(name, "pw", { autoCreate: true, ip: ipA, creationLimit: cap });
      assert.equal(again.created, false);
    }
    // A wrong password for an existing account is bad credentials, not a creation.
    assert.equal(
      await codeOf(store.loginOrCreate("maker1", "bad", { autoCreate: true, ip: ipA, creationLimit: cap })),
      LobbyErrorCode.BadCredentials,
    );
    // The window ends: the IP may create again.
    now = start + 60 * 60_000;
    const later = await store.loginOrCreate("maker4", "pw", {
      autoCreate: true,
      ip: ipA,
      creationLimit: cap,
    });
    assert.equal(later.created, true);
  });

  it("creation limit - racing first logins of one name from one IP use one slot", async () => {
    const cap = limit({ maxPerWindow: 2 });
    const ip = "203.0.113.30";
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        store.loginOrCreate("Racer2", "pw", { autoCreate: true, ip, creationLimit: cap }),
      ),
    );
    const created = results.filter((r) => r.status === "fulfilled" && r.value.created);
    assert.equal(created.length, 1);
    for (const r of results) {
      if (r.status === "rejected") assert.equal(r.reason.code, LobbyErrorCode.CreationLimited);
    }
    // Losers gave their slots back: exactly one more creation fits.
    assert.equal(
      (await store.loginOrCreate("racer2b", "pw", { autoCreate: true, ip, creationLimit: cap })).created,
      true,
    );
    assert.equal(
      await codeOf(store.loginOrCreate("racer2c", "pw", { autoCreate: true, ip, creationLimit: cap })),
      LobbyErrorCode.CreationLimited,
    );
  });

  it("creation limit - 20 concurrent creations from one IP create exactly the limit", async () => {
    const cap = limit({ maxPerWindow: 5 });
    const ip = "203.0.113.40";
    const codes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        codeOf(store.loginOrCreate(`burst${i}`, "pw", { autoCreate: true, ip, creationLimit: cap })),
      ),
    );
    assert.equal(codes.filter((c) => c === "resolved").length, 5);
    assert.equal(codes.filter((c) => c === LobbyErrorCode.CreationLimited).length, 15);
  });

  it("creation limit - with the throttle too, a refused creation is not a failed login", async () => {
    const t = throttle();
    const cap = limit({ maxPerWindow: 1 });
    const ip = "203.0.113.50";
    const opts: LoginOptions = { autoCreate: true, ip, throttle: t, creationLimit: cap };
    assert.equal((await store.loginOrCreate("combo1", "pw", opts)).created, true);
    assert.equal(await codeOf(store.loginOrCreate("combo2", "pw", opts)), LobbyErrorCode.CreationLimited);
    const state = await t.state("combo2", ip);
    assert.equal(state.account.failures, 0);
    assert.equal(state.ip?.failures, 0);
  });
});
