/**
 * Starting real processes for the gateway's tests: the lobby (`services/lobby/src/main.ts`, by path:
 * the gateway never imports the lobby) and gateway processes, each isolated on the test context's
 * database, Redis prefix and NATS prefix; and in-process gateways on the same wiring.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  type BanRequest,
  createSubjects,
  type LobbyReplyOf,
  lobbyReplyCodec,
  lobbyRequestCodec,
  lobbySubject,
  type MessageOf,
} from "@meridian/protocol";
import type { SpawnedProcess, TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Gateway, type GatewayOptions } from "../../src/gateway.js";
import type { PlayerRouter } from "../../src/router-port.js";

export const gatewayDir = fileURLToPath(new URL("../..", import.meta.url));
export const lobbyDir = fileURLToPath(new URL("../../../lobby", import.meta.url));
export const ADMIN_TOKEN = "gateway-tests-admin-token-0123456789";

export const node = (script: string, cwd: string) => ({
  command: process.execPath,
  args: ["--conditions=meridian-source", "--import", "tsx", script],
  cwd,
});

/** The shared environment of processes isolated on this run. */
export function clusterEnv(ctx: TestContext): Record<string, string> {
  return {
    MERIDIAN_REDIS_URL: ctx.redis.url,
    MERIDIAN_REDIS_PREFIX: ctx.redis.prefix,
    MERIDIAN_NATS_URL: ctx.nats.url,
    MERIDIAN_SUBJECT_PREFIX: ctx.nats.prefix,
    MERIDIAN_ENV: "development",
  };
}

/** Starts a real lobby process. */
export function startLobby(ctx: TestContext, extra: Record<string, string> = {}): Promise<SpawnedProcess> {
  return ctx.spawnProcess({
    ...node("src/main.ts", lobbyDir),
    env: {
      ...clusterEnv(ctx),
      MERIDIAN_POSTGRES_URL: ctx.postgres.url,
      LOBBY_ADMIN_TOKEN: ADMIN_TOKEN,
      LOBBY_ADMIN_PORT: "0",
      LOBBY_MAX_ACCOUNTS_PER_IP_PER_HOUR: "100000",
      LOBBY_LOGIN_IP_FREE_ATTEMPTS: "100000",
      ...extra,
    },
    readyPattern: /"msg":"lobby ready"/,
    timeoutMs: 60_000,
  });
}

/** A real gateway process on ephemeral ports; resolves with its ports once ready. */
export async function startGatewayProcess(
  ctx: TestContext,
  env: Record<string, string> = {},
): Promise<{ proc: SpawnedProcess; tcpPort: number; wsPort: number }> {
  const proc = await ctx.spawnProcess({
    ...node("src/main.ts", gatewayDir),
    env: {
      ...clusterEnv(ctx),
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_TCP_PORT: "0",
      GATEWAY_WS_PORT: "0",
      ...env,
    },
    readyPattern: /"msg":"gateway ready"/,
    timeoutMs: 30_000,
  });
  const line =
    proc
      .output()
      .split("\n")
      .find((l) => l.includes('"msg":"gateway ready"')) ?? "";
  const ready = JSON.parse(line) as { tcpPort: number; wsPort: number };
  return { proc, tcpPort: ready.tcpPort, wsPort: ready.wsPort };
}

/** An in-process gateway on ephemeral loopback ports, with its own Redis and NATS clients; stopped at cleanup. */
export async function startGateway(
  ctx: TestContext,
  options: Partial<GatewayOptions> = {},
  router?: PlayerRouter,
): Promise<{ gateway: Gateway; nc: NatsConnection; redis: Redis; tcpPort: number; wsPort: number }> {
  const redis = new Redis(ctx.redis.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  const nc = await connect({ servers: ctx.nats.url });
  const gateway = new Gateway(
    {
      redis,
      nc,
      logger: pino({ level: process.env.GATEWAY_TEST_LOG ?? "silent" }),
      ...(router ? { router } : {}),
    },
    {
      id: `gw-test-${Math.random().toString(36).slice(2, 8)}`,
      redisPrefix: ctx.redis.prefix,
      subjectPrefix: ctx.nats.prefix,
      host: "127.0.0.1",
      tcpPort: 0,
      wsPort: 0,
      guard: { maxNewConnectionsPerIpPerSecond: 10_000, maxConnectionsPerIp: 10_000 },
      ...options,
    },
  );
  ctx.defer(async () => {
    await gateway.stop();
    await nc.close();
    redis.disconnect();
  });
  await gateway.start();
  return { gateway, nc, redis, tcpPort: gateway.ports.tcp ?? 0, wsPort: gateway.ports.ws ?? 0 };
}

type BanBody = Omit<MessageOf<typeof BanRequest>, "t" | "adminToken">;

/** Bans through the real lobby's NATS `ban` verb with the admin token. */
export async function lobbyBan(
  ctx: TestContext,
  nc: NatsConnection,
  body: Partial<BanBody> & Pick<BanBody, "kind">,
) {
  const subjects = createSubjects({ prefix: ctx.nats.prefix });
  const request = lobbyRequestCodec("ban").encode({
    t: "ban",
    adminToken: ADMIN_TOKEN,
    reason: "testing bans",
    issuer: "gateway-tests",
    ...body,
  } as MessageOf<typeof BanRequest>);
  const msg = await nc.request(lobbySubject(subjects, "ban"), request, { timeout: 10_000 });
  const reply = lobbyReplyCodec("ban").decode(msg.data);
  if (!reply.ok || reply.message.t !== "ban_is") throw new Error(`ban failed: ${JSON.stringify(reply)}`);
  return reply.message as LobbyReplyOf<"ban">;
}

/** A self-signed certificate for `localhost` made with openssl, in a temporary folder removed at cleanup. */
export async function selfSignedCert(ctx: TestContext): Promise<{ cert: Buffer; key: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), "gateway-tls-"));
  ctx.defer(() => rm(dir, { recursive: true, force: true }));
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  await promisify(execFile)("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ]);
  return { cert: await readFile(cert), key: await readFile(key) };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(25);
  }
}
