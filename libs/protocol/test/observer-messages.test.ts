import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createSubjects,
  DECODE_ERROR_CODES,
  type DecodeResult,
  OBSERVER_HANDOFF_CHANNEL,
  OBSERVER_MAX_ENTITIES,
  OBSERVER_SNAPSHOT_CHANNEL,
  observerCodec,
  observerSubject,
  observerWildcard,
  ProtocolError,
  ProtocolErrorCode,
  WORLD_MAX_MESSAGE_BYTES,
  type ZoneHandoff,
  type ZoneSnapshot,
} from "@meridian/protocol";
import fc from "fast-check";
import { Packr } from "msgpackr";

/** A second, independent MessagePack encoder, for hand-made (and invalid) messages. */
const raw = (value: unknown) => new Packr({ useRecords: false }).pack(value);

function expectError(result: DecodeResult<unknown>, code: ProtocolErrorCode): ProtocolError | undefined {
  assert.equal(result.ok, false);
  if (result.ok) return undefined;
  assert.ok(result.error instanceof ProtocolError);
  assert.equal(result.error.code, code);
  return result.error;
}

const snapshot: ZoneSnapshot = {
  t: "zone_snapshot",
  server: "zone-1",
  world: "main",
  seq: 1,
  at: 1_700_000_000_000,
  tick: 1234,
  width: 2000,
  height: 2000,
  cols: 2,
  rows: 2,
  tickHz: 20,
  tickMs: 0.42,
  tickP99Ms: 1,
  ticksSkipped: 0,
  registered: true,
  leaderEpoch: 3,
  cells: ["c0_0", "c1_0"],
  cellEpochs: [7, 2],
  leaseExpiresAt: [1_700_000_003_000, 1_700_000_003_000],
  players: 1,
  handoffsOut: 4,
  handoffsIn: 5,
  entityCount: 3,
  kinds: ["player", "npc"],
  ids: ["42", "npc-1", "npc-2"],
  k: [0, 1, 1],
  x: [10, 250, 399],
  y: [20, 30, 40],
};

const handoff: ZoneHandoff = {
  t: "zone_handoff",
  server: "zone-1",
  world: "main",
  to: "zone-2",
  entity: "42",
  cell: "c1_0",
  epoch: 6,
  stallMs: 12.5,
  at: 1_700_000_000_100,
};

describe("observer messages", () => {
  const codec = observerCodec();

  it("observer - zone_snapshot and zone_handoff round-trip through the codec", () => {
    for (const message of [snapshot, handoff]) {
      const decoded = codec.decode(codec.encode(message));
      assert.ok(decoded.ok);
      assert.deepEqual(decoded.message, message);
    }
  });

  it("observer - the codec's limit is the world's message limit", () => {
    assert.equal(codec.maxMessageBytes, WORLD_MAX_MESSAGE_BYTES);
  });

  it("observer - entity columns of unequal length are refused, naming the column", () => {
    const error = expectError(
      codec.decode(raw({ ...snapshot, x: [10, 250] })),
      ProtocolErrorCode.InvalidMessage,
    );
    assert.equal(error?.context.path, "/x");
  });

  it("observer - lease columns of unequal length are refused, naming the column", () => {
    const error = expectError(
      codec.decode(raw({ ...snapshot, leaseExpiresAt: [] })),
      ProtocolErrorCode.InvalidMessage,
    );
    assert.equal(error?.context.path, "/leaseExpiresAt");
  });

  it("observer - a kind index past kinds is refused", () => {
    const error = expectError(
      codec.decode(raw({ ...snapshot, k: [0, 1, 2] })),
      ProtocolErrorCode.InvalidMessage,
    );
    assert.equal(error?.context.path, "/k/2");
  });

  it("observer - schema violations are PROTO_INVALID_MESSAGE with the field's path", () => {
    const cases: [unknown, string][] = [
      [{ ...snapshot, server: "a.b" }, "/server"],
      [{ ...snapshot, cells: ["main"] }, "/cells/0"],
      [{ ...snapshot, seq: 0 }, "/seq"],
      [{ ...snapshot, leaderEpoch: -2 }, "/leaderEpoch"],
      [{ ...snapshot, width: 0 }, "/width"],
      [{ ...handoff, to: "" }, "/to"],
      [{ ...handoff, epoch: -1 }, "/epoch"],
    ];
    for (const [message, path] of cases) {
      const error = expectError(codec.decode(raw(message)), ProtocolErrorCode.InvalidMessage);
      assert.equal(error?.context.path, path);
    }
  });

  it("observer - other world messages are unknown types here", () => {
    expectError(
      codec.decode(raw({ t: "world_map", world: "main", leaderEpoch: 1, version: 1, cells: [] })),
      ProtocolErrorCode.UnknownType,
    );
  });

  it("observer - more entities than the limit are refused by the schema", () => {
    const n = OBSERVER_MAX_ENTITIES + 1;
    const ids = Array.from({ length: n }, (_, i) => String(i + 1));
    const zeros = ids.map(() => 0);
    const result = codec.decode(raw({ ...snapshot, entityCount: n, ids, k: zeros, x: zeros, y: zeros }));
    assert.equal(result.ok, false);
    if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code));
  });

  it("observer - random snapshots round-trip; random bytes never throw and fail with a decode code", () => {
    const entity = fc.record({
      id: fc.stringMatching(/^[a-z0-9-]{1,64}$/),
      k: fc.integer({ min: 0, max: 1 }),
      x: fc.integer({ min: 0, max: 100_000 }),
      y: fc.integer({ min: 0, max: 100_000 }),
    });
    fc.assert(
      fc.property(fc.array(entity, { maxLength: 200 }), fc.integer({ min: 1, max: 2 ** 40 }), (list, seq) => {
        const message: ZoneSnapshot = {
          ...snapshot,
          seq,
          entityCount: list.length,
          ids: list.map((e) => e.id),
          k: list.map((e) => e.k),
          x: list.map((e) => e.x),
          y: list.map((e) => e.y),
        };
        const decoded = codec.decode(codec.encode(message));
        assert.ok(decoded.ok);
        assert.deepEqual(decoded.message, message);
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const result = codec.decode(bytes);
        if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code));
      }),
    );
  });

  it("observer - subjects name the world and the server under the prefix", () => {
    const subjects = createSubjects({ prefix: "mt.run1" });
    assert.equal(
      observerSubject(subjects, "main", "zone-1", OBSERVER_SNAPSHOT_CHANNEL),
      "mt.run1.evt.world.main.zone.zone-1.snapshot",
    );
    assert.equal(
      observerSubject(subjects, "main", "zone-1", OBSERVER_HANDOFF_CHANNEL),
      "mt.run1.evt.world.main.zone.zone-1.handoff",
    );
    assert.equal(observerWildcard(subjects, "main"), "mt.run1.evt.world.main.zone.>");
    assert.throws(
      () => observerSubject(subjects, "main", "zone.1", OBSERVER_SNAPSHOT_CHANNEL),
      (error: unknown) => error instanceof ProtocolError && error.code === ProtocolErrorCode.InvalidSubject,
    );
    assert.throws(
      () => observerWildcard(subjects, "a*"),
      (error: unknown) => error instanceof ProtocolError && error.code === ProtocolErrorCode.InvalidSubject,
    );
  });
});
