/**
 * Edge suite, handler chain: application sinks are told of each event after the protocol handler
 * and before its default action, `preventDefault()` stops the default (the echo), and a sink that
 * throws ends only its session, with `handler_error`. Runs over TCP and WebSocket.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type DisconnectInfo,
  DisconnectReason,
  EchoServerProtocol,
  type EventSink,
  NetEngineError,
  NetEngineErrorCode,
  type Session,
  type SessionEvent,
  WebSocketCloseCode,
} from "../src/index.js";
import { EdgeKit, RecordingEcho, TRANSPORTS, waitUntil, within } from "./helpers/edge-kit.js";

/** The echo protocol, logging every `on…` and `default…` call; posts one user event per frame. */
class LoggingEcho extends EchoServerProtocol {
  constructor(readonly log: string[]) {
    super();
  }
  onAccepted(): void {
    this.log.push("handler.onAccepted");
  }
  defaultAccepted(): void {
    this.log.push("handler.defaultAccepted");
  }
  override onFrame(session: Session, frame: Uint8Array, ev: SessionEvent): void {
    this.log.push("handler.onFrame");
    super.onFrame(session, frame, ev);
    session.post(frame.toString());
  }
  override defaultFrame(session: Session, frame: Uint8Array): void {
    this.log.push("handler.defaultFrame");
    super.defaultFrame(session, frame);
  }
  onUserEvent(): void {
    this.log.push("handler.onUserEvent");
  }
  defaultUserEvent(): void {
    this.log.push("handler.defaultUserEvent");
  }
  onDisconnected(): void {
    this.log.push("handler.onDisconnected");
  }
  defaultDisconnected(): void {
    this.log.push("handler.defaultDisconnected");
  }
}

function loggingSink(name: string, log: string[]): EventSink {
  return {
    onAccepted: () => void log.push(`${name}.onAccepted`),
    onFrame: () => void log.push(`${name}.onFrame`),
    onUserEvent: () => void log.push(`${name}.onUserEvent`),
    onDisconnected: () => void log.push(`${name}.onDisconnected`),
  };
}

const chainOf = (event: string): string[] => [
  `handler.on${event}`,
  `app1.on${event}`,
  `app2.on${event}`,
  `handler.default${event}`,
];

for (const { transport } of TRANSPORTS) {
  describe(`edge over ${transport}: handler chain`, () => {
    it("handler chain - sinks are told of each event after the handler and before its default", async (t) => {
      const kit = new EdgeKit(t);
      const log: string[] = [];
      const listener = await kit.listen({
        transport,
        handler: new LoggingEcho(log),
        sinks: [loggingSink("app1", log), loggingSink("app2", log)],
      });
      const client = await kit.openClient(transport, listener.port);
      client.send(Buffer.from("one"));
      assert.equal((await client.nextFrame()).toString(), "one");
      await waitUntil(() => log.includes("handler.defaultUserEvent"), 10_000, "the user event");
      client.end();
      await waitUntil(() => log.includes("handler.defaultDisconnected"), 10_000, "the disconnect");

      assert.deepEqual(log, [
        ...chainOf("Accepted"),
        ...chainOf("Frame"),
        ...chainOf("UserEvent"),
        ...chainOf("Disconnected"),
      ]);
    });

    it("handler chain - ev.preventDefault() in a sink stops the echo of that frame only", async (t) => {
      const kit = new EdgeKit(t);
      const echo = new RecordingEcho();
      const censor: EventSink = {
        onFrame(_session, frame, ev) {
          if (Buffer.from(frame).toString().startsWith("x")) ev.preventDefault();
        },
      };
      const listener = await kit.listen({ transport, handler: echo, sinks: [censor] });
      const client = await kit.openClient(transport, listener.port);
      for (const text of ["x-1", "keep-1", "x-2", "keep-2"]) client.send(Buffer.from(text));
      assert.equal((await client.nextFrame()).toString(), "keep-1");
      assert.equal((await client.nextFrame()).toString(), "keep-2");
      // The censored frames reached the handler; only their echo was stopped.
      assert.deepEqual(
        echo.frames.map((f) => f.toString()),
        ["x-1", "keep-1", "x-2", "keep-2"],
      );
      client.send(Buffer.from("keep-3"));
      assert.equal((await client.nextFrame()).toString(), "keep-3");
      assert.equal(client.received.length, 3);
      assert.equal(client.isClosed, false);
    });

    it("handler chain - a sink that throws closes its session with handler_error", async (t) => {
      const kit = new EdgeKit(t);
      const echo = new RecordingEcho();
      const thrown = new Error("sink failure");
      const reported: { error: Error; session: Session | undefined }[] = [];
      const faulty: EventSink = {
        onFrame(_session, frame) {
          if (Buffer.from(frame).toString() === "boom") throw thrown;
        },
      };
      const listener = await kit.listen({
        transport,
        handler: echo,
        sinks: [faulty],
        onError: (error, session) => void reported.push({ error, session }),
      });
      const victim = await kit.openClient(transport, listener.port);
      const bystander = await kit.openClient(transport, listener.port);
      victim.send(Buffer.from("fine"));
      assert.equal((await victim.nextFrame()).toString(), "fine");

      victim.send(Buffer.from("boom"));
      const close = await within(victim.closed, 10_000, "the failing session's close");
      if (transport === "ws") assert.equal(close.code, WebSocketCloseCode.handler_error);
      assert.equal(victim.received.length, 1, "the frame whose sink threw was echoed");

      const [gone] = await echo.waitForDisconnects(1);
      const info = (gone as { info: DisconnectInfo }).info;
      assert.equal(info.reason, DisconnectReason.HandlerError);
      assert.ok(info.error instanceof NetEngineError);
      assert.equal(info.error.code, NetEngineErrorCode.HandlerFailed);
      assert.equal(info.error.cause, thrown);
      assert.equal(reported.length, 1);
      assert.equal((reported[0] as { error: Error }).error, info.error);
      assert.equal(listener.stats().handlerErrors, 1);

      bystander.send(Buffer.from("still here"));
      assert.equal((await bystander.nextFrame()).toString(), "still here");
      assert.equal(bystander.isClosed, false);
      assert.equal(echo.disconnects.length, 1);
    });
  });
}
