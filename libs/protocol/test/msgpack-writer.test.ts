import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeMessage, encodeSharedBatches, gatewayInboxCodec, MessagePackWriter } from "@meridian/protocol";
import fc from "fast-check";
import { Unpackr } from "msgpackr";

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

function written(v: unknown): Uint8Array {
  const w = new MessagePackWriter(16);
  w.value(v);
  return Uint8Array.from(w.view());
}

const decode = (bytes: Uint8Array): unknown => unpackr.unpack(bytes);

/** JSON-like values without undefined, with integers at every size boundary and floats. */
const values = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom(
      0,
      -1,
      -32,
      -33,
      127,
      128,
      255,
      256,
      65_535,
      65_536,
      0xffff_ffff,
      0x1_0000_0000,
      -128,
      -129,
      -32_768,
      -32_769,
      -0x8000_0000,
      -0x8000_0001,
      Number.MAX_SAFE_INTEGER,
      -Number.MAX_SAFE_INTEGER,
      0.5,
      -1.25,
      1e300,
      Number.POSITIVE_INFINITY,
    ),
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.string({ unit: "grapheme", maxLength: 40 }),
    fc.string({ minLength: 30, maxLength: 300 }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 300 }),
    fc.array(tie("value"), { maxLength: 20 }),
    fc.dictionary(fc.string({ maxLength: 10 }), tie("value"), { maxKeys: 20 }),
  ),
})).value;

describe("MessagePackWriter", () => {
  it("writes what msgpackr decodes to the same value as the codec's own encoding (property)", () => {
    fc.assert(
      fc.property(values, (v) => {
        const mine = decode(written(v));
        const theirs = decode(Uint8Array.from(encodeMessage({ t: "x", v })));
        assert.deepEqual(mine, (theirs as { v: unknown }).v);
      }),
      { numRuns: 500 },
    );
  });

  it("writes integers in their smallest format and other numbers as float64", () => {
    assert.deepEqual([...written(5)], [5]);
    assert.deepEqual([...written(-5)], [0xfb]);
    assert.deepEqual([...written(200)], [0xcc, 200]);
    assert.deepEqual([...written(-100)], [0xd0, 0x9c]);
    assert.deepEqual([...written(0xffff_ffff)], [0xce, 0xff, 0xff, 0xff, 0xff]);
    assert.equal(written(0x1_0000_0000)[0], 0xcb);
    assert.equal(written(1.5)[0], 0xcb);
    assert.deepEqual([...written(-0)], [0]); // as msgpackr: -0 is the integer 0
    assert.ok(Number.isNaN(decode(written(Number.NaN))));
  });

  it("writes non-ASCII and long strings as UTF-8 with the right header", () => {
    for (const s of [
      "",
      "é",
      "日本語のテキスト",
      "🎮".repeat(20),
      "a".repeat(31),
      "a".repeat(32),
      "a".repeat(70_000),
    ]) {
      assert.equal(decode(written(s)), s);
    }
    assert.deepEqual([...written("ab")], [0xa2, 0x61, 0x62]);
  });

  it("leaves out object fields holding undefined, and writes undefined array elements as nil", () => {
    assert.deepEqual(decode(written({ a: 1, b: undefined, c: [undefined, 2] })), { a: 1, c: [null, 2] });
  });

  it("hands what is not plain data to msgpackr (Map, Date, class instances)", () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const v = { m: new Map([["k", 1]]), p: new Point(1, 2) };
    assert.deepEqual(
      decode(written(v)),
      (decode(Uint8Array.from(encodeMessage({ t: "x", v }))) as { v: unknown }).v,
    );
  });

  it("packs a shared object once in a scope, with the same bytes as without sharing", () => {
    const entity = { id: "npc:c0_0:1", x: 10.5, y: 20.25 };
    const item = (n: number) => ({ n, update: [entity, { id: "other", x: n }], events: [entity] });
    const plain = new MessagePackWriter();
    plain.value([item(1), item(2), item(3)]);
    const sharing = new MessagePackWriter();
    const bytes = sharing.shared(() => {
      sharing.value([item(1), item(2), item(3)]);
      return Uint8Array.from(sharing.view());
    });
    assert.deepEqual(bytes, Uint8Array.from(plain.view()));
    // The scope's bytes are gone with it.
    assert.equal(sharing.length, 0);
  });

  it("memoises only inside a scope: outside, a changed object is written as it is now", () => {
    const entity = { id: "e", x: 1 };
    const w = new MessagePackWriter();
    w.shared(() => {
      w.value([entity]);
    });
    entity.x = 2;
    w.reset();
    w.value([entity]);
    assert.deepEqual(decode(Uint8Array.from(w.view())), [{ id: "e", x: 2 }]);
    // A new scope does not see the old one's bytes either.
    entity.x = 3;
    w.reset();
    const bytes = w.shared(() => {
      w.value([entity]);
      return Uint8Array.from(w.view());
    });
    assert.deepEqual(decode(bytes), [{ id: "e", x: 3 }]);
  });

  it("grows its buffer for large values and keeps earlier bytes", () => {
    const w = new MessagePackWriter(16);
    const big = Array.from({ length: 5_000 }, (_, i) => ({ id: `e${i}`, x: i + 0.5 }));
    w.value({ big });
    assert.deepEqual(decode(Uint8Array.from(w.view())), { big });
  });
});

type Entry = { accountId: string; epoch: number; ack: number; data: unknown };
const entry = (i: number, bytes: number, shared?: object): Entry => ({
  accountId: String(i + 1),
  epoch: 1,
  ack: i,
  data: shared === undefined ? "x".repeat(bytes) : { pad: "x".repeat(bytes), update: [shared] },
});
const envelope = { t: "gateway_updates", server: "z1", tick: 7 } as const;

describe("encodeSharedBatches", () => {
  it("every item once, in order, every message within both limits and valid (property)", () => {
    const writer = new MessagePackWriter(64);
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 200 }),
        fc.integer({ min: 1, max: 50 }),
        fc.boolean(),
        (sizes, maxItems, share) => {
          const common = { id: "npc:1", x: 1.5, y: 2.5 };
          const items = sizes.map((bytes, i) => entry(i, bytes, share ? common : undefined));
          const maxBytes = 2_000;
          const { messages, dropped } = writer.shared(() =>
            encodeSharedBatches(writer, envelope, "updates", items, maxItems, maxBytes),
          );
          assert.equal(dropped, 0);
          assert.ok(messages.length >= 1);
          const seen: Entry[] = [];
          for (const bytes of messages) {
            assert.ok(bytes.length <= maxBytes, `${bytes.length} > ${maxBytes}`);
            const decoded = gatewayInboxCodec().decode(bytes);
            assert.ok(decoded.ok, decoded.ok ? "" : decoded.error.message);
            if (decoded.message.t !== "gateway_updates") assert.fail("wrong type");
            assert.equal(decoded.message.server, "z1");
            assert.equal(decoded.message.tick, 7);
            assert.ok(decoded.message.updates.length <= maxItems);
            seen.push(...(decoded.message.updates as Entry[]));
          }
          assert.deepEqual(seen, items);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("an empty list is one message with an empty array", () => {
    const { messages, dropped } = encodeSharedBatches(
      new MessagePackWriter(),
      envelope,
      "updates",
      [],
      10,
      1_000,
    );
    assert.equal(dropped, 0);
    assert.equal(messages.length, 1);
    const decoded = gatewayInboxCodec().decode(messages[0] as Uint8Array);
    assert.ok(decoded.ok && decoded.message.t === "gateway_updates" && decoded.message.updates.length === 0);
  });

  it("drops and counts an item that alone exceeds the limit, keeping its neighbours", () => {
    const items = [entry(0, 10), entry(1, 5_000), entry(2, 10)];
    const { messages, dropped } = encodeSharedBatches(
      new MessagePackWriter(),
      envelope,
      "updates",
      items,
      10,
      1_000,
    );
    assert.equal(dropped, 1);
    const ids = messages.flatMap((bytes) => {
      const decoded = gatewayInboxCodec().decode(bytes);
      return decoded.ok && decoded.message.t === "gateway_updates"
        ? decoded.message.updates.map((u) => u.accountId)
        : [];
    });
    assert.deepEqual(ids, ["1", "3"]);
  });

  it("a message's bytes do not change when the writer is reused", () => {
    const writer = new MessagePackWriter();
    const first = encodeSharedBatches(writer, envelope, "updates", [entry(0, 20)], 10, 1_000).messages[0];
    const copy = Uint8Array.from(first as Uint8Array);
    encodeSharedBatches(writer, envelope, "updates", [entry(5, 200)], 10, 1_000);
    assert.deepEqual(Uint8Array.from(first as Uint8Array), copy);
  });
});
