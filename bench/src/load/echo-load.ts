/**
 * What the echo load generators share: options, the running-load handle, and loopback source
 * addresses.
 *
 * @module
 */

/** Options of an echo load generator. */
export interface EchoLoadOptions {
  readonly host: string;
  readonly port: number;
  /** Connections opened, each from its own loopback source address. */
  readonly connections: number;
  /** Frames each connection keeps in flight: it sends one new frame per echoed frame. */
  readonly window: number;
  /** Payload bytes of every frame. */
  readonly payloadBytes: number;
}

/** A running echo load. */
export interface EchoLoad {
  /** Frames echoed back so far, over all connections. */
  readonly echoed: number;
  /** The first failure (a connection error, a frame that is not the one sent), if any. */
  readonly error: Error | undefined;
  /** Stops sending and closes every connection. */
  stop(): Promise<void>;
}

/**
 * The source address of connection `index`: 127.0.0.2, 127.0.0.3, … (Linux routes all of
 * 127/8 to loopback). One address per connection keeps the default accept guard's per-IP limits
 * (32 open, 16 new per second) out of a throughput benchmark, as many real clients would.
 */
export function loopbackSource(index: number): string {
  const n = index + 2;
  if (n > 0xfffe) throw new RangeError(`no loopback source address for connection ${index}`);
  return `127.0.${n >> 8}.${n & 0xff}`;
}

/** Mutable state behind an {@link EchoLoad}. */
export class LoadState {
  echoed = 0;
  error: Error | undefined;
  stopped = false;

  fail(error: Error): void {
    this.error ??= error;
  }
}

/**
 * Opens `count` connections in parallel; if any fails, closes the ones that opened and rethrows
 * the first failure, so a failed start leaves nothing running.
 */
export async function openAll<C>(
  count: number,
  open: (index: number) => Promise<C>,
  close: (connection: C) => void,
): Promise<C[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => open(i)));
  const opened: C[] = [];
  let failure: unknown;
  for (const result of results) {
    if (result.status === "fulfilled") opened.push(result.value);
    else failure ??= result.reason;
  }
  if (failure !== undefined) {
    for (const connection of opened) close(connection);
    throw failure;
  }
  return opened;
}
