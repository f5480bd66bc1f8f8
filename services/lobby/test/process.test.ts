import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createTestContext, type TestContext } from "@meridian/testkit";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const node = (script: string) => ({
  command: process.execPath,
  args: ["--conditions=meridian-source", "--import", "tsx", script],
  cwd: packageDir,
});

let ctx: TestContext;
before(async () => {
  ctx = await createTestContext({ redis: false, nats: false });
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

  it("process - main migrates, gets ready, and exits 0 on SIGTERM", async () => {
    const lobby = await ctx.spawnProcess({
      ...node("src/main.ts"),
      env: { MERIDIAN_POSTGRES_URL: ctx.postgres.url, MERIDIAN_ENV: "development" },
      readyPattern: /"msg":"lobby ready"/,
    });
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
});
