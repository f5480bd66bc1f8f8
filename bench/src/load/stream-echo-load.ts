/**
 * The echo load generator for byte streams carrying fixed-size frames (length-prefixed TCP, and
 * WebSocket written by hand), built to cost as little as possible so that the server under test is
 * the bottleneck. Every connection keeps `window` frames in flight; per read it counts the echoed
 * frames (all the same size, so counting is arithmetic), checks the header of each frame that
 * starts in the chunk, and sends the same number of new frames in ONE write of a pre-built buffer.
 *
 * @module
 */
import { connect, type Socket } from "node:net";
import { type EchoLoad, type EchoLoadOptions, LoadState, loopbackSource, openAll } from "./echo-load.js";

/** The wire format a {@link startStreamEchoLoad} speaks. */
export interface StreamEchoProtocol {
  readonly name: string;
  /** Size of every frame the server sends back. */
  readonly echoFrameBytes: number;
  /** Bytes {@link checkHeader} reads at the start of an echoed frame. */
  readonly headerBytes: number;
  /** True when the echoed frame starting at `at` has the expected header. */
  checkHeader(chunk: Buffer, at: number): boolean;
  /** Size of every frame sent. */
  readonly sendFrameBytes: number;
  /** `window` frames to send, back to back; slices of it are sent as they are. */
  buildFrames(window: number): Buffer;
  /**
   * An HTTP upgrade to send before framing starts (WebSocket); the response head (up to the
   * blank line) goes to {@link checkUpgradeResponse}.
   */
  upgradeRequest?(options: EchoLoadOptions): string;
  /** Returns why the response head is not the expected upgrade, or undefined when it is. */
  checkUpgradeResponse?(head: string): string | undefined;
}

const HEAD_END = "\r\n\r\n";
const MAX_HEAD_BYTES = 16 * 1024;

export async function startStreamEchoLoad(
  options: EchoLoadOptions,
  protocol: StreamEchoProtocol,
): Promise<EchoLoad> {
  const { window } = options;
  const { echoFrameBytes, headerBytes, sendFrameBytes } = protocol;
  const frames = protocol.buildFrames(window);
  const state = new LoadState();

  const open = (index: number): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const socket = connect({
        host: options.host,
        port: options.port,
        localAddress: loopbackSource(index),
        noDelay: true,
      });
      const fail = (error: Error): void => {
        socket.destroy();
        reject(error);
      };
      socket.once("error", fail);
      let carry = 0;
      const onFrames = (chunk: Buffer): void => {
        for (
          let at = carry === 0 ? 0 : echoFrameBytes - carry;
          at + headerBytes <= chunk.length;
          at += echoFrameBytes
        ) {
          if (!protocol.checkHeader(chunk, at)) {
            state.fail(new Error(`${protocol.name} connection ${index}: unexpected frame header at ${at}`));
            socket.destroy();
            return;
          }
        }
        const total = carry + chunk.length;
        const echoed = Math.floor(total / echoFrameBytes);
        carry = total - echoed * echoFrameBytes;
        if (echoed === 0) return;
        if (echoed > window) {
          state.fail(
            new Error(`${protocol.name} connection ${index}: ${echoed} frames echoed, ${window} in flight`),
          );
          socket.destroy();
          return;
        }
        state.echoed += echoed;
        if (!state.stopped)
          socket.write(echoed === window ? frames : frames.subarray(0, echoed * sendFrameBytes));
      };
      const ready = (): void => {
        socket.off("error", fail);
        socket.on("data", onFrames);
        socket.on("error", (error) => {
          if (!state.stopped) state.fail(error);
        });
        socket.on("close", () => {
          if (!state.stopped)
            state.fail(new Error(`${protocol.name} connection ${index} closed by the server`));
        });
        resolve(socket);
      };
      socket.once("connect", () => {
        const request = protocol.upgradeRequest?.(options);
        if (request === undefined) {
          ready();
          return;
        }
        let head = "";
        const onHead = (chunk: Buffer): void => {
          head += chunk.toString("latin1");
          const end = head.indexOf(HEAD_END);
          if (end === -1) {
            if (head.length > MAX_HEAD_BYTES)
              fail(new Error(`${protocol.name}: upgrade response head too large`));
            return;
          }
          socket.off("data", onHead);
          const problem =
            end + HEAD_END.length !== head.length
              ? "bytes after the upgrade response before any frame was sent"
              : protocol.checkUpgradeResponse?.(head.slice(0, end));
          if (problem === undefined) ready();
          else fail(new Error(`${protocol.name} connection ${index}: ${problem}`));
        };
        socket.on("data", onHead);
        socket.write(request, "latin1");
      });
    });

  const sockets = await openAll(options.connections, open, (socket) => socket.destroy()).catch(
    (error: unknown) => {
      // The connections that did open are being closed: not a failure of a run.
      state.stopped = true;
      throw error;
    },
  );
  for (const socket of sockets) socket.write(frames);

  return {
    get echoed() {
      return state.echoed;
    },
    get error() {
      return state.error;
    },
    async stop() {
      state.stopped = true;
      await Promise.all(
        sockets.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.destroyed) return resolve();
              socket.once("close", () => resolve());
              socket.destroy();
            }),
        ),
      );
    },
  };
}
