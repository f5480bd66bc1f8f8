/**
 * A small zone server for the authority's tests (the real gameserver is its own service): it
 * registers with a credential, heartbeats, keeps the leases it is given, re-registers on
 * `WORLD_ZONE_UNKNOWN` (the zone server's rule), and answers `player_install` for the cells it
 * holds under the install's `cellEpoch` (`WORLD_NOT_OWNER` otherwise) with a fresh player epoch.
 */
import {
  authorityReplyCodec,
  authorityRequestCodec,
  authoritySubject,
  type PlayerInstall,
  type PlayerInstalled,
  type Subjects,
  type WorldError,
  ZONE_INSTALL_CHANNEL,
  type ZoneHeartbeat,
  type ZoneLeases,
  type ZoneRegister,
  type ZoneRegistered,
  zoneControlCodec,
  zoneControlReplyCodec,
} from "@meridian/protocol";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";

type Lease = ZoneLeases["leases"][number];

export interface FakeZoneOptions {
  readonly id: string;
  readonly credential: string;
  readonly world: string;
  readonly capacity?: number;
  /** Re-register on `WORLD_ZONE_UNKNOWN`. Default true. */
  readonly reRegister?: boolean;
}

export class FakeZone {
  readonly id: string;
  readonly world: string;
  credential: string;
  readonly capacity: number;
  /** Reported in heartbeats. */
  players = 0;
  /** The leases of the last `zone_leases`. */
  leases: Lease[] = [];
  leaderEpoch = 0;
  readonly registrations: ZoneRegistered[] = [];
  readonly errors: WorldError[] = [];
  readonly installs: PlayerInstall[] = [];
  #playerEpoch = 100;
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #reRegister: boolean;
  #sub: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #requests = authorityRequestCodec();
  readonly #replies = authorityReplyCodec();

  constructor(nc: NatsConnection, subjects: Subjects, options: FakeZoneOptions) {
    this.#nc = nc;
    this.#subjects = subjects;
    this.id = options.id;
    this.world = options.world;
    this.credential = options.credential;
    this.capacity = options.capacity ?? 100;
    this.#reRegister = options.reRegister ?? true;
  }

  /** Subscribes to its install inbox. */
  async listen(): Promise<void> {
    const control = zoneControlCodec();
    const replies = zoneControlReplyCodec();
    this.#sub = this.#nc.subscribe(this.#subjects.zone(this.id, ZONE_INSTALL_CHANNEL), {
      callback: (error, msg) => {
        if (error !== null) return;
        const decoded = control.decode(msg.data);
        if (!decoded.ok || decoded.message.t !== "player_install") return;
        const install = decoded.message;
        this.installs.push(install);
        const held = this.leases.some((l) => l.cell === install.cell && l.epoch === install.cellEpoch);
        const reply: PlayerInstalled | WorldError = held
          ? {
              t: "player_installed",
              accountId: install.accountId,
              server: this.id,
              cell: install.cell,
              epoch: ++this.#playerEpoch,
              ack: 7,
            }
          : {
              t: "world_error",
              code: "WORLD_NOT_OWNER",
              message: `${this.id} does not hold ${install.cell}`,
            };
        msg.respond(replies.encode(reply));
      },
    });
    await this.#nc.flush();
  }

  async #request(verb: "zone_register" | "zone_heartbeat", body: ZoneRegister | ZoneHeartbeat) {
    const msg = await this.#nc.request(authoritySubject(this.#subjects, verb), this.#requests.encode(body), {
      timeout: 3_000,
    });
    const reply = this.#replies.decode(msg.data);
    if (!reply.ok) throw reply.error;
    return reply.message;
  }

  async register(): Promise<ZoneRegistered | WorldError> {
    const reply = await this.#request("zone_register", {
      t: "zone_register",
      serverId: this.id,
      credential: this.credential,
      world: this.world,
      capacity: this.capacity,
    });
    if (reply.t === "zone_registered") {
      this.registrations.push(reply);
      this.leaderEpoch = reply.leaderEpoch;
      return reply;
    }
    if (reply.t === "world_error") {
      this.errors.push(reply);
      return reply;
    }
    throw new Error(`unexpected ${reply.t}`);
  }

  async heartbeat(world = this.world): Promise<ZoneLeases | WorldError> {
    const reply = await this.#request("zone_heartbeat", {
      t: "zone_heartbeat",
      serverId: this.id,
      world,
      players: this.players,
    });
    if (reply.t === "zone_leases") {
      if (reply.leaderEpoch >= this.leaderEpoch) {
        this.leaderEpoch = reply.leaderEpoch;
        this.leases = reply.leases;
      }
      return reply;
    }
    if (reply.t === "world_error") {
      this.errors.push(reply);
      if (reply.code === "WORLD_ZONE_UNKNOWN" && this.#reRegister) await this.register();
      else if (reply.code === "WORLD_UNAUTHORIZED") this.leases = [];
      return reply;
    }
    throw new Error(`unexpected ${reply.t}`);
  }

  /** Heartbeats every `periodMs` (errors, e.g. no authority, are kept trying). */
  beat(periodMs: number): void {
    this.stopBeating();
    let busy = false;
    this.#timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.heartbeat()
        .catch(() => undefined)
        .finally(() => {
          busy = false;
        });
    }, periodMs);
  }

  stopBeating(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Registers, listens and heartbeats. */
  async start(periodMs: number): Promise<ZoneRegistered | WorldError> {
    await this.listen();
    const reply = await this.register();
    this.beat(periodMs);
    return reply;
  }

  stop(): void {
    this.stopBeating();
    this.#sub?.unsubscribe();
  }

  cells(): string[] {
    return this.leases.map((l) => l.cell).sort();
  }
}
