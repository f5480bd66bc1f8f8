/**
 * What gateways read to enforce bans without Postgres: the Redis mirror and the change notice. These
 * are contracts between the lobby and the gateways; they live here until the gateway slice moves them
 * to `@meridian/protocol` (a service never imports another service).
 */
import type { BanKind } from "../db/database.js";

/** Event topic of the change notice: published on `subjects.event(BAN_CHANGED_TOPIC)`. */
export const BAN_CHANGED_TOPIC = "ban.changed";

/** What a notice reports. */
export const BanNoticeOp = {
  /** A ban was written. */
  Add: "add",
  /** A ban was lifted (by an operator or by expiry). */
  Lift: "lift",
  /** The whole mirror was rewritten ({@link BanService.rebuildMirror}): reload it with a snapshot. */
  Resync: "resync",
} as const;
export type BanNoticeOp = (typeof BanNoticeOp)[keyof typeof BanNoticeOp];

/**
 * The change notice, JSON on `<prefix>.evt.ban.changed`, published after the mirror is written.
 *
 * A gateway applies an `add` or `lift` to its in-memory mirror by `listed`, not by `op`: `listed`
 * says whether the target is in the mirror after the change (a lifted ban whose target another live
 * ban still covers leaves it listed). `version` is the mirror's version after the change; notices of
 * one target arrive in order, notices of different targets may not, so a gateway that sees a version
 * it did not expect (a gap) may reload a snapshot: a needless reload is harmless. A `resync` carries
 * only `version`.
 */
export interface BanChangedNotice {
  readonly version: number;
  readonly op: BanNoticeOp;
  /** The ban that changed (`bans.id`, decimal string); absent on `resync`. */
  readonly banId?: string;
  readonly kind?: BanKind;
  /** For `ip`/`cidr`: the mirror entry, Postgres's canonical `cidr` text (`10.0.0.0/8`, `2001:db8::1/128`). */
  readonly target?: string;
  /** For `account`: `accounts.id`, decimal string. */
  readonly accountId?: string;
  /** The entry's expiry in the mirror after the change, ms since the epoch; null = permanent or unlisted. */
  readonly expiresAt?: number | null;
  /** Whether the target is banned (in the mirror) after this change. */
  readonly listed?: boolean;
}

/** The Redis keys of the ban mirror under one key prefix. */
export interface BanKeys {
  /** Hash: address entry (`cidr` text) → expiry in ms since the epoch, `0` for permanent. */
  readonly addresses: string;
  /** Hash: account id → expiry in ms since the epoch, `0` for permanent. */
  readonly accounts: string;
  /** Integer, `INCR`ed in the same `MULTI` as every mirror change. */
  readonly version: string;
}

/** Ban mirror keys under `prefix` (e.g. the testkit's `mt:<runId>:`, or `meridian:lobby:`). */
export function banKeys(prefix: string): BanKeys {
  return Object.freeze({
    addresses: `${prefix}bans:addr`,
    accounts: `${prefix}bans:account`,
    version: `${prefix}bans:version`,
  });
}
