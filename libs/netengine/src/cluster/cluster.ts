import cluster, { type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import { NetEngineError, NetEngineErrorCode, OptionsError, toError } from "../errors.js";

/** What each worker hands back to the runner: its counters and how to stop it. */
export interface ClusterWorker {
  /** Counters to aggregate: numbers, possibly nested in plain objects (like `Listener.stats()`). */
  stats(): object;
  /** Stops gracefully (close listeners with goodbye). */
  close(): Promise<void>;
}

/** Options of {@link runClustered}. */
export interface ClusterOptions {
  /** Worker processes. Default: one per logical CPU (`os.availableParallelism()`). */
  workers?: number;
  /**
   * Runs in every worker: start the listeners and return the handle. All workers calling
   * `listen({ port })` with the same port share it; the primary hands out connections round-robin.
   */
  start: () => Promise<ClusterWorker>;
  /** Restart a worker that exits without being asked to. Default true. */
  respawn?: boolean;
  /** How long `close()` waits for a worker to exit before killing it. Default 10000 ms. */
  shutdownTimeoutMs?: number;
  /**
   * The primary closes the workers gracefully on SIGTERM and SIGINT (and exits when they are gone).
   * Default true; set false to call `close()` yourself.
   */
  handleSignals?: boolean;
}

/** The primary's handle on its workers. */
export interface ClusterPrimary {
  readonly workers: number;
  /** Every worker's counters summed (numbers added field by field) plus `workers`. */
  stats(): Promise<Record<string, unknown>>;
  /** Asks every worker to close gracefully, waits for all to exit. */
  close(): Promise<void>;
}

function isMessage(value: unknown): value is Message {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { type?: unknown }).type === "string" &&
    (value as { type: string }).type.startsWith("ne:")
  );
}

type Message =
  | { type: "ne:ready" }
  | { type: "ne:failed"; message: string }
  | { type: "ne:stats"; id: number }
  | { type: "ne:stats-reply"; id: number; stats: object }
  | { type: "ne:shutdown" };

/**
 * Runs a listener on one worker process per CPU (the seed's one worker thread per logical CPU).
 * Call it from the program's entry point: in the primary it forks the workers and resolves with a
 * {@link ClusterPrimary} once all are listening; in a worker it runs `start`, serves stats requests
 * and resolves with `undefined`.
 *
 * Limits of the accept guard (per-IP counts, adaptive tolerance) are kept per worker.
 */
export async function runClustered(options: ClusterOptions): Promise<ClusterPrimary | undefined> {
  if (typeof options.start !== "function") throw new OptionsError("options.start must be a function");
  if (cluster.isPrimary) return startPrimary(options);
  await runWorker(options);
  return undefined;
}

async function runWorker(options: ClusterOptions): Promise<void> {
  const send = (m: Message): void => {
    process.send?.(m);
  };
  let handle: ClusterWorker;
  try {
    handle = await options.start();
  } catch (error) {
    // Exit once the message is out, so the primary learns why.
    const exit = (): never => process.exit(1);
    const sendToPrimary = process.send?.bind(process);
    if (sendToPrimary === undefined) exit();
    else
      sendToPrimary(
        { type: "ne:failed", message: toError(error).message } satisfies Message,
        undefined,
        {},
        exit,
      );
    return new Promise<never>(() => {});
  }
  let closing = false;
  const shutdown = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    await handle.close().catch(() => {});
    process.disconnect?.();
  };
  process.on("message", (m: unknown) => {
    if (!isMessage(m)) return;
    if (m.type === "ne:stats") send({ type: "ne:stats-reply", id: m.id, stats: handle.stats() });
    else if (m.type === "ne:shutdown") void shutdown();
  });
  // The primary turns SIGTERM / SIGINT into ne:shutdown; a worker signalled directly closes the same
  // way, and ignores the terminal's Ctrl-C, which reaches the whole process group.
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => {});
  send({ type: "ne:ready" });
}

async function startPrimary(options: ClusterOptions): Promise<ClusterPrimary> {
  const count = options.workers ?? availableParallelism();
  if (!Number.isSafeInteger(count) || count < 1)
    throw new OptionsError("workers must be a positive integer", { count });
  const respawn = options.respawn ?? true;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
  const workers = new Set<Worker>();
  let closing = false;
  let nextId = 1;
  const waiting = new Map<number, { pending: number; results: object[]; resolve: (r: object[]) => void }>();

  const fork = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork();
      workers.add(worker);
      worker.on("message", (m: unknown) => {
        if (!isMessage(m)) return;
        if (m.type === "ne:ready") resolve(worker);
        else if (m.type === "ne:failed") {
          reject(new NetEngineError(NetEngineErrorCode.ListenFailed, `worker failed to start: ${m.message}`));
        } else if (m.type === "ne:stats-reply") {
          const w = waiting.get(m.id);
          if (w === undefined) return;
          w.results.push(m.stats);
          if (--w.pending === 0) {
            waiting.delete(m.id);
            w.resolve(w.results);
          }
        }
      });
      worker.once("exit", (code) => {
        workers.delete(worker);
        reject(
          new NetEngineError(NetEngineErrorCode.ListenFailed, `worker exited with ${code} before ready`),
        );
        if (!closing && respawn) {
          setTimeout(() => {
            if (!closing) fork().catch(() => {});
          }, 1000).unref();
        }
      });
    });

  try {
    await Promise.all(Array.from({ length: count }, fork));
  } catch (error) {
    // One worker could not start: stop the others too, and do not respawn anything.
    closing = true;
    for (const w of workers) w.kill("SIGKILL");
    throw error;
  }

  const primary: ClusterPrimary = {
    get workers() {
      return workers.size;
    },
    async stats() {
      const live = [...workers].filter((w) => w.isConnected());
      const id = nextId++;
      const results = await new Promise<object[]>((resolve) => {
        if (live.length === 0) resolve([]);
        waiting.set(id, { pending: live.length, results: [], resolve });
        for (const w of live) w.send({ type: "ne:stats", id } satisfies Message);
        setTimeout(() => {
          const w = waiting.get(id);
          if (w === undefined) return;
          waiting.delete(id);
          resolve(w.results);
        }, 2000).unref();
      });
      return { ...sumStats(results), workers: results.length };
    },
    async close() {
      closing = true;
      await Promise.all(
        [...workers].map(
          (w) =>
            new Promise<void>((resolve) => {
              const timer = setTimeout(() => w.kill("SIGKILL"), shutdownTimeoutMs);
              w.once("exit", () => {
                clearTimeout(timer);
                resolve();
              });
              if (w.isConnected()) w.send({ type: "ne:shutdown" } satisfies Message);
              else w.kill("SIGTERM");
            }),
        ),
      );
    },
  };
  if (options.handleSignals ?? true) {
    const onSignal = (): void => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      void primary.close().then(() => process.exit(0));
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  }
  return primary;
}

/** Adds numbers field by field across objects; nested plain objects are summed recursively. */
export function sumStats(list: readonly object[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of list) {
    for (const [key, value] of Object.entries(item)) {
      if (typeof value === "number") out[key] = ((out[key] as number | undefined) ?? 0) + value;
      else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        out[key] = sumStats([(out[key] as object | undefined) ?? {}, value]);
      }
    }
  }
  return out;
}
