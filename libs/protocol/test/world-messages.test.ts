import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ClientMessages,
  CloseCode,
  createCodec,
  createSubjects,
  DECODE_ERROR_CODES,
  type DecodeResult,
  DetachReason,
  encodeMessage,
  GATEWAY_ROUTES_CHANNEL,
  GATEWAY_UPDATES_CHANNEL,
  gatewayInboxCodec,
  ProtocolError,
  ProtocolErrorCode,
  ServerMessages,
  WORLD_MAX_MESSAGE_BYTES,
  WORLD_QUEUE_GROUP,
  WORLD_SERVICE,
  worldReplyCodec,
  worldRequestCodec,
  worldSubject,
  ZONE_DETACH_CHANNEL,
  ZONE_INPUTS_CHANNEL,
  zoneInboxCodec,
} from "@meridian/protocol";
import fc from "fast-check";
import { Packr } from "msgpackr";
import {
  gatewayUpdates,
  input,
  playerAttach,
  playerAttached,
  playerDetach,
  routeSwitch,
  update,
  worldError,
  zoneInputs,
} from "./arbitraries.js";

/** A second, independent MessagePack encoder, for hand-made (and invalid) messages. */
const raw = (value: unknown) => new Packr({ useRecords: false }).pack(value);

interface AnyCodec {
  encode(message: never): Uint8Array;
  decode(bytes: Uint8Array): DecodeResult<unknown>;
}

const codecs = {
  gatewayInbox: gatewayInboxCodec(),
  zoneInbox: zoneInboxCodec(),
  worldRequest: worldRequestCodec(),
  worldReply: worldReplyCodec(),
  client: createCodec({ registry: ClientMessages }),
  server: createCodec({ registry: ServerMessages }),
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
const valid = {
  input: { t: "input", seq: 1, data: { move: [1, 0] } },
  update: { t: "update", tick: 10, ack: 1, data: null },
  player_attach: {
    t: "player_attach",
    accountId: ACCOUNT,
    sessionId: SESSION,
    username: "alice",
    gateway: "gw-1",
    resumed: false,
  },
  player_attached: {
    t: "player_attached",
    accountId: ACCOUNT,
    server: "z7",
    zone: "harbour",
    epoch: 3,
    ack: 0,
    world: "main",
  },
  world_error: { t: "world_error", code: "WORLD_FULL", message: "refused" },
  zone_inputs: { t: "zone_inputs", gateway: "gw-1", inputs: [{ accountId: ACCOUNT, seq: 1, data: "n" }] },
  player_detach: {
    t: "player_detach",
    accountId: ACCOUNT,
    sessionId: SESSION,
    gateway: "gw-1",
    reason: "logout",
  },
  gateway_updates: {
    t: "gateway_updates",
    server: "z7",
    tick: 10,
    updates: [{ accountId: ACCOUNT, epoch: 3, ack: 1, data: { hp: 9 } }],
  },
  route_switch: {
    t: "route_switch",
    accountId: ACCOUNT,
    server: "z8",
    zone: "hills",
    world: "main",
    epoch: 4,
  },
} as const;
type MessageType = keyof typeof valid;

/** Which codec accepts each message type. */
const home: Record<MessageType, CodecName> = {
  input: "client",
  update: "server",
  player_attach: "worldRequest",
  player_attached: "worldReply",
  world_error: "worldReply",
  zone_inputs: "zoneInbox",
  player_detach: "zoneInbox",
  gateway_updates: "gatewayInbox",
  route_switch: "gatewayInbox",
};

describe("world messages - round trip", () => {
  const cases: [string, fc.Arbitrary<unknown>, CodecName][] = [
    ["input through ClientMessages", input, "client"],
    ["update through ServerMessages", update, "server"],
    ["player_attach through worldRequestCodec", playerAttach, "worldRequest"],
    ["player_attached through worldReplyCodec", playerAttached, "worldReply"],
    ["world_error through worldReplyCodec", worldError, "worldReply"],
    ["zone_inputs through zoneInboxCodec", zoneInputs, "zoneInbox"],
    ["player_detach through zoneInboxCodec", playerDetach, "zoneInbox"],
    ["gateway_updates through gatewayInboxCodec", gatewayUpdates, "gatewayInbox"],
    ["route_switch through gatewayInboxCodec", routeSwitch, "gatewayInbox"],
  ];
  for (const [name, arbitrary, codecName] of cases) {
    it(`${name} survives encode then decode`, () => {
      const codec = codecs[codecName];
      fc.assert(
        fc.property(arbitrary, (message) => {
          const result = codec.decode(encodeWith(codec, message));
          assert.ok(result.ok, result.ok ? "" : result.error.message);
          assert.deepEqual(result.message, message);
        }),
        { numRuns: 300 },
      );
    });
  }

  it("every hand-written example decodes on its own inbox", () => {
    for (const [type, message] of Object.entries(valid) as [MessageType, unknown][]) {
      const result = codecs[home[type]].decode(raw(message));
      assert.ok(result.ok, `${type}: ${result.ok ? "" : result.error.message}`);
      assert.deepEqual(result.message, message);
    }
  });

  it("game data may be nil, and unknown fields are dropped", () => {
    const result = codecs.client.decode(raw({ t: "input", seq: 7, data: null, later: 1 }));
    assert.ok(result.ok);
    assert.deepEqual(result.message, { t: "input", seq: 7, data: null });
  });

  it("resume_ok carries the ack when present and decodes without it", () => {
    const grant = {
      t: "resume_ok",
      ref: 1,
      accountId: ACCOUNT,
      username: "alice",
      sessionId: SESSION,
      refreshToken: "r",
      refreshExpiresAt: 1,
    } as const;
    for (const message of [grant, { ...grant, ack: 0 }, { ...grant, ack: 0xffff_ffff }]) {
      const result = codecs.server.decode(codecs.server.encode(message));
      assert.ok(result.ok);
      assert.deepEqual(result.message, message);
    }
    const bad = expectError(
      codecs.server.decode(raw({ ...grant, ack: -1 })),
      ProtocolErrorCode.InvalidMessage,
    );
    assert.equal(bad?.context.path, "/ack");
  });

  it("DetachReason lists the three reasons the schema accepts", () => {
    assert.deepEqual(Object.values(DetachReason).sort(), ["grace_expired", "kicked", "logout"]);
    for (const reason of Object.values(DetachReason)) {
      assert.ok(codecs.zoneInbox.decode(raw({ ...valid.player_detach, reason })).ok, reason);
    }
  });
});

describe("world messages - validation", () => {
  const cases: [MessageType, Record<string, unknown>, string][] = [
    ["input", { seq: 0 }, "/seq"],
    ["input", { seq: 2 ** 32 }, "/seq"],
    ["input", { seq: 1.5 }, "/seq"],
    ["input", { data: undefined }, "/data"],
    ["update", { ack: -1 }, "/ack"],
    ["update", { tick: -1 }, "/tick"],
    ["player_attach", { gateway: "gw.1" }, "/gateway"],
    ["player_attach", { gateway: "" }, "/gateway"],
    ["player_attach", { accountId: "042" }, "/accountId"],
    ["player_attach", { sessionId: "short" }, "/sessionId"],
    ["player_attach", { resumed: "yes" }, "/resumed"],
    ["player_attached", { epoch: -1 }, "/epoch"],
    ["player_attached", { server: "z.7" }, "/server"],
    ["player_attached", { world: "x".repeat(65) }, "/world"],
    ["world_error", { code: "" }, "/code"],
    ["zone_inputs", { inputs: [] }, "/inputs"],
    ["zone_inputs", { inputs: [{ accountId: ACCOUNT, seq: 0, data: 1 }] }, "/inputs/0/seq"],
    ["zone_inputs", { gateway: "gw 1" }, "/gateway"],
    ["player_detach", { reason: "crashed" }, "/reason"],
    ["gateway_updates", { updates: [{ accountId: ACCOUNT, ack: 1, data: 1 }] }, "/updates/0/epoch"],
    [
      "gateway_updates",
      { updates: [{ accountId: ACCOUNT, epoch: -1, ack: 1, data: 1 }] },
      "/updates/0/epoch",
    ],
    ["route_switch", { epoch: -1 }, "/epoch"],
    ["route_switch", { server: "a.b" }, "/server"],
  ];
  for (const [type, change, path] of cases) {
    it(`${type} with ${JSON.stringify(change)} is PROTO_INVALID_MESSAGE at ${path}`, () => {
      const message = Object.fromEntries(
        Object.entries({ ...valid[type], ...change }).filter(([, value]) => value !== undefined),
      );
      const error = expectError(codecs[home[type]].decode(raw(message)), ProtocolErrorCode.InvalidMessage);
      assert.equal(error?.context.path, path);
    });
  }

  it("a zone_inputs of more than 10 000 inputs is PROTO_INVALID_MESSAGE at /inputs", () => {
    const inputs = Array.from({ length: 10_001 }, (_, i) => ({ accountId: ACCOUNT, seq: i + 1, data: 0 }));
    const bytes = raw({ t: "zone_inputs", gateway: "gw-1", inputs });
    assert.ok(bytes.byteLength <= WORLD_MAX_MESSAGE_BYTES);
    const error = expectError(codecs.zoneInbox.decode(bytes), ProtocolErrorCode.InvalidMessage);
    assert.equal(error?.context.path, "/inputs");
    assert.ok(
      codecs.zoneInbox.decode(raw({ t: "zone_inputs", gateway: "gw-1", inputs: inputs.slice(1) })).ok,
    );
  });

  it("a world message above 512 KiB is PROTO_TOO_LARGE both ways", () => {
    assert.equal(WORLD_MAX_MESSAGE_BYTES, 512 * 1024);
    const big = {
      ...valid.gateway_updates,
      updates: [{ accountId: ACCOUNT, epoch: 1, ack: 1, data: "x".repeat(WORLD_MAX_MESSAGE_BYTES) }],
    };
    expectError(codecs.gatewayInbox.decode(raw(big)), ProtocolErrorCode.TooLarge);
    assert.throws(
      () => encodeWith(codecs.gatewayInbox, big),
      (error: unknown) => error instanceof ProtocolError && error.code === ProtocolErrorCode.TooLarge,
    );
  });
});

describe("world messages - inboxes", () => {
  it("a message on another inbox is PROTO_UNKNOWN_TYPE", () => {
    for (const [type, message] of Object.entries(valid) as [MessageType, unknown][]) {
      for (const [name, codec] of Object.entries(codecs) as [CodecName, AnyCodec][]) {
        if (name === home[type]) continue;
        const error = expectError(codec.decode(raw(message)), ProtocolErrorCode.UnknownType);
        assert.equal(error?.context.type, type, `${type} on ${name}`);
      }
    }
  });

  it("client messages other than input never reach a world inbox, and world messages never a client", () => {
    for (const message of [
      { t: "ping", n: 1 },
      { t: "hello", v: 1 },
    ]) {
      for (const name of ["gatewayInbox", "zoneInbox", "worldRequest", "worldReply"] as const) {
        expectError(codecs[name].decode(encodeMessage(message)), ProtocolErrorCode.UnknownType);
      }
    }
  });
});

describe("world messages - adversarial input", () => {
  for (const name of Object.keys(codecs) as CodecName[]) {
    it(`${name}: random bytes never throw and fail with a documented code`, () => {
      const codec = codecs[name];
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
          const result = codec.decode(bytes);
          if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code), result.error.code);
        }),
        { numRuns: 500 },
      );
    });
  }

  it("mutated world messages never throw and fail with a documented code", () => {
    const any = fc.oneof(
      fc.tuple(zoneInputs, fc.constant<CodecName>("zoneInbox")),
      fc.tuple(playerDetach, fc.constant<CodecName>("zoneInbox")),
      fc.tuple(gatewayUpdates, fc.constant<CodecName>("gatewayInbox")),
      fc.tuple(routeSwitch, fc.constant<CodecName>("gatewayInbox")),
      fc.tuple(playerAttach, fc.constant<CodecName>("worldRequest")),
      fc.tuple(playerAttached, fc.constant<CodecName>("worldReply")),
    );
    fc.assert(
      fc.property(any, fc.nat(), fc.integer({ min: 0, max: 255 }), ([message, name], at, byte) => {
        const codec = codecs[name];
        const bytes = Uint8Array.from(encodeWith(codec, message));
        bytes[at % bytes.length] = byte;
        for (const other of Object.values(codecs)) {
          const result = other.decode(bytes);
          if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code), result.error.code);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("arbitrary MessagePack values never throw on any world codec", () => {
    fc.assert(
      fc.property(fc.anything({ withMap: true, withBigInt: true, withDate: true }), (value) => {
        let bytes: Uint8Array;
        try {
          bytes = raw(value);
        } catch {
          fc.pre(false);
          return;
        }
        for (const codec of Object.values(codecs)) {
          const result = codec.decode(bytes);
          if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code), result.error.code);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("world messages - subjects and constants", () => {
  it("names the channels, the service and the queue group", () => {
    assert.equal(WORLD_SERVICE, "world");
    assert.equal(WORLD_QUEUE_GROUP, "world");
    assert.equal(ZONE_INPUTS_CHANNEL, "inputs");
    assert.equal(ZONE_DETACH_CHANNEL, "detach");
    assert.equal(GATEWAY_UPDATES_CHANNEL, "updates");
    assert.equal(GATEWAY_ROUTES_CHANNEL, "routes");
  });

  it("worldSubject is <prefix>.svc.world.<verb>", () => {
    assert.equal(worldSubject(createSubjects(), "attach"), "meridian.svc.world.attach");
    assert.equal(worldSubject(createSubjects({ prefix: "mt.run1" }), "attach"), "mt.run1.svc.world.attach");
  });

  it("zone and gateway inboxes are built from the channel constants", () => {
    const subjects = createSubjects({ prefix: "mt.run1" });
    assert.equal(subjects.zone("z7", ZONE_INPUTS_CHANNEL), "mt.run1.zone.z7.inputs");
    assert.equal(subjects.zone("z7", ZONE_DETACH_CHANNEL), "mt.run1.zone.z7.detach");
    assert.equal(subjects.gateway("gw-1", GATEWAY_UPDATES_CHANNEL), "mt.run1.gw.gw-1.updates");
    assert.equal(subjects.gateway("gw-1", GATEWAY_ROUTES_CHANNEL), "mt.run1.gw.gw-1.routes");
  });

  it("every server or gateway id the schemas accept makes a valid subject", () => {
    const subjects = createSubjects();
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), (id) => {
        assert.equal(subjects.zone(id, ZONE_INPUTS_CHANNEL), `meridian.zone.${id}.inputs`);
        assert.equal(subjects.gateway(id, GATEWAY_ROUTES_CHANNEL), `meridian.gw.${id}.routes`);
      }),
    );
  });

  it("the gateway close codes are 4200-4205", () => {
    assert.deepEqual(
      [
        CloseCode.RateLimited,
        CloseCode.SessionRevoked,
        CloseCode.Banned,
        CloseCode.GatewayShutdown,
        CloseCode.TooManyViolations,
        CloseCode.ResumedElsewhere,
      ],
      [4200, 4201, 4202, 4203, 4204, 4205],
    );
  });
});
