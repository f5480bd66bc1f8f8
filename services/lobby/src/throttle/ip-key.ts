/**
 * The key an IP address is counted under. IPv4 addresses (and IPv4-mapped IPv6 ones, `::ffff:a.b.c.d`)
 * count one by one; IPv6 addresses count by their /64, because a single host or customer usually holds
 * a whole /64 and could otherwise rotate through 2^64 addresses to escape a per-address limit.
 */
import { isIPv4, isIPv6 } from "node:net";
import { LobbyError, LobbyErrorCode } from "../errors.js";

function expandIPv6(address: string): string[] {
  // An embedded IPv4 tail (`64:ff9b::1.2.3.4`) stands for two groups.
  const ip = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    [(Number(a) << 8) | Number(b), (Number(c) << 8) | Number(d)].map((n) => n.toString(16)).join(":"),
  );
  const [head = "", tail] = ip.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = 8 - left.length - right.length;
  return [...left, ...Array.from({ length: tail === undefined ? 0 : missing }, () => "0"), ...right];
}

/**
 * `v4:<a.b.c.d>` or `v6:<first four groups, lower-case, no leading zeros>::/64`.
 * @throws LobbyError `LOBBY_INVALID_OPTIONS` when `ip` is not an IP address (it comes from the
 * gateway, never from the player, so a bad one is a programming error).
 */
export function ipThrottleKey(ip: string): string {
  const bare = ip.trim().replace(/%.*$/, ""); // drop an IPv6 zone id
  if (isIPv4(bare)) return `v4:${bare}`;
  if (!isIPv6(bare)) {
    throw new LobbyError(LobbyErrorCode.InvalidOptions, "not an IP address", { context: { ip } });
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped?.[1] !== undefined && isIPv4(mapped[1])) return `v4:${mapped[1]}`;
  const groups = expandIPv6(bare.toLowerCase())
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""));
  return `v6:${groups.join(":")}::/64`;
}
