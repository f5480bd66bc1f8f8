import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeBatches, gatewayInboxCodec } from "@meridian/protocol";
import fc from "fast-check";

type Entry = { accountId: string; epoch: number; ack: number; data: unknown };
const build = (part: readonly Entry[]) => ({
  t: "gateway_updates" as const,
  server: "z1",
  tick: 7,
  updates: [...part],
});
const entry = (i: number, bytes: number): Entry => ({
  accountId: String(i + 1),
  epoch: 1,
  ack: i,
  data: "x".repeat(bytes),
});

describe("batch encoder", () => {
  it("batches - a small batch is one message", () => {
    const { messages, dropped } = encodeBatches([entry(0, 10), entry(1, 10)], build, 100, 1_000);
    assert.equal(messages.length, 1);
    assert.equal(dropped, 0);
  });

  it("batches - an empty batch is still one message", () => {
    const { messages } = encodeBatches([], build, 100, 1_000);
    assert.equal(messages.length, 1);
  });

  it("batches - every item once, in order, every message within both limits (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 200 }),
        fc.integer({ min: 1, max: 50 }),
        (sizes, maxItems) => {
          const items = sizes.map((bytes, i) => entry(i, bytes));
          const maxBytes = 2_000;
          const { messages, dropped } = encodeBatches(items, build, maxItems, maxBytes);
          assert.equal(dropped, 0);
          const seen: string[] = [];
          for (const bytes of messages) {
            assert.ok(bytes.length <= maxBytes, `${bytes.length} > ${maxBytes}`);
            const decoded = gatewayInboxCodec().decode(bytes);
            assert.ok(decoded.ok);
            if (decoded.message.t !== "gateway_updates") assert.fail("wrong type");
            assert.ok(items.length === 0 || decoded.message.updates.length <= maxItems);
            seen.push(...decoded.message.updates.map((u) => u.accountId));
          }
          assert.deepEqual(
            seen,
            items.map((i) => i.accountId),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it("batches - an item larger than the limit alone is dropped and counted", () => {
    const { messages, dropped } = encodeBatches(
      [entry(0, 10), entry(1, 5_000), entry(2, 10)],
      build,
      100,
      1_000,
    );
    assert.equal(dropped, 1);
    assert.equal(messages.length, 1);
  });
});
