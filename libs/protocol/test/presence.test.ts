import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DEFAULT_PRESENCE_TTL_MS,
  decodePresence,
  encodePresence,
  isPresenceAccountId,
  MAX_PRESENCE_TEXT_LENGTH,
  PRESENCE_LAYOUT_VERSION,
  PRESENCE_REFRESH_DIVISOR,
  PresenceField,
  type PresenceRecord,
  ProtocolError,
  ProtocolErrorCode,
  presenceKey,
  presenceWriteCommands,
} from "@meridian/protocol";
import fc from "fast-check";

const invalidAt = (path: string) => (error: unknown) =>
  error instanceof ProtocolError &&
  error.code === ProtocolErrorCode.InvalidMessage &&
  error.context.path === path;

const sample: PresenceRecord = {
  accountId: "42",
  username: "Ålice_99",
  world: "eu-1",
  zone: "z-3-4",
  server: "17",
  gateway: "gw-a",
  since: 1_700_000_000_000,
  updatedAt: 1_700_000_010_000,
};

const text = fc
  .string({ unit: "grapheme", minLength: 1, maxLength: 40 })
  .filter((s) => s.length <= MAX_PRESENCE_TEXT_LENGTH && !/\p{Cc}/u.test(s));
const time = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const accountId = fc.bigInt({ min: 1n, max: 9_223_372_036_854_775_807n }).map(String);
const record: fc.Arbitrary<PresenceRecord> = fc
  .record({
    accountId,
    username: text,
    world: text,
    zone: fc.option(text, { nil: null }),
    server: fc.option(text, { nil: null }),
    gateway: text,
    since: time,
    updatedAt: time,
  })
  .map((r) => ({ ...r, since: Math.min(r.since, r.updatedAt), updatedAt: Math.max(r.since, r.updatedAt) }));

describe("presence - key", () => {
  it("is <prefix>presence:<accountId>", () => {
    assert.equal(presenceKey("mt:abc:", "42"), "mt:abc:presence:42");
    assert.equal(presenceKey("", "9223372036854775807"), "presence:9223372036854775807");
  });

  it("refuses account ids that are not positive decimal bigints", () => {
    for (const id of [
      "",
      "0",
      "-1",
      "01",
      "1.0",
      "1e3",
      " 1",
      "abc",
      "9223372036854775808",
      "1".repeat(20),
    ]) {
      assert.throws(() => presenceKey("p:", id), invalidAt("accountId"), id);
      assert.equal(isPresenceAccountId(id), false, id);
    }
    assert.throws(() => presenceKey("p:", 42 as unknown as string), invalidAt("accountId"));
    assert.throws(() => presenceKey(undefined as unknown as string, "1"), invalidAt("keyPrefix"));
  });

  it("has a refresh period that leaves room for two missed refreshes", () => {
    assert.equal(DEFAULT_PRESENCE_TTL_MS, 30_000);
    assert.ok(PRESENCE_REFRESH_DIVISOR >= 3);
  });
});

describe("presence - codec", () => {
  it("encodes every field as a string, null as empty, with the layout version", () => {
    const hash = encodePresence({ ...sample, zone: null, server: null });
    assert.deepEqual(hash, {
      v: String(PRESENCE_LAYOUT_VERSION),
      accountId: "42",
      username: "Ålice_99",
      world: "eu-1",
      zone: "",
      server: "",
      gateway: "gw-a",
      since: "1700000000000",
      updatedAt: "1700000010000",
    });
    assert.deepEqual(Object.keys(hash).sort(), Object.values(PresenceField).sort());
  });

  it("round-trips every valid record", () => {
    fc.assert(
      fc.property(record, (r) => {
        assert.deepEqual(decodePresence(encodePresence(r)), r);
      }),
    );
  });

  it("ignores unknown fields (additive changes keep the version)", () => {
    assert.deepEqual(decodePresence({ ...encodePresence(sample), region: "eu" }), sample);
  });

  it("refuses to encode an invalid record, naming the field", () => {
    const cases: [Partial<Record<keyof PresenceRecord, unknown>>, string][] = [
      [{ accountId: "0" }, "accountId"],
      [{ username: "" }, "username"],
      [{ username: "a\nb" }, "username"],
      [{ world: "w".repeat(MAX_PRESENCE_TEXT_LENGTH + 1) }, "world"],
      [{ zone: "" }, "zone"],
      [{ server: 17 }, "server"],
      [{ gateway: undefined }, "gateway"],
      [{ since: -1 }, "since"],
      [{ since: 1.5 }, "since"],
      [{ updatedAt: sample.since - 1 }, "updatedAt"],
      [{ updatedAt: Number.MAX_SAFE_INTEGER + 2 }, "updatedAt"],
    ];
    for (const [patch, path] of cases) {
      assert.throws(() => encodePresence({ ...sample, ...patch } as PresenceRecord), invalidAt(path), path);
    }
    assert.throws(() => encodePresence(null as unknown as PresenceRecord), invalidAt("record"));
  });

  it("decodes an empty hash (no key) and non-objects as undefined", () => {
    for (const value of [{}, null, undefined, "x", 1, []]) {
      assert.equal(decodePresence(value as unknown as Record<string, string>), undefined);
    }
  });

  it("decodes a corrupt hash as undefined: missing, malformed or foreign fields", () => {
    const good = encodePresence(sample);
    const corrupt: Record<string, string | undefined>[] = [
      { v: "2" },
      { v: "" },
      { v: undefined },
      { accountId: "x" },
      { accountId: undefined },
      { username: "" },
      { world: undefined },
      { zone: undefined },
      { server: undefined },
      { gateway: "" },
      { since: "01" },
      { since: "1e3" },
      { since: "-5" },
      { since: " 5" },
      { since: "99999999999999999" },
      { updatedAt: "1" },
      { updatedAt: "abc" },
    ];
    for (const patch of corrupt) {
      const hash: Record<string, string> = { ...good };
      for (const [field, value] of Object.entries(patch)) {
        if (value === undefined) delete hash[field];
        else hash[field] = value;
      }
      assert.equal(decodePresence(hash), undefined, JSON.stringify(patch));
    }
  });

  it("never throws on arbitrary hashes, and what it accepts re-encodes to the same fields", () => {
    const field = fc.constantFrom(...Object.values(PresenceField), "__proto__", "constructor", "x");
    const value = fc.oneof(fc.string({ maxLength: 20 }), time.map(String), fc.constant("1"), fc.constant(""));
    fc.assert(
      fc.property(fc.dictionary(field, value), fc.option(record, { nil: undefined }), (noise, base) => {
        const hash = { ...(base === undefined ? {} : encodePresence(base)), ...noise };
        const decoded = decodePresence(hash);
        if (decoded !== undefined) {
          const again = encodePresence(decoded);
          for (const [k, v] of Object.entries(again)) assert.equal(hash[k], v);
        }
      }),
    );
  });

  it("reads only own properties (a prototype-polluted object is not a record)", () => {
    const proto = encodePresence(sample);
    assert.equal(decodePresence(Object.create(proto) as Record<string, string>), undefined);
  });
});

describe("presence - write commands", () => {
  it("are HSET of every field then PEXPIRE with the TTL, on the presence key", () => {
    const [hset, pexpire] = presenceWriteCommands("mt:x:", sample);
    assert.deepEqual(hset, ["hset", "mt:x:presence:42", ...Object.entries(encodePresence(sample)).flat()]);
    assert.deepEqual(pexpire, ["pexpire", "mt:x:presence:42", DEFAULT_PRESENCE_TTL_MS]);
    assert.deepEqual(presenceWriteCommands("p:", sample, 250)[1], ["pexpire", "p:presence:42", 250]);
  });

  it("refuse a bad TTL or record", () => {
    for (const ttl of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => presenceWriteCommands("p:", sample, ttl), invalidAt("ttlMs"));
    }
    assert.throws(() => presenceWriteCommands("p:", { ...sample, world: "" }), invalidAt("world"));
  });
});
