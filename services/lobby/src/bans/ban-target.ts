/**
 * Parsing and normalising the target of an address ban (kind `ip` or `cidr`) before it reaches
 * Postgres's `cidr` type.
 *
 * - An IPv4 or IPv6 address, optionally with `/prefix`; no zone id (`%eth0`), no whitespace inside.
 * - Host bits are cleared (`10.1.2.3/8` bans `10.0.0.0/8`), as netengine's `AddressList` does; Postgres
 *   would refuse them otherwise.
 * - An IPv4-mapped IPv6 address or range with a prefix of 96 or more becomes IPv4
 *   (`::ffff:10.0.0.1` → `10.0.0.1/32`, `::ffff:10.0.0.0/104` → `10.0.0.0/8`), so it matches the
 *   address a gateway sees for the same peer.
 *
 * The text stored in the mirror is the one Postgres returns for the `cidr` column (its canonical
 * form), so the mirror written on a ban and the one rebuilt from Postgres are the same strings.
 */
import { isIPv4, isIPv6 } from "node:net";

/** A parsed, normalised address target. */
export interface BanAddress {
  readonly family: 4 | 6;
  /** Prefix length: 0–32 for IPv4, 0–128 for IPv6. */
  readonly prefix: number;
  /** Whether it is one host (`/32` or `/128`). */
  readonly host: boolean;
  /** `network/prefix` in a form Postgres's `cidr` input accepts (IPv6 uncompressed). */
  readonly text: string;
}

const PREFIX = /^[0-9]{1,3}$/;

function parseV4(text: string): number | undefined {
  if (!isIPv4(text)) return undefined;
  let value = 0;
  for (const part of text.split(".")) value = value * 256 + Number(part);
  return value;
}

function parseV6(text: string): bigint | undefined {
  if (!isIPv6(text) || text.includes("%")) return undefined;
  let s = text;
  const lastColon = s.lastIndexOf(":");
  const last = s.slice(lastColon + 1);
  if (last.includes(".")) {
    const v4 = parseV4(last);
    if (v4 === undefined) return undefined;
    s = `${s.slice(0, lastColon + 1)}${Math.floor(v4 / 65536).toString(16)}:${(v4 % 65536).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const groups =
    halves.length === 2
      ? [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail]
      : head;
  if (groups.length !== 8) return undefined;
  let value = 0n;
  for (const group of groups) value = (value << 16n) | BigInt(Number.parseInt(group, 16));
  return value;
}

function formatV4(value: number): string {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join(".");
}

function formatV6(value: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(":");
}

const V6_ALL = (1n << 128n) - 1n;

/**
 * Parses an address or CIDR range, normalised as described in the module doc.
 * @returns undefined when `text` is not an IPv4/IPv6 address with an optional valid prefix.
 */
export function parseBanAddress(text: string): BanAddress | undefined {
  const slash = text.indexOf("/");
  const address = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  if (prefixText !== undefined && !PREFIX.test(prefixText)) return undefined;

  const v4 = parseV4(address);
  if (v4 !== undefined) {
    const prefix = prefixText === undefined ? 32 : Number(prefixText);
    if (prefix > 32) return undefined;
    const mask = prefix === 0 ? 0 : (0xffff_ffff << (32 - prefix)) >>> 0;
    return { family: 4, prefix, host: prefix === 32, text: `${formatV4((v4 & mask) >>> 0)}/${prefix}` };
  }
  const v6 = parseV6(address);
  if (v6 === undefined) return undefined;
  const prefix = prefixText === undefined ? 128 : Number(prefixText);
  if (prefix > 128) return undefined;
  const network = v6 & ((V6_ALL << BigInt(128 - prefix)) & V6_ALL);
  if (prefix >= 96 && network >> 32n === 0xffffn) {
    const p4 = prefix - 96;
    return {
      family: 4,
      prefix: p4,
      host: p4 === 32,
      text: `${formatV4(Number(network & 0xffff_ffffn))}/${p4}`,
    };
  }
  return { family: 6, prefix, host: prefix === 128, text: `${formatV6(network)}/${prefix}` };
}
