/**
 * What the zone server's tests run against: a test context (Redis prefix, NATS prefix), a world, a
 * fake authority, a fake gateway, and zone servers in-process (each with its own NATS and Redis
 * connections, as separate processes would have), all cleaned up by `ctx.cleanup()`.
 */
import { randomUUID } from "node:crypto";
import {
  createSubjects,
  encodeMessage,
  type PlayerInstalled,
  type Subjects,
  type WorldError,
  type WorldKeys,
  worldKeys,
  ZONE_INSTALL_CHANNEL,
  zoneControlReplyCodec,
} from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { createZoneSim, type WorldConfig, worldConfig } from "@meridian/world";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import type { GameServerError } from "../../src/errors.js";
import { ZoneServer, type ZoneServerOptions } from "../../src/zone-server.js";
import { FakeAuthority } from "./fake-authority.js";
import { FakeGateway } from "./fake-gateway.js";

export interface Cluster {
  readonly ctx: TestContext;
  readonly subjects: Subjects;
  readonly world: WorldConfig;
  readonly keys: WorldKeys;
  readonly nc: NatsConnection;
  readonly redis: Redis;
  readonly authority: FakeAuthority;
  readonly gateway: FakeGateway;
  /** Fatal errors reported by zone servers, by server id. */
  readonly fatal: Map<string, GameServerError>;
  /** A zone server, started (stopped at cleanup unless `crash`ed). */
  startZone(serverId: string, options?: Partial<ZoneServerOptions>): Promise<ZoneServer>;
  /** Stops a zone without its graceful shutdown (no final checkpoint): a crash, as far as Redis knows. */
  crash(zone: ZoneServer): Promise<void>;
  /** Sends `player_install` to `server` and returns the answer. */
  install(
    server: string,
    fields: { accountId: string; cell: string; cellEpoch: number } & Partial<InstallFields>,
  ): Promise<PlayerInstalled | WorldError>;
}

interface InstallFields {
  sessionId: string;
  username: string;
  gateway: string;
  resumed: boolean;
  x: number;
  y: number;
}

/** A 2×1 world of two 200 × 200 cells, 20 Hz, AOI and ghost margin 30. */
export const TEST_WORLD = {
  width: 400,
  height: 200,
  cols: 2,
  rows: 1,
  tickHz: 20,
  aoiRadius: 30,
  ghostMargin: 30,
};

const silent = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

export async function createCluster(world: Partial<WorldConfig> = {}): Promise<Cluster> {
  const ctx = await createTestContext({ postgres: false });
  const subjects = createSubjects({ prefix: ctx.nats.prefix });
  const config = worldConfig({ name: `w${ctx.runId}`, ...TEST_WORLD, ...world });
  const keys = worldKeys(ctx.redis.prefix, config.name);
  const nc = await connect({ servers: ctx.nats.url, name: "gameserver-test" });
  ctx.defer(() => nc.close());
  const redis = new Redis(ctx.redis.url);
  ctx.defer(() => redis.quit());
  const authority = new FakeAuthority(nc, redis, { subjects, world: config.name, keys });
  await authority.start();
  ctx.defer(() => authority.stop());
  const gateway = new FakeGateway(nc, subjects, "gw1");
  await gateway.start();
  ctx.defer(() => gateway.stop());
  const fatal = new Map<string, GameServerError>();
  const crashed = new Set<ZoneServer>();
  const connections = new Map<ZoneServer, { nc: NatsConnection; redis: Redis }>();
  const replies = zoneControlReplyCodec();

  return {
    ctx,
    subjects,
    world: config,
    keys,
    nc,
    redis,
    authority,
    gateway,
    fatal,
    async startZone(serverId, options = {}) {
      const zoneNc = await connect({ servers: ctx.nats.url, name: serverId });
      // As main.ts: commands of one turn (a tick's checkpoints) go to Redis in one write.
      const zoneRedis = new Redis(ctx.redis.url, { enableAutoPipelining: true });
      const zone = new ZoneServer(
        {
          nc: zoneNc,
          redis: zoneRedis,
          logger: silent,
          createSim: (c) => createZoneSim({ config: c, npcsPerCell: 0 }),
          onFatal: (error) => fatal.set(serverId, error),
        },
        {
          serverId,
          credential: "test-credential",
          capacity: 100,
          world: config,
          subjects,
          redisPrefix: ctx.redis.prefix,
          // The fake gateway writes no presence: no orphan sweep unless a test asks for one; and there
          // is no lobby: no Postgres persistence either.
          orphanSweepMs: 0,
          persistence: false,
          ...options,
        },
      );
      connections.set(zone, { nc: zoneNc, redis: zoneRedis });
      ctx.defer(async () => {
        if (!crashed.has(zone)) await zone.stop();
        await zoneNc.close().catch(() => undefined);
        zoneRedis.disconnect();
      });
      await zone.start();
      return zone;
    },
    async crash(zone) {
      crashed.add(zone);
      const conn = connections.get(zone);
      // Closing its connections first: whatever the zone still does reaches nobody.
      await conn?.nc.close();
      conn?.redis.disconnect();
      await zone.stop().catch(() => undefined);
    },
    async install(server, fields) {
      const msg = await nc.request(
        subjects.zone(server, ZONE_INSTALL_CHANNEL),
        encodeMessage({
          t: "player_install",
          sessionId: randomUUID(),
          username: `player${fields.accountId}`,
          gateway: "gw1",
          resumed: false,
          x: 100,
          y: 100,
          ...fields,
        }),
        { timeout: 3_000 },
      );
      const decoded = replies.decode(msg.data);
      if (!decoded.ok) throw decoded.error;
      const reply = decoded.message;
      if (reply.t === "handoff_accept" || reply.t === "handoff_answers")
        throw new Error(`unexpected ${reply.t}`);
      return reply;
    },
  };
}
