/**
 * End to end, with every part real except the world: the client SDK (`@meridian/client`) against
 * real lobby and gateway processes, over real NATS, Redis and Postgres; the zone double stands in for
 * the zone servers (until the world issue) and records every input it applies.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createNodeClient, type MeridianClient, runBots } from "@meridian/client/node";
import { createSubjects } from "@meridian/protocol";
import { createTestContext, type TestContext } from "@meridian/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { eventually, startGatewayProcess, startLobby } from "./helpers/cluster.js";
import { ZoneDouble } from "./helpers/zone-double.js";

let ctx: TestContext;
let nc: NatsConnection;
let zone: ZoneDouble;

before(async () => {
  ctx = await createTestContext();
  nc = await connect({ servers: ctx.nats.url });
  ctx.defer(() => nc.close());
  zone = new ZoneDouble(nc, { subjects: createSubjects({ prefix: ctx.nats.prefix }), servers: ["z1", "z2"] });
  await zone.start();
  ctx.defer(() => zone.stop());
  await startLobby(ctx);
});
after(() => ctx.cleanup());

function client(url: string | string[]): MeridianClient {
  const c = createNodeClient({
    url,
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
  });
  ctx.defer(() => c.close());
  return c;
}

/** Sequence numbers the zone applied for the player, in order. */
const appliedSeqs = (accountId: string): number[] => (zone.applied.get(accountId) ?? []).map((a) => a.seq);

describe("client end to end", () => {
  for (const scheme of ["tcp", "ws"] as const) {
    it(`e2e - over ${scheme}: login, inputs relayed to the zone and acknowledged in updates`, async () => {
      const gw = await startGatewayProcess(ctx, { GATEWAY_ID: `gw-e2e-${scheme}` });
      const c = client(`${scheme}://127.0.0.1:${scheme === "tcp" ? gw.tcpPort : gw.wsPort}`);
      const updates: number[] = [];
      c.on("update", (u) => updates.push(u.ack));
      await c.connect();
      const ok = await c.login(`e2e_${scheme}_${ctx.runId.slice(0, 6)}`, "a fine password");
      for (let i = 0; i < 20; i++) c.sendInput({ move: { dx: 1, dy: 0 }, i });
      await eventually(() => (appliedSeqs(ok.accountId).length === 20 ? true : undefined), 10_000);
      assert.deepEqual(
        appliedSeqs(ok.accountId),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      await eventually(() => (c.lastAck === 20 ? true : undefined), 10_000);
      assert.equal(c.unackedInputs, 0);
      assert.ok(updates.length > 0);
      await c.logout();
    });
  }

  it("e2e - a gateway shut down mid-stream: the client resumes on another; every input applied exactly once", async () => {
    const a = await startGatewayProcess(ctx, { GATEWAY_ID: "gw-e2e-a", GATEWAY_SHUTDOWN_MS: "3000" });
    const b = await startGatewayProcess(ctx, { GATEWAY_ID: "gw-e2e-b" });
    const c = client([`tcp://127.0.0.1:${a.tcpPort}`, `ws://127.0.0.1:${b.wsPort}`]);
    await c.connect();
    const ok = await c.login(`e2e_move_${ctx.runId.slice(0, 6)}`, "a fine password");
    const total = 200;
    let sent = 0;
    const sender = setInterval(() => {
      for (let k = 0; k < 5 && sent < total; k++, sent++) c.sendInput({ n: sent + 1 });
      if (sent >= total) clearInterval(sender);
    }, 5);
    // Half way, gateway A goes away (SIGTERM: bye 4203); the client moves to B and resumes.
    await eventually(() => (sent >= total / 2 ? true : undefined), 10_000);
    const resumed = new Promise<void>((resolve) => c.once("resumed", () => resolve()));
    await a.proc.stop("SIGTERM");
    await resumed;
    await eventually(() => (sent >= total ? true : undefined), 10_000);
    await eventually(() => (appliedSeqs(ok.accountId).length >= total ? true : undefined), 15_000);
    assert.deepEqual(
      appliedSeqs(ok.accountId),
      Array.from({ length: total }, (_, i) => i + 1),
      "no input lost, none applied twice, in order",
    );
    assert.equal(c.session?.sessionId, ok.sessionId, "the same session continues");
    await eventually(() => (c.unackedInputs === 0 ? true : undefined), 10_000);
  });

  it("e2e - headless bots log in and walk through a real gateway", async () => {
    const gw = await startGatewayProcess(ctx, { GATEWAY_ID: "gw-e2e-bots" });
    const summary = await runBots({
      url: `tcp://127.0.0.1:${gw.tcpPort}`,
      players: 5,
      prefix: `e2ebot${ctx.runId.slice(0, 4)}`,
      durationMs: 1_500,
      inputsPerSecond: 10,
    });
    assert.equal(summary.logins, 5, JSON.stringify(summary));
    assert.ok(summary.inputsSent > 0 && summary.updatesReceived > 0, JSON.stringify(summary));
    assert.deepEqual(summary.loginFailures, {}, JSON.stringify(summary));
  });
});
