/**
 * Placing a player (`svc.world.attach`, docs/protocol.md §11): find the player's cell — their
 * checkpoint's (`worldKeys(…).checkpoint(accountId)`: `cell`, else the cell of `x`, `y`) or the
 * spawn point's — look its owner up in the leader's map, and ask that owner to install the player
 * (`player_install` on `zone.<owner>.install`, with the cell's epoch). The owner's `player_installed`
 * becomes the gateway's `player_attached`; a `WORLD_NOT_OWNER` (the cell moved meanwhile) is retried
 * once against the map as it is then. No owner, no answer, or any other refusal: `WORLD_UNAVAILABLE`
 * (the gateway keeps the player logged in without a place and attaches again on resume).
 *
 * @module
 */
import {
  type PlayerAttach,
  type PlayerAttached,
  type PlayerInstall,
  type Subjects,
  type WorldError,
  worldKeys,
  ZONE_INSTALL_CHANNEL,
  zoneControlCodec,
  zoneControlReplyCodec,
} from "@meridian/protocol";
import { cellAt, inBounds, parseCellId, type WorldConfig } from "@meridian/world";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { WorldCode } from "../errors.js";

/** The leader's map, as placement reads it. */
export interface MapView {
  /** The cell's owner and epoch, or `undefined` when nobody owns it. */
  owner(cell: string): { readonly server: string; readonly epoch: number } | undefined;
}

export interface PlacementOptions {
  readonly world: WorldConfig;
  readonly redisPrefix: string;
  readonly subjects: Subjects;
  readonly spawn: { readonly x: number; readonly y: number };
  /** Bound on one `player_install`, ms. */
  readonly installTimeoutMs: number;
}

type Answer = PlayerAttached | WorldError;

/** Where a player starts: their checkpoint's cell and position, or the spawn point. */
export interface StartPoint {
  readonly cell: string;
  readonly x: number;
  readonly y: number;
}

export class Placement {
  readonly #nc: NatsConnection;
  readonly #redis: Redis;
  readonly #map: MapView;
  readonly #options: PlacementOptions;
  readonly #log: Logger;
  readonly #keys: ReturnType<typeof worldKeys>;
  readonly #control = zoneControlCodec();
  readonly #replies = zoneControlReplyCodec();

  constructor(
    deps: { nc: NatsConnection; redis: Redis; map: MapView; logger: Logger },
    options: PlacementOptions,
  ) {
    this.#nc = deps.nc;
    this.#redis = deps.redis;
    this.#map = deps.map;
    this.#options = options;
    this.#log = deps.logger.child({ subsystem: "placement" });
    this.#keys = worldKeys(options.redisPrefix, options.world.name);
  }

  /** The player's start point: a valid checkpoint's cell (and position), else the spawn point. */
  async startPoint(accountId: string): Promise<StartPoint> {
    const { world, spawn } = this.#options;
    const fields = await this.#redis.hmget(this.#keys.checkpoint(accountId), "x", "y", "cell");
    const [rawX, rawY, rawCell] = [fields[0] ?? null, fields[1] ?? null, fields[2] ?? null];
    const x = Number(rawX);
    const y = Number(rawY);
    const hasPoint = rawX !== null && rawY !== null && inBounds(world, x, y);
    if (rawCell !== null) {
      try {
        parseCellId(world, rawCell);
        return hasPoint ? { cell: rawCell, x, y } : { cell: rawCell, x: spawn.x, y: spawn.y };
      } catch {
        // not a cell of this world: fall through
      }
    }
    if (hasPoint) return { cell: cellAt(world, x, y), x, y };
    return { cell: cellAt(world, spawn.x, spawn.y), x: spawn.x, y: spawn.y };
  }

  /** Answers one `player_attach`. Never throws. */
  async attach(request: PlayerAttach): Promise<Answer> {
    let start: StartPoint;
    try {
      start = await this.startPoint(request.accountId);
    } catch (error) {
      this.#log.warn({ err: error, accountId: request.accountId }, "cannot read the checkpoint");
      return unavailable("the world cannot read the player's checkpoint");
    }
    for (let attempt = 1; attempt <= 2; attempt++) {
      const owner = this.#map.owner(start.cell);
      if (owner === undefined) return unavailable(`no zone server owns cell ${start.cell} yet`);
      const answer = await this.#install(request, start, owner);
      if (answer.t === "player_attached") return answer;
      if (answer.code !== WorldCode.NotOwner || attempt === 2) return unavailable(answer.message);
      this.#log.info(
        { accountId: request.accountId, cell: start.cell, server: owner.server },
        "retrying install",
      );
    }
    return unavailable("unreachable");
  }

  async #install(
    request: PlayerAttach,
    start: StartPoint,
    owner: { readonly server: string; readonly epoch: number },
  ): Promise<Answer> {
    const install: PlayerInstall = {
      t: "player_install",
      accountId: request.accountId,
      sessionId: request.sessionId,
      username: request.username,
      gateway: request.gateway,
      resumed: request.resumed,
      cell: start.cell,
      cellEpoch: owner.epoch,
      x: start.x,
      y: start.y,
    };
    let data: Uint8Array;
    try {
      const subject = this.#options.subjects.zone(owner.server, ZONE_INSTALL_CHANNEL);
      data = (
        await this.#nc.request(subject, this.#control.encode(install), {
          timeout: this.#options.installTimeoutMs,
        })
      ).data;
    } catch (error) {
      this.#log.warn({ err: error, server: owner.server, accountId: request.accountId }, "install failed");
      return unavailable(`zone server ${owner.server} did not answer`);
    }
    const reply = this.#replies.decode(data);
    if (!reply.ok) return unavailable(`zone server ${owner.server} sent an unreadable reply`);
    const message = reply.message;
    if (message.t === "world_error") return message;
    if (message.t !== "player_installed" || message.accountId !== request.accountId) {
      return unavailable(`zone server ${owner.server} answered about something else`);
    }
    return {
      t: "player_attached",
      accountId: request.accountId,
      server: owner.server,
      zone: start.cell,
      epoch: message.epoch,
      ack: message.ack,
      world: this.#options.world.name,
    };
  }
}

function unavailable(message: string): WorldError {
  return { t: "world_error", code: WorldCode.Unavailable, message: message.slice(0, 1024) };
}
