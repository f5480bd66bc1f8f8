import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  Connector,
  type DisconnectInfo,
  EchoServerProtocol,
  type Listener,
  listen,
  NetEngineError,
  NetEngineErrorCode,
  ReconnectingClient,
  type Session,
} from "../src/index.js";

function echoClient(port: number, transport: "tcp" | "ws", frames: Buffer[]): Connector {
  return new Connector({
    transport,
    host: "127.0.0.1",
    port,
    connectTimeoutMs: 2000,
    handler: { onFrame: (_s: Session, frame: Buffer) => void frames.push(Buffer.from(frame)) },
  });
}

function waitFor(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (predicate()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error("condition not met in time"));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

for (const transport of ["tcp", "ws"] as const) {
  describe(`reconnect over ${transport}`, () => {
    it("reconnect - resumes after the server restarts on the same port", async () => {
      let server: Listener | undefined = await listen({
        transport,
        host: "127.0.0.1",
        port: 0,
        handler: new EchoServerProtocol(),
      });
      const port = server.port;
      const frames: Buffer[] = [];
      const resumed: Array<{ attempt: number; reconnected: boolean }> = [];
      const disconnects: DisconnectInfo[] = [];
      const client = new ReconnectingClient({
        connect: () => echoClient(port, transport, frames).connect(),
        initialDelayMs: 50,
        maxDelayMs: 200,
        maxAttempts: 100,
        onConnected: (session, info) => {
          resumed.push(info);
          // The resume hook: re-introduce ourselves after every (re)connect.
          session.send(Buffer.from(info.reconnected ? "resume" : "hello"));
        },
        onDisconnected: (info) => disconnects.push(info),
      });
      try {
        await client.start();
        await waitFor(() => frames.some((f) => f.toString() === "hello"));

        await server.close({ goodbye: true, timeoutMs: 1000 });
        server = undefined;
        await waitFor(() => disconnects.length === 1);
        // Down for a while: attempts fail and back off.
        await new Promise((r) => setTimeout(r, 400));
        server = await listen({ transport, host: "127.0.0.1", port, handler: new EchoServerProtocol() });

        await waitFor(() => frames.some((f) => f.toString() === "resume"));
        assert.equal(client.connects, 2);
        assert.deepEqual(
          resumed.map((r) => r.reconnected),
          [false, true],
        );
        const session = client.session;
        assert.ok(session !== undefined);
        session.send(Buffer.from("after"));
        await waitFor(() => frames.some((f) => f.toString() === "after"));
      } finally {
        await client.stop();
        await server?.close({ goodbye: false });
      }
    });
  });
}

describe("reconnect - policy", () => {
  it("reconnect - gives up after maxAttempts with a typed error", async () => {
    const probe = await listen({
      transport: "tcp",
      host: "127.0.0.1",
      port: 0,
      handler: new EchoServerProtocol(),
    });
    const port = probe.port;
    await probe.close();
    const delays: number[] = [];
    let gaveUp: NetEngineError | undefined;
    const client = new ReconnectingClient({
      connect: () => echoClient(port, "tcp", []).connect(),
      initialDelayMs: 10,
      maxDelayMs: 40,
      maxAttempts: 4,
      onReconnecting: (info) => delays.push(info.delayMs),
      onGiveUp: (error) => {
        gaveUp = error;
      },
    });
    await assert.rejects(client.start(), (error: unknown) => {
      assert.ok(error instanceof NetEngineError);
      assert.equal(error.code, NetEngineErrorCode.ReconnectGaveUp);
      assert.ok(error.cause instanceof NetEngineError);
      assert.equal(error.cause.code, NetEngineErrorCode.ConnectFailed);
      return true;
    });
    assert.equal(delays.length, 3);
    assert.equal(gaveUp?.code, NetEngineErrorCode.ReconnectGaveUp);
  });

  it("reconnect - backoff grows exponentially, is capped, and jitters within [0, ceiling)", () => {
    let r = 0.999;
    const client = new ReconnectingClient({
      connect: () => Promise.reject(new Error("unused")),
      initialDelayMs: 100,
      maxDelayMs: 1000,
      factor: 2,
      random: () => r,
    });
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((a) => client.delayFor(a)),
      [99, 199, 399, 799, 999, 999],
    );
    r = 0;
    assert.equal(client.delayFor(5), 0);
  });

  it("reconnect - a resume hook that throws counts as a failed attempt", async () => {
    const server = await listen({
      transport: "tcp",
      host: "127.0.0.1",
      port: 0,
      handler: new EchoServerProtocol(),
    });
    let calls = 0;
    const client = new ReconnectingClient({
      connect: () => echoClient(server.port, "tcp", []).connect(),
      initialDelayMs: 5,
      maxDelayMs: 10,
      maxAttempts: 3,
      onConnected: () => {
        calls++;
        if (calls < 3) throw new Error("resume refused");
      },
    });
    try {
      await client.start();
      assert.equal(calls, 3);
      assert.equal(client.connects, 1);
    } finally {
      await client.stop();
      await server.close();
    }
  });

  it("reconnect - a server that accepts and drops at once makes the client back off and give up", async () => {
    // Every connection is accepted and closed at once, as a guard refusing after the kernel's
    // accept does.
    let accepted = 0;
    const server = await listen({
      transport: "tcp",
      host: "127.0.0.1",
      port: 0,
      handler: {
        onAccepted: (session: Session) => {
          accepted++;
          session.close();
        },
      },
    });
    let gaveUp: NetEngineError | undefined;
    const delays: number[] = [];
    const client = new ReconnectingClient({
      connect: () => echoClient(server.port, "tcp", []).connect(),
      initialDelayMs: 20,
      maxDelayMs: 40,
      maxAttempts: 5,
      stableAfterMs: 1000,
      random: () => 0.5,
      onReconnecting: (info) => delays.push(info.delayMs),
      onGiveUp: (error) => {
        gaveUp = error;
      },
    });
    try {
      await client.start();
      await waitFor(() => gaveUp !== undefined);
      assert.equal(gaveUp?.code, NetEngineErrorCode.ReconnectGaveUp);
      // Every reconnect waited (no hot loop) and the count stopped at maxAttempts.
      assert.ok(delays.length >= 4 && delays.every((d) => d > 0), `delays ${delays.join(",")}`);
      assert.ok(accepted <= 5, `${accepted} connections accepted`);
    } finally {
      await client.stop();
      await server.close();
    }
  });

  it("reconnect - a callback that throws is reported and does not stop the client", async () => {
    const server = await listen({
      transport: "tcp",
      host: "127.0.0.1",
      port: 0,
      handler: new EchoServerProtocol(),
    });
    const reported: Error[] = [];
    const client = new ReconnectingClient({
      connect: () => echoClient(server.port, "tcp", []).connect(),
      initialDelayMs: 5,
      maxDelayMs: 10,
      maxAttempts: 50,
      onDisconnected: () => {
        throw new Error("listener bug");
      },
      onError: (error) => reported.push(error),
    });
    try {
      const first = await client.start();
      first.close();
      await waitFor(() => client.connects === 2);
      assert.equal(reported.length, 1);
    } finally {
      await client.stop();
      await server.close();
    }
  });

  it("reconnect - rejects bad options with a typed error", () => {
    assert.throws(
      () => new ReconnectingClient({ connect: () => Promise.reject(new Error("x")), factor: 0.5 }),
      (e: unknown) => e instanceof NetEngineError && e.code === NetEngineErrorCode.InvalidOptions,
    );
  });
});
