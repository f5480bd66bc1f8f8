/**
 * Baseline for `lobby.login`: the raw argon2id verify rate, nothing else. A forked child (its own
 * event loop and libuv thread pool, sized by the parent through `UV_THREADPOOL_SIZE` exactly like
 * the lobby's) hashes one password with the given parameters, then on each `run` keeps `concurrency`
 * `@node-rs/argon2` verifies of it in flight (a closed loop, as the lobby's load is), warms up, and
 * counts the verifies completed over the measured window.
 *
 * Arguments: `<memoryKib> <timeCost> <parallelism>`. Messages: `servers/argon2-verify-protocol.ts`.
 *
 * @module
 */
import { setTimeout as sleep } from "node:timers/promises";
import { hash, verify } from "@node-rs/argon2";
import type { Argon2Message, Argon2Request } from "./argon2-verify-protocol.js";

const [memoryCost, timeCost, parallelism] = process.argv.slice(2).map(Number);
if (![memoryCost, timeCost, parallelism].every((n) => Number.isSafeInteger(n) && (n as number) > 0)) {
  process.stderr.write("usage: argon2-verify.ts <memoryKib> <timeCost> <parallelism>\n");
  process.exit(2);
}
const PASSWORD = "bench password argon2 baseline";
const phc = await hash(PASSWORD, {
  memoryCost: memoryCost as number,
  timeCost: timeCost as number,
  parallelism: parallelism as number,
});

function send(message: Argon2Message): void {
  process.send?.(message);
}

async function run(concurrency: number, warmupMs: number, durationMs: number): Promise<void> {
  let verified = 0;
  let running = true;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (running) {
      if (!(await verify(phc, PASSWORD))) throw new Error("argon2 verify refused the right password");
      verified++;
    }
  };
  const workers = Array.from({ length: concurrency }, () =>
    worker().catch((error: unknown) => {
      failure ??= error;
      running = false;
    }),
  );
  await sleep(warmupMs);
  const count0 = verified;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(durationMs);
  const count1 = verified;
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  running = false;
  await Promise.all(workers);
  if (failure !== undefined) throw failure;
  send({ type: "result", verifies: count1 - count0, elapsedMs, cpuMicros: cpu.user + cpu.system });
}

process.on("message", (message: Argon2Request) => {
  if (message.type === "stop") process.exit(0);
  run(message.concurrency, message.warmupMs, message.durationMs).catch((error: unknown) =>
    send({ type: "error", message: error instanceof Error ? error.message : String(error) }),
  );
});
// An orphaned child (the bench process died) must not keep running.
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
send({ type: "ready", uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? null });
