import { afterEach } from "node:test";
import {
  type ClientEvents,
  createNodeClient,
  type MeridianClient,
  type MeridianClientOptions,
} from "@meridian/client/node";
import { ScriptedGateway } from "./scripted-gateway.js";

export const TRANSPORTS = ["tcp", "ws"] as const;

/** Starts a scripted peer and makes clients for it; everything is closed after each test. */
export function fixtures(transport: "tcp" | "ws") {
  const peers: ScriptedGateway[] = [];
  const clients: MeridianClient[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(peers.splice(0).map((p) => p.close()));
  });
  return {
    async peer(
      options: { heartbeatMs?: number; maxMessageBytes?: number; sharedWith?: ScriptedGateway } = {},
    ): Promise<ScriptedGateway> {
      const peer = await ScriptedGateway.start({ transport, ...options });
      peers.push(peer);
      return peer;
    },
    client(url: string | readonly string[], options: Partial<MeridianClientOptions> = {}): MeridianClient {
      const client = createNodeClient({
        url,
        requestTimeoutMs: 2_000,
        connectTimeoutMs: 2_000,
        reconnect: { initialDelayMs: 20, maxDelayMs: 100, maxAttempts: 5, stableAfterMs: 0 },
        ...options,
      });
      clients.push(client);
      return client;
    },
  };
}

/** The next `event` of a client. */
export function next<K extends keyof ClientEvents>(
  client: MeridianClient,
  event: K,
  timeoutMs = 5_000,
): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(event)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.once(event, (payload) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });
}

/** Records every payload of an event. */
export function record<K extends keyof ClientEvents>(client: MeridianClient, event: K): ClientEvents[K][] {
  const seen: ClientEvents[K][] = [];
  client.on(event, (payload) => seen.push(payload));
  return seen;
}
