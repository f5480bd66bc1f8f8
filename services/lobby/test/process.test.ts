import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  createSubjects,
  lobbyReplyCodec,
  lobbyRequestCodec,
  lobbySubject,
  makeLoginNonce,
} from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect } from "@nats-io/transport-node";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const node = (script: string) => ({
  command: process.execPath,
  args: ["--conditions=meridian-source", "--import", "tsx", script],
  cwd: packageDir,
});

let ctx: TestContext;
before(async () => {
  ctx = await createTestContext();
});
after(() => ctx.cleanup());

describe("process", () => {
  it("process - migrate CLI applies, then reports up to date", async () => {
    const env = { MERIDIAN_POSTGRES_URL: ctx.postgres.url };
    const first = await ctx.spawnProcess({ ...node("src/cli/migrate.ts"), env });
    assert.deepEqual(await first.exited, { code: 0, signal: null });
    assert.match(first.output(), /applied 0001_initial/);
    const second = await ctx.spawnProcess({ ...node("src/cli/migrate.ts"), env });
    assert.deepEqual(await second.exited, { code: 0, signal: null });
    assert.match(second.output(), /up to date/);
  });

  it("process - migrate CLI exits non-zero when the database is unreachable", async () => {
    const url = new URL(ctx.postgres.url);
    url.pathname = `/${ctx.postgres.database}_missing`;
    const cli = await ctx.spawnProcess({
      ...node("src/cli/migrate.ts"),
      env: { MERIDIAN_POSTGRES_URL: url.href },
    });
    const exit = await cli.exited;
    assert.notEqual(exit.code, 0);
    assert.match(cli.output(), /migrate: /);
  });

  /** The environment of a lobby process isolated on this run's database, key and subject prefixes. */
  const lobbyEnv = (extra: Record<string, string> = {}) => ({
    MERIDIAN_POSTGRES_URL: ctx.postgres.url,
    MERIDIAN_REDIS_URL: ctx.redis.url,
    MERIDIAN_REDIS_PREFIX: ctx.redis.prefix,
    MERIDIAN_NATS_URL: ctx.nats.url,
    MERIDIAN_SUBJECT_PREFIX: ctx.nats.prefix,
    MERIDIAN_ENV: "development",
    LOBBY_ADMIN_PORT: "0",
    ...extra,
  });

  it("process - main migrates, serves a login over NATS, and exits 0 on SIGTERM", async () => {
    const lobby = await ctx.spawnProcess({
      ...node("src/main.ts"),
      env: lobbyEnv(),
      readyPattern: /"msg":"lobby ready"/,
    });
    // A real login through the real process, as a gateway sends it (full-strength argon2id).
    const nc = await connect({ servers: ctx.nats.url });
    try {
      const nonce = makeLoginNonce();
      const request = lobbyRequestCodec("login").encode({
        t: "login",
        username: "process_player",
        password: "a long enough password",
        nonce,
        connectionNonce: nonce,
        ip: "127.0.0.1",
        tls: false,
        gateway: "process-test",
      });
      const subject = lobbySubject(createSubjects({ prefix: ctx.nats.prefix }), "login");
      const msg = await nc.request(subject, request, { timeout: 10_000 });
      const reply = lobbyReplyCodec("login").decode(msg.data);
      assert.ok(reply.ok && reply.message.t === "session", JSON.stringify(reply));
      assert.equal(reply.message.created, true);
    } finally {
      await nc.close();
    }
    // The admin API is up on its ephemeral port, and ready.
    const adminUrl = /"admin":"(http:\/\/[^"]+)"/.exec(lobby.output())?.[1];
    assert.ok(adminUrl, "the ready line names the admin API's address");
    assert.equal((await fetch(`${adminUrl}/readyz`)).status, 200);
    const started = Date.now();
    const exit = await lobby.stop("SIGTERM");
    assert.deepEqual(exit, { code: 0, signal: null }, lobby.output());
    assert.ok(Date.now() - started < 5_000);
    assert.match(lobby.output(), /"msg":"stopped"/);
  });

  it("process - main refuses a bad variable, naming it on stderr, with a non-zero exit", async () => {
    const lobby = await ctx.spawnProcess({
      ...node("src/main.ts"),
      env: { MERIDIAN_POSTGRES_URL: ctx.postgres.url, LOBBY_ARGON2_MEMORY_KIB: "1024" },
    });
    const exit = await lobby.exited;
    assert.notEqual(exit.code, 0);
    assert.equal(exit.signal, null);
    assert.match(lobby.output(), /lobby: invalid lobby configuration:\n\s+LOBBY_ARGON2_MEMORY_KIB:/);
  });

  it("process - main refuses to start in production with the default admin secret", async () => {
    const lobby = await ctx.spawnProcess({
      ...node("src/main.ts"),
      env: lobbyEnv({ MERIDIAN_ENV: "production" }),
    });
    const exit = await lobby.exited;
    assert.notEqual(exit.code, 0);
    assert.match(lobby.output(), /LOBBY_ADMIN_TOKEN: is required in production/);
  });

  it("process - main exits non-zero with a clear message when Redis is unreachable", async () => {
    const lobby = await ctx.spawnProcess({
      ...node("src/main.ts"),
      env: lobbyEnv({ MERIDIAN_REDIS_URL: "redis://127.0.0.1:1" }),
    });
    const exit = await lobby.exited;
    assert.notEqual(exit.code, 0);
    assert.match(lobby.output(), /lobby: cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  });

  it("process - main exits non-zero with a clear message when NATS is unreachable", async () => {
    const lobby = await ctx.spawnProcess({
      ...node("src/main.ts"),
      env: lobbyEnv({ MERIDIAN_NATS_URL: "nats://127.0.0.1:1" }),
    });
    const exit = await lobby.exited;
    assert.notEqual(exit.code, 0);
    assert.match(lobby.output(), /lobby: cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});
