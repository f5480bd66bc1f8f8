import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AUTHORITY_SERVICE,
  authorityReplyCodec,
  authorityRequestCodec,
  authoritySubject,
  createSubjects,
  DECODE_ERROR_CODES,
  type DecodeResult,
  encodeMessage,
  MAX_HANDOFF_BATCH,
  ProtocolError,
  ProtocolErrorCode,
  WORLD_MAX_MESSAGE_BYTES,
  WorldErrorCode,
  worldKeys,
  worldMapCodec,
  worldMapSubject,
  ZONE_GHOSTS_CHANNEL,
  ZONE_HANDOFF_CHANNEL,
  ZONE_INSTALL_CHANNEL,
  zoneControlCodec,
  zoneControlReplyCodec,
} from "@meridian/protocol";
import fc from "fast-check";
import { Packr } from "msgpackr";

/** A second, independent MessagePack encoder, for hand-made (and invalid) messages. */
const raw = (value: unknown) => new Packr({ useRecords: false }).pack(value);

interface AnyCodec {
  encode(message: never): Uint8Array;
  decode(bytes: Uint8Array): DecodeResult<unknown>;
}

const codecs = {
  authorityRequest: authorityRequestCodec(),
  authorityReply: authorityReplyCodec(),
  zoneControl: zoneControlCodec(),
  zoneControlReply: zoneControlReplyCodec(),
  worldMap: worldMapCodec(),
} satisfies Record<string, AnyCodec>;
type CodecName = keyof typeof codecs;

const encodeWith = (codec: AnyCodec, message: unknown) =>
  (codec.encode as (m: unknown) => Uint8Array)(message);

function expectError(result: DecodeResult<unknown>, code: ProtocolErrorCode) {
  assert.equal(result.ok, false);
  if (result.ok) return undefined;
  assert.ok(result.error instanceof ProtocolError);
  assert.equal(result.error.code, code);
  return result.error;
}

const ACCOUNT = "42";
const SESSION = "00000000-0000-4000-8000-000000000000";
const HANDOFF = "11111111-1111-4111-8111-111111111111";
const valid = {
  zone_register: { t: "zone_register", serverId: "z1", credential: "secret", world: "main", capacity: 1000 },
  zone_heartbeat: { t: "zone_heartbeat", serverId: "z1", world: "main", players: 3, tickP99Ms: 1.5 },
  zone_registered: { t: "zone_registered", serverId: "z1", heartbeatMs: 1000, leaseMs: 3000, leaderEpoch: 2 },
  zone_leases: {
    t: "zone_leases",
    serverId: "z1",
    leaderEpoch: 2,
    leases: [
      { cell: "c0_0", epoch: 4, expiresAt: 1_700_000_003_000 },
      { cell: "c1_0", epoch: 1, expiresAt: 1_700_000_003_000 },
    ],
  },
  world_error: { t: "world_error", code: WorldErrorCode.NotOwner, message: "z1 does not hold c0_0@3" },
  world_map: {
    t: "world_map",
    world: "main",
    leaderEpoch: 2,
    version: 7,
    cells: [
      { cell: "c0_0", server: "z1", epoch: 4 },
      { cell: "c1_0", server: null, epoch: 2 },
    ],
  },
  player_install: {
    t: "player_install",
    accountId: ACCOUNT,
    sessionId: SESSION,
    username: "alice",
    gateway: "gw-1",
    resumed: false,
    cell: "c0_0",
    cellEpoch: 4,
    x: 10.5,
    y: 20,
  },
  player_installed: {
    t: "player_installed",
    accountId: ACCOUNT,
    server: "z1",
    cell: "c0_0",
    epoch: 1,
    ack: 0,
  },
  handoff_offer: {
    t: "handoff_offer",
    handoffId: HANDOFF,
    accountId: ACCOUNT,
    sessionId: SESSION,
    username: "alice",
    gateway: "gw-1",
    fromServer: "z1",
    cell: "c1_0",
    cellEpoch: 1,
    playerEpoch: 2,
    lastSeq: 17,
    tick: 300,
    state: { accountId: ACCOUNT, username: "alice", x: 1000.5, y: 20, lastSeq: 17, state: { hp: 9 } },
  },
  handoff_accept: { t: "handoff_accept", handoffId: HANDOFF, accepted: true },
  handoff_offers: {
    t: "handoff_offers",
    fromServer: "z1",
    offers: [
      {
        handoffId: HANDOFF,
        accountId: ACCOUNT,
        sessionId: SESSION,
        username: "alice",
        gateway: "gw-1",
        fromServer: "z1",
        cell: "c1_0",
        cellEpoch: 1,
        playerEpoch: 2,
        lastSeq: 17,
        tick: 300,
        state: { x: 1000.5, y: 20, state: null },
        trace: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      },
    ],
  },
  handoff_answers: {
    t: "handoff_answers",
    answers: [
      { handoffId: HANDOFF, accepted: true },
      { handoffId: HANDOFF, accepted: false, reason: "WORLD_FULL" },
    ],
  },
  ghost_batch: {
    t: "ghost_batch",
    server: "z1",
    world: "main",
    tick: 300,
    entities: [{ id: "p:42", kind: "player", x: 990, y: 20, data: { name: "alice" } }],
    events: [{ say: "hi" }],
  },
} as const;
type MessageType = keyof typeof valid;

/** The codecs that accept each message type (`world_error` answers both kinds of request). */
const homes: Record<MessageType, readonly CodecName[]> = {
  zone_register: ["authorityRequest"],
  zone_heartbeat: ["authorityRequest"],
  zone_registered: ["authorityReply"],
  zone_leases: ["authorityReply"],
  world_error: ["authorityReply", "zoneControlReply"],
  world_map: ["worldMap"],
  player_install: ["zoneControl"],
  player_installed: ["zoneControlReply"],
  handoff_offer: ["zoneControl"],
  handoff_accept: ["zoneControlReply"],
  handoff_offers: ["zoneControl"],
  handoff_answers: ["zoneControlReply"],
  ghost_batch: ["zoneControl"],
};

describe("zone messages - round trip", () => {
  for (const [type, message] of Object.entries(valid) as [MessageType, unknown][]) {
    for (const name of homes[type]) {
      it(`${type} survives encode then decode on ${name}`, () => {
        const codec = codecs[name];
        const decoded = codec.decode(encodeWith(codec, message));
        assert.ok(decoded.ok, decoded.ok ? "" : decoded.error.message);
        if (decoded.ok) assert.deepEqual(decoded.message, message);
      });
    }
  }

  it("optional fields may be left out: tickP99Ms, ghost events, a refusal's reason", () => {
    const { tickP99Ms: _p99, ...heartbeat } = valid.zone_heartbeat;
    assert.ok(codecs.authorityRequest.decode(raw(heartbeat)).ok);
    const { events: _events, ...ghosts } = valid.ghost_batch;
    assert.ok(codecs.zoneControl.decode(raw(ghosts)).ok);
    const refusal = { t: "handoff_accept", handoffId: HANDOFF, accepted: false, reason: WorldErrorCode.Full };
    const decoded = codecs.zoneControlReply.decode(raw(refusal));
    assert.ok(decoded.ok);
    if (decoded.ok) assert.deepEqual(decoded.message, refusal);
    assert.ok(codecs.zoneControlReply.decode(raw({ ...refusal, reason: undefined })).ok);
  });

  it("handoff_offers: 1 to MAX_HANDOFF_BATCH offers, each a valid offer; a bad trace is refused", () => {
    const offer = valid.handoff_offers.offers[0];
    assert.equal(codecs.zoneControl.decode(raw({ ...valid.handoff_offers, offers: [] })).ok, false);
    const many = Array.from({ length: MAX_HANDOFF_BATCH + 1 }, () => offer);
    assert.equal(codecs.zoneControl.decode(raw({ ...valid.handoff_offers, offers: many })).ok, false);
    const bad = codecs.zoneControl.decode(
      raw({ ...valid.handoff_offers, offers: [{ ...offer, playerEpoch: -1 }] }),
    );
    assert.equal(bad.ok, false);
    const shortTrace = codecs.zoneControl.decode(
      raw({ ...valid.handoff_offers, offers: [{ ...offer, trace: "00-1" }] }),
    );
    assert.equal(shortTrace.ok, false);
  });

  it("an empty ghost batch and an empty lease set are valid (a batch replaces the last)", () => {
    assert.ok(codecs.zoneControl.decode(raw({ ...valid.ghost_batch, entities: [], events: [] })).ok);
    assert.ok(codecs.authorityReply.decode(raw({ ...valid.zone_leases, leases: [] })).ok);
  });

  it("handoff state is game data: nil and nested values pass untouched", () => {
    for (const state of [null, 0, "s", [1, [2]], { a: { b: [true] } }]) {
      const decoded = codecs.zoneControl.decode(raw({ ...valid.handoff_offer, state }));
      assert.ok(decoded.ok);
      if (decoded.ok && decoded.message.t === "handoff_offer") assert.deepEqual(decoded.message.state, state);
    }
  });

  it("property: any valid world map round-trips", () => {
    const cell = fc
      .tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 999 }))
      .map(([c, r]) => `c${c}_${r}`);
    const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
    const epoch = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
    const map = fc.record({
      t: fc.constant("world_map" as const),
      world: token,
      leaderEpoch: epoch,
      version: epoch,
      cells: fc.array(fc.record({ cell, server: fc.option(token, { nil: null }), epoch }), { maxLength: 20 }),
    });
    fc.assert(
      fc.property(map, (message) => {
        const decoded = codecs.worldMap.decode(codecs.worldMap.encode(message));
        assert.ok(decoded.ok);
        // fast-check builds null-prototype records: compare plain copies.
        if (decoded.ok) assert.deepEqual(decoded.message, JSON.parse(JSON.stringify(message)));
      }),
      { numRuns: 200 },
    );
  });
});

describe("zone messages - validation", () => {
  const cases: [MessageType, Record<string, unknown>, string][] = [
    ["zone_register", { serverId: "z.1" }, "/serverId"],
    ["zone_register", { credential: "" }, "/credential"],
    ["zone_register", { capacity: 0 }, "/capacity"],
    ["zone_heartbeat", { players: -1 }, "/players"],
    ["zone_heartbeat", { tickP99Ms: -1 }, "/tickP99Ms"],
    ["zone_registered", { leaderEpoch: -1 }, "/leaderEpoch"],
    ["zone_registered", { leaseMs: 1.5 }, "/leaseMs"],
    ["zone_leases", { leases: [{ cell: "x0_0", epoch: 1, expiresAt: 1 }] }, "/leases/0/cell"],
    ["zone_leases", { leases: [{ cell: "c0_0", epoch: -1, expiresAt: 1 }] }, "/leases/0/epoch"],
    ["zone_leases", { leases: [{ cell: "c0_0", epoch: 1, expiresAt: -1 }] }, "/leases/0/expiresAt"],
    ["world_map", { version: -1 }, "/version"],
    ["world_map", { cells: [{ cell: "c1000_0", server: "z1", epoch: 1 }] }, "/cells/0/cell"],
    ["world_map", { cells: [{ cell: "c0_0", server: "z.1", epoch: 1 }] }, "/cells/0/server"],
    ["world_map", { cells: [{ cell: "c0_0", server: "z1", epoch: -1 }] }, "/cells/0/epoch"],
    ["player_install", { cell: "c0-0" }, "/cell"],
    ["player_install", { cellEpoch: -1 }, "/cellEpoch"],
    ["player_install", { gateway: "gw 1" }, "/gateway"],
    ["player_install", { accountId: "0" }, "/accountId"],
    ["player_install", { x: "10" }, "/x"],
    ["player_installed", { epoch: -1 }, "/epoch"],
    ["player_installed", { ack: -1 }, "/ack"],
    ["handoff_offer", { handoffId: "short" }, "/handoffId"],
    ["handoff_offer", { playerEpoch: -1 }, "/playerEpoch"],
    ["handoff_offer", { cellEpoch: 1.5 }, "/cellEpoch"],
    ["handoff_offer", { cell: "c_0" }, "/cell"],
    ["handoff_offer", { fromServer: "z*" }, "/fromServer"],
    ["handoff_offer", { lastSeq: 2 ** 32 }, "/lastSeq"],
    ["handoff_accept", { accepted: "yes" }, "/accepted"],
    ["handoff_accept", { reason: "x".repeat(65) }, "/reason"],
    ["ghost_batch", { server: "z>" }, "/server"],
    ["ghost_batch", { entities: [{ id: "", kind: "player", x: 0, y: 0, data: null }] }, "/entities/0/id"],
    ["ghost_batch", { tick: -1 }, "/tick"],
  ];
  for (const [type, change, path] of cases) {
    it(`${type} with ${JSON.stringify(change).slice(0, 60)} is PROTO_INVALID_MESSAGE at ${path}`, () => {
      const message = { ...valid[type], ...change };
      for (const name of homes[type]) {
        const error = expectError(codecs[name].decode(raw(message)), ProtocolErrorCode.InvalidMessage);
        assert.equal(error?.context.path, path);
      }
    });
  }

  it("a message above 512 KiB is PROTO_TOO_LARGE", () => {
    const big = { ...valid.handoff_offer, state: "x".repeat(WORLD_MAX_MESSAGE_BYTES) };
    expectError(codecs.zoneControl.decode(raw(big)), ProtocolErrorCode.TooLarge);
    assert.throws(
      () => encodeWith(codecs.zoneControl, big),
      (error: unknown) => error instanceof ProtocolError && error.code === ProtocolErrorCode.TooLarge,
    );
  });
});

describe("zone messages - codecs", () => {
  it("a message on the wrong codec is PROTO_UNKNOWN_TYPE", () => {
    for (const [type, message] of Object.entries(valid) as [MessageType, unknown][]) {
      for (const [name, codec] of Object.entries(codecs) as [CodecName, AnyCodec][]) {
        if (homes[type].includes(name)) continue;
        const error = expectError(codec.decode(raw(message)), ProtocolErrorCode.UnknownType);
        assert.equal(error?.context.type, type, `${type} on ${name}`);
      }
    }
  });

  it("gateway ⇄ world messages never reach a zone codec", () => {
    for (const message of [
      { t: "zone_inputs", gateway: "gw-1", inputs: [{ accountId: ACCOUNT, seq: 1, data: 0 }] },
      { t: "route_switch", accountId: ACCOUNT, server: "z1", zone: "c0_0", world: "main", epoch: 1 },
      {
        t: "player_attach",
        accountId: ACCOUNT,
        sessionId: SESSION,
        username: "a",
        gateway: "g",
        resumed: false,
      },
      { t: "hello", v: 1 },
    ]) {
      for (const codec of Object.values(codecs)) {
        expectError(codec.decode(encodeMessage(message)), ProtocolErrorCode.UnknownType);
      }
    }
  });
});

describe("zone messages - adversarial input", () => {
  for (const name of Object.keys(codecs) as CodecName[]) {
    it(`${name}: random bytes never throw and fail with a documented code`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
          const result = codecs[name].decode(bytes);
          if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code), result.error.code);
        }),
        { numRuns: 300 },
      );
    });
  }

  it("mutated zone messages never throw and fail with a documented code", () => {
    const messages = Object.entries(valid) as [MessageType, unknown][];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: messages.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        (index, flips) => {
          const [type, message] = messages[index] as [MessageType, unknown];
          const bytes = raw(message);
          for (const [at, value] of flips) bytes[at % bytes.length] = value;
          for (const codec of Object.values(codecs)) {
            const result = codec.decode(bytes);
            if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code), `${type}`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("arbitrary MessagePack values never throw on any zone codec", () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        let bytes: Uint8Array;
        try {
          bytes = raw(value);
        } catch {
          return;
        }
        for (const codec of Object.values(codecs)) {
          const result = codec.decode(bytes);
          if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("zone messages - subjects", () => {
  const subjects = createSubjects({ prefix: "mt.run1" });

  it("authoritySubject is <prefix>.svc.authority.<verb>", () => {
    assert.equal(AUTHORITY_SERVICE, "authority");
    assert.equal(authoritySubject(subjects, "zone_register"), "mt.run1.svc.authority.zone_register");
    assert.equal(authoritySubject(subjects, "zone_heartbeat"), "mt.run1.svc.authority.zone_heartbeat");
    assert.equal(authoritySubject(createSubjects(), "zone_register"), "meridian.svc.authority.zone_register");
  });

  it("worldMapSubject is <prefix>.evt.world.<world>.map and refuses a bad world token", () => {
    assert.equal(worldMapSubject(subjects, "main"), "mt.run1.evt.world.main.map");
    assert.throws(
      () => worldMapSubject(subjects, "a b"),
      (error: unknown) => error instanceof ProtocolError && error.code === ProtocolErrorCode.InvalidSubject,
    );
  });

  it("zone control inboxes are built from the channel constants", () => {
    assert.deepEqual(
      [ZONE_INSTALL_CHANNEL, ZONE_HANDOFF_CHANNEL, ZONE_GHOSTS_CHANNEL],
      ["install", "handoff", "ghosts"],
    );
    assert.equal(subjects.zone("z7", ZONE_INSTALL_CHANNEL), "mt.run1.zone.z7.install");
    assert.equal(subjects.zone("z7", ZONE_HANDOFF_CHANNEL), "mt.run1.zone.z7.handoff");
    assert.equal(subjects.zone("z7", ZONE_GHOSTS_CHANNEL), "mt.run1.zone.z7.ghosts");
  });
});

describe("zone messages - Redis keys", () => {
  it("worldKeys lays every key out under <prefix>world:<world>:", () => {
    const keys = worldKeys("mt:run1:", "main");
    assert.equal(keys.checkpoint(ACCOUNT), "mt:run1:world:main:checkpoint:42");
    assert.equal(keys.cellPlayers("c0_1"), "mt:run1:world:main:cell:c0_1:players");
    assert.equal(keys.cellEpochs, "mt:run1:world:main:cell-epochs");
    assert.equal(keys.owners, "mt:run1:world:main:authority:owners");
    assert.equal(keys.leader, "mt:run1:world:main:authority:leader");
    assert.equal(keys.leaderEpoch, "mt:run1:world:main:authority:leader-epoch");
    assert.ok(Object.isFrozen(keys));
  });

  it("two worlds never share a key", () => {
    const a = worldKeys("meridian:", "a");
    const b = worldKeys("meridian:", "b");
    for (const name of ["cellEpochs", "owners", "leader", "leaderEpoch"] as const) {
      assert.notEqual(a[name], b[name]);
    }
    assert.notEqual(a.checkpoint(ACCOUNT), b.checkpoint(ACCOUNT));
  });
});

describe("zone messages - WORLD_* codes", () => {
  it("the catalogue holds exactly the codes the services send", () => {
    assert.deepEqual(WorldErrorCode, {
      Unauthorized: "WORLD_UNAUTHORIZED",
      Unknown: "WORLD_UNKNOWN",
      ZoneUnknown: "WORLD_ZONE_UNKNOWN",
      Unavailable: "WORLD_UNAVAILABLE",
      NotOwner: "WORLD_NOT_OWNER",
      StaleEpoch: "WORLD_STALE_EPOCH",
      Full: "WORLD_FULL",
      BadRequest: "WORLD_BAD_REQUEST",
    });
  });

  it("every code fits world_error.code and handoff_accept.reason", () => {
    for (const code of Object.values(WorldErrorCode)) {
      assert.ok(codecs.authorityReply.decode(raw({ t: "world_error", code, message: "" })).ok, code);
      assert.ok(
        codecs.zoneControlReply.decode(
          raw({ t: "handoff_accept", handoffId: HANDOFF, accepted: false, reason: code }),
        ).ok,
        code,
      );
    }
  });
});
