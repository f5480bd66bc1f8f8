import * as assert from "node:assert/strict";
import { isIP } from "node:net";
import { describe, it } from "node:test";
import fc from "fast-check";
import { NetEngineError, NetEngineErrorCode } from "../src/errors.js";
import { cidrContains, parseCidr, parseIp, tryParseCidr, tryParseIp } from "../src/guard/ip-address.js";

/** Naive reference: expands any IPv6 text form group by group, independently of the parser. */
function referenceV6(text: string): bigint {
  const bare = text.split("%")[0] as string;
  const expandPart = (part: string): string[] =>
    part === ""
      ? []
      : part.split(":").flatMap((piece) => {
          if (!piece.includes(".")) return [piece];
          const [a, b, c, d] = piece.split(".").map((o) => Number(o).toString(16).padStart(2, "0"));
          return [`${a}${b}`, `${c}${d}`];
        });
  let groups: string[];
  if (bare.includes("::")) {
    const [head, tail] = bare.split("::") as [string, string];
    const h = expandPart(head);
    const t = expandPart(tail);
    groups = [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  } else {
    groups = expandPart(bare);
  }
  assert.equal(groups.length, 8);
  return BigInt(`0x${groups.map((g) => g.padStart(4, "0")).join("")}`);
}

function referenceV4(text: string): bigint {
  return text.split(".").reduce((acc, octet) => acc * 256n + BigInt(octet), 0n);
}

function dotted(value: bigint): string {
  const n = Number(value);
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** WHATWG URL serialises IPv6 hosts per RFC 5952: an independent oracle for canonical text. */
function whatwgV6(value: bigint): string {
  const full = value.toString(16).padStart(32, "0").match(/.{4}/g)?.join(":") ?? "";
  return new URL(`http://[${full}]/`).hostname.slice(1, -1);
}

function assertInvalidAddress(fn: () => unknown): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof NetEngineError);
    assert.equal(error.code, NetEngineErrorCode.InvalidAddress);
    return true;
  });
}

describe("guard ip - parsing", () => {
  it("parses IPv4 dotted quads", () => {
    assert.deepEqual(parseIp("203.0.113.7"), { family: 4, value: 0xcb007107n, text: "203.0.113.7" });
    assert.deepEqual(parseIp("0.0.0.0"), { family: 4, value: 0n, text: "0.0.0.0" });
    assert.deepEqual(parseIp("255.255.255.255"), { family: 4, value: 0xffffffffn, text: "255.255.255.255" });
  });

  it("parses IPv6 with and without :: compression into canonical RFC 5952 text", () => {
    assert.deepEqual(parseIp("::"), { family: 6, value: 0n, text: "::" });
    assert.deepEqual(parseIp("::1"), { family: 6, value: 1n, text: "::1" });
    const ip = parseIp("2001:0DB8:0000:0000:0000:0000:0000:0001");
    assert.equal(ip.family, 6);
    assert.equal(ip.text, "2001:db8::1");
    assert.equal(ip.value, (0x20010db8n << 96n) | 1n);
    assert.equal(parseIp("1:0:0:2:0:0:0:3").text, "1:0:0:2::3");
    assert.equal(parseIp("1:0:2:3:4:5:6:7").text, "1:0:2:3:4:5:6:7");
    assert.equal(parseIp("1:0:0:2:3:0:0:4").text, "1::2:3:0:0:4");
  });

  it("normalises IPv4-mapped IPv6 to family 4, in dotted and hex form", () => {
    for (const text of ["::ffff:1.2.3.4", "::FFFF:1.2.3.4", "0:0:0:0:0:ffff:1.2.3.4", "::ffff:102:304"]) {
      assert.deepEqual(parseIp(text), { family: 4, value: 0x01020304n, text: "1.2.3.4" }, text);
    }
  });

  it("keeps IPv4-compatible and NAT64 addresses as IPv6", () => {
    assert.equal(parseIp("::1.2.3.4").family, 6);
    assert.equal(parseIp("64:ff9b::1.2.3.4").family, 6);
    assert.equal(parseIp("64:ff9b::1.2.3.4").value, (0x64ff9bn << 96n) | 0x01020304n);
  });

  it("strips a zone id", () => {
    const ip = parseIp("fe80::1%eth0");
    assert.equal(ip.family, 6);
    assert.equal(ip.text, "fe80::1");
    assert.equal(ip.value, (0xfe80n << 112n) | 1n);
    assert.deepEqual(parseIp("fe80::1%25"), ip);
  });

  it("rejects garbage with NE_INVALID_ADDRESS, and tryParseIp returns undefined", () => {
    const garbage = [
      "",
      "localhost",
      " 1.2.3.4",
      "1.2.3.4 ",
      "1.2.3.4:80",
      "01.2.3.4",
      "256.1.1.1",
      "1.2.3",
      "1.2.3.4.5",
      "[::1]",
      "1::2::3",
      "12345::",
      ":::",
      "fe80::1%",
      "1.2.3.4%eth0",
      "::ffff:1.2.3.4/8",
      "a".repeat(10_000),
    ];
    for (const text of garbage) {
      assertInvalidAddress(() => parseIp(text));
      assert.equal(tryParseIp(text), undefined, text);
    }
    assert.equal(tryParseIp(undefined), undefined);
  });

  it("property: IPv4 values match a naive reference and text round-trips", () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        const ip = parseIp(text);
        assert.equal(ip.family, 4);
        assert.equal(ip.value, referenceV4(text));
        assert.equal(ip.text, text);
      }),
    );
  });

  it("property: IPv6 values match a naive reference; text is RFC 5952 or mapped dotted IPv4", () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const ip = parseIp(text);
        const value = referenceV6(text);
        if (value >> 32n === 0xffffn) {
          assert.equal(ip.family, 4);
          assert.equal(ip.value, value & 0xffffffffn);
          assert.equal(ip.text, dotted(ip.value));
        } else {
          assert.equal(ip.family, 6);
          assert.equal(ip.value, value);
          assert.equal(ip.text, whatwgV6(value));
        }
        assert.deepEqual(parseIp(ip.text), ip);
      }),
    );
  });

  it("property: any 128-bit value formats canonically and re-parses to itself", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
          // Sparse values exercise zero-run compression.
          fc
            .array(fc.constantFrom(0, 0, 0, 1, 0xffff), { minLength: 8, maxLength: 8 })
            .map((gs) => gs.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n)),
        ),
        (value) => {
          const full = value.toString(16).padStart(32, "0").match(/.{4}/g)?.join(":") ?? "";
          const ip = parseIp(full);
          if (value >> 32n === 0xffffn) {
            assert.equal(ip.family, 4);
          } else {
            assert.equal(ip.text, whatwgV6(value));
            assert.equal(parseIp(ip.text).value, value);
          }
        },
      ),
    );
  });

  it("property: arbitrary strings either parse (iff node:net isIP accepts them) or fail with the code", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9a-fA-F:.%]{0,45}$/)), (text) => {
        const ip = tryParseIp(text);
        if (isIP(text) === 0 || text.endsWith("%")) {
          assert.equal(ip, undefined);
          assertInvalidAddress(() => parseIp(text));
        } else {
          assert.notEqual(ip, undefined);
        }
      }),
    );
  });
});

describe("guard ip - CIDR ranges", () => {
  it("accepts a bare address as a /32 or /128", () => {
    assert.deepEqual(parseCidr("10.0.0.1"), {
      family: 4,
      network: 0x0a000001n,
      prefix: 32,
      text: "10.0.0.1/32",
    });
    assert.deepEqual(parseCidr("2001:db8::1"), {
      family: 6,
      network: (0x20010db8n << 96n) | 1n,
      prefix: 128,
      text: "2001:db8::1/128",
    });
  });

  it("masks off host bits", () => {
    assert.equal(parseCidr("10.1.2.3/8").text, "10.0.0.0/8");
    assert.equal(parseCidr("10.1.2.3/8").network, 0x0a000000n);
    assert.equal(parseCidr("2001:db8:ffff::1/32").text, "2001:db8::/32");
    assert.equal(parseCidr("1.2.3.4/0").text, "0.0.0.0/0");
    assert.equal(parseCidr("::1/0").text, "::/0");
  });

  it("turns IPv4-mapped ranges of /96 or longer into IPv4 ranges", () => {
    assert.deepEqual(parseCidr("::ffff:10.0.0.0/104"), {
      family: 4,
      network: 0x0a000000n,
      prefix: 8,
      text: "10.0.0.0/8",
    });
    assert.equal(parseCidr("::ffff:1.2.3.4").text, "1.2.3.4/32");
    assert.equal(parseCidr("::ffff:0:0/96").text, "0.0.0.0/0");
    assert.equal(parseCidr("::ffff:0:0/95").family, 6);
  });

  it("rejects bad prefixes and bad addresses with NE_INVALID_ADDRESS", () => {
    const bad = [
      "10.0.0.0/33",
      "::/129",
      "10.0.0.0/",
      "10.0.0.0/-1",
      "10.0.0.0/+8",
      "10.0.0.0/ 8",
      "10.0.0.0/8 ",
      "10.0.0.0/1e1",
      "10.0.0.0/8/8",
      "10.0.0.0/1000",
      "/8",
      "10.0.0/8",
      "garbage/8",
    ];
    for (const text of bad) {
      assertInvalidAddress(() => parseCidr(text));
      assert.equal(tryParseCidr(text), undefined, text);
    }
  });

  it("property: every IPv4 address inside a random range matches, every one outside does not", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffffffff }),
        fc.integer({ min: 0, max: 32 }),
        fc.nat({ max: 0xffffffff }),
        (base, prefix, probe) => {
          const cidr = parseCidr(`${dotted(BigInt(base))}/${prefix}`);
          const bits = (n: number): string => n.toString(2).padStart(32, "0");
          const inside = bits(base).slice(0, prefix) === bits(probe).slice(0, prefix);
          assert.equal(cidrContains(cidr, parseIp(dotted(BigInt(probe)))), inside);
          // And through the mapped form a dual-stack socket reports.
          assert.equal(cidrContains(cidr, parseIp(`::ffff:${dotted(BigInt(probe))}`)), inside);
          // An address built inside the range always matches.
          const hostBits = prefix === 32 ? 0 : probe % 2 ** (32 - prefix);
          const member = Number(cidr.network) + hostBits;
          assert.ok(cidrContains(cidr, parseIp(dotted(BigInt(member)))));
        },
      ),
    );
  });

  it("property: every IPv6 address inside a random range matches, every one outside does not", () => {
    const v6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).filter((v) => v >> 32n !== 0xffffn);
    const hex = (v: bigint): string => v.toString(16).padStart(32, "0").match(/.{4}/g)?.join(":") ?? "";
    fc.assert(
      fc.property(v6, fc.integer({ min: 0, max: 128 }), v6, (base, prefix, probe) => {
        const cidr = parseCidr(`${hex(base)}/${prefix}`);
        const bits = (n: bigint): string => n.toString(2).padStart(128, "0");
        const inside = bits(base).slice(0, prefix) === bits(probe).slice(0, prefix);
        assert.equal(cidrContains(cidr, parseIp(hex(probe))), inside);
        const member = cidr.network | (probe & ((1n << BigInt(128 - prefix)) - 1n));
        const ip = parseIp(hex(member));
        // A mapped member is family 4 by design and is not in an IPv6 range.
        assert.equal(cidrContains(cidr, ip), ip.family === 6);
      }),
    );
  });
});
