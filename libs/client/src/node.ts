/**
 * `@meridian/client/node`: everything of `@meridian/client`, plus the Node transports (TCP and TLS
 * through `@meridian/netengine`, WebSocket through `ws`) and the headless bots (`runBots`).
 *
 * Every public name is listed here by name.
 * @module
 */
import type { MeridianClientOptions } from "./client/client-options.js";
import { MeridianClient } from "./client/meridian-client.js";
import { NodeConnector, type NodeConnectorOptions } from "./transport/node-connector.js";

export {
  type BotCounters,
  type BotProgress,
  type BotSummary,
  botPassword,
  DEFAULT_BOT_INPUTS_PER_SECOND,
  DEFAULT_BOT_LOGINS_PER_SECOND,
  DEFAULT_BOT_PASSWORD_SECRET,
  DEFAULT_BOT_PREFIX,
  DEFAULT_BOT_PROGRESS_INTERVAL_MS,
  DEFAULT_BOT_SHUTDOWN_TIMEOUT_MS,
  type RunBotsOptions,
  runBots,
} from "./bot/run-bots.js";
// The browser entry is public API: the Node entry is a superset of it.
export * from "./index.js";
export { NodeConnector, type NodeConnectorOptions } from "./transport/node-connector.js";
export {
  TCP_CLOSE_LINGER_MS,
  TcpConnector,
  type TcpConnectorOptions,
  TcpTransport,
} from "./transport/tcp-transport.js";

/**
 * A {@link MeridianClient} that speaks every transport in Node: `tcp://`, `tls://`, `ws://`, `wss://`.
 * Pass `options.connector` (one {@link NodeConnector} shared by many clients) to share the engine.
 */
export function createNodeClient(
  options: MeridianClientOptions & { readonly transports?: NodeConnectorOptions },
): MeridianClient {
  return new MeridianClient({
    ...options,
    connector: options.connector ?? new NodeConnector(options.transports),
  });
}
