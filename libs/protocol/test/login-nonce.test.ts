import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LOGIN_NONCE_RANDOM_BYTES, makeLoginNonce, parseLoginNonce } from "@meridian/protocol";
import fc from "fast-check";

const FORMAT = /^[0-9a-z]{1,11}\.[A-Za-z0-9_-]{22}$/;

/** The 16 random bytes of a nonce, decoded from its base64url part. */
function randomPart(nonce: string): Buffer {
  return Buffer.from(nonce.split(".")[1] ?? "", "base64url");
}

describe("login nonce - format", () => {
  it("is <issuedAt base 36>.<22 base64url characters>", () => {
    const nonce = makeLoginNonce(1_760_000_000_000);
    assert.match(nonce, FORMAT);
    assert.equal(nonce.split(".")[0], (1_760_000_000_000).toString(36));
    assert.equal(LOGIN_NONCE_RANDOM_BYTES, 16);
    assert.equal(randomPart(nonce).length, 16);
  });

  it("fits the 128-character nonce fields of hello_ok, login and the lobby's login request", () => {
    assert.ok(makeLoginNonce(Number.MAX_SAFE_INTEGER).length <= 128);
    assert.match(makeLoginNonce(Number.MAX_SAFE_INTEGER), FORMAT);
  });

  it("defaults to now", () => {
    const before = Date.now();
    const parsed = parseLoginNonce(makeLoginNonce());
    const after = Date.now();
    assert.ok(parsed !== undefined);
    assert.ok(parsed.issuedAt >= before && parsed.issuedAt <= after);
  });

  it("drops a fractional part of the issue time", () => {
    assert.equal(parseLoginNonce(makeLoginNonce(1234.9))?.issuedAt, 1234);
  });
});

describe("login nonce - uniqueness", () => {
  it("100,000 nonces issued in the same millisecond are all different", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(makeLoginNonce(1_760_000_000_000));
    assert.equal(seen.size, 100_000);
  });

  it("the random part uses every base64url character and both values of each bit", () => {
    // A weak generator (a constant byte, a counter) would leave characters or bits unused.
    const characters = new Set<string>();
    let ones = 0;
    const count = 2_000;
    for (let i = 0; i < count; i++) {
      const nonce = makeLoginNonce(0);
      for (const c of (nonce.split(".")[1] ?? "").slice(0, 21)) characters.add(c);
      for (const byte of randomPart(nonce)) for (let b = 0; b < 8; b++) ones += (byte >> b) & 1;
    }
    assert.equal(characters.size, 64);
    const bits = count * 128;
    assert.ok(Math.abs(ones / bits - 0.5) < 0.01, `${ones} ones of ${bits} bits`);
  });
});

describe("login nonce - parse", () => {
  it("issuedAt round-trips for every safe time (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (now) => {
        const nonce = makeLoginNonce(now);
        assert.match(nonce, FORMAT);
        assert.deepEqual(parseLoginNonce(nonce), { issuedAt: now });
      }),
      { numRuns: 1000 },
    );
  });

  it("accepts hand-written valid nonces", () => {
    assert.deepEqual(parseLoginNonce(`0.${"A".repeat(22)}`), { issuedAt: 0 });
    assert.deepEqual(parseLoginNonce(`zz.${"-_09azAZ".repeat(2)}${"a".repeat(6)}`), {
      issuedAt: 36 * 36 - 1,
    });
  });

  it("refuses malformed nonces", () => {
    const r = "A".repeat(22);
    const cases: unknown[] = [
      "",
      ".",
      r,
      `.${r}`,
      "lz2x4a0.",
      `lz2x4a0.${"A".repeat(21)}`,
      `lz2x4a0.${"A".repeat(23)}`,
      `lz2x4a0.${"A".repeat(21)}=`,
      `lz2x4a0.${"A".repeat(21)}+`,
      `lz2x4a0.${"A".repeat(21)}/`,
      `LZ2X4A0.${r}`,
      `-1.${r}`,
      `1.5.${r}`,
      `lz2x4a0..${r}`,
      `lz2x4a0.${r}\n`,
      ` lz2x4a0.${r}`,
      `lz2x4a0:${r}`,
      `${"1".repeat(12)}.${r}`,
      // 11 base-36 digits, but beyond Number.MAX_SAFE_INTEGER.
      `zzzzzzzzzzz.${r}`,
    ];
    for (const value of cases) assert.equal(parseLoginNonce(value), undefined, JSON.stringify(value));
  });

  it("refuses values that are not strings", () => {
    for (const value of [undefined, null, 0, 1_760_000_000_000, true, {}, [], new String(makeLoginNonce())]) {
      assert.equal(parseLoginNonce(value), undefined);
    }
  });

  it("never throws on arbitrary strings, and accepts only the format (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 64 }), (value) => {
        const parsed = parseLoginNonce(value);
        if (parsed !== undefined) {
          assert.match(value, FORMAT);
          assert.ok(Number.isSafeInteger(parsed.issuedAt) && parsed.issuedAt >= 0);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws on strings shaped like a nonce (property)", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-z]{1,13}\.[A-Za-z0-9_=+/-]{20,24}$/), (value) => {
        const parsed = parseLoginNonce(value);
        assert.equal(
          parsed === undefined,
          !FORMAT.test(value) || !Number.isSafeInteger(Number.parseInt(value, 36)),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws on arbitrary values (property)", () => {
    fc.assert(
      fc.property(
        fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true }),
        (value) => {
          const parsed = parseLoginNonce(value);
          if (parsed !== undefined) assert.equal(typeof value, "string");
        },
      ),
      { numRuns: 1000 },
    );
  });
});
