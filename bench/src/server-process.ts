/**
 * The parent side of a benchmark server: a forked child process running one of `servers/*.ts`
 * under tsx, so the server and the load generator never share an event loop.
 *
 * @module
 */
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildRequest, ServerMessage } from "./servers/protocol.js";

/** Flags every child runs with: workspace packages from source, TypeScript through tsx. */
export const CHILD_EXEC_ARGV: readonly string[] = ["--conditions=meridian-source", "--import", "tsx"];

/**
 * The V8 flags zone servers run with wherever Meridian starts them (`npm start`, the Dockerfile's
 * zone command, the manifests): a 32 MiB young-generation semi-space, so a tick's short-lived
 * objects die young instead of being promoted and collected by a mark-compact pause every second
 * (decision 13 in docs/decisions.md). The tick benchmarks run both the zone and its bare baseline
 * with them.
 */
export const ZONE_V8_FLAGS: readonly string[] = ["--max-semi-space-size=32"];

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/** A usage reading of a server child. */
export interface CpuReading {
  /** µs of user + system CPU time so far. */
  readonly cpuMicros: number;
  /** When, in the child's performance.now() ms. */
  readonly at: number;
  /** Write syscalls so far (Linux), or -1 where the platform does not tell. */
  readonly writes: number;
}

export class ServerProcess {
  readonly name: string;
  readonly port: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  readonly #pendingCpu = new Map<number, (reading: CpuReading) => void>();
  #nextId = 1;

  private constructor(name: string, port: number, child: ChildProcess, exited: Promise<void>) {
    this.name = name;
    this.port = port;
    this.#child = child;
    this.#exited = exited;
    child.on("message", (message: ServerMessage) => {
      if (message.type !== "cpu") return;
      const resolve = this.#pendingCpu.get(message.id);
      this.#pendingCpu.delete(message.id);
      resolve?.({ cpuMicros: message.user + message.system, at: message.at, writes: message.writes });
    });
  }

  /**
   * Forks `entry` (a file under `servers/`) with `args` and resolves once it listens.
   * @param cpuProfDir when set, the child runs with `--cpu-prof` and writes its profiles into `<cpuProfDir>/<name>/` on stop.
   */
  static start(
    name: string,
    entry: URL,
    args: readonly string[],
    cpuProfDir: string | undefined,
  ): Promise<ServerProcess> {
    const execArgv = [...CHILD_EXEC_ARGV];
    if (cpuProfDir !== undefined) {
      // One folder per server: Node writes one profile per thread (tsx's loader hooks run in a
      // worker), named CPU.<date>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread.
      execArgv.push("--cpu-prof", `--cpu-prof-dir=${join(cpuProfDir, name)}`);
    }
    const child = fork(fileURLToPath(entry), [...args], {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      execArgv,
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`server ${name} did not listen within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        clearTimeout(timer);
        reject(new Error(`server ${name} exited before listening (code ${code}, signal ${signal})`));
      };
      child.once("exit", onExit);
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      const onMessage = (message: ServerMessage): void => {
        if (message.type !== "listening") return;
        clearTimeout(timer);
        child.off("exit", onExit);
        child.off("message", onMessage);
        resolve(new ServerProcess(name, message.port, child, exited));
      };
      child.on("message", onMessage);
    });
  }

  /** The child's process id (for outside tools: perf, strace, /proc). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** The child's CPU time (and write syscalls) so far. */
  cpuUsage(): Promise<CpuReading> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pendingCpu.set(id, resolve);
      if (!this.#request({ type: "cpu", id })) {
        this.#pendingCpu.delete(id);
        reject(new Error(`server ${this.name} is gone`));
      }
    });
  }

  /** Asks the child to stop (it closes its server and exits, writing any CPU profile); kills it if it hangs. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#request({ type: "stop" });
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await this.#exited;
    clearTimeout(timer);
  }

  #request(message: ChildRequest): boolean {
    if (!this.#child.connected) return false;
    this.#child.send(message);
    return true;
  }
}
