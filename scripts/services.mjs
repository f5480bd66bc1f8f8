#!/usr/bin/env node
/**
 * Meridian's backing services — PostgreSQL, Redis and NATS with JetStream — brought up where they are not
 * running. Plain Node ESM without dependencies: it runs before `pnpm install`.
 *
 *   node scripts/services.mjs [up]   probe each service; start the ones on this machine that are down
 *   node scripts/services.mjs status probe only
 *   node scripts/services.mjs stop   stop what `up` started (recorded in .meridian/started.json), nothing else
 *
 * Where each service is looked for (the same variables and defaults as @meridian/testkit's config):
 *   MERIDIAN_POSTGRES_URL  default postgres://postgres@127.0.0.1:5432/postgres (an admin URL)
 *   MERIDIAN_REDIS_URL     default redis://127.0.0.1:6379
 *   MERIDIAN_NATS_URL      default nats://127.0.0.1:4222
 *
 * Rules: a service on another host is never started (it is an error when it is down); a service on a
 * loopback address is started with Debian's binaries, installed with apt-get when missing and running as
 * root; a running server found here is used as it is and never stopped by `stop`, which stops only what
 * this script recorded as started by itself.
 *
 * How a service is started:
 * - PostgreSQL: a Debian cluster listening on the URL's port (`pg_lsclusters`) with
 *   `pg_ctlcluster --skip-systemctl-redirect VERSION NAME start`; without one, `initdb --auth=trust` into
 *   `.meridian/postgres` (as the postgres user when root) and `pg_ctl -D … -o "-p PORT -k /tmp" start`.
 * - Redis: `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port PORT --save "" --appendonly no
 *   --dir /var/lib/redis --logfile /var/log/redis/ci.log` (`.meridian/redis` where those are not writable).
 * - NATS: `start-stop-daemon --start --oknodo --background --exec nats-server -- -a HOST -p PORT -js
 *   -sd /var/lib/nats-server -l /var/log/nats-server.log` (`-sd .meridian/nats` where /var/lib/nats-server
 *   is not writable). A pid file under `.meridian/` is added so start-stop-daemon matches only the server
 *   this script started, not another nats-server on another port.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** The repository root (this file lives in `<root>/scripts`). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Default URL of each service, overridden by the MERIDIAN_*_URL variables. */
export const DEFAULT_SERVICE_URLS = Object.freeze({
  postgres: "postgres://postgres@127.0.0.1:5432/postgres",
  redis: "redis://127.0.0.1:6379",
  nats: "nats://127.0.0.1:4222",
});

/** Default bound on the wait for a started service to accept connections. */
export const DEFAULT_READY_TIMEOUT_MS = 60_000;

const SERVICE_NAMES = ["postgres", "redis", "nats"];
const ENV_NAMES = {
  postgres: "MERIDIAN_POSTGRES_URL",
  redis: "MERIDIAN_REDIS_URL",
  nats: "MERIDIAN_NATS_URL",
};
const DEFAULT_PORTS = { postgres: 5432, redis: 6379, nats: 4222 };
const PROTOCOLS = { postgres: ["postgres:", "postgresql:"], redis: ["redis:"], nats: ["nats:"] };
const PROBE_TIMEOUT_MS = 3_000;
const STOP_TIMEOUT_MS = 30_000;

/** The Debian packages of the three services, as one install command (what this script runs when root). */
export const APT_INSTALL_COMMAND = "apt-get update && apt-get install -y nats-server redis-server postgresql";

/** An error with a stable code, the service it concerns and, where known, its URL. */
export class ServicesError extends Error {
  /**
   * @param {string} code stable code: SERVICES_CONFIG, SERVICES_REMOTE_DOWN, SERVICES_NOT_INSTALLED,
   *   SERVICES_START_FAILED, SERVICES_NOT_READY, SERVICES_WRONG_SERVER, SERVICES_NO_JETSTREAM, SERVICES_STOP_FAILED
   * @param {string} message
   * @param {{ service?: string, url?: string, cause?: unknown }} [context]
   */
  constructor(code, message, context = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = "ServicesError";
    this.code = code;
    this.service = context.service;
    this.url = context.url;
  }
}

const defaultLog = (line) => console.log(`[meridian] ${line}`);

// ---------------------------------------------------------------------------------------------------
// Configuration

/**
 * The three service endpoints from the environment, parsed and checked.
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {Record<"postgres"|"redis"|"nats", ServiceEndpoint>}
 */
export function serviceEndpoints(env = process.env) {
  const out = {};
  for (const service of SERVICE_NAMES) {
    const raw = env[ENV_NAMES[service]]?.trim() || DEFAULT_SERVICE_URLS[service];
    let url;
    try {
      url = new URL(raw);
    } catch (cause) {
      throw new ServicesError(
        "SERVICES_CONFIG",
        `${ENV_NAMES[service]} is not a URL: ${JSON.stringify(raw)}`,
        {
          service,
          cause,
        },
      );
    }
    if (!PROTOCOLS[service].includes(url.protocol)) {
      throw new ServicesError(
        "SERVICES_CONFIG",
        `${ENV_NAMES[service]} must start with ${PROTOCOLS[service].join(" or ")}//, got ${redact(raw)}`,
        { service },
      );
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = url.port === "" ? DEFAULT_PORTS[service] : Number(url.port);
    out[service] = Object.freeze({
      service,
      url: raw,
      display: redact(raw),
      host,
      port,
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: decodeURIComponent(url.pathname.replace(/^\//, "")) || "postgres",
      loopback: isLoopback(host),
    });
  }
  return out;
}

/** @typedef {{ service: string, url: string, display: string, host: string, port: number, user: string, password: string, database: string, loopback: boolean }} ServiceEndpoint */

function redact(raw) {
  try {
    const url = new URL(raw);
    if (url.password) url.password = "***";
    return url.toString().replace(/\/$/, "");
  } catch {
    return raw;
  }
}

function isLoopback(host) {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The address a server started here listens on (`localhost` resolved to IPv4). */
function listenHost(host) {
  return host === "localhost" ? "127.0.0.1" : host;
}

// ---------------------------------------------------------------------------------------------------
// Probes: each answers { state: "up" | "down" | "starting" | "wrong", detail, ... }

function connectTcp(host, port, timeoutMs = PROBE_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

/** Writes `request` (if any) and collects bytes until `complete(buffer)` returns a value. */
function exchange(socket, request, complete, timeoutMs = PROBE_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const done = (fn, value) => {
      clearTimeout(timer);
      socket.removeAllListeners("data");
      socket.destroy();
      fn(value);
    };
    const timer = setTimeout(() => done(reject, new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      let result;
      try {
        result = complete(buffer);
      } catch (error) {
        done(reject, error);
        return;
      }
      if (result !== undefined) done(resolve, result);
    });
    socket.once("error", (error) => done(reject, error));
    socket.once("close", () => done(reject, new Error("connection closed before an answer")));
    if (request) socket.write(request);
  });
}

function encodeRedis(args) {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
}

/** Parses RESP replies from `buffer`; answers the list once `count` complete replies are in it. */
function parseRedisReplies(buffer, count) {
  const replies = [];
  let offset = 0;
  while (replies.length < count) {
    const end = buffer.indexOf("\r\n", offset);
    if (end < 0) return undefined;
    const line = buffer.toString("utf8", offset, end);
    if (line.startsWith("$")) {
      const length = Number(line.slice(1));
      if (length < 0) {
        replies.push(null);
        offset = end + 2;
        continue;
      }
      if (buffer.length < end + 2 + length + 2) return undefined;
      replies.push(buffer.toString("utf8", end + 2, end + 2 + length));
      offset = end + 2 + length + 2;
    } else {
      replies.push(line);
      offset = end + 2;
    }
  }
  return replies;
}

async function redisCommands(endpoint, commands) {
  const socket = await connectTcp(endpoint.host, endpoint.port);
  const all = endpoint.password
    ? [endpoint.user ? ["AUTH", endpoint.user, endpoint.password] : ["AUTH", endpoint.password], ...commands]
    : commands;
  const replies = await exchange(socket, all.map(encodeRedis).join(""), (buf) =>
    parseRedisReplies(buf, all.length),
  );
  return endpoint.password ? replies.slice(1) : replies;
}

async function probeRedis(endpoint) {
  try {
    (await connectTcp(endpoint.host, endpoint.port)).destroy();
  } catch (error) {
    return { state: "down", detail: error.message };
  }
  let replies;
  try {
    replies = await redisCommands(endpoint, [["PING"], ["INFO", "server"]]);
  } catch (error) {
    return { state: "wrong", detail: `no answer to PING: ${error.message}` };
  }
  if (replies[0] !== "+PONG") {
    const answer = String(replies[0]);
    if (answer.startsWith("-NOAUTH") || answer.startsWith("-WRONGPASS")) {
      return { state: "wrong", detail: `Redis refused the credentials (${answer.slice(1)})` };
    }
    return { state: "wrong", detail: `expected +PONG, got ${JSON.stringify(answer.slice(0, 60))}` };
  }
  const pid = /process_id:(\d+)/.exec(String(replies[1]))?.[1];
  return { state: "up", detail: "PING answered +PONG", pid: pid ? Number(pid) : undefined };
}

async function probeNats(endpoint) {
  let socket;
  try {
    socket = await connectTcp(endpoint.host, endpoint.port);
  } catch (error) {
    return { state: "down", detail: error.message };
  }
  let line;
  try {
    line = await exchange(socket, undefined, (buf) => {
      const end = buf.indexOf("\r\n");
      return end < 0 ? (buf.length > 64 * 1024 ? buf.toString() : undefined) : buf.toString("utf8", 0, end);
    });
  } catch (error) {
    return { state: "wrong", detail: `no NATS INFO line: ${error.message}` };
  }
  if (!line.startsWith("INFO ")) {
    return { state: "wrong", detail: `expected an INFO line, got ${JSON.stringify(line.slice(0, 60))}` };
  }
  let info;
  try {
    info = JSON.parse(line.slice(5));
  } catch {
    return { state: "wrong", detail: "the INFO line is not JSON" };
  }
  return { state: "up", detail: `nats-server ${info.version ?? "?"}`, jetstream: info.jetstream === true };
}

async function probePostgres(endpoint) {
  try {
    (await connectTcp(endpoint.host, endpoint.port)).destroy();
  } catch (error) {
    return { state: "down", detail: error.message };
  }
  const pgIsReady = findPostgresBinary("pg_isready");
  if (!pgIsReady) return { state: "up", detail: "TCP connect (pg_isready not installed)" };
  const args = ["-h", endpoint.host, "-p", String(endpoint.port), "-t", "3", "-d", endpoint.database];
  if (endpoint.user) args.push("-U", endpoint.user);
  const { code, output } = await run(pgIsReady, args);
  // pg_isready: 0 accepting, 1 rejecting (starting up or shutting down), 2 no response, 3 bad parameters.
  if (code === 0) return { state: "up", detail: "pg_isready: accepting connections" };
  if (code === 1) return { state: "starting", detail: output.trim() };
  if (code === 2) return { state: "down", detail: output.trim() };
  return { state: "wrong", detail: `pg_isready exited ${code}: ${output.trim()}` };
}

const PROBES = { postgres: probePostgres, redis: probeRedis, nats: probeNats };

/**
 * Probes every service once, starting nothing.
 * @param {{ env?: NodeJS.ProcessEnv }} [options]
 */
export async function probeServices({ env = process.env } = {}) {
  const endpoints = serviceEndpoints(env);
  const out = {};
  for (const service of SERVICE_NAMES) out[service] = await PROBES[service](endpoints[service]);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Processes, binaries, packages

/** Runs a command to completion, capturing its output (stdout and stderr together). */
function run(command, args, { env, cwd, inherit = false, timeoutMs = 0 } = {}) {
  return new Promise((resolve) => {
    let output = "";
    const child = spawn(command, args, {
      cwd,
      env: env ?? process.env,
      stdio: inherit ? ["ignore", "inherit", "inherit"] : ["ignore", "pipe", "pipe"],
    });
    const timer = timeoutMs > 0 ? setTimeout(() => child.kill("SIGKILL"), timeoutMs) : undefined;
    child.stdout?.on("data", (d) => {
      output += d;
    });
    child.stderr?.on("data", (d) => {
      output += d;
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      resolve({ code: 127, output: `${output}${error.message}\n` });
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, signal, output });
    });
  });
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Finds an executable on PATH, or in the sbin folders a non-root PATH often lacks. */
function which(name) {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/sbin", "/usr/local/sbin"];
  for (const dir of dirs) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** A PostgreSQL program: on PATH, else from the newest /usr/lib/postgresql/<version>/bin. */
function findPostgresBinary(name) {
  const onPath = which(name);
  if (onPath) return onPath;
  let versions = [];
  try {
    versions = fs
      .readdirSync("/usr/lib/postgresql")
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
  } catch {
    return undefined;
  }
  for (const version of versions) {
    const file = path.join("/usr/lib/postgresql", version, "bin", name);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;
let aptUpdated = false;

/** Installs a Debian package when root; otherwise an error naming the exact command. */
async function aptInstall(service, pkg, log) {
  const command = `apt-get update && apt-get install -y ${pkg}`;
  if (!isRoot() || !which("apt-get")) {
    throw new ServicesError(
      "SERVICES_NOT_INSTALLED",
      `${service}: the ${pkg} package is not installed and this script can install it only as root on Debian. ` +
        `Install it with: sudo sh -c '${command}'`,
      { service },
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!aptUpdated) {
    log(`${service}: apt-get update`);
    const update = await run("apt-get", ["update"], { env });
    if (update.code !== 0) {
      throw new ServicesError("SERVICES_NOT_INSTALLED", `apt-get update failed:\n${tail(update.output)}`, {
        service,
      });
    }
    aptUpdated = true;
  }
  log(`${service}: apt-get install -y ${pkg}`);
  const install = await run("apt-get", ["install", "-y", pkg], { env });
  if (install.code !== 0) {
    throw new ServicesError(
      "SERVICES_NOT_INSTALLED",
      `apt-get install -y ${pkg} failed:\n${tail(install.output)}`,
      { service },
    );
  }
}

function tail(text, lines = 20) {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

function readTail(file, lines = 20) {
  try {
    return tail(fs.readFileSync(file, "utf8"), lines);
  } catch {
    return "(no log)";
  }
}

function fileSize(file) {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function readFrom(file, offset) {
  try {
    return fs.readFileSync(file).subarray(offset).toString("utf8");
  } catch {
    return "";
  }
}

/** `dir` if it exists (or can be created) and is writable by this process. */
function writableDir(dir) {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function meridianDir(root, ...parts) {
  const dir = path.join(root, ".meridian", ...parts);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (cause) {
    throw new ServicesError(
      "SERVICES_START_FAILED",
      `cannot create ${dir} for a server's files: ${cause.message}`,
      {
        cause,
      },
    );
  }
  return dir;
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

/** On Linux, whether pid still is the program we started (guards against pid reuse). */
function isProcess(pid, comm) {
  if (!isAlive(pid)) return false;
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === comm;
  } catch {
    return true; // no /proc: trust the pid
  }
}

/**
 * Polls `check` until the service is up (or answers wrongly), bounded by `timeoutMs`; `failed()` may
 * report early that the started server has died, so that no one waits for a server that is gone.
 */
async function waitFor(what, timeoutMs, check, failed = () => undefined) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last.state === "up") return last;
    if (last.state === "wrong") return last;
    const failure = failed();
    if (failure) throw new ServicesError("SERVICES_START_FAILED", `${what} did not start: ${failure}`);
    if (Date.now() >= deadline) {
      throw new ServicesError(
        "SERVICES_NOT_READY",
        `${what} was not ready within ${timeoutMs} ms (${last.detail})`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---------------------------------------------------------------------------------------------------
// The record of what this script started: .meridian/started.json

function recordFile(root) {
  return path.join(root, ".meridian", "started.json");
}

/** What `up` started and `stop` may stop, keyed by `service@host:port`. */
export function readStarted(root = REPO_ROOT) {
  try {
    const parsed = JSON.parse(fs.readFileSync(recordFile(root), "utf8"));
    return parsed && typeof parsed.services === "object" ? parsed : { version: 1, services: {} };
  } catch {
    return { version: 1, services: {} };
  }
}

function writeStarted(root, record) {
  meridianDir(root);
  const file = recordFile(root);
  const temp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(record, null, 2)}\n`);
  fs.renameSync(temp, file);
}

function remember(root, endpoint, entry) {
  const record = readStarted(root);
  record.services[`${endpoint.service}@${endpoint.host}:${endpoint.port}`] = {
    service: endpoint.service,
    url: endpoint.display,
    startedAt: new Date().toISOString(),
    ...entry,
  };
  writeStarted(root, record);
}

// ---------------------------------------------------------------------------------------------------
// Starting

async function startRedis(endpoint, { root, log }) {
  let bin = which("redis-server");
  if (!bin) {
    await aptInstall("redis", "redis-server", log);
    bin = which("redis-server");
    const again = await probeRedis(endpoint);
    if (again.state === "up") return undefined; // the package's own service came up: not ours
  }
  if (!bin) throw new ServicesError("SERVICES_NOT_INSTALLED", "redis-server not found after install", {});
  const dir =
    endpoint.port === 6379 && writableDir("/var/lib/redis") ? "/var/lib/redis" : meridianDir(root, "redis");
  const logfile =
    endpoint.port === 6379 && writableDir("/var/log/redis")
      ? "/var/log/redis/ci.log"
      : path.join(meridianDir(root, "redis"), `redis-${endpoint.port}.log`);
  const host = listenHost(endpoint.host);
  const bind = host === "127.0.0.1" ? ["127.0.0.1", "-::1"] : host === "::1" ? ["::1", "-127.0.0.1"] : [host];
  const args = [
    "--daemonize",
    "yes",
    "--bind",
    ...bind,
    "--port",
    String(endpoint.port),
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--logfile",
    logfile,
  ];
  if (endpoint.password) args.push("--requirepass", endpoint.password);
  const logOffset = fileSize(logfile);
  log(`redis: starting ${bin} ${redactArgs(args).join(" ")}`);
  const started = await run(bin, args);
  if (started.code !== 0) {
    throw new ServicesError(
      "SERVICES_START_FAILED",
      `redis-server failed to start:\n${tail(started.output)}`,
      {
        service: "redis",
        url: endpoint.display,
      },
    );
  }
  // Daemonised, redis-server reports a failed start (port taken, bad dir) only in its log.
  const failed = () => {
    const fresh = readFrom(logfile, logOffset);
    return /aborting|Failed listening|FATAL|Can't chdir/i.test(fresh) ? tail(fresh, 5) : undefined;
  };
  return { logfile, process: "redis-server", command: [bin, ...args], failed };
}

async function startNats(endpoint, { root, log }) {
  let bin = which("nats-server");
  if (!bin) {
    await aptInstall("nats", "nats-server", log);
    bin = which("nats-server");
  }
  if (!bin) throw new ServicesError("SERVICES_NOT_INSTALLED", "nats-server not found after install", {});
  const storeDir =
    endpoint.port === 4222 && writableDir("/var/lib/nats-server")
      ? "/var/lib/nats-server"
      : meridianDir(root, endpoint.port === 4222 ? "nats" : `nats-${endpoint.port}`);
  const logfile =
    endpoint.port === 4222 && isRoot() && writableDir("/var/log")
      ? "/var/log/nats-server.log"
      : path.join(meridianDir(root), `nats-server-${endpoint.port}.log`);
  const pidfile = path.join(meridianDir(root), `nats-server-${endpoint.port}.pid`);
  const args = [
    "-a",
    listenHost(endpoint.host),
    "-p",
    String(endpoint.port),
    "-js",
    "-sd",
    storeDir,
    "-l",
    logfile,
  ];
  if (endpoint.user) args.push("--user", endpoint.user, "--pass", endpoint.password);
  fs.rmSync(pidfile, { force: true });
  const ssd = which("start-stop-daemon");
  let pid;
  if (ssd) {
    const ssdArgs = ["--start", "--oknodo", "--background", "--make-pidfile", "--pidfile", pidfile];
    log(`nats: starting ${ssd} ${[...ssdArgs, "--exec", bin, "--", ...redactArgs(args)].join(" ")}`);
    const started = await run(ssd, [...ssdArgs, "--exec", bin, "--", ...args]);
    if (started.code !== 0) {
      throw new ServicesError(
        "SERVICES_START_FAILED",
        `nats-server failed to start:\n${tail(started.output)}`,
        {
          service: "nats",
          url: endpoint.display,
        },
      );
    }
    pid = Number(fs.readFileSync(pidfile, "utf8").trim());
  } else {
    log(`nats: starting ${bin} ${redactArgs(args).join(" ")} (detached)`);
    const child = spawn(bin, args, { detached: true, stdio: "ignore" });
    child.unref();
    pid = child.pid;
  }
  const failed = () => (isAlive(pid) ? undefined : `nats-server exited:\n${readTail(logfile, 10)}`);
  return { pid, logfile, process: "nats-server", command: [bin, ...args], failed };
}

/** Debian clusters (postgresql-common), from `pg_lsclusters -h`. */
async function debianClusters() {
  const lsclusters = which("pg_lsclusters");
  if (!lsclusters) return [];
  const { code, output } = await run(lsclusters, ["-h"]);
  if (code !== 0) return [];
  return output
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 6)
    .map(([version, name, port, status, owner, dataDir]) => ({
      version,
      name,
      port: Number(port),
      status,
      owner,
      dataDir,
    }));
}

function postmasterPid(dataDir) {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined; // not readable by this user: stop goes through pg_ctl / pg_ctlcluster anyway
  }
}

function systemUser(name) {
  try {
    for (const line of fs.readFileSync("/etc/passwd", "utf8").split("\n")) {
      const [user, , uid, gid] = line.split(":");
      if (user === name) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {}
  return undefined;
}

/** Runs a PostgreSQL server program as the postgres user when root (initdb and postgres refuse root). */
function asPostgres(command, args) {
  if (!isRoot()) return [command, args];
  return ["runuser", ["-u", "postgres", "--", command, ...args]];
}

async function startPostgres(endpoint, { root, log }) {
  let cluster = (await debianClusters()).find((c) => c.port === endpoint.port);
  let pgCtl = findPostgresBinary("pg_ctl");
  let initdb = findPostgresBinary("initdb");
  if (!cluster && (!pgCtl || !initdb)) {
    await aptInstall("postgres", "postgresql", log);
    cluster = (await debianClusters()).find((c) => c.port === endpoint.port);
    pgCtl = findPostgresBinary("pg_ctl");
    initdb = findPostgresBinary("initdb");
    const again = await probePostgres(endpoint);
    if (again.state === "up" || again.state === "starting") return undefined; // the package started it
  }
  if (cluster) {
    const args = ["--skip-systemctl-redirect", cluster.version, cluster.name, "start"];
    log(`postgres: starting cluster ${cluster.version}/${cluster.name}: pg_ctlcluster ${args.join(" ")}`);
    const started = await run(which("pg_ctlcluster") ?? "pg_ctlcluster", args);
    if (started.code !== 0) {
      throw new ServicesError(
        "SERVICES_START_FAILED",
        `pg_ctlcluster ${args.join(" ")} failed${isRoot() ? "" : " (run it as root)"}:\n${tail(started.output)}`,
        { service: "postgres", url: endpoint.display },
      );
    }
    return {
      process: "postgres",
      how: "pg_ctlcluster",
      cluster: { version: cluster.version, name: cluster.name },
      dataDir: cluster.dataDir,
      pidFromDataDir: true,
    };
  }
  if (!pgCtl || !initdb) {
    throw new ServicesError("SERVICES_NOT_INSTALLED", "pg_ctl/initdb not found after installing postgresql", {
      service: "postgres",
    });
  }
  if (isRoot() && !systemUser("postgres")) {
    throw new ServicesError(
      "SERVICES_START_FAILED",
      "initdb refuses to run as root and there is no postgres user to run it as: apt-get install -y postgresql creates one",
      { service: "postgres" },
    );
  }
  const base = meridianDir(root);
  const dataDir = path.join(base, endpoint.port === 5432 ? "postgres" : `postgres-${endpoint.port}`);
  const logfile = `${dataDir}.log`;
  if (!fs.existsSync(path.join(dataDir, "PG_VERSION"))) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (isRoot()) {
      const pg = systemUser("postgres");
      fs.chownSync(dataDir, pg.uid, pg.gid);
      fs.chmodSync(base, 0o755); // the postgres user must reach its data directory
    }
    const superuser = endpoint.user || "postgres";
    const [cmd, args] = asPostgres(initdb, ["-D", dataDir, "--auth=trust", "-U", superuser, "-E", "UTF8"]);
    log(`postgres: no cluster on port ${endpoint.port}: initdb --auth=trust -U ${superuser} into ${dataDir}`);
    const created = await run(cmd, args);
    if (created.code !== 0) {
      throw new ServicesError("SERVICES_START_FAILED", `initdb failed:\n${tail(created.output)}`, {
        service: "postgres",
      });
    }
  }
  if (isRoot()) {
    fs.writeFileSync(logfile, "", { flag: "a" });
    const pg = systemUser("postgres");
    fs.chownSync(logfile, pg.uid, pg.gid);
  }
  const host = listenHost(endpoint.host);
  const listen = host === "127.0.0.1" || host === "::1" ? "localhost" : host;
  const options = `-p ${endpoint.port} -k /tmp -c listen_addresses=${listen}`;
  const [cmd, args] = asPostgres(pgCtl, [
    "-D",
    dataDir,
    "-o",
    options,
    "-l",
    logfile,
    "-w",
    "-t",
    "60",
    "start",
  ]);
  log(`postgres: starting pg_ctl -D ${dataDir} -o "${options}" start`);
  const started = await run(cmd, args);
  if (started.code !== 0) {
    throw new ServicesError(
      "SERVICES_START_FAILED",
      `pg_ctl start failed:\n${tail(started.output)}\n--- ${logfile}:\n${readTail(logfile)}`,
      { service: "postgres", url: endpoint.display },
    );
  }
  return { process: "postgres", how: "pg_ctl", pgCtl, dataDir, logfile, pidFromDataDir: true };
}

const STARTERS = { postgres: startPostgres, redis: startRedis, nats: startNats };
const LABELS = { postgres: "postgres", redis: "redis", nats: "nats" };

function checkUp(endpoint, result) {
  if (result.state === "wrong") {
    throw new ServicesError(
      "SERVICES_WRONG_SERVER",
      `${endpoint.service} at ${endpoint.display}: something answers there but not as expected: ${result.detail}`,
      { service: endpoint.service, url: endpoint.display },
    );
  }
  if (endpoint.service === "nats" && result.jetstream === false) {
    throw new ServicesError(
      "SERVICES_NO_JETSTREAM",
      `NATS at ${endpoint.display} is running without JetStream, which Meridian needs. Restart that nats-server ` +
        `with -js (and -sd <store dir>), or point ${ENV_NAMES.nats} at one that has it.`,
      { service: "nats", url: endpoint.display },
    );
  }
}

async function ensureOne(endpoint, { root, log, timeoutMs }) {
  const label = LABELS[endpoint.service];
  let result = await PROBES[endpoint.service](endpoint);
  if (result.state === "starting") {
    log(`${label} at ${endpoint.display}: starting up, waiting`);
    result = await waitFor(`${label} at ${endpoint.display}`, timeoutMs, () =>
      PROBES[endpoint.service](endpoint),
    );
  }
  if (result.state !== "down") {
    checkUp(endpoint, result);
    log(`${label} at ${endpoint.display}: running (${result.detail})`);
    return { service: endpoint.service, url: endpoint.display, started: false };
  }
  if (!endpoint.loopback) {
    throw new ServicesError(
      "SERVICES_REMOTE_DOWN",
      `${label} at ${endpoint.display} is not reachable (${result.detail}). It is not on this machine, so it is ` +
        `not started here: start it there, or point ${ENV_NAMES[endpoint.service]} at a running one.`,
      { service: endpoint.service, url: endpoint.display },
    );
  }
  log(`${label} at ${endpoint.display}: not running (${result.detail}), starting it`);
  const entry = await STARTERS[endpoint.service](endpoint, { root, log });
  let ready;
  try {
    ready = await waitFor(
      `${label} at ${endpoint.display}`,
      timeoutMs,
      () => PROBES[endpoint.service](endpoint),
      entry?.failed,
    );
  } catch (error) {
    if (entry?.logfile && error.code === "SERVICES_NOT_READY") {
      error.message += `\n--- ${entry.logfile}:\n${readTail(entry.logfile)}`;
    }
    throw error;
  }
  checkUp(endpoint, ready);
  if (entry === undefined) {
    log(`${label} at ${endpoint.display}: running (started by its package install, not recorded)`);
    return { service: endpoint.service, url: endpoint.display, started: false };
  }
  const pid = entry.pidFromDataDir ? postmasterPid(entry.dataDir) : (ready.pid ?? entry.pid);
  const { pidFromDataDir: _pidFromDataDir, failed: _failed, ...rest } = entry;
  remember(root, endpoint, { ...rest, pid });
  log(`${label} at ${endpoint.display}: started (pid ${pid ?? "?"}; recorded in .meridian/started.json)`);
  return { service: endpoint.service, url: endpoint.display, started: true, pid };
}

/**
 * Makes sure Postgres, Redis and NATS (with JetStream) answer at their configured URLs, starting the
 * local ones that do not. Throws a {@link ServicesError} naming the service, its URL and what to do.
 *
 * @param {object} [options]
 * @param {string} [options.root] repository root; `.meridian/` lives there. Default: this checkout.
 * @param {NodeJS.ProcessEnv} [options.env] where the MERIDIAN_*_URL variables are read. Default: process.env.
 * @param {(line: string) => void} [options.log] progress lines. Default: `[meridian] …` on stdout.
 * @param {number} [options.timeoutMs] bound on each readiness wait. Default: {@link DEFAULT_READY_TIMEOUT_MS}.
 * @returns {Promise<Array<{ service: string, url: string, started: boolean, pid?: number }>>}
 */
export async function ensureServices({
  root = REPO_ROOT,
  env = process.env,
  log = defaultLog,
  timeoutMs = DEFAULT_READY_TIMEOUT_MS,
} = {}) {
  const endpoints = serviceEndpoints(env);
  const results = [];
  for (const service of SERVICE_NAMES) {
    results.push(await ensureOne(endpoints[service], { root, log, timeoutMs }));
  }
  return results;
}

// ---------------------------------------------------------------------------------------------------
// Stopping what we started

async function waitForExit(pid, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

async function stopEntry(entry, log) {
  const label = `${entry.service} at ${entry.url}`;
  const pid = entry.pid;
  if (entry.service === "postgres") {
    if (entry.dataDir && !fs.existsSync(path.join(entry.dataDir, "postmaster.pid"))) {
      log(`${label}: already stopped`);
      return;
    }
    if (entry.pid && !isProcess(entry.pid, "postgres")) {
      log(`${label}: the server recorded (pid ${entry.pid}) is gone; leaving whatever runs now alone`);
      return;
    }
    let command;
    let args;
    if (entry.how === "pg_ctlcluster") {
      command = which("pg_ctlcluster") ?? "pg_ctlcluster";
      args = ["--skip-systemctl-redirect", entry.cluster.version, entry.cluster.name, "stop"];
    } else {
      [command, args] = asPostgres(entry.pgCtl ?? findPostgresBinary("pg_ctl") ?? "pg_ctl", [
        "-D",
        entry.dataDir,
        "-m",
        "fast",
        "-w",
        "stop",
      ]);
    }
    log(`${label}: stopping (${path.basename(command)} ${args.join(" ")})`);
    const stopped = await run(command, args);
    if (stopped.code !== 0) {
      throw new ServicesError("SERVICES_STOP_FAILED", `${label}: stop failed:\n${tail(stopped.output)}`, {
        service: "postgres",
      });
    }
    return;
  }
  if (!pid || !isProcess(pid, entry.process)) {
    log(`${label}: already stopped (pid ${pid ?? "?"} is not ${entry.process})`);
    return;
  }
  log(`${label}: stopping pid ${pid} (SIGTERM)`);
  process.kill(pid, "SIGTERM");
  if (!(await waitForExit(pid, STOP_TIMEOUT_MS))) {
    throw new ServicesError("SERVICES_STOP_FAILED", `${label}: pid ${pid} still running after SIGTERM`, {
      service: entry.service,
    });
  }
}

/**
 * Stops the servers recorded in `.meridian/started.json` (those this script started) and nothing else.
 * @param {{ root?: string, log?: (line: string) => void }} [options]
 */
export async function stopServices({ root = REPO_ROOT, log = defaultLog } = {}) {
  const record = readStarted(root);
  const keys = Object.keys(record.services);
  if (keys.length === 0) {
    log("services: nothing recorded as started by this script; nothing to stop");
    return;
  }
  const errors = [];
  for (const key of keys.reverse()) {
    try {
      await stopEntry(record.services[key], log);
      delete record.services[key];
    } catch (error) {
      errors.push(error);
    }
  }
  writeStarted(root, record);
  if (errors.length > 0) throw errors.length === 1 ? errors[0] : new AggregateError(errors, "stop failed");
}

function shellQuote(arg) {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}

/** Arguments as a shell would show them, with passwords hidden. */
function redactArgs(args) {
  return args.map((a, i) => (["--requirepass", "--pass"].includes(args[i - 1]) ? "***" : shellQuote(a)));
}

// ---------------------------------------------------------------------------------------------------
// CLI

async function main(argv) {
  const command = argv[0] ?? "up";
  if (command === "up" || command === "start") {
    await ensureServices();
  } else if (command === "status") {
    const endpoints = serviceEndpoints();
    const status = await probeServices();
    let ok = true;
    for (const service of SERVICE_NAMES) {
      const s = status[service];
      const js = service === "nats" && s.state === "up" ? `, jetstream ${s.jetstream ? "on" : "OFF"}` : "";
      ok &&= s.state === "up" && (service !== "nats" || s.jetstream);
      defaultLog(`${service} at ${endpoints[service].display}: ${s.state} (${s.detail}${js})`);
    }
    process.exitCode = ok ? 0 : 1;
  } else if (command === "stop") {
    await stopServices();
  } else {
    console.error("usage: node scripts/services.mjs [up|status|stop]");
    process.exitCode = 2;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error) => {
    const errors = error instanceof AggregateError ? error.errors : [error];
    for (const e of errors) console.error(`[meridian] error: ${e.message}`);
    process.exit(1);
  });
}
