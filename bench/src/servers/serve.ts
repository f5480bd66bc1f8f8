/**
 * The child side of a benchmark server process: start the server, announce its port (a
 * `listening <port>` line on stdout and, when forked, an IPC message), answer CPU-usage queries,
 * and exit cleanly on `stop` or SIGTERM/SIGINT so a `--cpu-prof` profile gets written.
 *
 * A server entry can also be run by hand, e.g. to profile it:
 * `node --conditions=meridian-source --import tsx --cpu-prof src/servers/netengine-echo.ts tcp`.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import type { ChildRequest, ServerMessage } from "./protocol.js";

/** A started server. */
export interface RunningServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function serve(start: () => Promise<RunningServer>): Promise<void> {
  const server = await start();
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const timer = setTimeout(() => process.exit(0), 2000);
    await server.close().catch(() => {});
    clearTimeout(timer);
    // process.exit (not draining the loop): sockets of a stopped load may still be open.
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.on("message", (message: ChildRequest) => {
    if (message.type === "cpu") {
      const { user, system } = process.cpuUsage();
      send({ type: "cpu", id: message.id, user, system, at: performance.now(), writes: writeSyscalls() });
    } else if (message.type === "stop") {
      void stop();
    }
  });
  // An orphaned child (the bench process died) must not keep running.
  process.on("disconnect", () => void stop());
  process.stdout.write(`listening ${server.port}\n`);
  send({ type: "listening", port: server.port });
}

/** Write syscalls of this process so far, from /proc/self/io (Linux); -1 where unavailable. */
function writeSyscalls(): number {
  try {
    const match = /^syscw: (\d+)$/m.exec(readFileSync("/proc/self/io", "latin1"));
    return match === null ? -1 : Number(match[1]);
  } catch {
    return -1;
  }
}

function send(message: ServerMessage): void {
  process.send?.(message);
}
