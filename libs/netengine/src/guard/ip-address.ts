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
const MAPPED_PREFIX = "::ffff:";
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
  // Fast path for what a dual-stack socket reports for an IPv4 peer.
  if (text.startsWith(MAPPED_PREFIX)) {
    const tail = text.slice(MAPPED_PREFIX.length);
    if (isIP(tail) === 4) return { family: 4, value: BigInt(parseV4(tail, 0, tail.length)), text: tail };
  }
  const family = isIP(text);
  if (family === 4) return { family: 4, value: BigInt(parseV4(text, 0, text.length)), text };
  if (family !== 6) return undefined;
  const zone = text.indexOf("%");
  if (zone !== -1 && isIP(text.slice(0, zone)) !== 6) return undefined;
  scanV6(text, zone === -1 ? text.length : zone);
  if (isMappedScratch()) {
    const v4 = scratchWord(6);
    return { family: 4, value: BigInt(v4), text: formatV4(v4) };
  }
  return { family: 6, value: scratchValue(), text: formatScratch() };
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
    if (zone !== -1 && isIP(address.slice(0, zone)) !== 6) return undefined;
    scanV6(address, zone === -1 ? address.length : zone);
    value = scratchValue();
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

// Scratch groups of the address being parsed or formatted. Safe to share: parsing is synchronous
// and never re-entrant; it saves the accept path an array per address.
const GROUPS = new Uint16Array(8);

/**
 * Reads the IPv6 address in `text[0, end)`, already validated by `isIP`, into {@link GROUPS}.
 * One pass, no intermediate strings.
 */
function scanV6(text: string, end: number): void {
  GROUPS.fill(0);
  let count = 0;
  let gap = -1;
  let group = 0;
  let digits = false;
  let groupStart = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a /* : */) {
      if (digits) GROUPS[count++] = group;
      group = 0;
      digits = false;
      if (i + 1 < end && text.charCodeAt(i + 1) === 0x3a) {
        gap = count;
        i++;
      }
      groupStart = i + 1;
    } else if (c === 0x2e /* . */) {
      // An embedded IPv4 tail fills the last two groups.
      const v4 = parseV4(text, groupStart, end);
      GROUPS[count++] = v4 >>> 16;
      GROUPS[count++] = v4 & 0xffff;
      digits = false;
      break;
    } else {
      // 0-9 are 0x30-0x39; A-F and a-f are 0x41-0x46 and 0x61-0x66: `| 0x20` folds case.
      group = group * 16 + (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);
      digits = true;
    }
  }
  if (digits) GROUPS[count++] = group;
  if (gap !== -1 && count < 8) {
    const shift = 8 - count;
    for (let k = count - 1; k >= gap; k--) GROUPS[k + shift] = GROUPS[k] ?? 0;
    for (let k = gap; k < gap + shift; k++) GROUPS[k] = 0;
  }
}

/** Whether {@link GROUPS} holds an IPv4-mapped address (`::ffff:0:0/96`). */
function isMappedScratch(): boolean {
  return (
    GROUPS[0] === 0 &&
    GROUPS[1] === 0 &&
    GROUPS[2] === 0 &&
    GROUPS[3] === 0 &&
    GROUPS[4] === 0 &&
    GROUPS[5] === 0xffff
  );
}

/** {@link GROUPS} as a 128-bit value, built from 32-bit words (exact as doubles; 64-bit ones are not). */
function scratchValue(): bigint {
  const high = (BigInt(scratchWord(0)) << 32n) | BigInt(scratchWord(2));
  const low = (BigInt(scratchWord(4)) << 32n) | BigInt(scratchWord(6));
  return (high << 64n) | low;
}

function scratchWord(index: number): number {
  return (GROUPS[index] ?? 0) * 0x10000 + (GROUPS[index + 1] ?? 0);
}

function formatV4(value: number): string {
  return `${(value >>> 24) & 0xff}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

function formatV6(value: bigint): string {
  for (let i = 0; i < 8; i++) GROUPS[i] = Number((value >> BigInt(112 - 16 * i)) & 0xffffn);
  return formatScratch();
}

/** RFC 5952 text of {@link GROUPS}. */
function formatScratch(): string {
  let bestStart = -1;
  let bestLength = 1; // RFC 5952 4.2.2: a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (GROUPS[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && GROUPS[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  let text = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += "::";
      i += bestLength - 1;
      continue;
    }
    if (text.length > 0 && !text.endsWith(":")) text += ":";
    text += (GROUPS[i] ?? 0).toString(16);
  }
  return text;
}
