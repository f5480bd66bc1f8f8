/**
 * Persisted player state: the store on the real Postgres (fencing by epoch, batches, unknown accounts,
 * worlds) and the two verbs over a real NATS to a real Lobby (credentials, worlds, malformed requests).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  createSubjects,
  type LobbyErrorReply,
  type LobbyReplyOf,
  type LobbyVerb,
  LobbyVerbs,
  lobbyReplyCodec,
  lobbyRequestCodec,
  lobbySubject,
  type Subjects,
} from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import type { Kysely } from "kysely";
import { PasswordHasher } from "../src/accounts/index.js";
import { createDatabase, type Database, migrateToLatest } from "../src/db/index.js";
import { Lobby } from "../src/lobby.js";
import { MemoryMailer } from "../src/mail/index.js";
import { type PersistedSnapshot, PlayerStateStore } from "../src/world-state/index.js";
import { CHEAP_ARGON2, insertAccount } from "./helpers/lobby-test-kit.js";

const ADMIN = "player-state-admin-token-0123456789abcdef";

let ctx: TestContext;
let db: Kysely<Database>;
let redis: Redis;
let lobbyNc: NatsConnection;
let nc: NatsConnection;
let subjects: Subjects;
let lobby: Lobby;
let store: PlayerStateStore;

before(async () => {
  ctx = await createTestContext();
  db = createDatabase({ url: ctx.postgres.url, poolSize: 8 });
  ctx.defer(() => db.destroy());
  await migrateToLatest(db);
  redis = new Redis(ctx.redis.url, { maxRetriesPerRequest: 1 });
  ctx.defer(() => redis.quit());
  lobbyNc = await connect({ servers: ctx.nats.url, name: "player-state-test-lobby" });
  ctx.defer(() => lobbyNc.close());
  nc = await connect({ servers: ctx.nats.url, name: "player-state-test-zone" });
  ctx.defer(() => nc.close());
  subjects = createSubjects({ prefix: ctx.nats.prefix });
  lobby = new Lobby(
    {
      db,
      redis,
      nc: lobbyNc,
      subjects,
      redisPrefix: ctx.redis.prefix,
      hasher: new PasswordHasher(CHEAP_ARGON2, { allowWeakParameters: true }),
      mailer: new MemoryMailer(),
    },
    { autoCreateAccounts: true, requireTls: false, adminToken: ADMIN },
  );
  await lobby.start();
  ctx.defer(() => lobby.stop());
  store = new PlayerStateStore(db);
});
after(() => ctx.cleanup());

const snap = (x: number, state: unknown = { hp: x }): PersistedSnapshot => ({
  username: "Walker",
  x,
  y: x + 1,
  lastSeq: x,
  state,
});

type Reply<V extends LobbyVerb> = LobbyReplyOf<V> | LobbyErrorReply;
type Body<V extends LobbyVerb> = Omit<Parameters<ReturnType<typeof lobbyRequestCodec<V>>["encode"]>[0], "t">;

async function callRaw<V extends LobbyVerb>(verb: V, bytes: Uint8Array): Promise<Reply<V>> {
  const msg = await nc.request(lobbySubject(subjects, verb), bytes, { timeout: 10_000 });
  const decoded = lobbyReplyCodec(verb).decode(msg.data);
  assert.ok(decoded.ok, `reply of ${verb} did not decode`);
  return decoded.message as Reply<V>;
}

function call<V extends LobbyVerb>(verb: V, body: Body<V>): Promise<Reply<V>> {
  const message = { t: LobbyVerbs[verb].request.type, ...body } as Parameters<
    ReturnType<typeof lobbyRequestCodec<V>>["encode"]
  >[0];
  return callRaw(verb, lobbyRequestCodec(verb).encode(message));
}

function ok<R extends { t: string }>(reply: R | LobbyErrorReply): R {
  assert.notEqual(reply.t, "lobby_error", `unexpected lobby_error: ${JSON.stringify(reply)}`);
  return reply as R;
}

function failed(reply: { t: string }, code: string): LobbyErrorReply {
  assert.equal(reply.t, "lobby_error");
  const error = reply as LobbyErrorReply;
  assert.equal(error.code, code);
  return error;
}

async function credentialFor(world: string): Promise<{ serverId: string; credential: string }> {
  return lobby.services.registry.issueCredential({ name: `zone of ${world}`, world });
}

describe("player state - store", () => {
  it("player state - a save then a load returns the snapshot and its epoch", async () => {
    const id = await insertAccount(db, "ps");
    const snapshot = snap(10, { hp: 90, bag: ["sword", { gems: 3 }], flag: true, none: null });
    assert.deepEqual(await store.save("main", [{ accountId: id, epoch: 3, snapshot }]), {
      saved: 1,
      stale: 0,
      unknown: 0,
      invalid: 0,
    });
    const stored = await store.load("main", id);
    assert.equal(stored?.epoch, 3);
    assert.deepEqual(stored?.snapshot, snapshot);
    assert.ok(stored?.updatedAt instanceof Date);
    const row = await db
      .selectFrom("player_state")
      .selectAll()
      .where("account_id", "=", id)
      .executeTakeFirstOrThrow();
    assert.equal(row.world, "main");
    assert.equal(row.epoch, "3");
  });

  it("player state - a lower epoch does not overwrite; an equal or higher one does", async () => {
    const id = await insertAccount(db, "ps");
    await store.save("main", [{ accountId: id, epoch: 5, snapshot: snap(1) }]);
    assert.deepEqual(await store.save("main", [{ accountId: id, epoch: 4, snapshot: snap(2) }]), {
      saved: 0,
      stale: 1,
      unknown: 0,
      invalid: 0,
    });
    assert.deepEqual((await store.load("main", id))?.snapshot, snap(1));
    assert.equal((await store.save("main", [{ accountId: id, epoch: 5, snapshot: snap(3) }])).saved, 1);
    assert.deepEqual((await store.load("main", id))?.snapshot, snap(3));
    assert.equal((await store.save("main", [{ accountId: id, epoch: 9, snapshot: snap(4) }])).saved, 1);
    const stored = await store.load("main", id);
    assert.equal(stored?.epoch, 9);
    assert.deepEqual(stored?.snapshot, snap(4));
  });

  it("player state - a batch of stale and fresh entries saves the fresh ones and counts the stale", async () => {
    const [a, b, c] = [
      await insertAccount(db, "ps"),
      await insertAccount(db, "ps"),
      await insertAccount(db, "ps"),
    ];
    await store.save("main", [
      { accountId: a, epoch: 7, snapshot: snap(1) },
      { accountId: b, epoch: 7, snapshot: snap(1) },
    ]);
    const result = await store.save("main", [
      { accountId: a, epoch: 6, snapshot: snap(2) },
      { accountId: b, epoch: 8, snapshot: snap(2) },
      { accountId: c, epoch: 1, snapshot: snap(2) },
    ]);
    assert.deepEqual(result, { saved: 2, stale: 1, unknown: 0, invalid: 0 });
    assert.equal((await store.load("main", a))?.epoch, 7);
    assert.equal((await store.load("main", b))?.epoch, 8);
    assert.equal((await store.load("main", c))?.epoch, 1);
  });

  it("player state - an account twice in a batch: its highest epoch wins, the other is stale", async () => {
    const id = await insertAccount(db, "ps");
    const result = await store.save("main", [
      { accountId: id, epoch: 4, snapshot: snap(4) },
      { accountId: id, epoch: 2, snapshot: snap(2) },
    ]);
    assert.deepEqual(result, { saved: 1, stale: 1, unknown: 0, invalid: 0 });
    assert.deepEqual((await store.load("main", id))?.snapshot, snap(4));
  });

  it("player state - unknown account ids are skipped and counted, the rest of the batch is saved", async () => {
    const id = await insertAccount(db, "ps");
    const result = await store.save("main", [
      { accountId: "999999999999", epoch: 1, snapshot: snap(1) },
      { accountId: id, epoch: 1, snapshot: snap(1) },
    ]);
    assert.deepEqual(result, { saved: 1, stale: 0, unknown: 1, invalid: 0 });
    assert.equal(await store.load("main", "999999999999"), undefined);
  });

  it("player state - a state with no JSON form is skipped and counted invalid", async () => {
    const id = await insertAccount(db, "ps");
    const other = await insertAccount(db, "ps");
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    const result = await store.save("main", [
      { accountId: id, epoch: 1, snapshot: snap(1, { name: "a\u0000b" }) },
      { accountId: id, epoch: 1, snapshot: snap(1, { bytes: new Uint8Array([1]) }) },
      { accountId: id, epoch: 1, snapshot: snap(1, { hp: Number.POSITIVE_INFINITY }) },
      { accountId: id, epoch: 1, snapshot: snap(1, deep) },
      { accountId: other, epoch: 1, snapshot: snap(1, { name: "fine" }) },
    ]);
    assert.deepEqual(result, { saved: 1, stale: 0, unknown: 0, invalid: 4 });
    assert.equal(await store.load("main", id), undefined);
  });

  it("player state - each world has its own row and its own epochs", async () => {
    const id = await insertAccount(db, "ps");
    await store.save("alpha", [{ accountId: id, epoch: 50, snapshot: snap(1) }]);
    assert.equal(await store.load("beta", id), undefined);
    assert.equal((await store.save("beta", [{ accountId: id, epoch: 1, snapshot: snap(2) }])).saved, 1);
    assert.equal((await store.load("alpha", id))?.epoch, 50);
    assert.deepEqual((await store.load("beta", id))?.snapshot, snap(2));
  });
});

describe("player state - over NATS", () => {
  it("player state - player_state_save and player_state_load round trip with a zone credential", async () => {
    const { credential } = await credentialFor("natsworld");
    const id = await insertAccount(db, "ps");
    const snapshot = { username: "Zed", x: 12.5, y: 40, lastSeq: 17, state: { hp: 3 } };
    assert.deepEqual(
      ok(
        await call("player_state_save", {
          credential,
          world: "natsworld",
          entries: [{ accountId: id, epoch: 2, snapshot }],
        }),
      ),
      { t: "player_state_saved", saved: 1, stale: 0, unknown: 0, invalid: 0 },
    );
    const loaded = ok(await call("player_state_load", { credential, world: "natsworld", accountId: id }));
    assert.equal(loaded.found, true);
    assert.equal(loaded.epoch, 2);
    assert.deepEqual(loaded.snapshot, snapshot);
    assert.equal(typeof loaded.updatedAt, "number");
    const missing = ok(
      await call("player_state_load", { credential, world: "natsworld", accountId: "987654321" }),
    );
    assert.deepEqual(missing, {
      t: "player_state",
      accountId: "987654321",
      world: "natsworld",
      found: false,
    });
  });

  it("player state - a load for another world is not found", async () => {
    const alpha = await credentialFor("alphaw");
    const beta = await credentialFor("betaw");
    const id = await insertAccount(db, "ps");
    ok(
      await call("player_state_save", {
        credential: alpha.credential,
        world: "alphaw",
        entries: [{ accountId: id, epoch: 1, snapshot: snap(1) }],
      }),
    );
    const reply = ok(
      await call("player_state_load", { credential: beta.credential, world: "betaw", accountId: id }),
    );
    assert.equal(reply.found, false);
  });

  it("player state - a credential of another world is refused (LOBBY_BAD_REQUEST, field world)", async () => {
    const alpha = await credentialFor("alphaw");
    const id = await insertAccount(db, "ps");
    const save = await call("player_state_save", {
      credential: alpha.credential,
      world: "betaw",
      entries: [{ accountId: id, epoch: 1, snapshot: snap(1) }],
    });
    assert.equal(failed(save, "LOBBY_BAD_REQUEST").field, "world");
    const load = await call("player_state_load", {
      credential: alpha.credential,
      world: "betaw",
      accountId: id,
    });
    assert.equal(failed(load, "LOBBY_BAD_REQUEST").field, "world");
    assert.equal(await store.load("betaw", id), undefined);
  });

  it("player state - an unknown credential is LOBBY_SERVER_UNKNOWN, a revoked one LOBBY_SERVER_REVOKED", async () => {
    const id = await insertAccount(db, "ps");
    const entries = [{ accountId: id, epoch: 1, snapshot: snap(1) }];
    const unknown = "u".repeat(43);
    failed(
      await call("player_state_save", { credential: unknown, world: "main", entries }),
      "LOBBY_SERVER_UNKNOWN",
    );
    failed(
      await call("player_state_load", { credential: unknown, world: "main", accountId: id }),
      "LOBBY_SERVER_UNKNOWN",
    );
    const { serverId, credential } = await credentialFor("main");
    ok(await call("player_state_save", { credential, world: "main", entries }));
    await lobby.services.registry.revoke(serverId, "compromised");
    failed(
      await call("player_state_save", {
        credential,
        world: "main",
        entries: [{ ...entries[0], epoch: 2 } as (typeof entries)[0]],
      }),
      "LOBBY_SERVER_REVOKED",
    );
    failed(
      await call("player_state_load", { credential, world: "main", accountId: id }),
      "LOBBY_SERVER_REVOKED",
    );
    assert.equal((await store.load("main", id))?.epoch, 1);
  });

  it("player state - malformed requests get LOBBY_BAD_REQUEST with the decoder's code and the field", async () => {
    const garbage = failed(
      await callRaw("player_state_save", new Uint8Array([0xc1, 0xff, 0x00])),
      "LOBBY_BAD_REQUEST",
    );
    assert.equal(garbage.protocolCode, "PROTO_MALFORMED");
    const { credential } = await credentialFor("main");
    const over = Array.from({ length: 501 }, (_, i) => ({
      accountId: String(i + 1),
      epoch: 1,
      snapshot: snap(1),
    }));
    const tooMany = failed(
      await callRaw(
        "player_state_save",
        lobbyRequestCodec("player_state_save").encode({
          t: "player_state_save",
          credential,
          world: "main",
          entries: over,
        }),
      ),
      "LOBBY_BAD_REQUEST",
    );
    assert.equal(tooMany.protocolCode, "PROTO_INVALID_MESSAGE");
    assert.equal(tooMany.field, "entries");
    const badId = failed(
      await callRaw(
        "player_state_load",
        lobbyRequestCodec("player_state_load").encode({
          t: "player_state_load",
          credential,
          world: "main",
          accountId: "0",
        }),
      ),
      "LOBBY_BAD_REQUEST",
    );
    assert.equal(badId.field, "accountId");
  });
});
