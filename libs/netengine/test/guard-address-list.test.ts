import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { NetEngineError, NetEngineErrorCode } from "../src/errors.js";
import { AddressList } from "../src/guard/address-list.js";
import { parseIp } from "../src/guard/ip-address.js";

const dotted = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
const hex = (v: bigint): string => v.toString(16).padStart(32, "0").match(/.{4}/g)?.join(":") ?? "";
const bits4 = (n: number): string => n.toString(2).padStart(32, "0");
const bits6 = (v: bigint): string => v.toString(2).padStart(128, "0");

/** Naive reference: an address is listed when some entry shares its first `prefix` bits. */
function naiveHas(entries: readonly { bits: string; prefix: number }[], bits: string): boolean {
  return entries.some(
    (e) => e.bits.length === bits.length && e.bits.slice(0, e.prefix) === bits.slice(0, e.prefix),
  );
}

/** Deterministic PRNG (mulberry32): big fixtures without fast-check's shrinking cost. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function assertInvalidAddress(fn: () => unknown): void {
  assert.throws(
    fn,
    (error: unknown) => error instanceof NetEngineError && error.code === NetEngineErrorCode.InvalidAddress,
  );
}

describe("guard address list - entries", () => {
  it("keeps entries in canonical form and deduplicates equal ones", () => {
    const list = new AddressList([
      "10.0.0.1",
      "10.0.0.1/32",
      " 10.1.2.3/8 ",
      "2001:DB8::/32",
      "::ffff:192.0.2.0/120",
    ]);
    assert.deepEqual(list.entries(), ["10.0.0.1/32", "10.0.0.0/8", "2001:db8::/32", "192.0.2.0/24"]);
    assert.equal(list.size, 4);
    assert.equal(list.add("10.0.0.1"), false);
    assert.equal(list.add("10.0.0.2"), true);
    assert.equal(list.size, 5);
  });

  it("removes by canonical form, keeping overlapping entries", () => {
    const list = new AddressList(["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3"]);
    assert.equal(list.remove("10.1.2.3/32"), true);
    assert.equal(list.remove("10.1.2.3"), false);
    assert.ok(list.has(parseIp("10.1.2.3")), "still covered by the /16 and the /8");
    assert.equal(list.remove("10.200.0.0/8"), true, "host bits are masked: this is 10.0.0.0/8");
    assert.ok(list.has(parseIp("10.1.2.3")));
    assert.ok(!list.has(parseIp("10.2.0.1")));
    assert.equal(list.remove("10.1.0.0/16"), true);
    assert.ok(!list.has(parseIp("10.1.2.3")));
    assert.equal(list.size, 0);
  });

  it("replaceAll is atomic: a bad entry leaves the list as it was", () => {
    const list = new AddressList(["192.0.2.1"]);
    assertInvalidAddress(() => list.replaceAll(["198.51.100.1", "not-an-ip", "203.0.113.0/24"]));
    assert.deepEqual(list.entries(), ["192.0.2.1/32"]);
    list.replaceAll(["198.51.100.1", "203.0.113.0/24"]);
    assert.deepEqual(list.entries(), ["198.51.100.1/32", "203.0.113.0/24"]);
    assert.ok(!list.has(parseIp("192.0.2.1")));
    assert.ok(list.has(parseIp("203.0.113.77")));
    list.clear();
    assert.equal(list.size, 0);
    assert.ok(!list.has(parseIp("203.0.113.77")));
  });

  it("rejects bad entries with NE_INVALID_ADDRESS", () => {
    const list = new AddressList();
    for (const bad of ["", "10.0.0.0/33", "::/129", "example.com", "10.0.0.0/8/8"]) {
      assertInvalidAddress(() => list.add(bad));
      assertInvalidAddress(() => list.remove(bad));
    }
    assertInvalidAddress(() => new AddressList(["10.0.0.1", "nope"]));
    assert.equal(list.size, 0);
  });

  it("matches mapped IPv4 peers against IPv4 entries and the other way round", () => {
    const list = new AddressList(["10.0.0.0/8", "::ffff:192.0.2.0/120"]);
    assert.ok(list.has(parseIp("::ffff:10.9.8.7")));
    assert.ok(list.has(parseIp("192.0.2.200")));
    assert.ok(list.has(parseIp("::ffff:192.0.2.200")));
    assert.ok(!list.has(parseIp("::ffff:11.0.0.1")));
  });

  it("keeps families apart: an IPv6 range never matches an IPv4 peer", () => {
    const list = new AddressList(["::/0"]);
    assert.ok(list.has(parseIp("2001:db8::1")));
    assert.ok(!list.has(parseIp("10.0.0.1")));
    assert.ok(!list.has(parseIp("::ffff:10.0.0.1")));
    const v4 = new AddressList(["0.0.0.0/0"]);
    assert.ok(v4.has(parseIp("10.0.0.1")));
    assert.ok(!v4.has(parseIp("::a00:1")), "IPv4-compatible ::10.0.0.1 is IPv6");
  });
});

describe("guard address list - lookups against a naive reference", () => {
  it("property: IPv4 ranges and addresses, plain and mapped", () => {
    const entry = fc.record({ base: fc.nat({ max: 0xffffffff }), prefix: fc.integer({ min: 0, max: 32 }) });
    fc.assert(
      fc.property(
        fc.array(entry, { maxLength: 40 }),
        fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 40 }),
        (entries, probes) => {
          const list = new AddressList(entries.map((e) => `${dotted(e.base)}/${e.prefix}`));
          const reference = entries.map((e) => ({ bits: bits4(e.base), prefix: e.prefix }));
          // Probes: random addresses and addresses inside each entry.
          const inside = entries.map((e, i) => {
            const host = e.prefix === 32 ? 0 : (probes[i] ?? i) % 2 ** (32 - e.prefix);
            return ((e.base & (e.prefix === 0 ? 0 : (0xffffffff << (32 - e.prefix)) >>> 0)) >>> 0) + host;
          });
          for (const n of [...probes, ...inside]) {
            const expected = naiveHas(reference, bits4(n));
            assert.equal(list.has(parseIp(dotted(n))), expected);
            assert.equal(list.has(parseIp(`::ffff:${dotted(n)}`)), expected);
          }
          for (const n of inside) assert.ok(list.has(parseIp(dotted(n))));
        },
      ),
    );
  });

  it("property: IPv6 ranges and addresses", () => {
    const v6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).filter((v) => v >> 32n !== 0xffffn);
    // Prefixes near common ones, and values sharing long prefixes, so matches are not all trivial.
    const prefix = fc.oneof(fc.integer({ min: 0, max: 128 }), fc.constantFrom(32, 48, 56, 64, 128));
    fc.assert(
      fc.property(
        v6,
        fc.array(fc.record({ tail: v6, prefix }), { maxLength: 30 }),
        fc.array(v6, { maxLength: 30 }),
        (shared, entries, probes) => {
          // Every value shares its top 32 bits with `shared`, so ranges of /32 and wider often match.
          const top = shared & (((1n << 32n) - 1n) << 96n);
          const place = (v: bigint): bigint => top | (v & ((1n << 96n) - 1n));
          const listed = entries.map((e) => ({ value: place(e.tail), prefix: e.prefix }));
          const list = new AddressList(listed.map((e) => `${hex(e.value)}/${e.prefix}`));
          const reference = listed.map((e) => ({ bits: bits6(e.value), prefix: e.prefix }));
          for (const probe of [...probes.map(place), ...listed.map((e) => e.value)]) {
            const ip = parseIp(hex(probe));
            if (ip.family === 4) continue; // placed into the mapped range by chance
            assert.equal(list.has(ip), naiveHas(reference, bits6(probe)));
          }
          for (const e of listed) {
            const ip = parseIp(hex(e.value));
            if (ip.family === 6) assert.ok(list.has(ip));
          }
        },
      ),
    );
  });

  it("property: add and remove in any order agree with the reference", () => {
    const op = fc.record({
      add: fc.boolean(),
      base: fc.nat({ max: 255 }).map((n) => (10 << 24) | (n << 8)),
      prefix: fc.constantFrom(8, 16, 24, 32),
    });
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 60 }),
        fc.array(fc.nat({ max: 0xffff }), { maxLength: 20 }),
        (ops, probes) => {
          const list = new AddressList();
          const model = new Map<string, { bits: string; prefix: number }>();
          for (const o of ops) {
            const mask = (0xffffffff << (32 - o.prefix)) >>> 0;
            const network = (o.base & mask) >>> 0;
            const key = `${network}/${o.prefix}`;
            if (o.add) {
              assert.equal(list.add(`${dotted(o.base)}/${o.prefix}`), !model.has(key));
              model.set(key, { bits: bits4(network), prefix: o.prefix });
            } else {
              assert.equal(list.remove(`${dotted(o.base)}/${o.prefix}`), model.delete(key));
            }
          }
          assert.equal(list.size, model.size);
          for (const p of probes) {
            const n = ((10 << 24) | p) >>> 0;
            assert.equal(list.has(parseIp(dotted(n))), naiveHas([...model.values()], bits4(n)));
          }
        },
      ),
    );
  });
});

describe("guard address list - 100,000 entries", () => {
  it("answers correctly for every member and for non-members", () => {
    const next = prng(42);
    const v4 = new Set<number>();
    while (v4.size < 90_000) v4.add((next() | 0x80000000) >>> 0); // members in 128.0.0.0/1
    const v6 = new Set<bigint>();
    while (v6.size < 9_000) v6.add((0x20010db8n << 96n) | (BigInt(next()) << 32n) | BigInt(next()));
    const ranges = Array.from({ length: 1_000 }, (_, i) => `${dotted((0x40000000 + i * 256) >>> 0)}/24`);
    const entries = [...[...v4].map(dotted), ...[...v6].map(hex), ...ranges];
    const list = new AddressList(entries);
    assert.equal(list.size, 100_000);

    for (const n of v4) assert.ok(list.has(parseIp(dotted(n))));
    for (const v of v6) assert.ok(list.has(parseIp(hex(v))));
    for (let i = 0; i < 1_000; i++)
      assert.ok(list.has(parseIp(dotted((0x40000000 + i * 256 + (next() & 255)) >>> 0))));

    for (let i = 0; i < 20_000; i++) {
      const n = next() & 0x7fffffff; // 0.0.0.0/1: only the /24 ranges live there
      const inRange = n >= 0x40000000 && n < 0x40000000 + 1_000 * 256;
      assert.equal(list.has(parseIp(dotted(n))), inRange);
      const high = (next() | 0x80000000) >>> 0;
      assert.equal(list.has(parseIp(dotted(high))), v4.has(high));
      const v = (0x20010db8n << 96n) | (BigInt(next()) << 32n) | BigInt(next());
      assert.equal(list.has(parseIp(hex(v))), v6.has(v));
    }
  });
});
