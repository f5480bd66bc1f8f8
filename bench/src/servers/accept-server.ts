/**
 * The server of `gateway.accept-banlist`: a netengine TCP listener whose handler closes every
 * session as soon as it is accepted, so one connection of the load costs the server exactly one
 * accept (guard included) and one close.
 *
 * Argument 1, the accept path measured:
 * - `none`: `guard: false` (the baseline);
 * - `guard`: an accept guard with per-IP limits off (`Infinity`) and no deny list: what the guard
 *   costs without the ban check (reported beside the figure);
 * - `banlist <redisUrl> <prefix>`: the same guard with `deny` = the gateway's ban mirror: the
 *   netengine `AddressList` the gateway's `BanMirror` keeps and consults in `has()`, loaded from the
 *   lobby's Redis mirror under `<prefix>` exactly as `BanMirror` loads it (`GET bans:version` and
 *   `HGETALL bans:addr` in one MULTI, entries canonicalised with `parseCidr`, expired ones skipped,
 *   `replaceAll`). The `BanMirror` class itself lives in services/gateway, which exports no library
 *   entry for another package to import.
 *
 * Listens on 127.0.0.1, port 0.
 *
 * @module
 */
import {
  type AcceptGuardOptions,
  AddressList,
  listen,
  type ProtocolHandler,
  parseCidr,
} from "@meridian/netengine";
import { banKeys } from "@meridian/protocol";
import { Redis } from "ioredis";
import { serve } from "./serve.js";

const [mode, redisUrl, prefix] = process.argv.slice(2);
if (mode !== "none" && mode !== "guard" && mode !== "banlist") {
  process.stderr.write("usage: accept-server.ts none|guard|banlist [redisUrl prefix]\n");
  process.exit(2);
}

/** Loads the mirror as the gateway's BanMirror does (see the module comment). */
async function loadMirror(url: string, keyPrefix: string): Promise<AddressList> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  try {
    await redis.connect();
    const keys = banKeys(keyPrefix);
    const results = await redis.multi().get(keys.version).hgetall(keys.addresses).exec();
    if (results === null) throw new Error("ban mirror load: transaction aborted");
    const hash = (results[1]?.[1] ?? {}) as Record<string, string>;
    const now = Date.now();
    const live: string[] = [];
    for (const [entry, raw] of Object.entries(hash)) {
      const expiry = Number(raw);
      if (!Number.isSafeInteger(expiry) || expiry < 0 || (expiry !== 0 && expiry <= now)) continue;
      live.push(parseCidr(entry.trim()).text);
    }
    const list = new AddressList();
    list.replaceAll(live);
    return list;
  } finally {
    redis.disconnect();
  }
}

await serve(async () => {
  let guard: AcceptGuardOptions | false = false;
  if (mode !== "none") {
    guard = {
      maxConnectionsPerIp: Number.POSITIVE_INFINITY,
      maxNewConnectionsPerIpPerSecond: Number.POSITIVE_INFINITY,
    };
    if (mode === "banlist") {
      if (redisUrl === undefined || prefix === undefined)
        throw new Error("banlist needs <redisUrl> <prefix>");
      const deny = await loadMirror(redisUrl, prefix);
      process.stderr.write(`accept-server: ban mirror loaded, ${deny.size} entries\n`);
      guard = { ...guard, deny };
    }
  }
  const handler: ProtocolHandler = {
    onAccepted: (session) => session.close(),
  };
  const listener = await listen({ transport: "tcp", host: "127.0.0.1", port: 0, handler, guard });
  return { port: listener.port, close: () => listener.close({ goodbye: false, timeoutMs: 1000 }) };
});
