import { type ChildProcess, spawn } from "node:child_process";
import { inheritedEnvironment } from "./config.js";
import { TestKitError, TestKitErrorCode } from "./errors.js";

/** Default bound on the wait for a process's ready pattern. */
export const DEFAULT_READY_TIMEOUT_MS = 15_000;
/** Default bound on the wait for a stopped process to exit before it is sent SIGKILL. */
export const DEFAULT_STOP_TIMEOUT_MS = 5_000;
/** Output kept per process (stdout and stderr interleaved); older output is dropped past this. */
export const MAX_OUTPUT_CHARS = 4 * 1024 * 1024;

/** What to run. */
export interface SpawnProcessOptions {
  /** The program, looked up on PATH (e.g. `process.execPath` for Node). */
  readonly command: string;
  /** Its arguments. Default none. */
  readonly args?: readonly string[];
  /** Variables set on top of the inherited environment; `undefined` removes one. Default none. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Working directory. Default the current one. */
  readonly cwd?: string;
  /**
   * Wait until the output (stdout and stderr) matches this before resolving, e.g. `/listening on (\d+)/`.
   * Default: resolve as soon as the process is spawned.
   */
  readonly readyPattern?: RegExp | string;
  /** Bound on the wait for `readyPattern`. Default {@link DEFAULT_READY_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Bound on the wait for exit in `stop()` before SIGKILL. Default {@link DEFAULT_STOP_TIMEOUT_MS}. */
  readonly stopTimeoutMs?: number;
}

/** How a process ended. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A process started by {@link TestContext.spawnProcess}. */
export interface SpawnedProcess {
  /** Its pid; it leads its own process group, so `stop()` reaches its children too. */
  readonly pid: number;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Resolves with the match once the output matches `pattern` (checked against all output so far). */
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ProcessExit>;
  /** How it ended, or `undefined` while it runs. */
  exitStatus(): ProcessExit | undefined;
  /**
   * Sends `signal` (default SIGTERM) to its process group and waits for it to exit; after
   * `stopTimeoutMs` it is sent SIGKILL. Whatever is left of the group afterwards is killed.
   * Resolves with how it ended; calling it again after exit just returns that.
   */
  stop(signal?: NodeJS.Signals): Promise<ProcessExit>;
}

interface Waiter {
  readonly pattern: RegExp;
  readonly resolve: (match: RegExpMatchArray) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

function toRegExp(pattern: RegExp | string): RegExp {
  if (typeof pattern === "string") return new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
}

/** Bound on the wait for the output pipes to drain once the process has exited. */
const PIPE_DRAIN_MS = 200;

function streamEnd(stream: NodeJS.ReadableStream | null): Promise<void> {
  if (!stream || (stream as { readableEnded?: boolean }).readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
  });
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

class ChildProcessHandle implements SpawnedProcess {
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  readonly #child: ChildProcess;
  readonly #name: string;
  readonly #stopTimeoutMs: number;
  #output = "";
  #exit: ProcessExit | undefined;
  #waiters = new Set<Waiter>();

  constructor(child: ChildProcess, pid: number, name: string, stopTimeoutMs: number) {
    this.#child = child;
    this.pid = pid;
    this.#name = name;
    this.#stopTimeoutMs = stopTimeoutMs;
    const onData = (chunk: Buffer) => this.#append(chunk.toString("utf8"));
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    this.exited = new Promise((resolve) => {
      child.once("exit", async (code, signal) => {
        // Output still in the pipes comes after "exit"; a child that outlived its leader may hold the
        // pipes open, so the wait for their end is bounded.
        await Promise.race([
          Promise.all([streamEnd(child.stdout), streamEnd(child.stderr)]),
          new Promise((r) => setTimeout(r, PIPE_DRAIN_MS)),
        ]);
        this.#exit = Object.freeze({ code, signal });
        for (const waiter of this.#waiters) {
          clearTimeout(waiter.timer);
          waiter.reject(this.#exitedError(waiter.pattern));
        }
        this.#waiters.clear();
        resolve(this.#exit);
      });
    });
  }

  output(): string {
    return this.#output;
  }

  exitStatus(): ProcessExit | undefined {
    return this.#exit;
  }

  waitForOutput(pattern: RegExp | string, timeoutMs = DEFAULT_READY_TIMEOUT_MS): Promise<RegExpMatchArray> {
    const re = toRegExp(pattern);
    const match = this.#output.match(re);
    if (match) return Promise.resolve(match);
    if (this.#exit) return Promise.reject(this.#exitedError(re));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pattern: re,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(
            new TestKitError(
              TestKitErrorCode.ProcessNotReady,
              `${this.#name} (pid ${this.pid}) did not print ${re} within ${timeoutMs} ms; its output:\n${tail(this.#output)}`,
              { context: { pid: this.pid, command: this.#name, pattern: String(re), timeoutMs } },
            ),
          );
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<ProcessExit> {
    if (!this.#exit) {
      this.#signalGroup(signal);
      const timer = new Promise<"timeout">((resolve) =>
        setTimeout(() => resolve("timeout"), this.#stopTimeoutMs).unref(),
      );
      if ((await Promise.race([this.exited, timer])) === "timeout") this.#signalGroup("SIGKILL");
    }
    const exit = await this.exited;
    this.#signalGroup("SIGKILL"); // children that outlived their leader
    return exit;
  }

  #signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // the group is gone; the leader may still be reachable on its own (a platform without groups)
      if (!this.#exit) this.#child.kill(signal);
    }
  }

  #append(text: string): void {
    this.#output += text;
    if (this.#output.length > MAX_OUTPUT_CHARS) this.#output = this.#output.slice(-MAX_OUTPUT_CHARS);
    for (const waiter of this.#waiters) {
      const match = this.#output.match(waiter.pattern);
      if (match) {
        clearTimeout(waiter.timer);
        this.#waiters.delete(waiter);
        waiter.resolve(match);
      }
    }
  }

  #exitedError(pattern: RegExp): TestKitError {
    const exit = this.#exit;
    const how = exit?.signal ? `signal ${exit.signal}` : `code ${exit?.code}`;
    return new TestKitError(
      TestKitErrorCode.ProcessExited,
      `${this.#name} (pid ${this.pid}) exited (${how}) before printing ${pattern}; its output:\n${tail(this.#output)}`,
      { context: { pid: this.pid, command: this.#name, exit, pattern: String(pattern) } },
    );
  }
}

/**
 * Starts a process in its own process group with piped output and, given a `readyPattern`, waits until
 * it prints it. On a failed start the process is killed before the error is thrown.
 * @throws TestKitError `TK_PROCESS_SPAWN_FAILED`, `TK_PROCESS_NOT_READY` or `TK_PROCESS_EXITED`.
 */
export async function startProcess(options: SpawnProcessOptions): Promise<SpawnedProcess> {
  const name = [options.command, ...(options.args ?? [])].join(" ");
  const env = { ...inheritedEnvironment(), ...options.env };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  const child = spawn(options.command, [...(options.args ?? [])], {
    cwd: options.cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const pid = await new Promise<number>((resolve, reject) => {
    child.once("spawn", () => resolve(child.pid ?? 0));
    child.once("error", (cause) =>
      reject(
        new TestKitError(TestKitErrorCode.ProcessSpawnFailed, `cannot start ${name}: ${cause.message}`, {
          cause,
          context: { command: options.command, cwd: options.cwd },
        }),
      ),
    );
  });
  const handle = new ChildProcessHandle(child, pid, name, options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
  if (options.readyPattern !== undefined) {
    try {
      await handle.waitForOutput(options.readyPattern, options.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    } catch (error) {
      await handle.stop("SIGKILL");
      throw error;
    }
  }
  return handle;
}
