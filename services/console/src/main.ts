/**
 * The console's composition root: config → NATS → the world state fed by the world map and the zone
 * servers' observer feed → the HTTP page and its live WebSocket → ready (`"msg":"console ready"`
 * with the page's `url`). SIGTERM/SIGINT: close the browsers' sockets and the listener, drain NATS,
 * exit 0 — or 1 past the shutdown bound.
 *
 * A dependency that cannot be reached at start, or a port that cannot be bound, is a clear one-line
 * error on stderr and exit code 1.
 */
import { createSubjects } from "@meridian/protocol";
import {
  type Boot,
  boot,
  connectNatsOrExit,
  loadConfigOrExit,
  startTelemetryOrExit,
} from "@meridian/service-kit";
import { getMeter } from "@meridian/telemetry";
import { loadConfig } from "./config.js";
import { NatsFeed } from "./feed/nats-feed.js";
import { ConsoleServer } from "./http/console-server.js";
import { WorldState } from "./state/world-state.js";

/** Bound on a graceful shutdown, ms. */
const SHUTDOWN_MS = 5_000;

const start: Boot = boot("console");
const { log } = start;
const config = loadConfigOrExit(start, () => loadConfig());
const telemetryHandle = await startTelemetryOrExit(start, config.telemetry);
const nc = await connectNatsOrExit(start, config.natsServers, { name: `console-${process.pid}` });
let natsConnected = true;
void (async () => {
  for await (const status of nc.status()) {
    if (status.type === "disconnect") natsConnected = false;
    if (status.type === "reconnect") natsConnected = true;
  }
})();

const subjects = createSubjects({ prefix: config.subjectPrefix });
const state = new WorldState(config.world, config.staleMs);
const feed = await NatsFeed.start(nc, subjects, state, log.child({ part: "feed" }));
const server = new ConsoleServer({
  state,
  logger: log.child({ part: "http" }),
  host: config.host,
  port: config.port,
  pushHz: config.pushHz,
  maxClients: config.maxClients,
  natsConnected: () => natsConnected && !nc.isClosed(),
  metrics: () => telemetryHandle.metricsText(),
});
if (telemetryHandle.enabled) {
  // Read when scraped.
  const meter = getMeter("console");
  meter
    .createObservableGauge("meridian.console.browsers", { description: "Browsers connected to the live map" })
    .addCallback((result) => result.observe(server.clients));
  meter
    .createObservableCounter("meridian.console.pushes", { description: "State pushes to browsers" })
    .addCallback((result) => result.observe(server.pushes));
}
let address: { host: string; port: number; url: string };
try {
  address = await server.listen();
} catch (error) {
  feed.stop();
  await nc.close().catch(() => undefined);
  start.fail("console failed to start", error);
}

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal, clients: server.clients }, "shutting down");
  setTimeout(() => {
    log.error({ timeoutMs: SHUTDOWN_MS }, "shutdown timed out");
    process.exit(1);
  }, SHUTDOWN_MS).unref();
  await server.close();
  feed.stop();
  await nc.drain().catch((error: unknown) => log.warn({ err: error }, "NATS drain failed"));
  await telemetryHandle
    .shutdown()
    .catch((error: unknown) => log.warn({ err: error }, "telemetry flush failed"));
  log.info({ pushes: server.pushes }, "stopped");
  process.exit(0);
}
process.on("SIGTERM", (signal) => void shutdown(signal));
process.on("SIGINT", (signal) => void shutdown(signal));

log.info(
  {
    env: config.env,
    world: config.world,
    host: address.host,
    port: address.port,
    url: address.url,
    pushHz: config.pushHz,
    telemetry: telemetryHandle.enabled,
    subjects: `${config.subjectPrefix}.evt.world.${config.world}.{map,zone.>}`,
  },
  "console ready",
);
