/**
 * The parent side of `src/servers/zone-tick.ts`: forks it (workspace packages from source, tsx,
 * `--expose-gc`), waits for `ready`, sends requests and awaits their answers; `stop()` ends it (killed
 * if it does not exit). Killed too when the bench process exits.
 *
 * @module
 */
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CHILD_EXEC_ARGV, ZONE_V8_FLAGS } from "../server-process.js";
import type { TickChildReply, TickChildRequest } from "./tick-protocol.js";

const ENTRY = new URL("../servers/zone-tick.ts", import.meta.url);
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;

/** A request without its id (the wrapper numbers them). */
type Request = TickChildRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

export class TickChild {
  readonly name: string;
  readonly entities: number;
  readonly players: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  readonly #pending = new Map<number, { resolve: (r: TickChildReply) => void; reject: (e: Error) => void }>();
  #nextId = 1;

  private constructor(
    name: string,
    child: ChildProcess,
    exited: Promise<void>,
    ready: { entities: number; players: number },
  ) {
    this.name = name;
    this.#child = child;
    this.#exited = exited;
    this.entities = ready.entities;
    this.players = ready.players;
    child.on("message", (message: TickChildReply) => {
      if (message.type === "ready") return;
      const waiter = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.type === "failed") waiter?.reject(new Error(`${name}: ${message.error}`));
      else waiter?.resolve(message);
    });
    void exited.then(() => {
      for (const waiter of this.#pending.values()) waiter.reject(new Error(`${name} exited`));
      this.#pending.clear();
    });
  }

  /** Forks the child with `args` and resolves once it is ready. */
  static start(name: string, args: readonly string[], cpuProfDir: string | undefined): Promise<TickChild> {
    const execArgv = [...CHILD_EXEC_ARGV, ...ZONE_V8_FLAGS, "--expose-gc"];
    if (cpuProfDir !== undefined) execArgv.push("--cpu-prof", `--cpu-prof-dir=${join(cpuProfDir, name)}`);
    const child = fork(fileURLToPath(ENTRY), [...args], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      execArgv,
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    const kill = (): void => {
      child.kill("SIGKILL");
    };
    process.once("exit", kill);
    const exited = new Promise<void>((resolve) =>
      child.once("exit", () => {
        process.off("exit", kill);
        resolve();
      }),
    );
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${name} was not ready within ${START_TIMEOUT_MS} ms`));
      }, START_TIMEOUT_MS);
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        clearTimeout(timer);
        reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
      };
      child.once("exit", onExit);
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      const onMessage = (message: TickChildReply): void => {
        if (message.type !== "ready") return;
        clearTimeout(timer);
        child.off("exit", onExit);
        child.off("message", onMessage);
        resolve(new TickChild(name, child, exited, message));
      };
      child.on("message", onMessage);
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Sends a request and resolves with its answer (rejects on `failed` or if the child exits). */
  request(request: Request): Promise<TickChildReply> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (!this.#child.connected) return reject(new Error(`${this.name} is gone`));
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ ...request, id } as TickChildRequest);
    });
  }

  /** Asks the child to exit; kills it if it does not within 5 s. Idempotent. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    if (this.#child.connected) this.#child.send({ type: "stop", id: 0 } satisfies TickChildRequest);
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await this.#exited;
    clearTimeout(timer);
  }
}
