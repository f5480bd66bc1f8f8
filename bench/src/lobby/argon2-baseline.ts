/**
 * The parent side of the argon2 verify baseline (`servers/argon2-verify.ts`): a forked child with its
 * own event loop and libuv thread pool, so the baseline shares neither with the bench process.
 *
 * @module
 */
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CHILD_EXEC_ARGV } from "../server-process.js";
import type { Argon2Message, Argon2Request } from "../servers/argon2-verify-protocol.js";
import type { Argon2Params } from "./lobby-fixture.js";

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/** One measured window of the baseline. */
export interface Argon2Sample {
  /** Verifies per second. */
  readonly rate: number;
  /** Cores the child kept busy. */
  readonly cpu: number;
  /** CPU ms per verify. */
  readonly cpuMsPerVerify: number;
}

export class Argon2Baseline {
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess, exited: Promise<void>) {
    this.#child = child;
    this.#exited = exited;
  }

  /**
   * Forks the baseline with `params` and `UV_THREADPOOL_SIZE=threadpoolSize`; resolves once it has
   * its hash. With `cpuProfDir`, the child writes a CPU profile into `<cpuProfDir>/<label>/` on stop.
   */
  static start(
    label: string,
    params: Argon2Params,
    threadpoolSize: number,
    cpuProfDir: string | undefined,
  ): Promise<Argon2Baseline> {
    const execArgv = [...CHILD_EXEC_ARGV];
    if (cpuProfDir !== undefined) execArgv.push("--cpu-prof", `--cpu-prof-dir=${join(cpuProfDir, label)}`);
    const child = fork(
      fileURLToPath(new URL("../servers/argon2-verify.ts", import.meta.url)),
      [String(params.memoryKib), String(params.timeCost), String(params.parallelism)],
      {
        cwd: fileURLToPath(new URL("../..", import.meta.url)),
        execArgv,
        env: { ...process.env, UV_THREADPOOL_SIZE: String(threadpoolSize) },
        stdio: ["ignore", "ignore", "inherit", "ipc"],
      },
    );
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`argon2 baseline did not start within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        clearTimeout(timer);
        reject(new Error(`argon2 baseline exited before it was ready (code ${code}, signal ${signal})`));
      };
      child.once("exit", onExit);
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once("message", (message: Argon2Message) => {
        clearTimeout(timer);
        child.off("exit", onExit);
        if (message.type !== "ready" || message.uvThreadpoolSize !== String(threadpoolSize)) {
          child.kill("SIGKILL");
          reject(new Error(`argon2 baseline: unexpected start message ${JSON.stringify(message)}`));
          return;
        }
        resolve(new Argon2Baseline(child, exited));
      });
    });
  }

  /** The child's process id. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** One window: `concurrency` verifies in flight, warm-up, then counted over `durationMs`. */
  measure(concurrency: number, warmupMs: number, durationMs: number): Promise<Argon2Sample> {
    return new Promise((resolve, reject) => {
      const onExit = (): void => reject(new Error("argon2 baseline exited during a run"));
      this.#child.once("exit", onExit);
      this.#child.once("message", (message: Argon2Message) => {
        this.#child.off("exit", onExit);
        if (message.type === "result") {
          const seconds = message.elapsedMs / 1000;
          resolve({
            rate: message.verifies / seconds,
            cpu: message.cpuMicros / (message.elapsedMs * 1000),
            cpuMsPerVerify: message.cpuMicros / 1000 / message.verifies,
          });
        } else {
          reject(new Error(`argon2 baseline: ${message.type === "error" ? message.message : message.type}`));
        }
      });
      this.#send({ type: "run", concurrency, warmupMs, durationMs });
    });
  }

  /** Asks the child to exit (writing any CPU profile); kills it if it hangs. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#send({ type: "stop" });
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await this.#exited;
    clearTimeout(timer);
  }

  #send(message: Argon2Request): void {
    if (this.#child.connected) this.#child.send(message);
  }
}
