#!/usr/bin/env node
/**
 * The one entry point behind `npm start`, `npm test`, `npm run bench` and `npm run services`. Plain Node
 * ESM without dependencies: it runs on a fresh machine before `pnpm install`.
 *
 *   node scripts/meridian.mjs start            set up, then run the local cluster (scripts/cluster.mjs)
 *   node scripts/meridian.mjs test             set up, then lint, typecheck and every package's tests
 *   node scripts/meridian.mjs bench [filter]   set up, then the benchmarks (@meridian/bench), optionally filtered
 *   node scripts/meridian.mjs services         set up the backing services only
 *   node scripts/meridian.mjs pnpm <args…>     steps 1 and 2 only, then `pnpm <args…>` (for build, typecheck…:
 *                                              pnpm lives in .tools, not on PATH)
 *
 * Set-up, in order, each step printing a `[meridian] …` line and failing with a clear error:
 *   1. pnpm, the version pinned in package.json's `packageManager`, from `.tools/` (installed there with npm
 *      when missing: no global install);
 *   2. `pnpm install --frozen-lockfile`, skipped when node_modules/.meridian-install-stamp matches a hash
 *      of the lockfile, the workspace file, .npmrc and every package.json;
 *   3. PostgreSQL, Redis and NATS with JetStream, started where they are local and down (scripts/services.mjs).
 *
 * Environment:
 *   MERIDIAN_POSTGRES_URL   admin URL of PostgreSQL   (default postgres://postgres@127.0.0.1:5432/postgres)
 *   MERIDIAN_REDIS_URL      Redis                     (default redis://127.0.0.1:6379)
 *   MERIDIAN_NATS_URL       NATS with JetStream       (default nats://127.0.0.1:4222)
 *   MERIDIAN_SKIP_SERVICES  set to 1 to skip step 3 (the services are managed elsewhere)
 *   NO_COLOR                set to drop colours from the output of the commands run
 *
 * `test` ends with a table per package and one closing line `N passed, N failed[, N skipped]`, counted
 * from node:test's summary lines (`ℹ tests N`… of the spec reporter, `# tests N`… of TAP). It exits
 * non-zero when a step failed or when no test ran.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { ensureServices, serviceEndpoints } from "./services.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TOOLS = path.join(ROOT, ".tools");
const STAMP = path.join(ROOT, "node_modules", ".meridian-install-stamp");

const USAGE = `usage: node scripts/meridian.mjs <start|test|bench [filter]|services>

  start           set up, then run the local cluster: lobby, authority, 4 zone servers, gateway, bots
  test            set up, then lint, typecheck and run every package's tests
  bench [filter]  set up, then run the benchmarks of @meridian/bench, optionally filtered
  services        set up the backing services only (PostgreSQL, Redis, NATS with JetStream)
  pnpm <args…>    install pnpm and the dependencies if needed, then run pnpm <args…> (no services)

environment:
  MERIDIAN_POSTGRES_URL   default postgres://postgres@127.0.0.1:5432/postgres
  MERIDIAN_REDIS_URL      default redis://127.0.0.1:6379
  MERIDIAN_NATS_URL       default nats://127.0.0.1:4222
  MERIDIAN_SKIP_SERVICES  1 to leave the services alone`;

const log = (line) => console.log(`[meridian] ${line}`);

/** A failure of a set-up step: printed as one clear error, exit code 1. */
class StepError extends Error {
  constructor(message, hint) {
    super(hint ? `${message}\n[meridian] ${hint}` : message);
    this.name = "StepError";
  }
}

// ---------------------------------------------------------------------------------------------------
// Child processes

/** The environment of every command run: pnpm from .tools on PATH, colours kept when we print to a terminal. */
function childEnv() {
  const env = { ...process.env };
  env.PATH = [path.join(TOOLS, "node_modules", ".bin"), env.PATH].filter(Boolean).join(path.delimiter);
  if (process.stdout.isTTY && !env.NO_COLOR && env.FORCE_COLOR === undefined) env.FORCE_COLOR = "1";
  return env;
}

/**
 * Runs a command with live output. `onStdoutLine` sees each line of stdout (for parsing) while the
 * bytes go straight through to our stdout.
 * @returns {Promise<{ code: number, signal: string | null }>}
 */
function runLive(command, args, { cwd = ROOT, onStdoutLine } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd,
      env: childEnv(),
      stdio: ["inherit", onStdoutLine ? "pipe" : "inherit", "inherit"],
    });
    if (onStdoutLine) {
      let partial = "";
      child.stdout.on("data", (chunk) => {
        process.stdout.write(chunk);
        const lines = (partial + chunk.toString("utf8")).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) onStdoutLine(line);
      });
      child.stdout.on("end", () => {
        if (partial) onStdoutLine(partial);
      });
    }
    child.once("error", (error) => {
      console.error(`[meridian] cannot run ${command}: ${error.message}`);
      resolve({ code: 127, signal: null });
    });
    child.once("close", (code, signal) => resolve({ code: code ?? 128, signal }));
  });
}

/**
 * Runs a long-lived command in its own process group and forwards SIGINT, SIGTERM and SIGHUP to that
 * group. Under `npm start` a Ctrl-C reaches us twice (from the terminal and from npm): the same
 * signal repeated within 500 ms is forwarded once, so a server sees one Ctrl-C, not a "force quit".
 */
function runForwardingSignals(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: childEnv(),
      detached: true,
      // A background process group reading the terminal would be stopped (SIGTTIN).
      stdio: [process.stdin.isTTY ? "ignore" : "inherit", "inherit", "inherit"],
    });
    let last = { signal: "", at: 0 };
    const forward = (signal) => {
      const now = Date.now();
      if (last.signal === signal && now - last.at < 500) return;
      last = { signal, at: now };
      log(`forwarding ${signal}`);
      try {
        process.kill(-child.pid, signal);
      } catch {
        // the group is already gone
      }
    };
    const signals = ["SIGINT", "SIGTERM", "SIGHUP"];
    for (const signal of signals) process.on(signal, forward);
    child.once("error", (error) => {
      console.error(`[meridian] cannot run ${command}: ${error.message}`);
      resolve(127);
    });
    child.once("close", (code, signal) => {
      for (const s of signals) process.off(s, forward);
      resolve(signal ? 128 + (os.constants.signals[signal] ?? 0) : (code ?? 1));
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Step 1: pnpm

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

function pinnedPnpmVersion() {
  const field = readJson(path.join(ROOT, "package.json")).packageManager ?? "";
  const match = /^pnpm@(\d+\.\d+\.\d+[\w.-]*)(\+.*)?$/.exec(field);
  if (!match) {
    throw new StepError(
      `package.json's packageManager must pin pnpm (pnpm@X.Y.Z), got ${JSON.stringify(field)}`,
    );
  }
  return match[1];
}

function installedPnpm() {
  const bin = path.join(TOOLS, "node_modules", ".bin", "pnpm");
  try {
    const { version } = readJson(path.join(TOOLS, "node_modules", "pnpm", "package.json"));
    return fs.existsSync(bin) ? { bin, version } : undefined;
  } catch {
    return undefined;
  }
}

/** @returns {Promise<string>} the pnpm executable */
async function ensurePnpm() {
  const version = pinnedPnpmVersion();
  const found = installedPnpm();
  if (found?.version === version) {
    log(`pnpm ${version}: .tools/node_modules/.bin/pnpm`);
    return found.bin;
  }
  log(
    found
      ? `pnpm ${found.version} in .tools, ${version} pinned: installing pnpm@${version} into .tools`
      : `pnpm ${version} not in .tools: npm install --prefix .tools --no-save --no-package-lock pnpm@${version}`,
  );
  const npmArgs = ["install", "--prefix", TOOLS, "--no-save", "--no-package-lock", `pnpm@${version}`];
  const { code } = await runLive("npm", npmArgs);
  const now = installedPnpm();
  if (code !== 0 || now?.version !== version) {
    throw new StepError(
      `could not install pnpm@${version} into .tools (npm exited ${code})`,
      "check that npm can reach the registry, then run: npm install --prefix .tools --no-save --no-package-lock " +
        `pnpm@${version}`,
    );
  }
  log(`pnpm ${version}: installed into .tools`);
  return now.bin;
}

// ---------------------------------------------------------------------------------------------------
// Workspace packages, from pnpm-workspace.yaml's globs

/** The `packages:` globs of pnpm-workspace.yaml (block or flow list; `!` negations kept). */
function workspaceGlobs() {
  const text = fs.readFileSync(path.join(ROOT, "pnpm-workspace.yaml"), "utf8");
  const globs = [];
  const lines = text.split(/\r?\n/);
  const unquote = (s) =>
    s
      .replace(/\s+#.*$/, "")
      .trim()
      .replace(/^(["'])(.*)\1$/, "$2");
  for (let i = 0; i < lines.length; i++) {
    const m = /^packages:\s*(.*)$/.exec(lines[i]);
    if (!m) continue;
    const inline = m[1].replace(/\s+#.*$/, "").trim();
    if (inline.startsWith("[")) {
      for (const item of inline.replace(/^\[|\]$/g, "").split(","))
        if (unquote(item)) globs.push(unquote(item));
      break;
    }
    for (let j = i + 1; j < lines.length; j++) {
      const line = lines[j];
      if (/^\S/.test(line)) break;
      const item = /^\s+-\s+(.+)$/.exec(line);
      if (item) globs.push(unquote(item[1]));
    }
    break;
  }
  return globs;
}

function globSegmentRegExp(segment) {
  const escaped = segment
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]");
  return new RegExp(`^${escaped}$`);
}

function subdirs(dir) {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== "node_modules" && !e.name.startsWith("."))
      .map((e) => e.name);
  } catch {
    return [];
  }
}

function expandGlob(base, segments) {
  if (segments.length === 0) return [base];
  const [segment, ...rest] = segments;
  if (segment === "**") {
    return [
      ...expandGlob(base, rest),
      ...subdirs(base).flatMap((d) => expandGlob(path.join(base, d), segments)),
    ];
  }
  if (/[*?]/.test(segment)) {
    const re = globSegmentRegExp(segment);
    return subdirs(base)
      .filter((d) => re.test(d))
      .flatMap((d) => expandGlob(path.join(base, d), rest));
  }
  const next = path.join(base, segment);
  return fs.existsSync(next) ? expandGlob(next, rest) : [];
}

/**
 * The workspace's packages (the root excluded), sorted by folder.
 * @returns {Array<{ dir: string, rel: string, name: string, scripts: Record<string, string>, manifest: object }>}
 */
function workspacePackages() {
  const include = new Set();
  const exclude = new Set();
  for (const glob of workspaceGlobs()) {
    const negated = glob.startsWith("!");
    const segments = glob
      .replace(/^!/, "")
      .replace(/^\.\//, "")
      .split("/")
      .filter((s) => s && s !== ".");
    for (const dir of expandGlob(ROOT, segments)) {
      if (fs.existsSync(path.join(dir, "package.json"))) (negated ? exclude : include).add(dir);
    }
  }
  return [...include]
    .filter((dir) => !exclude.has(dir) && dir !== ROOT)
    .sort()
    .map((dir) => {
      const manifest = readJson(path.join(dir, "package.json"));
      const rel = path.relative(ROOT, dir);
      return { dir, rel, name: manifest.name ?? rel, scripts: manifest.scripts ?? {}, manifest };
    });
}

// ---------------------------------------------------------------------------------------------------
// Step 2: pnpm install

function installHash(pnpmVersion, packages) {
  const hash = createHash("sha256");
  hash.update(`pnpm ${pnpmVersion}\n`);
  const files = ["pnpm-lock.yaml", "pnpm-workspace.yaml", ".npmrc", "package.json"];
  for (const pkg of packages) files.push(path.join(pkg.rel, "package.json"));
  for (const file of files) {
    hash.update(`\0${file}\0`);
    let content;
    try {
      content = fs.readFileSync(path.join(ROOT, file), "utf8");
    } catch {
      content = "(missing)";
    }
    if (file.endsWith("package.json")) {
      // Scripts and descriptions do not change what pnpm installs: editing them needs no install.
      try {
        const { scripts: _scripts, description: _description, ...rest } = JSON.parse(content);
        content = JSON.stringify(rest);
      } catch {
        // hash the text as it is; pnpm will report the broken file
      }
    }
    hash.update(content);
  }
  return hash.digest("hex");
}

function hasDependencies(manifest) {
  return ["dependencies", "devDependencies", "optionalDependencies"].some(
    (k) => Object.keys(manifest[k] ?? {}).length > 0,
  );
}

async function ensureInstall(pnpm, packages) {
  if (!fs.existsSync(path.join(ROOT, "pnpm-lock.yaml"))) {
    throw new StepError("pnpm-lock.yaml is missing", "run `pnpm install` once and commit pnpm-lock.yaml");
  }
  const hash = installHash(pinnedPnpmVersion(), packages);
  let stamp = "";
  try {
    stamp = fs.readFileSync(STAMP, "utf8").trim();
  } catch {}
  const complete = packages.every(
    (pkg) => !hasDependencies(pkg.manifest) || fs.existsSync(path.join(pkg.dir, "node_modules")),
  );
  if (stamp === hash && complete && fs.existsSync(path.join(ROOT, "node_modules", ".modules.yaml"))) {
    log("dependencies: node_modules is up to date with pnpm-lock.yaml (skipping pnpm install)");
    return;
  }
  log("dependencies: pnpm install --frozen-lockfile");
  const { code } = await runLive(pnpm, ["install", "--frozen-lockfile"]);
  if (code !== 0) {
    throw new StepError(
      `pnpm install --frozen-lockfile failed (exit ${code})`,
      "if pnpm-lock.yaml is out of date with a package.json, run `pnpm install` and commit the lockfile",
    );
  }
  fs.writeFileSync(STAMP, `${hash}\n`);
  log("dependencies: installed");
}

// ---------------------------------------------------------------------------------------------------
// Step 3: services

async function ensureBackingServices() {
  if (process.env.MERIDIAN_SKIP_SERVICES === "1") {
    log("services: skipped (MERIDIAN_SKIP_SERVICES=1)");
    return;
  }
  try {
    await ensureServices({ log });
  } catch (error) {
    throw new StepError(
      `services: ${error.message}`,
      "set MERIDIAN_SKIP_SERVICES=1 if the services are managed elsewhere",
    );
  }
}

async function setUp({ services = true } = {}) {
  const pnpm = await ensurePnpm();
  const packages = workspacePackages();
  await ensureInstall(pnpm, packages);
  if (services) await ensureBackingServices();
  return { pnpm, packages };
}

// ---------------------------------------------------------------------------------------------------
// test

const SUMMARY_LINE =
  /^\s*(?:ℹ|#)\s+(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms)\s+(\d+(?:\.\d+)?)\s*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal colour codes is the point
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

/** Sums node:test summary blocks (a test script may run the runner more than once). */
function summaryCollector() {
  const counts = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  let seen = false;
  return {
    counts,
    seen: () => seen,
    line(raw) {
      const m = SUMMARY_LINE.exec(raw.replace(ANSI, ""));
      if (!m || !(m[1] in counts)) return;
      counts[m[1]] += Number(m[2]);
      seen = true;
    },
  };
}

function formatSeconds(ms) {
  return `${(ms / 1000).toFixed(1)}s`;
}

function printTable(rows) {
  const header = ["step", "result", "tests", "pass", "fail", "skip", "time"];
  const cells = rows.map((r) => [r.name, r.result, r.tests, r.pass, r.fail, r.skip, r.time].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const format = (c) => c.map((v, i) => (i < 2 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  console.log("");
  log("summary");
  console.log(`  ${format(header)}`);
  for (const c of cells) console.log(`  ${format(c)}`);
  console.log("");
}

async function commandTest(pnpm, packages) {
  const rows = [];
  const failedSteps = [];
  const step = async (name, args, cwd) => {
    log(`${name}: pnpm ${args.join(" ")}`);
    const started = performance.now();
    const { code } = await runLive(pnpm, args, { cwd });
    const ok = code === 0;
    if (!ok) failedSteps.push(name);
    rows.push({
      name,
      result: ok ? "ok" : `FAIL (${code})`,
      tests: "",
      pass: "",
      fail: "",
      skip: "",
      time: "",
    });
    rows.at(-1).time = formatSeconds(performance.now() - started);
  };
  await step("lint", ["exec", "biome", "check", "."]);
  await step("typecheck", ["-r", "run", "typecheck"]);

  const total = { pass: 0, fail: 0, skipped: 0 };
  const testable = packages.filter((pkg) => pkg.scripts.test);
  for (const pkg of packages.filter((p) => !p.scripts.test)) log(`${pkg.name}: no test script, skipped`);
  for (const pkg of testable) {
    log(`${pkg.name}: pnpm run test (in ${pkg.rel})`);
    const summary = summaryCollector();
    const started = performance.now();
    const { code } = await runLive(pnpm, ["run", "test"], { cwd: pkg.dir, onStdoutLine: summary.line });
    const c = summary.counts;
    const failed = c.fail + c.cancelled;
    const skipped = c.skipped + c.todo;
    total.pass += c.pass;
    total.fail += failed;
    total.skipped += skipped;
    let result = "ok";
    if (code !== 0 || failed > 0) {
      result = code !== 0 ? `FAIL (${code})` : "FAIL";
      failedSteps.push(pkg.name);
    } else if (!summary.seen()) {
      result = "ok (no node:test summary)";
    } else if (c.tests === 0) {
      result = "ok (no tests)";
    }
    const seen = summary.seen();
    rows.push({
      name: pkg.name,
      result,
      tests: seen ? c.tests : "?",
      pass: seen ? c.pass : "?",
      fail: seen ? failed : "?",
      skip: seen ? skipped : "?",
      time: formatSeconds(performance.now() - started),
    });
  }

  printTable(rows);
  const ranNone = total.pass + total.fail === 0;
  if (failedSteps.length > 0) log(`failed: ${failedSteps.join(", ")}`);
  if (ranNone) log("error: no test ran");
  console.log(
    `${total.pass} passed, ${total.fail} failed${total.skipped > 0 ? `, ${total.skipped} skipped` : ""}`,
  );
  return failedSteps.length > 0 || ranNone ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------
// start, bench

function requireScript(packages, name, script, folder) {
  const pkg = packages.find((p) => p.name === name);
  if (!pkg) throw new StepError(`no package ${name} in the workspace (expected ${folder}/package.json)`);
  if (!pkg.scripts[script])
    throw new StepError(`${name} has no "${script}" script in ${pkg.rel}/package.json`);
}

async function commandStart(_pnpm, packages) {
  for (const [name, folder] of [
    ["@meridian/lobby", "services/lobby"],
    ["@meridian/authority", "services/authority"],
    ["@meridian/gameserver", "services/gameserver"],
    ["@meridian/gateway", "services/gateway"],
    ["@meridian/client", "libs/client"],
  ]) {
    if (!packages.some((p) => p.name === name)) {
      throw new StepError(`no package ${name} in the workspace (expected ${folder}/package.json)`);
    }
  }
  log("start: the local cluster (lobby, authority, 4 zone servers, gateway, bots); Ctrl-C stops it");
  const { runCluster } = await import("./cluster.mjs");
  const endpoints = serviceEndpoints();
  const urls = { postgres: endpoints.postgres.url, redis: endpoints.redis.url, nats: endpoints.nats.url };
  return runCluster({ root: ROOT, env: childEnv(), urls, log });
}

async function commandBench(pnpm, packages, filter) {
  requireScript(packages, "@meridian/bench", "bench", "bench");
  const args = ["--filter", "@meridian/bench", "run", "bench", ...filter];
  log(`bench: pnpm ${args.join(" ")}`);
  return runForwardingSignals(pnpm, args);
}

// ---------------------------------------------------------------------------------------------------

async function main(argv) {
  const [command, ...rest] = argv;
  if (!command || command === "-h" || command === "--help" || command === "help") {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  if (!["start", "test", "bench", "services", "pnpm"].includes(command)) {
    console.error(`[meridian] unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  }
  log(`${command}: node ${process.version} in ${ROOT}`);
  const { pnpm, packages } = await setUp({ services: command !== "pnpm" });
  switch (command) {
    case "pnpm":
      log(`pnpm ${rest.join(" ")}`);
      return (await runLive(pnpm, rest)).code;
    case "services":
      log("services: ready");
      return 0;
    case "test":
      return commandTest(pnpm, packages);
    case "start":
      return commandStart(pnpm, packages);
    default:
      return commandBench(pnpm, packages, rest);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    const errors = error instanceof AggregateError ? error.errors : [error];
    for (const e of errors)
      console.error(`[meridian] error: ${e instanceof StepError ? e.message : (e.stack ?? e)}`);
    process.exitCode = 1;
  },
);
