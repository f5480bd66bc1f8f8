/**
 * The local cluster behind `npm start`: lobby, authority, one gateway, four zone servers on the 2×2
 * demo world, the operator console (the live world map in a browser) and a few dozen roaming bots,
 * each its own process, on the backing services that `scripts/services.mjs` found or started. Plain
 * Node, no dependencies.
 *
 * What it does, in order (progress on the terminal, each process's log in .meridian/logs/<name>.log):
 *   1. the cluster's database (`meridian` on the configured Postgres) is created when missing;
 *   2. the lobby starts (it applies the migrations) with a fresh admin credential;
 *   3. four zone-server credentials are issued through the lobby's admin API;
 *   4. the authority, the four zone servers, the gateway and the console start;
 *   5. the bots log in and roam; lines say where to point a client and a browser (the world map).
 * Ctrl-C (SIGINT/SIGTERM) stops everything it started, in reverse order, each with SIGTERM (then
 * SIGKILL past a bound), revokes the zone credentials it issued, and nothing else.
 *
 * Environment (all optional): MERIDIAN_POSTGRES_URL / REDIS_URL / NATS_URL (as for the services
 * bootstrap), MERIDIAN_CLUSTER_DATABASE (default `meridian`), MERIDIAN_CLUSTER_BOTS (default 24),
 * MERIDIAN_CLUSTER_PREFIX (subject and key prefix, default `meridian`), GATEWAY_TCP_PORT (7600),
 * GATEWAY_WS_PORT (7601), LOBBY_ADMIN_PORT (7480), LOBBY_ADMIN_TOKEN (default: random per run),
 * CONSOLE_PORT (the console's page, 7700).
 *
 * @module
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";

const NODE_ARGS = ["--conditions=meridian-source", "--import", "tsx"];
/** V8 flags of zone servers: a young generation sized for a tick's garbage (docs/decisions.md, 13). */
const ZONE_V8_FLAGS = ["--max-semi-space-size=32"];
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 8_000;
const ZONES = ["zone-1", "zone-2", "zone-3", "zone-4"];

/**
 * Runs the cluster until a signal; resolves with the exit code.
 * @param {{ root: string, env: NodeJS.ProcessEnv, urls: { postgres: string, redis: string, nats: string }, log: (line: string) => void }} options
 */
export async function runCluster({ root, env, urls, log }) {
  const logDir = join(root, ".meridian", "logs");
  mkdirSync(logDir, { recursive: true });
  const database = env.MERIDIAN_CLUSTER_DATABASE?.trim() || "meridian";
  const prefix = env.MERIDIAN_CLUSTER_PREFIX?.trim() || "meridian";
  const bots = Number(env.MERIDIAN_CLUSTER_BOTS ?? 24);
  const tcpPort = env.GATEWAY_TCP_PORT?.trim() || "7600";
  const wsPort = env.GATEWAY_WS_PORT?.trim() || "7601";
  const adminPort = env.LOBBY_ADMIN_PORT?.trim() || "7480";
  const consolePort = env.CONSOLE_PORT?.trim() || "7700";
  const adminToken = env.LOBBY_ADMIN_TOKEN?.trim() || randomBytes(24).toString("base64url");

  const postgresUrl = new URL(urls.postgres);
  postgresUrl.pathname = `/${database}`;
  const common = {
    ...env,
    MERIDIAN_POSTGRES_URL: postgresUrl.href,
    MERIDIAN_REDIS_URL: urls.redis,
    MERIDIAN_NATS_URL: urls.nats,
    MERIDIAN_SUBJECT_PREFIX: prefix,
    MERIDIAN_REDIS_PREFIX: `${prefix}:`,
    MERIDIAN_ENV: env.MERIDIAN_ENV?.trim() || "development",
  };

  /** @type {{ name: string, child: import("node:child_process").ChildProcess, exited: Promise<number> }[]} */
  const running = [];
  let stopping = false;
  /** @type {string[]} */
  const issued = [];

  /**
   * Starts `script` as process `name`; resolves with the first log line containing `readyText` (at
   * once without one). With `echo`, every line also goes to the terminal.
   */
  const start = (name, script, extraEnv, readyText, { args = [], echo = false, v8 = [] } = {}) =>
    new Promise((resolve, reject) => {
      const out = createWriteStream(join(logDir, `${name}.log`), { flags: "w" });
      const child = spawn(process.execPath, [...NODE_ARGS, ...v8, script, ...args], {
        cwd: root,
        env: { ...common, ...extraEnv },
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group: a terminal's Ctrl-C reaches this launcher only, which then stops
        // the processes in order (bots first, the lobby last) instead of all at once.
        detached: true,
      });
      let buffered = "";
      let ready = readyText === undefined;
      const timer = setTimeout(() => {
        if (!ready)
          reject(new Error(`${name} was not ready within ${READY_TIMEOUT_MS / 1000} s (see ${out.path})`));
      }, READY_TIMEOUT_MS);
      const onLine = (line) => {
        if (echo && line.trim() !== "") log(`[${name}] ${line}`);
        if (!ready && line.includes(readyText)) {
          ready = true;
          clearTimeout(timer);
          resolve(line);
        }
      };
      for (const stream of [child.stdout, child.stderr]) {
        stream.on("data", (chunk) => {
          out.write(chunk);
          buffered += chunk.toString("utf8");
          let newline = buffered.indexOf("\n");
          while (newline !== -1) {
            onLine(buffered.slice(0, newline));
            buffered = buffered.slice(newline + 1);
            newline = buffered.indexOf("\n");
          }
        });
      }
      const exited = new Promise((resolveExit) => {
        child.once("exit", (code, signal) => {
          clearTimeout(timer);
          out.end();
          if (!ready)
            reject(new Error(`${name} exited (${signal ?? code}) before it was ready (see ${out.path})`));
          else if (!stopping) log(`${name} exited unexpectedly (${signal ?? code}); its log: ${out.path}`);
          resolveExit(code ?? 1);
        });
      });
      running.push({ name, child, exited });
      if (ready) resolve("");
    });

  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    log("stopping the cluster…");
    for (const proc of [...running].reverse()) {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
        log(`  ${proc.name} had already stopped`);
        if (proc.name === "authority") await revokeIssued();
        continue;
      }
      proc.child.kill("SIGTERM");
      const timer = setTimeout(() => proc.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await proc.exited;
      clearTimeout(timer);
      log(`  ${proc.name} stopped`);
      // Revoke the zone credentials while the lobby (started first, stopped last) still runs.
      if (proc.name === "authority") await revokeIssued();
    }
  };

  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const admin = async (method, path, body) => {
    const response = await fetch(`${adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`lobby admin API ${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text);
  };
  const revokeIssued = async () => {
    for (const id of issued.splice(0)) {
      await admin("POST", `/admin/servers/${id}/revoke`, { reason: "local cluster stopped" }).catch(
        () => undefined,
      );
    }
  };

  // Under `npm start` a Ctrl-C arrives twice (from the terminal and from npm): the second one must
  // not cut the ordered stop short.
  const onSignal = () => {
    if (stopping) return;
    void stopAll().then(() => process.exit(0));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // The children have their own process groups: never leave one behind when this process exits.
  process.on("exit", () => {
    for (const proc of running) {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill("SIGKILL");
    }
  });

  try {
    log(`database: ${postgresUrl.host}/${database}`);
    await ensureDatabase(root, urls.postgres, database);
    log("starting the lobby…");
    await start(
      "lobby",
      "services/lobby/src/main.ts",
      {
        LOBBY_ADMIN_TOKEN: adminToken,
        LOBBY_ADMIN_PORT: adminPort,
        LOBBY_MAX_ACCOUNTS_PER_IP_PER_HOUR: "100000",
      },
      '"msg":"lobby ready"',
    );
    const credentials = [];
    for (const zone of ZONES) {
      const server = await admin("POST", "/admin/servers", { name: zone, world: "main" });
      issued.push(server.serverId);
      credentials.push(server.credential);
    }
    log("starting the authority…");
    await start(
      "authority",
      "services/authority/src/main.ts",
      { AUTHORITY_ID: "authority-1" },
      '"msg":"authority ready"',
    );
    log(`starting ${ZONES.length} zone servers on the 2×2 world…`);
    await Promise.all(
      ZONES.map((zone, i) =>
        start(
          zone,
          "services/gameserver/src/main.ts",
          { ZONE_SERVER_ID: zone, ZONE_CREDENTIAL: credentials[i], ZONE_CAPACITY: "1000" },
          '"msg":"zone ready"',
          { v8: ZONE_V8_FLAGS },
        ),
      ),
    );
    log("starting the gateway…");
    await start(
      "gateway",
      "services/gateway/src/main.ts",
      {
        GATEWAY_ID: "gw-1",
        GATEWAY_HOST: "127.0.0.1",
        GATEWAY_TCP_PORT: tcpPort,
        GATEWAY_WS_PORT: wsPort,
        GATEWAY_RATE_MSGS_PER_S: "200",
        // Every bot and local client connects from 127.0.0.1.
        GATEWAY_MAX_CONNECTIONS_PER_IP: "10000",
        GATEWAY_NEW_CONNECTIONS_PER_IP_PER_S: "1000",
      },
      '"msg":"gateway ready"',
    );
    log("starting the console (the live world map)…");
    await start(
      "console",
      "services/console/src/main.ts",
      { CONSOLE_HOST: "127.0.0.1", CONSOLE_PORT: consolePort },
      '"msg":"console ready"',
    );
    if (bots > 0) {
      log(`starting ${bots} roaming bots (progress every 10 s)…`);
      await start("bots", "libs/client/src/bot/cli.ts", {}, undefined, {
        // 8 logins per second: one address (127.0.0.1) stays under the gateway's per-IP new-connection limit.
        args: [
          "--url",
          `tcp://127.0.0.1:${tcpPort}`,
          "--players",
          String(bots),
          "--prefix",
          "roamer",
          "--progress",
          "10s",
          "--logins-per-second",
          "8",
        ],
        echo: true,
      });
    }
    log("");
    log("the cluster is up:");
    log(`  world map: http://127.0.0.1:${consolePort}/  <- open it in a browser`);
    log(`  players: tcp://127.0.0.1:${tcpPort}  ws://127.0.0.1:${wsPort}`);
    log(
      `  more bots: node ${NODE_ARGS.join(" ")} libs/client/src/bot/cli.ts --url tcp://127.0.0.1:${tcpPort} --players 10`,
    );
    log(`  lobby admin API: ${adminUrl} (Authorization: Bearer ${adminToken})`);
    log(`  logs: ${logDir}/<process>.log`);
    log("  Ctrl-C stops everything this command started.");
    // Runs until a signal; a process that dies is reported (and left dead: its log says why).
    await new Promise(() => undefined);
    return 0;
  } catch (error) {
    log(`error: ${error instanceof Error ? error.message : String(error)}`);
    await stopAll();
    return 1;
  }
}

/** Creates `database` on the Postgres at `adminUrl` when it does not exist (with the lobby's `pg`). */
async function ensureDatabase(root, adminUrl, database) {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(database)) throw new Error(`bad database name ${database}`);
  const script = `
    import pg from "pg";
    const client = new pg.Client({ connectionString: process.env.ADMIN_URL });
    await client.connect();
    const found = await client.query("select 1 from pg_database where datname = $1", [process.env.DB]);
    if (found.rowCount === 0) await client.query('create database "' + process.env.DB + '"');
    await client.end();
  `;
  await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd: join(root, "services", "lobby"),
      env: { ...process.env, ADMIN_URL: adminUrl, DB: database },
      stdio: ["ignore", "inherit", "inherit"],
    });
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`could not create database ${database} (exit ${code})`)),
    );
  });
}
