/**
 * Address lists (ban lists, allow lists) for the accept guard.
 *
 * @module
 */
import { type ParsedCidr, type ParsedIp, parseCidr } from "./ip-address.js";

/**
 * What the accept guard asks of a list: membership of one address, answered synchronously.
 *
 * The guard runs on every accepted socket before any byte is read, so `has` must be synchronous
 * and in-memory by contract: no I/O, no promise. A list whose source of truth is remote (a ban
 * list in Redis or Postgres) keeps a mirror in memory, for example an {@link AddressList} refreshed
 * with {@link AddressList.replaceAll} on a pub/sub notification or a poll, and implements this
 * interface with the mirror; an address banned a moment ago is then refused from the next accept.
 */
export interface AddressListSource {
  /** Whether `ip` is in the list (an exact entry or inside a range). Synchronous, no I/O. */
  has(ip: ParsedIp): boolean;
  /** The number of entries (addresses and ranges), for logs and stats. */
  readonly size: number;
}

const V4_MASKS: readonly number[] = Array.from({ length: 33 }, (_, p) =>
  p === 0 ? 0 : (0xffff_ffff << (32 - p)) >>> 0,
);
const V6_ALL = (1n << 128n) - 1n;
const V6_MASKS: readonly bigint[] = Array.from(
  { length: 129 },
  (_, p) => (V6_ALL << BigInt(128 - p)) & V6_ALL,
);

/**
 * An in-memory list of IPv4 and IPv6 addresses and CIDR ranges.
 *
 * Entries are kept in canonical form ({@link parseCidr}): `10.0.0.1` and `10.0.0.1/32` are one
 * entry, `10.1.2.3/8` is stored as `10.0.0.0/8`, and `::ffff:10.0.0.0/104` as `10.0.0.0/8`.
 * Overlapping entries are kept as given; an address is in the list when any entry covers it.
 *
 * Lookup cost does not depend on the number of entries: for each family the list keeps, per prefix
 * length present, a set of network values; {@link AddressList.has} masks the address once per
 * distinct prefix length of its family (at most 33 for IPv4 and 129 for IPv6, in practice a
 * handful: a ban list is mostly /32 and /128 with a few ranges) and probes that set.
 */
export class AddressList implements AddressListSource {
  readonly #entries = new Map<string, ParsedCidr>();
  readonly #v4 = new Map<number, Set<number>>();
  readonly #v6 = new Map<number, Set<bigint>>();
  // Flattened views of the maps above for the lookup loop, rebuilt when a prefix length appears or
  // disappears (rare), so that `has` iterates plain arrays.
  #v4Masks: number[] = [];
  #v4Sets: Set<number>[] = [];
  #v6Masks: bigint[] = [];
  #v6Sets: Set<bigint>[] = [];

  /**
   * @param entries initial entries, as for {@link AddressList.add}.
   * @throws NetEngineError `NE_INVALID_ADDRESS` for an entry that does not parse.
   */
  constructor(entries: Iterable<string> = []) {
    this.replaceAll(entries);
  }

  /** The number of distinct entries (after canonicalisation). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Adds an address or CIDR range (surrounding whitespace is ignored).
   * @returns `true` when the entry was new, `false` when an equal entry was already present.
   * @throws NetEngineError `NE_INVALID_ADDRESS` when `entry` does not parse.
   */
  add(entry: string): boolean {
    return this.#insert(parseCidr(entry.trim()));
  }

  /**
   * Removes an entry, matched in canonical form (`10.0.0.1` removes `10.0.0.1/32`). Removing a range
   * does not remove narrower entries inside it.
   * @returns whether an entry was removed.
   * @throws NetEngineError `NE_INVALID_ADDRESS` when `entry` does not parse.
   */
  remove(entry: string): boolean {
    const cidr = parseCidr(entry.trim());
    if (!this.#entries.delete(cidr.text)) return false;
    if (cidr.family === 4) {
      const set = this.#v4.get(cidr.prefix);
      set?.delete(Number(cidr.network));
      if (set?.size === 0) {
        this.#v4.delete(cidr.prefix);
        this.#reindex();
      }
    } else {
      const set = this.#v6.get(cidr.prefix);
      set?.delete(cidr.network);
      if (set?.size === 0) {
        this.#v6.delete(cidr.prefix);
        this.#reindex();
      }
    }
    return true;
  }

  /**
   * Replaces every entry with `entries`, atomically: every entry is parsed first, and when one does
   * not parse the list is left unchanged. This is how a mirror of a remote list is refreshed.
   * @throws NetEngineError `NE_INVALID_ADDRESS` for an entry that does not parse.
   */
  replaceAll(entries: Iterable<string>): void {
    const parsed: ParsedCidr[] = [];
    for (const entry of entries) parsed.push(parseCidr(entry.trim()));
    this.#entries.clear();
    this.#v4.clear();
    this.#v6.clear();
    for (const cidr of parsed) this.#insert(cidr, false);
    this.#reindex();
  }

  /** Removes every entry. */
  clear(): void {
    this.replaceAll([]);
  }

  /** The entries in canonical form (`network/prefix`), in insertion order. */
  entries(): string[] {
    return [...this.#entries.keys()];
  }

  /** Whether `ip` is covered by an entry of its family. */
  has(ip: ParsedIp): boolean {
    if (ip.family === 4) {
      const masks = this.#v4Masks;
      if (masks.length === 0) return false;
      const value = Number(ip.value);
      const sets = this.#v4Sets;
      for (let i = 0; i < masks.length; i++) {
        // `& mask` yields a signed 32-bit result; `>>> 0` brings it back to the unsigned key space.
        if ((sets[i] as Set<number>).has((value & (masks[i] as number)) >>> 0)) return true;
      }
      return false;
    }
    const masks = this.#v6Masks;
    const sets = this.#v6Sets;
    for (let i = 0; i < masks.length; i++) {
      if ((sets[i] as Set<bigint>).has(ip.value & (masks[i] as bigint))) return true;
    }
    return false;
  }

  #insert(cidr: ParsedCidr, reindex = true): boolean {
    if (this.#entries.has(cidr.text)) return false;
    this.#entries.set(cidr.text, cidr);
    let fresh = false;
    if (cidr.family === 4) {
      let set = this.#v4.get(cidr.prefix);
      if (set === undefined) {
        set = new Set();
        this.#v4.set(cidr.prefix, set);
        fresh = true;
      }
      set.add(Number(cidr.network));
    } else {
      let set = this.#v6.get(cidr.prefix);
      if (set === undefined) {
        set = new Set();
        this.#v6.set(cidr.prefix, set);
        fresh = true;
      }
      set.add(cidr.network);
    }
    if (fresh && reindex) this.#reindex();
    return true;
  }

  #reindex(): void {
    // Longest prefixes first: single addresses are the common case of a ban list.
    const v4 = [...this.#v4.keys()].sort((a, b) => b - a);
    this.#v4Masks = v4.map((p) => V4_MASKS[p] as number);
    this.#v4Sets = v4.map((p) => this.#v4.get(p) as Set<number>);
    const v6 = [...this.#v6.keys()].sort((a, b) => b - a);
    this.#v6Masks = v6.map((p) => V6_MASKS[p] as bigint);
    this.#v6Sets = v6.map((p) => this.#v6.get(p) as Set<bigint>);
  }
}
