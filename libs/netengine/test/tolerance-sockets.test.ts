import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { describe, it } from "node:test";
import { connect, EchoServerProtocol, listen, type Session } from "../src/index.js";

function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (predicate()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

function idleSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: "127.0.0.1", port }, () => resolve(s));
    s.on("error", reject);
  });
}

describe("adaptive tolerance over real sockets", () => {
  it("tolerance - a wave of silent connections tightens the deadline and limits; legitimate traffic relaxes them", async () => {
    const levels: number[] = [];
    const listener = await listen({
      transport: "tcp",
      host: "127.0.0.1",
      port: 0,
      handler: new EchoServerProtocol(),
      guard: {
        preAuthDeadlineMs: 1200,
        maxConnectionsPerIp: 200,
        maxNewConnectionsPerIpPerSecond: 200,
        tolerance: {
          windowMs: 4000,
          bucketMs: 250,
          minSamples: 10,
          stepIntervalMs: 300,
          minDeadlineMs: 300,
          onChange: (level) => void levels.push(level),
        },
      },
    });
    const guard = listener.guard;
    assert.ok(guard !== undefined);
    const sockets: Socket[] = [];
    const sessions: Session[] = [];
    try {
      assert.equal(guard.tolerance.level, 0);
      assert.equal(guard.preAuthDeadlineMs(), 1200);

      // The attack: 20 connections that never send a byte, all pruned at the deadline.
      for (let i = 0; i < 20; i++) sockets.push(await idleSocket(listener.port));
      await waitFor(() => listener.stats().preAuthPruned === 20, 10_000, "20 prunes");
      await waitFor(() => guard.tolerance.level >= 1, 5000, "the tolerance to tighten");
      const tight = guard.tolerance;
      assert.ok(tight.preAuthDeadlineMs < 1200, `deadline ${tight.preAuthDeadlineMs}`);
      assert.ok(tight.maxConnectionsPerIp < 200, `limit ${tight.maxConnectionsPerIp}`);
      assert.equal(listener.stats().disconnects.preauth_timeout, 20);

      // The attack ends: legitimate clients send a valid first frame each.
      for (let i = 0; i < 40; i++) {
        const s = await connect({ transport: "tcp", port: listener.port, handler: {} });
        s.send(Buffer.from("hello"));
        sessions.push(s);
      }
      await waitFor(() => guard.counters().preauth_established >= 40, 10_000, "40 established");
      await waitFor(() => guard.tolerance.level === 0, 15_000, "the tolerance to relax");
      assert.equal(guard.preAuthDeadlineMs(), 1200);
      assert.ok(Math.max(...levels) >= 1 && levels.at(-1) === 0, `levels ${levels.join(",")}`);
    } finally {
      for (const s of sockets) s.destroy();
      for (const s of sessions) s.close();
      await listener.close({ goodbye: false });
    }
  });
});
