import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseIp } from "@meridian/netengine";
import { BAN_CHANGED_TOPIC, type BanChangedNotice, banKeys, createSubjects } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { BanMirror } from "../src/ban-mirror.js";
import { eventually, sleep } from "./helpers/cluster.js";

let ctx: TestContext;
let redis: Redis;
let nc: NatsConnection;

before(async () => {
  ctx = await createTestContext({ postgres: false });
  redis = new Redis(ctx.redis.url);
  nc = await connect({ servers: ctx.nats.url });
  ctx.defer(async () => {
    await nc.close();
    redis.disconnect();
  });
});
after(() => ctx.cleanup());

/**
 * Writes the mirror the way the lobby's BanService does: the hash entry and the version in one
 * MULTI, then the JSON notice on `evt.ban.changed`.
 */
class LobbyBanWriter {
  readonly keys;
  readonly subject;
  constructor(prefix: string, subjectPrefix: string) {
    this.keys = banKeys(prefix);
    this.subject = createSubjects({ prefix: subjectPrefix }).event(BAN_CHANGED_TOPIC);
  }
  async set(target: string, expiry: number | undefined, kind: "ip" | "cidr" = "cidr", publish = true) {
    const multi = redis.multi();
    if (expiry === undefined) multi.hdel(this.keys.addresses, target);
    else multi.hset(this.keys.addresses, target, String(expiry));
    multi.incr(this.keys.version);
    const out = (await multi.exec()) ?? [];
    const notice: BanChangedNotice = {
      version: Number(out[1]?.[1]),
      op: expiry === undefined ? "lift" : "add",
      banId: "1",
      kind,
      target,
      expiresAt: expiry === undefined || expiry === 0 ? null : expiry,
      listed: expiry !== undefined,
    };
    if (publish) nc.publish(this.subject, JSON.stringify(notice));
    return notice;
  }
}

async function mirrorFor(prefix: string, subjectPrefix: string, resyncMs = 60_000) {
  const mirror = new BanMirror(
    { redis, nc, subjects: createSubjects({ prefix: subjectPrefix }), logger: pino({ level: "silent" }) },
    { redisPrefix: prefix, resyncMs },
  );
  ctx.defer(() => mirror.stop());
  await mirror.start();
  return mirror;
}

const covers = (mirror: BanMirror, ip: string) => mirror.has(parseIp(ip));

describe("ban mirror", () => {
  it("ban mirror - loads the Redis hash at start, dropping expired entries", async () => {
    const prefix = `${ctx.redis.prefix}load:`;
    const keys = banKeys(prefix);
    await redis.hset(
      keys.addresses,
      "10.1.0.0/16",
      "0",
      "192.0.2.7/32",
      String(Date.now() - 1000),
      "2001:db8::/32",
      "0",
    );
    await redis.set(keys.version, "7");
    const mirror = await mirrorFor(prefix, `${ctx.nats.prefix}.load`);
    assert.equal(mirror.size, 2);
    assert.equal(mirror.version, 7);
    assert.ok(covers(mirror, "10.1.200.3"));
    assert.ok(covers(mirror, "::ffff:10.1.0.1"));
    assert.ok(covers(mirror, "2001:db8::42"));
    assert.ok(!covers(mirror, "192.0.2.7"));
    assert.ok(!covers(mirror, "10.2.0.1"));
  });

  it("ban mirror - applies add and lift notices within 1 s and reports listed entries", async () => {
    const prefix = `${ctx.redis.prefix}notice:`;
    const subjectPrefix = `${ctx.nats.prefix}.notice`;
    const mirror = await mirrorFor(prefix, subjectPrefix);
    const listed: string[] = [];
    mirror.onListed((entry) => listed.push(entry));
    const lobby = new LobbyBanWriter(prefix, subjectPrefix);
    const started = Date.now();
    await lobby.set("198.51.100.9/32", 0, "ip");
    await eventually(() => (covers(mirror, "198.51.100.9") ? true : undefined), 1_000);
    assert.ok(Date.now() - started < 1_000);
    assert.deepEqual(listed, ["198.51.100.9/32"]);
    await lobby.set("198.51.100.0/24", 0, "cidr");
    await eventually(() => (covers(mirror, "198.51.100.200") ? true : undefined), 1_000);
    await lobby.set("198.51.100.0/24", undefined, "cidr");
    await eventually(() => (covers(mirror, "198.51.100.200") ? undefined : true), 1_000);
    assert.ok(covers(mirror, "198.51.100.9"), "the /32 is still listed");
    assert.equal(mirror.reloads, 1, "consecutive versions need no reload");
  });

  it("ban mirror - a version gap reloads the snapshot", async () => {
    const prefix = `${ctx.redis.prefix}gap:`;
    const subjectPrefix = `${ctx.nats.prefix}.gap`;
    const mirror = await mirrorFor(prefix, subjectPrefix);
    const lobby = new LobbyBanWriter(prefix, subjectPrefix);
    await lobby.set("203.0.113.1/32", 0, "ip", false); // notice lost
    await lobby.set("203.0.113.2/32", 0, "ip");
    await eventually(
      () => (covers(mirror, "203.0.113.1") && covers(mirror, "203.0.113.2") ? true : undefined),
      1_000,
    );
    assert.ok(mirror.reloads >= 2);
  });

  it("ban mirror - a resync notice reloads, and so does the periodic resync", async () => {
    const prefix = `${ctx.redis.prefix}resync:`;
    const subjectPrefix = `${ctx.nats.prefix}.resync`;
    const keys = banKeys(prefix);
    const mirror = await mirrorFor(prefix, subjectPrefix, 1_000);
    await redis.multi().hset(keys.addresses, "100.64.0.0/10", "0").incr(keys.version).exec();
    const subject = createSubjects({ prefix: subjectPrefix }).event(BAN_CHANGED_TOPIC);
    nc.publish(subject, JSON.stringify({ version: 1, op: "resync" }));
    await eventually(() => (covers(mirror, "100.64.1.1") ? true : undefined), 1_000);
    // Written without any notice: the periodic resync finds it.
    await redis.multi().hset(keys.addresses, "172.16.0.0/12", "0").incr(keys.version).exec();
    await eventually(() => (covers(mirror, "172.16.5.5") ? true : undefined), 2_500);
  });

  it("ban mirror - timed entries leave at their expiry without Redis", async () => {
    const prefix = `${ctx.redis.prefix}expiry:`;
    const subjectPrefix = `${ctx.nats.prefix}.expiry`;
    const mirror = await mirrorFor(prefix, subjectPrefix);
    const lobby = new LobbyBanWriter(prefix, subjectPrefix);
    await lobby.set("192.0.2.0/24", Date.now() + 400, "cidr");
    await lobby.set("192.0.2.77/32", Date.now() + 60_000, "ip");
    await eventually(() => (covers(mirror, "192.0.2.1") ? true : undefined), 1_000);
    await sleep(600);
    assert.ok(!covers(mirror, "192.0.2.1"), "the /24 expired");
    assert.ok(covers(mirror, "192.0.2.77"), "the /32 has not");
  });

  it("ban mirror - loads 100,000 entries and answers lookups from memory", async () => {
    const prefix = `${ctx.redis.prefix}big:`;
    const keys = banKeys(prefix);
    const args: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      args.push(
        `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`,
        i % 2 === 0 ? "0" : String(Date.now() + 3_600_000),
      );
      if (args.length >= 20_000) {
        await redis.hset(keys.addresses, ...args);
        args.length = 0;
      }
    }
    if (args.length > 0) await redis.hset(keys.addresses, ...args);
    const mirror = await mirrorFor(prefix, `${ctx.nats.prefix}.big`);
    assert.equal(mirror.size, 100_000);
    assert.ok(covers(mirror, "10.1.134.159"));
    assert.ok(!covers(mirror, "10.2.0.0"));
  });
});
