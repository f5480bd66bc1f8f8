/**
 * What the lobby benchmarks run on: a test context (a fresh Postgres database, a Redis key prefix, a
 * NATS subject prefix), the real lobby process (`services/lobby/src/main.ts`) on it, and the bench's
 * own NATS connection to load it. Everything is torn down by {@link withLobbyFixture}, whatever
 * happens: a thrown error, or SIGINT/SIGTERM of the bench process while it runs.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createSubjects,
  type LobbyVerb,
  lobbyReplyCodec,
  lobbyRequestCodec,
  lobbySubject,
  makeLoginNonce,
  type Subjects,
} from "@meridian/protocol";
import { createTestContext, type SpawnedProcess, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { CHILD_EXEC_ARGV } from "../server-process.js";

/** Argon2id parameters of the lobby and of the baseline: OWASP's minimum, the lobby's defaults. */
export interface Argon2Params {
  readonly memoryKib: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

/** OWASP's argon2id minimum (m = 19 MiB, t = 2, p = 1), which is also the lobby's default. */
export const OWASP_ARGON2: Argon2Params = Object.freeze({ memoryKib: 19_456, timeCost: 2, parallelism: 1 });

/**
 * libuv's thread pool size of the lobby and of the argon2 baseline (libuv's default, 4). The
 * `@node-rs/argon2` tasks run on it, so both sides may hash 4 passwords at once; set explicitly so
 * an inherited `UV_THREADPOOL_SIZE` cannot make the two differ.
 */
export const THREADPOOL_SIZE = 4;

/** Bound on every request of the benchmarks, ms. */
export const REQUEST_TIMEOUT_MS = 10_000;

const LOBBY_DIR = fileURLToPath(new URL("../../../services/lobby/", import.meta.url));
const LOBBY_READY = /^\{[^\n]*"msg":"lobby ready"[^\n]*$/m;

/** A running lobby and a client connection to it. */
export interface LobbyFixture {
  readonly test: TestContext;
  readonly lobby: SpawnedProcess;
  /** The bench's connection to NATS (the load generator's). */
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  /** The lobby's `lobby ready` log record. */
  readonly ready: Record<string, unknown>;
}

/** Options of {@link withLobbyFixture}. */
export interface LobbyFixtureOptions {
  /** Label of the lobby process (progress lines, CPU profile folder). */
  readonly label: string;
  /** When set, the lobby runs with `--cpu-prof` and writes its profile into `<cpuProfDir>/<label>/` on exit. */
  readonly cpuProfDir: string | undefined;
  /** Extra environment of the lobby process. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Sets up a test context and a lobby process on it, runs `work`, and cleans up (the lobby process,
 * everything `work` deferred on the context, Redis keys, the database) even when `work` throws or the
 * bench is interrupted.
 */
export async function withLobbyFixture<T>(
  options: LobbyFixtureOptions,
  work: (fixture: LobbyFixture) => Promise<T>,
): Promise<T> {
  const test = await createTestContext();
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`bench: ${signal}: cleaning up the lobby benchmark\n`);
    test.cleanup().then(
      () => process.exit(130),
      () => process.exit(130),
    );
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const execArgv = [...CHILD_EXEC_ARGV];
    if (options.cpuProfDir !== undefined) {
      execArgv.push("--cpu-prof", `--cpu-prof-dir=${join(options.cpuProfDir, options.label)}`);
    }
    const lobby = await test.spawnProcess({
      command: process.execPath,
      args: [...execArgv, "src/main.ts"],
      cwd: LOBBY_DIR,
      env: {
        MERIDIAN_ENV: "development",
        MERIDIAN_POSTGRES_URL: test.postgres.url,
        MERIDIAN_REDIS_URL: test.redis.url,
        MERIDIAN_REDIS_PREFIX: test.redis.prefix,
        MERIDIAN_NATS_URL: test.nats.url,
        MERIDIAN_SUBJECT_PREFIX: test.nats.prefix,
        LOBBY_ADMIN_PORT: "0",
        LOBBY_ID: `bench-${options.label}`,
        UV_THREADPOOL_SIZE: String(THREADPOOL_SIZE),
        ...options.env,
      },
      readyPattern: LOBBY_READY,
      timeoutMs: 60_000,
    });
    const line = (await lobby.waitForOutput(LOBBY_READY))[0];
    const ready = JSON.parse(line) as Record<string, unknown>;
    const nc = await connect({
      servers: test.nats.url,
      name: "bench-lobby-load",
      timeout: REQUEST_TIMEOUT_MS,
    });
    test.defer(() => nc.close());
    return await work({ test, lobby, nc, subjects: createSubjects({ prefix: test.nats.prefix }), ready });
  } catch (error) {
    // The benchmark's own error is the one to report; a cleanup failure on top of it goes to stderr.
    await test.cleanup().catch((cleanupError: unknown) => {
      process.stderr.write(`bench: lobby benchmark cleanup failed: ${String(cleanupError)}\n`);
    });
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await test.cleanup(); // idempotent: after a failure, the call above already ran it
  }
}

/** One request to the lobby: encodes `request`, decodes the reply (the verb's reply or `lobby_error`). */
export async function lobbyRequest<V extends LobbyVerb>(
  nc: NatsConnection,
  subjects: Subjects,
  verb: V,
  request: Parameters<ReturnType<typeof lobbyRequestCodec<V>>["encode"]>[0],
): Promise<ReturnType<ReturnType<typeof lobbyReplyCodec<V>>["decode"]>> {
  const reply = await nc.request(lobbySubject(subjects, verb), lobbyRequestCodec(verb).encode(request), {
    timeout: REQUEST_TIMEOUT_MS,
  });
  return lobbyReplyCodec(verb).decode(reply.data);
}

/** A player of the benchmarks. */
export interface BenchPlayer {
  readonly username: string;
  readonly password: string;
  /** The address the gateway reports for them (varied, so no per-IP limit is shared). */
  readonly ip: string;
}

/** `count` distinct players, each with its own address in 10.64.0.0/10. */
export function benchPlayers(tag: string, count: number): BenchPlayer[] {
  return Array.from({ length: count }, (_, i) => ({
    username: `${tag}_${String(i).padStart(5, "0")}`,
    password: `bench password ${tag} ${i}`,
    ip: `10.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`,
  }));
}

/** The login request of `player` with a fresh nonce, as a gateway forwards it. */
export function loginRequest(player: BenchPlayer) {
  const nonce = makeLoginNonce();
  return {
    t: "login" as const,
    username: player.username,
    password: player.password,
    nonce,
    connectionNonce: nonce,
    ip: player.ip,
    tls: false,
    gateway: "bench",
  };
}

/**
 * Logs every player in once, `concurrency` at a time (auto-create: the first login creates the
 * account); resolves with their account ids, in order.
 * @throws Error when a login is not a session.
 */
export async function loginAll(
  fixture: LobbyFixture,
  players: readonly BenchPlayer[],
  concurrency: number,
): Promise<string[]> {
  const ids: string[] = new Array(players.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < players.length) {
      const index = next++;
      const player = players[index] as BenchPlayer;
      const result = await lobbyRequest(fixture.nc, fixture.subjects, "login", loginRequest(player));
      if (!result.ok || result.message.t !== "session") {
        throw new Error(
          `login of ${player.username} failed: ${JSON.stringify(result.ok ? result.message : result.error)}`,
        );
      }
      ids[index] = result.message.accountId;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, players.length) }, worker));
  return ids;
}
