/**
 * The headless bot command: logs in N players that walk around until the duration ends or the
 * process gets SIGINT / SIGTERM, printing a progress line every few seconds and one final JSON
 * summary line.
 *
 *   node --conditions=meridian-source --import tsx libs/client/src/bot/cli.ts \
 *     --url tcp://127.0.0.1:7600 --players 20 --prefix bot --duration 30s
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { ClientError } from "../errors.js";
import { parseDuration } from "./parse-duration.js";
import {
  type BotProgress,
  DEFAULT_BOT_INPUTS_PER_SECOND,
  DEFAULT_BOT_LOGINS_PER_SECOND,
  DEFAULT_BOT_PREFIX,
  DEFAULT_BOT_PROGRESS_INTERVAL_MS,
  DEFAULT_BOT_SHUTDOWN_TIMEOUT_MS,
  runBots,
} from "./run-bots.js";

const USAGE = `usage: bot --url <tcp|tls|ws|wss://host:port> [--url …] [options]

  --players <n>            players to log in (default 1)
  --prefix <name>          usernames are <prefix><n> (default ${DEFAULT_BOT_PREFIX})
  --first <n>              first <n> (default 1)
  --duration <time>        stop after this long: 30s, 2m, 500ms, 1h; 0 = until Ctrl-C (default 0)
  --rate <n>               walk inputs per second per player (default ${DEFAULT_BOT_INPUTS_PER_SECOND})
  --logins-per-second <n>  login ramp (default ${DEFAULT_BOT_LOGINS_PER_SECOND})
  --progress <time>        progress line period (default ${DEFAULT_BOT_PROGRESS_INTERVAL_MS / 1000}s)
  --secret <text>          passwords are derived from it and the username (default meridian-bot)
  --shutdown-timeout <time> bound on the final logouts (default ${DEFAULT_BOT_SHUTDOWN_TIMEOUT_MS / 1000}s)

Prints a progress line every period and, at the end, one JSON line with the summary.`;

function number(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number, got ${text}`);
  return value;
}

function progressLine(p: BotProgress): string {
  const failures = Object.values(p.loginFailures).reduce((a, b) => a + b, 0);
  const errors = Object.values(p.errors).reduce((a, b) => a + b, 0);
  return (
    `bots ${(p.elapsedMs / 1000).toFixed(1)}s: online ${p.online}/${p.players}, logins ${p.logins}` +
    ` (failed ${failures}), inputs ${p.inputsSent}, updates ${p.updatesReceived}, acks ${p.acks},` +
    ` messages ${p.messagesReceived}, reconnects ${p.reconnects}, sessions lost ${p.sessionsLost}, errors ${errors}`
  );
}

// A command's output is its interface: plain writes, no logger.
function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function err(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(): Promise<number> {
  // `pnpm run bot -- --url …` may hand the `--` on.
  const args = process.argv.slice(2);
  if (args[0] === "--") args.shift();
  const { values } = parseArgs({
    args,
    options: {
      url: { type: "string", multiple: true },
      players: { type: "string" },
      prefix: { type: "string" },
      first: { type: "string" },
      duration: { type: "string" },
      rate: { type: "string" },
      "logins-per-second": { type: "string" },
      progress: { type: "string" },
      secret: { type: "string" },
      "shutdown-timeout": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help === true) {
    out(USAGE);
    return 0;
  }
  if (values.url === undefined || values.url.length === 0) {
    err(`--url is required\n\n${USAGE}`);
    return 2;
  }
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      err(`${signal} again: exiting without waiting for the logouts`);
      process.exit(130);
    }
    err(`${signal}: logging every player out…`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const summary = await runBots({
    url: values.url,
    players: Math.floor(number("players", values.players, 1)),
    prefix: values.prefix ?? DEFAULT_BOT_PREFIX,
    firstIndex: Math.floor(number("first", values.first, 1)),
    durationMs: values.duration === undefined ? 0 : parseDuration(values.duration),
    inputsPerSecond: number("rate", values.rate, DEFAULT_BOT_INPUTS_PER_SECOND),
    loginsPerSecond: number("logins-per-second", values["logins-per-second"], DEFAULT_BOT_LOGINS_PER_SECOND),
    progressIntervalMs:
      values.progress === undefined ? DEFAULT_BOT_PROGRESS_INTERVAL_MS : parseDuration(values.progress),
    shutdownTimeoutMs:
      values["shutdown-timeout"] === undefined
        ? DEFAULT_BOT_SHUTDOWN_TIMEOUT_MS
        : parseDuration(values["shutdown-timeout"]),
    ...(values.secret === undefined ? {} : { passwordSecret: values.secret }),
    onProgress: (p) => out(progressLine(p)),
    signal: controller.signal,
  });
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  out(progressLine(summary));
  out(JSON.stringify(summary));
  return summary.logins > 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const code = error instanceof ClientError ? ` [${error.code}]` : "";
    err(`bot: ${error instanceof Error ? error.message : String(error)}${code}`);
    process.exitCode = 2;
  },
);
