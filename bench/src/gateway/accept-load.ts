/**
 * The load of `gateway.accept-banlist`: connections opened and closed as fast as the server accepts
 * them. {@link ACCEPT_CONCURRENCY} loops each open a TCP connection (from one of
 * {@link ACCEPT_SOURCES} loopback addresses in turn), wait until the SERVER closes it (its FIN: the
 * server accepted the socket, ran its accept path and closed it), answer with a reset and open the
 * next one. The count is of connections the server closed, so it measures the server's accept path,
 * not how fast the client's connect() completes (the kernel completes those before the server
 * accepts). The reset leaves no TIME_WAIT on either side, so source ports never run out.
 *
 * @module
 */
import { connect, type Socket } from "node:net";
import { loopbackSource } from "../load/echo-load.js";

/** Connections being opened at any time. */
export const ACCEPT_CONCURRENCY = 64;
/** Loopback source addresses used in turn (127.0.0.2 …). */
export const ACCEPT_SOURCES = 256;

/** A running accept load. */
export interface AcceptLoad {
  /** Connections the server accepted and closed so far. */
  readonly accepted: number;
  readonly error: Error | undefined;
  /** Stops opening connections and waits for those in flight to end. */
  stop(): Promise<void>;
}

export function startAcceptLoad(host: string, port: number): AcceptLoad {
  let accepted = 0;
  let error: Error | undefined;
  let stopped = false;
  let next = 0;
  let open = 0;
  let onIdle: (() => void) | undefined;

  const loop = (): void => {
    if (stopped || error !== undefined) {
      if (open === 0) onIdle?.();
      return;
    }
    const socket: Socket = connect({
      host,
      port,
      localAddress: loopbackSource(next++ % ACCEPT_SOURCES),
      allowHalfOpen: true,
    });
    open++;
    let ended = false;
    socket.on("end", () => {
      ended = true;
      accepted++;
      socket.resetAndDestroy();
    });
    socket.on("error", (e: Error) => {
      // A reset by the server after its FIN is not a failure.
      if (!ended) error ??= e;
    });
    socket.on("close", () => {
      open--;
      if (!ended && error === undefined && !stopped)
        error = new Error("a connection closed before the server's FIN");
      loop();
    });
  };
  for (let i = 0; i < ACCEPT_CONCURRENCY; i++) loop();

  return {
    get accepted() {
      return accepted;
    },
    get error() {
      return error;
    },
    stop() {
      stopped = true;
      if (open === 0) return Promise.resolve();
      return new Promise((resolve) => {
        onIdle = resolve;
      });
    },
  };
}
