/**
 * The ban list of `gateway.accept-banlist`: 100,000 distinct entries in the lobby's Redis mirror
 * layout (`banKeys(prefix).addresses`: canonical CIDR text → expiry in ms, `0` = permanent, and
 * `banKeys(prefix).version`), mixed as a real list would be: single IPv4 and IPv6 addresses, IPv4
 * ranges from /12 to /30, IPv6 ranges from /32 to /64, a tenth of them timed (expiring in a day).
 * Generated from a fixed seed, so every run loads the same list. None covers 127.0.0.0/8 (nor any
 * IPv4-mapped IPv6 address), where the benchmark's connections come from.
 *
 * @module
 */
import { parseCidr } from "@meridian/netengine";
import { banKeys } from "@meridian/protocol";
import type { Redis } from "ioredis";

/** Entries of the benchmark's ban list. */
export const BAN_ENTRIES = 100_000;

/** Share of each kind of entry: IPv4 addresses, IPv4 ranges, IPv6 addresses, IPv6 ranges. */
const MIX = [0.55, 0.2, 0.15, 0.1] as const;

/** A small deterministic PRNG (mulberry32), so the list is the same in every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `count` distinct canonical entries (see the module comment). */
export function banEntries(count: number = BAN_ENTRIES, seed = 0x6d657269): string[] {
  const random = prng(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const ipv4 = (): string => {
    // First octet 1–223 except 127 (loopback): unicast, never the benchmark's sources.
    let first = 1 + int(222);
    if (first === 127) first = 128;
    return `${first}.${int(256)}.${int(256)}.${int(256)}`;
  };
  const ipv6 = (): string => {
    // 2000::/3, global unicast: never an IPv4-mapped address.
    const groups = [0x2000 + int(0x2000)];
    for (let i = 0; i < 7; i++) groups.push(int(0x10000));
    return groups.map((g) => g.toString(16)).join(":");
  };
  const kinds = [
    () => ipv4(),
    () => `${ipv4()}/${12 + int(19)}`,
    () => ipv6(),
    () => `${ipv6()}/${32 + int(33)}`,
  ];
  const entries = new Set<string>();
  for (let k = 0; k < kinds.length; k++) {
    const make = kinds[k] as () => string;
    const target = Math.round(count * (MIX.slice(0, k + 1).reduce((a, b) => a + b, 0) as number));
    while (entries.size < Math.min(target, count)) entries.add(parseCidr(make()).text);
  }
  return [...entries];
}

/**
 * Writes `entries` into the ban mirror's Redis hash under `prefix` (a tenth of them timed, expiring
 * in a day; the rest permanent) and sets its version, as the lobby does.
 */
export async function writeBanMirror(
  redis: Redis,
  prefix: string,
  entries: readonly string[],
): Promise<void> {
  const keys = banKeys(prefix);
  const expiry = String(Date.now() + 24 * 60 * 60_000);
  const chunk = 10_000;
  for (let i = 0; i < entries.length; i += chunk) {
    const fields: string[] = [];
    entries.slice(i, i + chunk).forEach((entry, j) => {
      fields.push(entry, (i + j) % 10 === 0 ? expiry : "0");
    });
    await redis.hset(keys.addresses, ...fields);
  }
  await redis.set(keys.version, "1");
}
