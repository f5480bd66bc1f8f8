/**
 * IP addresses and CIDR ranges as the accept guard sees them: a family and a `bigint` value.
 *
 * Parsing follows what Node reports as `socket.remoteAddress`:
 * - IPv4 in dotted-quad form (`203.0.113.7`; no leading zeros, no octal or hex forms);
 * - IPv6 in any RFC 4291 text form (`::` compression, upper or lower case, a dotted IPv4 tail);
 * - IPv4-mapped IPv6 (`::ffff:203.0.113.7`, what a dual-stack socket reports for an IPv4 peer) is
 *   normalised to family 4, so that one list entry covers a client however it reached the socket;
 * - a zone id (`fe80::1%eth0`) is stripped: lists and limits work on addresses, not interfaces.
 *
 * Surrounding whitespace, brackets (`[::1]`) and ports are not accepted.
 *
 * @module
 */
import { isIP } from "node:net";
import { NetEngineError, NetEngineErrorCode } from "../errors.js";

/** An address family: 4 or 6. */
export type IpFamily = 4 | 6;

/** A parsed IP address. */
export interface ParsedIp {
  /** 4 for IPv4 (including IPv4-mapped IPv6), 6 for IPv6. */
  readonly family: IpFamily;
  /** The address as an unsigned integer: 32 bits for family 4, 128 bits for family 6. */
  readonly value: bigint;
  /**
   * Canonical text: dotted quad for family 4; RFC 5952 for family 6 (lower case, no leading
   * zeros, the first longest run of two or more zero groups compressed to `::`, no zone).
   */
  readonly text: string;
}

/** A parsed CIDR range. */
export interface ParsedCidr {
  /** 4 or 6; an IPv4-mapped IPv6 range with a prefix of 96 or more becomes family 4. */
  readonly family: IpFamily;
  /** The network address, host bits cleared. */
  readonly network: bigint;
  /** Prefix length: 0–32 for family 4, 0–128 for family 6. */
  readonly prefix: number;
  /** Canonical text `network/prefix`, e.g. `10.0.0.0/8`, `2001:db8::/32`. */
  readonly text: string;
}

/** The width in bits of each family's addresses. */
export const IP_BITS = { 4: 32, 6: 128 } as const;

const MAPPED_V4_HIGH = 0xffffn; // ::ffff:0:0/96, bits 32..47 set, all higher bits clear
const MAX_TEXT_LENGTH = 128; // a zone id is free text; bound the work done on garbage

/**
 * Parses an IP address.
 * @throws NetEngineError `NE_INVALID_ADDRESS` when `text` is not an IPv4 or IPv6 address.
 */
export function parseIp(text: string): ParsedIp {
  const ip = tryParseIp(text);
  if (ip === undefined) throw invalidAddress("not an IP address", text);
  return ip;
}

/**
 * Parses an IP address, or returns `undefined` where {@link parseIp} would throw. This is the
 * accept path's variant: a peer's garbage costs no exception.
 */
export function tryParseIp(text: string | undefined): ParsedIp | undefined {
  if (typeof text !== "string" || text.length === 0 || text.length > MAX_TEXT_LENGTH) return undefined;
  const family = isIP(text);
  if (family === 4) return { family: 4, value: BigInt(parseV4(text, 0, text.length)), text };
  if (family !== 6) return undefined;
  const zone = text.indexOf("%");
  const address = zone === -1 ? text : text.slice(0, zone);
  if (zone !== -1 && isIP(address) !== 6) return undefined;
  const value = parseV6(address);
  if (value >> 32n === MAPPED_V4_HIGH) {
    const v4 = Number(value & 0xffff_ffffn);
    // Node reports a mapped peer as `::ffff:a.b.c.d`: reuse its dotted tail rather than format.
    const dot = address.lastIndexOf(":");
    const tail = address.slice(dot + 1);
    return { family: 4, value: BigInt(v4), text: tail.includes(".") ? tail : formatV4(v4) };
  }
  return { family: 6, value, text: formatV6(value) };
}

/**
 * Parses a CIDR range (`10.0.0.0/8`, `2001:db8::/32`) or a bare address (a /32 or /128 range).
 *
 * Host bits set in the address are cleared: `10.1.2.3/8` is the range `10.0.0.0/8`. That is what
 * an operator who pastes an address with a prefix means, and it keeps one canonical form per range.
 * An IPv4-mapped IPv6 range with a prefix of 96 or more becomes the IPv4 range it maps
 * (`::ffff:10.0.0.0/104` is `10.0.0.0/8`); a shorter IPv6 prefix stays IPv6 and so never matches a
 * peer, since mapped peers are family 4. A zone id is stripped, as in {@link parseIp}.
 *
 * @throws NetEngineError `NE_INVALID_ADDRESS` for a bad address or a prefix that is not a decimal
 * integer within the family's width.
 */
export function parseCidr(text: string): ParsedCidr {
  const cidr = tryParseCidr(text);
  if (cidr === undefined) throw invalidAddress("not an IP address or CIDR range", text);
  return cidr;
}

/** Parses a CIDR range, or returns `undefined` where {@link parseCidr} would throw. */
export function tryParseCidr(text: string): ParsedCidr | undefined {
  if (typeof text !== "string") return undefined;
  const slash = text.indexOf("/");
  const address = slash === -1 ? text : text.slice(0, slash);
  let family: IpFamily;
  let value: bigint;
  const kind = address.length <= MAX_TEXT_LENGTH ? isIP(address) : 0;
  if (kind === 4) {
    family = 4;
    value = BigInt(parseV4(address, 0, address.length));
  } else if (kind === 6) {
    family = 6;
    const zone = address.indexOf("%");
    const bare = zone === -1 ? address : address.slice(0, zone);
    if (zone !== -1 && isIP(bare) !== 6) return undefined;
    value = parseV6(bare);
  } else {
    return undefined;
  }
  let prefix: number = IP_BITS[family];
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits)) return undefined;
    prefix = Number(digits);
    if (prefix > IP_BITS[family]) return undefined;
  }
  if (family === 6 && prefix >= 96 && value >> 32n === MAPPED_V4_HIGH) {
    family = 4;
    value &= 0xffff_ffffn;
    prefix -= 96;
  }
  const network = value & prefixMask(family, prefix);
  return { family, network, prefix, text: `${formatIp(family, network)}/${prefix}` };
}

/** The mask of a prefix: `prefix` leading one bits over the family's width. */
export function prefixMask(family: IpFamily, prefix: number): bigint {
  const bits = BigInt(IP_BITS[family]);
  const all = (1n << bits) - 1n;
  return (all << (bits - BigInt(prefix))) & all;
}

/** Canonical text of an address value (see {@link ParsedIp.text}). */
export function formatIp(family: IpFamily, value: bigint): string {
  return family === 4 ? formatV4(Number(value)) : formatV6(value);
}

/** Whether `ip` lies inside `cidr` (same family, same leading `prefix` bits). */
export function cidrContains(cidr: ParsedCidr, ip: ParsedIp): boolean {
  return cidr.family === ip.family && (ip.value & prefixMask(cidr.family, cidr.prefix)) === cidr.network;
}

function invalidAddress(message: string, text: unknown): NetEngineError {
  const shown = typeof text === "string" ? text.slice(0, MAX_TEXT_LENGTH) : typeof text;
  return new NetEngineError(NetEngineErrorCode.InvalidAddress, `${message}: ${JSON.stringify(shown)}`, {
    context: { address: shown },
  });
}

/** Dotted quad in `text[start, end)`, already validated by `isIP`, as an unsigned 32-bit number. */
function parseV4(text: string, start: number, end: number): number {
  let result = 0;
  let octet = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      result = result * 256 + octet;
      octet = 0;
    } else {
      octet = octet * 10 + (c - 0x30);
    }
  }
  return result * 256 + octet;
}

/** An IPv6 address without zone, already validated by `isIP`, as a 128-bit value. */
function parseV6(text: string): bigint {
  const groups = new Array<number>(8).fill(0);
  const gap = text.indexOf("::");
  const head = gap === -1 ? text : text.slice(0, gap);
  const tail = gap === -1 ? "" : text.slice(gap + 2);
  const headGroups = splitGroups(head);
  const tailGroups = splitGroups(tail);
  for (let i = 0; i < headGroups.length; i++) groups[i] = headGroups[i] ?? 0;
  for (let i = 0; i < tailGroups.length; i++) groups[8 - tailGroups.length + i] = tailGroups[i] ?? 0;
  // 32-bit words are exact as doubles (a 64-bit half would not be); four BigInt shifts in all.
  let value = 0n;
  for (let i = 0; i < 8; i += 2)
    value = (value << 32n) | BigInt((groups[i] ?? 0) * 0x10000 + (groups[i + 1] ?? 0));
  return value;
}

function splitGroups(part: string): number[] {
  if (part.length === 0) return [];
  const groups: number[] = [];
  for (const piece of part.split(":")) {
    if (piece.includes(".")) {
      const v4 = parseV4(piece, 0, piece.length);
      groups.push(Math.floor(v4 / 0x10000), v4 % 0x10000);
    } else {
      groups.push(Number.parseInt(piece, 16));
    }
  }
  return groups;
}

function formatV4(value: number): string {
  return `${(value >>> 24) & 0xff}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

function formatV6(value: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1; // RFC 5952 4.2.2: a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(":");
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}
