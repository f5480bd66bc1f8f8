/**
 * The test kit against the real PostgreSQL, Redis and NATS (`npm run services` brings them up).
 */
import assert from "node:assert/strict";
import net from "node:net";
import process from "node:process";
import { describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { Client } from "pg";
import {
  createRunId,
  createTestContext,
  DEFAULT_POSTGRES_URL,
  freePort,
  loadTestKitConfig,
  RUN_ID_LENGTH,
  TestKitCleanupError,
  TestKitError,
  TestKitErrorCode,
} from "../src/index.js";

const config = loadTestKitConfig();

async function databaseExists(database: string): Promise<boolean> {
  const client = new Client({ connectionString: config.postgresUrl });
  await client.connect();
  try {
    const result = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
    return result.rowCount === 1;
  } finally {
    await client.end();
  }
}

async function withRedis<T>(work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
  try {
    return await work(redis);
  } finally {
    await redis.quit();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A Node child that prints `ready` and then idles until killed. */
const IDLE_CHILD = ["-e", "console.log('ready'); setInterval(() => {}, 1000);"];

describe("testkit - postgres", () => {
  it("creates a fresh database and drops it at cleanup", async () => {
    const ctx = await createTestContext({ redis: false, nats: false });
    const { database, url } = ctx.postgres;
    assert.equal(database, `meridian_t_${ctx.runId}`);
    assert.equal(new URL(url).pathname, `/${database}`);
    assert.equal(await databaseExists(database), true);

    const client = new Client({ connectionString: url });
    await client.connect();
    await client.query("CREATE TABLE t (id int PRIMARY KEY)");
    await client.query("INSERT INTO t VALUES (1)");
    const { rows } = await client.query("SELECT current_database() AS db, count(*)::int AS n FROM t");
    assert.deepEqual(rows, [{ db: database, n: 1 }]);
    await client.end();

    await ctx.cleanup();
    assert.equal(await databaseExists(database), false);
  });

  it("drops the database even while a connection to it is open", async () => {
    const ctx = await createTestContext({ redis: false, nats: false });
    const client = new Client({ connectionString: ctx.postgres.url });
    client.on("error", () => {}); // the forced drop ends this connection
    await client.connect();
    await ctx.cleanup();
    assert.equal(await databaseExists(ctx.postgres.database), false);
    await client.end().catch(() => {});
  });
});

describe("testkit - redis", () => {
  it("deletes every key under the prefix and leaves other keys alone", async () => {
    const ctx = await createTestContext({ postgres: false, nats: false });
    const { prefix } = ctx.redis;
    assert.equal(prefix, `mt:${ctx.runId}:`);
    const outside = `mt-outside:${createRunId()}`;
    const neighbour = `mt:${ctx.runId}x`; // shares the run id's characters but not the prefix
    await withRedis(async (redis) => {
      const pipeline = redis.pipeline();
      for (let i = 0; i < 1_200; i++) pipeline.set(`${prefix}key:${i}`, String(i));
      pipeline.hset(`${prefix}hash`, "f", "v");
      pipeline.set(outside, "keep");
      pipeline.set(neighbour, "keep");
      await pipeline.exec();
    });

    await ctx.cleanup();

    await withRedis(async (redis) => {
      const [, left] = await redis.scan("0", "MATCH", `${prefix}*`, "COUNT", 10_000);
      assert.deepEqual(left, []);
      assert.equal(await redis.exists(`${prefix}key:0`, `${prefix}hash`), 0);
      assert.equal(await redis.get(outside), "keep");
      assert.equal(await redis.get(neighbour), "keep");
      await redis.del(outside, neighbour);
    });
  });
});

describe("testkit - nats", () => {
  it("deletes the run's JetStream streams and KV-bucket streams, and no others", async () => {
    const ctx = await createTestContext({ postgres: false, redis: false });
    const { prefix, streamPrefix } = ctx.nats;
    assert.equal(prefix, `mt.${ctx.runId}`);
    assert.equal(streamPrefix, `MT_${ctx.runId}`);
    const otherStream = `MT_${createRunId()}_other`;

    const nc = await connect({ servers: config.natsUrl });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: `${streamPrefix}_orders`, subjects: [`${prefix}.orders.>`] });
      await jsm.streams.add({
        name: `KV_${streamPrefix}_presence`,
        subjects: [`$KV.${streamPrefix}_presence.>`],
      });
      await jsm.streams.add({ name: otherStream, subjects: [`mt.${otherStream}.>`] });
      const js = jsm.jetstream();
      await js.publish(`${prefix}.orders.1`, "one");

      await ctx.cleanup();

      const names: string[] = [];
      for await (const name of jsm.streams.names()) names.push(name);
      assert.equal(
        names.some((n) => n.includes(streamPrefix)),
        false,
        `left: ${names.join(", ")}`,
      );
      assert.ok(names.includes(otherStream));
      await jsm.streams.delete(otherStream);
    } finally {
      await nc.close();
    }
  });
});

describe("testkit - ports and processes", () => {
  it("freePort returns a port that can be bound", async () => {
    const port = await freePort();
    assert.ok(Number.isInteger(port) && port > 0 && port < 65_536);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    assert.equal((server.address() as net.AddressInfo).port, port);
    await new Promise((resolve) => server.close(resolve));
  });

  it("kills a spawned process at cleanup", async () => {
    const ctx = await createTestContext({ postgres: false, redis: false, nats: false });
    const child = await ctx.spawnProcess({
      command: process.execPath,
      args: IDLE_CHILD,
      readyPattern: /ready/,
    });
    assert.ok(isAlive(child.pid));
    assert.match(child.output(), /ready/);
    assert.equal(child.exitStatus(), undefined);

    await ctx.cleanup();

    assert.equal(isAlive(child.pid), false);
    assert.deepEqual(child.exitStatus(), { code: null, signal: "SIGTERM" });
  });

  it("stop() sends the signal and waits for the exit", async () => {
    const ctx = await createTestContext({ postgres: false, redis: false, nats: false });
    const child = await ctx.spawnProcess({
      command: process.execPath,
      args: [
        "-e",
        "process.on('SIGINT', () => { console.log('bye'); process.exit(3); }); console.log('up'); setInterval(() => {}, 1000);",
      ],
      readyPattern: "up",
    });
    assert.deepEqual(await child.stop("SIGINT"), { code: 3, signal: null });
    assert.match(child.output(), /bye/);
    await ctx.cleanup();
  });

  it("passes env to the process and can wait for later output", async () => {
    const ctx = await createTestContext({ postgres: false, redis: false, nats: false });
    const child = await ctx.spawnProcess({
      command: process.execPath,
      args: [
        "-e",
        "setTimeout(() => console.log('port=' + process.env.TK_PORT), 50); setInterval(() => {}, 1000);",
      ],
      env: { TK_PORT: "4321" },
    });
    const match = await child.waitForOutput(/port=(\d+)/);
    assert.equal(match[1], "4321");
    await ctx.cleanup();
  });

  it("fails with TK_PROCESS_NOT_READY when the ready pattern does not come, and kills the process", async () => {
    const ctx = await createTestContext({ postgres: false, redis: false, nats: false });
    await assert.rejects(
      ctx.spawnProcess({
        command: process.execPath,
        args: IDLE_CHILD,
        readyPattern: /never/,
        timeoutMs: 300,
      }),
      (error: unknown) => {
        assert.ok(error instanceof TestKitError);
        assert.equal(error.code, TestKitErrorCode.ProcessNotReady);
        assert.equal(isAlive(error.context.pid as number), false);
        return true;
      },
    );
    await ctx.cleanup();
  });

  it("fails with TK_PROCESS_EXITED when the process exits before it is ready", async () => {
    const ctx = await createTestContext({ postgres: false, redis: false, nats: false });
    await assert.rejects(
      ctx.spawnProcess({
        command: process.execPath,
        args: ["-e", "console.error('boom'); process.exit(2)"],
        readyPattern: /ready/,
      }),
      { code: TestKitErrorCode.ProcessExited },
    );
    await assert.rejects(ctx.spawnProcess({ command: "/nonexistent/meridian-program" }), {
      code: TestKitErrorCode.ProcessSpawnFailed,
    });
    await ctx.cleanup();
  });
});

describe("testkit - context", () => {
  it("gives two contexts different ids, databases and prefixes", async () => {
    const [a, b] = await Promise.all([createTestContext(), createTestContext()]);
    try {
      assert.notEqual(a.runId, b.runId);
      assert.match(a.runId, new RegExp(`^[a-z][a-z0-9]{${RUN_ID_LENGTH - 1}}$`));
      assert.notEqual(a.postgres.database, b.postgres.database);
      assert.notEqual(a.redis.prefix, b.redis.prefix);
      assert.notEqual(a.nats.prefix, b.nats.prefix);
      assert.notEqual(a.nats.streamPrefix, b.nats.streamPrefix);
    } finally {
      await Promise.all([a.cleanup(), b.cleanup()]);
    }
  });

  it("runs cleanups once, in reverse order, however often cleanup() is called", async () => {
    const ctx = await createTestContext({ postgres: false, redis: false, nats: false });
    const ran: number[] = [];
    ctx.defer(() => ran.push(1));
    ctx.defer(async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      ran.push(2);
    });
    ctx.defer(() => ran.push(3));
    await Promise.all([ctx.cleanup(), ctx.cleanup()]);
    await ctx.cleanup();
    assert.deepEqual(ran, [3, 2, 1]);
    assert.throws(() => ctx.defer(() => {}), { code: TestKitErrorCode.ContextClosed });
  });

  it("runs every cleanup and reports all their errors together", async () => {
    const ctx = await createTestContext({ postgres: false, redis: false, nats: false });
    const ran: string[] = [];
    ctx.defer(() => ran.push("first"));
    ctx.defer(() => {
      throw new Error("one");
    });
    ctx.defer(() => Promise.reject(new Error("two")));
    await assert.rejects(ctx.cleanup(), (error: unknown) => {
      assert.ok(error instanceof TestKitCleanupError);
      assert.equal(error.code, TestKitErrorCode.CleanupFailed);
      assert.deepEqual(
        error.errors.map((e) => (e as Error).message),
        ["two", "one"],
      );
      return true;
    });
    assert.deepEqual(ran, ["first"]);
    await assert.rejects(ctx.cleanup(), TestKitCleanupError); // the same outcome again
  });

  it("throws TK_SERVICE_DISABLED for a service the context was created without", async () => {
    const ctx = await createTestContext({ postgres: false, redis: false, nats: false });
    assert.throws(() => ctx.postgres, { code: TestKitErrorCode.ServiceDisabled });
    assert.throws(() => ctx.redis, { code: TestKitErrorCode.ServiceDisabled });
    assert.throws(() => ctx.nats, { code: TestKitErrorCode.ServiceDisabled });
    await ctx.cleanup();
  });

  it("fails with TK_SERVICE_UNAVAILABLE naming the URL when a service is down, undoing what it created", async () => {
    const port = await freePort();
    for (const [service, override] of [
      ["redis", { redisUrl: `redis://127.0.0.1:${port}` }],
      ["nats", { natsUrl: `nats://127.0.0.1:${port}` }],
      ["postgres", { postgresUrl: `postgres://postgres@127.0.0.1:${port}/postgres` }],
    ] as const) {
      await assert.rejects(
        createTestContext({
          postgres: service === "postgres",
          redis: service === "redis",
          nats: service === "nats",
          config: override,
          connectTimeoutMs: 1_000,
        }),
        (error: unknown) => {
          assert.ok(error instanceof TestKitError);
          assert.equal(error.code, TestKitErrorCode.ServiceUnavailable);
          assert.equal(error.context.service, service);
          assert.match(String(error.context.url), new RegExp(`:${port}`));
          return true;
        },
      );
    }
  });

  it("reads the service URLs from the environment, with defaults, and rejects bad ones", () => {
    assert.equal(loadTestKitConfig({}, {}).postgresUrl, DEFAULT_POSTGRES_URL);
    assert.equal(
      loadTestKitConfig({}, { MERIDIAN_REDIS_URL: "redis://127.0.0.1:7000" }).redisUrl,
      "redis://127.0.0.1:7000",
    );
    assert.throws(() => loadTestKitConfig({}, { MERIDIAN_NATS_URL: "http://x" }), {
      code: TestKitErrorCode.ConfigInvalid,
    });
    assert.throws(() => loadTestKitConfig({}, { MERIDIAN_POSTGRES_URL: "not a url" }), {
      code: TestKitErrorCode.ConfigInvalid,
    });
  });
});
