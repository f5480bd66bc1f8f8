import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestContext, type TestContext } from "@meridian/testkit";
import type { Kysely } from "kysely";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { LobbyError, LobbyErrorCode } from "../src/errors.js";
import {
  encodeCursor,
  type ServerAdvertisement,
  type ServerEntry,
  ServerRegistry,
} from "../src/registry/index.js";
import { generateToken, hashToken } from "../src/sessions/session-tokens.js";

let ctx: TestContext;
let db: Kysely<Database>;
let registry: ServerRegistry;
/** The registry's clock; tests move it forward. */
let clock = Date.now();
const TIMEOUT = 15_000;

before(async () => {
  ctx = await createTestContext({ redis: false, nats: false });
  db = createDatabase({ url: ctx.postgres.url, poolSize: 5 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
  registry = new ServerRegistry(db, { now: () => clock });
});
after(() => ctx.cleanup());

async function failure(promise: Promise<unknown>): Promise<{ code: string; field?: unknown }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof LobbyError, `expected a LobbyError, got ${String(error)}`);
    return { code: error.code, field: error.context.field };
  }
  return { code: "resolved" };
}

function ad(overrides: Partial<ServerAdvertisement> = {}): ServerAdvertisement {
  return {
    address: "203.0.113.10",
    port: 7777,
    capacity: 100,
    players: 10,
    version: "1.4.2",
    tags: [],
    ...overrides,
  };
}

async function listed(world: string): Promise<string[]> {
  return (await registry.list({ world, limit: 200 })).servers.map((s) => s.id);
}

async function advertised(world: string, overrides: Partial<ServerAdvertisement> = {}, name = "server") {
  const issued = await registry.issueCredential({ name, world });
  const entry = await registry.advertise(issued.credential, ad(overrides));
  return { ...issued, entry };
}

describe("registry", () => {
  it("registry - issue, advertise, listed; the credential is stored only hashed", async () => {
    const issued = await registry.issueCredential({ name: "  Emerald Shore  ", world: "emerald" });
    assert.match(issued.credential, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(await listed("emerald"), [], "unlisted before its first advertisement");

    const row = await db
      .selectFrom("servers")
      .selectAll()
      .where("id", "=", issued.serverId)
      .executeTakeFirstOrThrow();
    assert.equal(row.credential_hash, hashToken(issued.credential));
    assert.ok(!JSON.stringify(row).includes(issued.credential), "no column holds the credential");
    assert.equal(row.name, "Emerald Shore");
    assert.equal(row.last_heartbeat_at, null);
    assert.equal(
      await failure(registry.heartbeat(issued.credential, { players: 1 })).then((f) => f.code),
      LobbyErrorCode.ServerNotAdvertised,
    );

    const entry = await registry.advertise(
      issued.credential,
      ad({ address: "Play.Example.COM", tags: ["pvp", "eu", "pvp"] }),
    );
    const expected: ServerEntry = {
      id: issued.serverId,
      name: "Emerald Shore",
      world: "emerald",
      address: "play.example.com",
      port: 7777,
      capacity: 100,
      players: 10,
      version: "1.4.2",
      tags: ["pvp", "eu"],
      lastHeartbeatAt: new Date(clock),
    };
    assert.deepEqual({ ...entry }, expected);
    const page = await registry.list({ world: "emerald" });
    assert.deepEqual(
      page.servers.map((s) => ({ ...s })),
      [expected],
    );
    assert.equal(page.nextCursor, null);
  });

  it("registry - heartbeats keep a server listed; silence drops it; a later heartbeat brings it back", async () => {
    const { credential, serverId } = await advertised("heartbeat");
    assert.equal(registry.heartbeatTimeoutMs, TIMEOUT);
    for (let i = 0; i < 4; i++) {
      clock += 5_000;
      const entry = await registry.heartbeat(credential, { players: 20 + i });
      assert.equal(entry.players, 20 + i);
    }
    clock += TIMEOUT - 1;
    assert.deepEqual(
      await listed("heartbeat"),
      [serverId],
      "20 s after advertising, 14.999 s after a heartbeat",
    );
    clock += 1;
    assert.deepEqual(await listed("heartbeat"), [], "a full timeout without a heartbeat");
    clock += 60_000;
    assert.deepEqual(await listed("heartbeat"), []);
    const back = await registry.heartbeat(credential, { players: 5 });
    assert.equal(back.players, 5);
    assert.deepEqual(await listed("heartbeat"), [serverId]);
    assert.deepEqual(
      await failure(registry.heartbeat(credential, { players: 101 })),
      { code: LobbyErrorCode.InvalidServer, field: "players" },
      "more players than the advertised capacity",
    );
  });

  it("registry - revoke removes a server at once; it can never advertise or heartbeat again", async () => {
    const { credential, serverId } = await advertised("revoke");
    assert.deepEqual(await listed("revoke"), [serverId]);
    const revocation = await registry.revoke(serverId, "compromised host");
    assert.deepEqual(await listed("revoke"), []);
    assert.equal(revocation.reason, "compromised host");
    assert.equal(revocation.revokedAt.getTime(), clock);
    assert.equal((await failure(registry.advertise(credential, ad()))).code, LobbyErrorCode.ServerRevoked);
    assert.equal(
      (await failure(registry.heartbeat(credential, { players: 1 }))).code,
      LobbyErrorCode.ServerRevoked,
    );
    clock += 1_000;
    const again = await registry.revoke(serverId, "second time");
    assert.deepEqual(again, revocation, "a second revocation changes nothing");
    assert.deepEqual(await listed("revoke"), []);

    assert.equal((await failure(registry.revoke("987654321", "x"))).code, LobbyErrorCode.ServerUnknown);
    assert.equal((await failure(registry.revoke("abc", "x"))).code, LobbyErrorCode.ServerUnknown);
    assert.equal(
      (await failure(registry.revoke("99999999999999999999", "x"))).code,
      LobbyErrorCode.ServerUnknown,
    );
    assert.deepEqual(await failure(registry.revoke(serverId, " ")), {
      code: LobbyErrorCode.InvalidServer,
      field: "reason",
    });
    for (const unknown of [generateToken(), "not-a-credential", "", `${generateToken()}x`]) {
      assert.equal((await failure(registry.advertise(unknown, ad()))).code, LobbyErrorCode.ServerUnknown);
      assert.equal(
        (await failure(registry.heartbeat(unknown, { players: 0 }))).code,
        LobbyErrorCode.ServerUnknown,
      );
    }
  });

  it("registry - filters by world, tag, room and version prefix, combined with AND", async () => {
    const a = await advertised("filter-a", {
      tags: ["pvp", "eu"],
      players: 10,
      capacity: 10,
      version: "2.0.1",
    });
    const b = await advertised("filter-a", { tags: ["pve"], players: 5, capacity: 10, version: "2.1.0" });
    const c = await advertised("filter-a", { tags: ["pvp"], players: 3, capacity: 10, version: "1.9.9" });
    const d = await advertised("filter-b", { tags: ["pvp"], players: 1, capacity: 10, version: "2.0.0" });
    const ids = async (query: Parameters<ServerRegistry["list"]>[0]) =>
      (await registry.list(query)).servers
        .map((s) => s.id)
        .filter((id) => [a, b, c, d].some((x) => x.serverId === id));
    assert.deepEqual(await ids({ world: "filter-a" }), [a.serverId, b.serverId, c.serverId]);
    assert.deepEqual(await ids({ world: "filter-b" }), [d.serverId]);
    assert.deepEqual(await ids({ tag: "pvp" }), [a.serverId, c.serverId, d.serverId]);
    assert.deepEqual(await ids({ hasRoom: true, world: "filter-a" }), [b.serverId, c.serverId]);
    assert.deepEqual(await ids({ hasRoom: false, world: "filter-a" }), [a.serverId, b.serverId, c.serverId]);
    assert.deepEqual(await ids({ versionPrefix: "2.0" }), [a.serverId, d.serverId]);
    assert.deepEqual(await ids({ versionPrefix: "2.%" }), [], "the prefix is literal, not a LIKE pattern");
    assert.deepEqual(await ids({ world: "filter-a", tag: "pvp", hasRoom: true }), [c.serverId]);
    assert.deepEqual(await ids({ world: "filter-a", tag: "pvp", versionPrefix: "2." }), [a.serverId]);
    assert.deepEqual(await ids({ world: "filter-b", tag: "pve" }), []);
  });

  it("registry - paging 120 servers by 50 returns each exactly once, in order", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 120; i++) {
      const { serverId } = await advertised("paging", { players: i % 7, capacity: 10 }, `paging ${i}`);
      ids.add(serverId);
    }
    const seen: ServerEntry[] = [];
    const sizes: number[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await registry.list({
        world: "paging",
        limit: 50,
        ...(cursor === undefined ? {} : { cursor }),
      });
      sizes.push(page.servers.length);
      seen.push(...page.servers);
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    assert.deepEqual(sizes, [50, 50, 20]);
    assert.equal(new Set(seen.map((s) => s.id)).size, 120);
    assert.deepEqual(new Set(seen.map((s) => s.id)), ids);
    const sorted = [...seen].sort((x, y) => y.players - x.players || Number(BigInt(x.id) - BigInt(y.id)));
    assert.deepEqual(
      seen.map((s) => s.id),
      sorted.map((s) => s.id),
      "players descending, then id ascending",
    );
    const whole = await registry.list({ world: "paging", limit: 200 });
    assert.deepEqual(
      whole.servers.map((s) => s.id),
      seen.map((s) => s.id),
    );
    assert.equal(whole.nextCursor, null);
    assert.equal((await registry.list({ world: "paging" })).servers.length, 50, "the default limit");
  });

  it("registry - a tampered or malformed cursor is LOBBY_INVALID_CURSOR", async () => {
    const page = await registry.list({ world: "paging", limit: 10 });
    const cursor = page.nextCursor;
    assert.ok(cursor !== null);
    const flipped = `${cursor.slice(0, 3)}${cursor[3] === "A" ? "B" : "A"}${cursor.slice(4)}`;
    const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64url");
    const bad = [
      flipped,
      `${cursor}A`,
      `${cursor}=`,
      "",
      "!!!!",
      "a".repeat(500),
      b64("[1,2,3]"),
      b64('{"players":1,"id":"1"}'),
      b64('[-1,"1"]'),
      b64('[1.5,"1"]'),
      b64('[100001,"1"]'),
      b64('[1,"01"]'),
      b64("[1,1]"),
      b64('[1,"99999999999999999999"]'),
      b64('[1, "5"]'),
      b64("not json"),
    ];
    for (const tampered of bad) {
      assert.equal(
        (await failure(registry.list({ world: "paging", cursor: tampered }))).code,
        LobbyErrorCode.InvalidCursor,
        tampered,
      );
    }
    // A well-formed cursor is only a position: it pages from there.
    const fromStart = await registry.list({
      world: "paging",
      limit: 1,
      cursor: encodeCursor({ players: 100_000, id: "1" }),
    });
    assert.equal(fromStart.servers[0]?.id, page.servers[0]?.id);
  });

  it("registry - every bad field is LOBBY_INVALID_SERVER naming the field", async () => {
    const { credential } = await registry.issueCredential({ name: "validation", world: "validation" });
    const bad: [Partial<ServerAdvertisement>, string][] = [
      [{ address: "" }, "address"],
      [{ address: "300.1.1.1" }, "address"],
      [{ address: "fe80::1%eth0" }, "address"],
      [{ address: "bad_host.example" }, "address"],
      [{ address: "-bad.example" }, "address"],
      [{ address: `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(62)}.e` }, "address"],
      [{ address: "a".repeat(64) }, "address"],
      [{ address: 42 as unknown as string }, "address"],
      [{ port: 0 }, "port"],
      [{ port: 65_536 }, "port"],
      [{ port: 80.5 }, "port"],
      [{ port: "80" as unknown as number }, "port"],
      [{ capacity: -1 }, "capacity"],
      [{ capacity: 100_001 }, "capacity"],
      [{ players: -1 }, "players"],
      [{ players: 101 }, "players"],
      [{ players: Number.NaN }, "players"],
      [{ version: "" }, "version"],
      [{ version: "v".repeat(33) }, "version"],
      [{ version: "1.0 beta" }, "version"],
      [{ tags: Array.from({ length: 17 }, (_, i) => `t${i}`) }, "tags"],
      [{ tags: ["PVP"] }, "tags"],
      [{ tags: ["t".repeat(33)] }, "tags"],
      [{ tags: [""] }, "tags"],
      [{ tags: ["a b"] }, "tags"],
      [{ tags: "pvp" as unknown as string[] }, "tags"],
    ];
    for (const [overrides, field] of bad) {
      assert.deepEqual(
        await failure(registry.advertise(credential, ad(overrides))),
        { code: LobbyErrorCode.InvalidServer, field },
        JSON.stringify(overrides),
      );
    }
    const row = await db
      .selectFrom("servers")
      .select(["address", "last_heartbeat_at"])
      .where("credential_hash", "=", hashToken(credential))
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { address: null, last_heartbeat_at: null }, "nothing was recorded");

    // The edges that are allowed.
    const ok = await registry.advertise(
      credential,
      ad({
        address: `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`,
        port: 65_535,
        capacity: 100_000,
        players: 100_000,
        version: "v".repeat(32),
        tags: Array.from({ length: 16 }, (_, i) => `tag_${i}-x`),
      }),
    );
    assert.equal(ok.address.length, 253);
    assert.equal(
      (await registry.advertise(credential, ad({ address: "2001:db8::1", port: 1, capacity: 0, players: 0 })))
        .address,
      "2001:db8::1",
    );

    for (const [registration, field] of [
      [{ name: "", world: "w" }, "name"],
      [{ name: "n".repeat(65), world: "w" }, "name"],
      [{ name: "bad\u0007name", world: "w" }, "name"],
      [{ name: "ok", world: "" }, "world"],
      [{ name: "ok", world: "World" }, "world"],
      [{ name: "ok", world: "w".repeat(33) }, "world"],
    ] as const) {
      assert.deepEqual(await failure(registry.issueCredential(registration)), {
        code: LobbyErrorCode.InvalidServer,
        field,
      });
    }
    for (const [query, field] of [
      [{ limit: 0 }, "limit"],
      [{ limit: 201 }, "limit"],
      [{ limit: 1.5 }, "limit"],
      [{ world: "Bad World" }, "world"],
      [{ tag: "" }, "tag"],
      [{ versionPrefix: "" }, "versionPrefix"],
      [{ versionPrefix: "x".repeat(33) }, "versionPrefix"],
      [{ hasRoom: "yes" as unknown as boolean }, "hasRoom"],
    ] as const) {
      assert.deepEqual(await failure(registry.list(query)), { code: LobbyErrorCode.InvalidServer, field });
    }
    assert.deepEqual(await failure(registry.heartbeat(credential, { players: -1 })), {
      code: LobbyErrorCode.InvalidServer,
      field: "players",
    });
  });

  it("registry - pruneStale clears long-silent advertisements; the server must advertise again", async () => {
    const silent = await advertised("prune");
    const revoked = await advertised("prune");
    await registry.revoke(revoked.serverId, "gone");
    clock += 5_000;
    const alive = await advertised("prune");
    clock += TIMEOUT * 10 - 5_000;
    assert.ok((await registry.pruneStale()) >= 1);
    const rows = await db
      .selectFrom("servers")
      .select(["id", "address", "last_heartbeat_at", "revoked_at"])
      .where("world", "=", "prune")
      .orderBy("id")
      .execute();
    assert.deepEqual(
      rows.map((r) => [r.id, r.address, r.last_heartbeat_at === null]),
      [
        [silent.serverId, null, true],
        [revoked.serverId, "203.0.113.10", false],
        [alive.serverId, "203.0.113.10", false],
      ],
      "only the unrevoked server silent for 10 × the timeout is cleared",
    );
    assert.equal(
      (await failure(registry.heartbeat(silent.credential, { players: 1 }))).code,
      LobbyErrorCode.ServerNotAdvertised,
    );
    assert.equal(
      (await failure(registry.advertise(revoked.credential, ad()))).code,
      LobbyErrorCode.ServerRevoked,
    );
    await registry.advertise(silent.credential, ad());
    assert.deepEqual(await listed("prune"), [silent.serverId]);
  });

  it("registry - options are validated", () => {
    for (const options of [
      { heartbeatTimeoutMs: 0 },
      { heartbeatTimeoutMs: 1.5 },
      { heartbeatTimeoutMs: 1_000, pruneAfterMs: 999 },
      { now: 5 as unknown as () => number },
    ]) {
      assert.throws(
        () => new ServerRegistry(db, options),
        (e: unknown) => e instanceof LobbyError && e.code === LobbyErrorCode.InvalidOptions,
      );
    }
    assert.equal(new ServerRegistry(db, { heartbeatTimeoutMs: 3_000 }).heartbeatTimeoutMs, 3_000);
  });
});
