import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { describe, redactUrl, serviceUnavailable, TestKitError, TestKitErrorCode } from "./errors.js";

/** The NATS name space of one test run. */
export interface NatsTestResource {
  /** URL of NATS (JetStream enabled). */
  readonly url: string;
  /** Subject prefix of the run, `mt.<runId>`: publish and subscribe under `mt.<runId>.…`. */
  readonly prefix: string;
  /**
   * Stream-safe prefix of the run, `MT_<runId>`: name streams `MT_<runId>` or `MT_<runId>_<name>`, KV
   * buckets and object stores `MT_<runId>_<name>` (their streams are `KV_…` and `OBJ_…`). Cleanup
   * deletes every stream so named.
   */
  readonly streamPrefix: string;
}

async function withNats<T>(
  url: string,
  timeoutMs: number,
  work: (nc: NatsConnection) => Promise<T>,
): Promise<T> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: url, timeout: timeoutMs, reconnect: false, name: "meridian-testkit" });
  } catch (cause) {
    throw serviceUnavailable("nats", url, cause);
  }
  try {
    if (nc.info?.jetstream !== true) {
      throw serviceUnavailable(
        "nats",
        url,
        undefined,
        "the server runs without JetStream (start nats-server with -js)",
      );
    }
    return await work(nc);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Checks that NATS answers and has JetStream. */
export async function checkNats(url: string, timeoutMs: number): Promise<void> {
  await withNats(url, timeoutMs, async () => undefined);
}

/** Whether a stream belongs to the run whose stream prefix is `prefix` (KV and object-store streams too). */
export function isRunStream(name: string, prefix: string): boolean {
  for (const candidate of [prefix, `KV_${prefix}`, `OBJ_${prefix}`]) {
    if (name === candidate || name.startsWith(`${candidate}_`) || name.startsWith(`${candidate}-`))
      return true;
  }
  return false;
}

/** Deletes the JetStream streams (and so KV buckets and object stores) of the run; returns their names. */
export async function deleteStreamsWithPrefix(
  url: string,
  prefix: string,
  timeoutMs: number,
): Promise<string[]> {
  return withNats(url, timeoutMs, async (nc) => {
    const deleted: string[] = [];
    try {
      const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
      const names: string[] = [];
      for await (const name of jsm.streams.names()) names.push(name);
      for (const name of names.filter((n) => isRunStream(n, prefix))) {
        await jsm.streams.delete(name);
        deleted.push(name);
      }
    } catch (cause) {
      throw new TestKitError(
        TestKitErrorCode.ResourceFailed,
        `nats at ${redactUrl(url)}: deleting streams ${prefix}* failed: ${describe(cause)}`,
        { cause, context: { service: "nats", prefix, deleted } },
      );
    }
    return deleted;
  });
}
