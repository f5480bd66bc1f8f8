/**
 * The zone server's side of the authority contract (`svc.authority.zone_register` and
 * `zone_heartbeat`, libs/protocol zone-messages.ts): requests, answers decoded and checked, errors
 * turned into {@link GameServerError}s with the authority's `WORLD_*` code.
 */
import {
  authorityReplyCodec,
  authoritySubject,
  encodeMessage,
  type Subjects,
  type ZoneHeartbeat,
  type ZoneLeases,
  type ZoneRegister,
  type ZoneRegistered,
} from "@meridian/protocol";
import type { NatsConnection } from "@nats-io/transport-node";
import { GameServerError, GameServerErrorCode } from "../errors.js";

/** Options of {@link AuthorityClient}. */
export interface AuthorityClientOptions {
  readonly subjects: Subjects;
  readonly serverId: string;
  readonly credential: string;
  readonly world: string;
  readonly capacity: number;
  /** Bound on one request, ms. */
  readonly timeoutMs: number;
}

/** No authority answered (no responders, timeout, or an answer that does not decode). */
export class AuthorityUnavailable extends Error {
  override readonly name = "AuthorityUnavailable";
}

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(GameServerErrorCode));

export class AuthorityClient {
  readonly #nc: NatsConnection;
  readonly #options: AuthorityClientOptions;
  readonly #codec = authorityReplyCodec();

  constructor(nc: NatsConnection, options: AuthorityClientOptions) {
    this.#nc = nc;
    this.#options = options;
  }

  /** Registers. @throws GameServerError with the authority's code, or AuthorityUnavailable. */
  async register(): Promise<ZoneRegistered> {
    const o = this.#options;
    const reply = await this.#request("zone_register", {
      t: "zone_register",
      serverId: o.serverId,
      credential: o.credential,
      world: o.world,
      capacity: o.capacity,
    });
    if (reply.t !== "zone_registered") throw new AuthorityUnavailable(`unexpected answer ${reply.t}`);
    return reply;
  }

  /** One heartbeat. @throws GameServerError with the authority's code, or AuthorityUnavailable. */
  async heartbeat(players: number, tickP99Ms: number): Promise<ZoneLeases> {
    const o = this.#options;
    const reply = await this.#request("zone_heartbeat", {
      t: "zone_heartbeat",
      serverId: o.serverId,
      world: o.world,
      players,
      tickP99Ms: Math.min(1_000_000, Math.max(0, tickP99Ms)),
    });
    if (reply.t !== "zone_leases" || reply.serverId !== o.serverId) {
      throw new AuthorityUnavailable(`unexpected answer ${reply.t}`);
    }
    return reply;
  }

  async #request(verb: "zone_register" | "zone_heartbeat", message: ZoneRegister | ZoneHeartbeat) {
    let data: Uint8Array;
    try {
      const msg = await this.#nc.request(
        authoritySubject(this.#options.subjects, verb),
        encodeMessage(message),
        { timeout: this.#options.timeoutMs },
      );
      data = msg.data;
    } catch (error) {
      throw new AuthorityUnavailable(`no authority answered ${verb}`, { cause: error });
    }
    const decoded = this.#codec.decode(data);
    if (!decoded.ok) throw new AuthorityUnavailable(`bad ${verb} answer`, { cause: decoded.error });
    const reply = decoded.message;
    if (reply.t === "world_error") {
      const code = KNOWN_CODES.has(reply.code) ? (reply.code as GameServerErrorCode) : null;
      if (code === null) throw new AuthorityUnavailable(`authority error ${reply.code}: ${reply.message}`);
      throw new GameServerError(code, `authority refused ${verb}: ${reply.message}`, {
        context: { verb, code: reply.code },
      });
    }
    return reply;
  }
}
