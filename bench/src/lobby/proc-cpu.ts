/**
 * CPU readings from Linux's /proc, for processes the bench did not fork with IPC (the lobby, spawned
 * through the test kit) and for the machine as a whole (Postgres, Redis and NATS included). Clock
 * ticks are 10 ms, so a reading over a measured run of seconds is exact to about 1 %.
 *
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc's times (`getconf CLK_TCK`: 100 on Linux). */
const CLOCK_TICKS = 100;

/** µs of user + system CPU of process `pid` (all its threads), or undefined off Linux or once it is gone. */
export function processCpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
    return ((utime + stime) * 1e6) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Busy µs of all CPUs together (the `cpu` line of /proc/stat), or undefined off Linux. */
export interface MachineCpu {
  readonly busyMicros: number;
}

export function machineCpu(): MachineCpu | undefined {
  try {
    const line = readFileSync("/proc/stat", "latin1").split("\n", 1)[0] ?? "";
    if (!line.startsWith("cpu ")) return undefined;
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return { busyMicros: ((total - idle) * 1e6) / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

/** A window of CPU readings: the measured process, the bench process, the machine. */
export interface CpuWindow {
  /** Cores the measured process kept busy (1 = one core), or undefined when it could not be read. */
  readonly process: number | undefined;
  /** Cores the bench process (the load generator) kept busy. */
  readonly bench: number;
  /** Cores busy on the whole machine, or undefined off Linux. */
  readonly machine: number | undefined;
}

/** Starts a CPU window over `pid`; call the result at the window's end. */
export function startCpuWindow(pid: number | undefined): () => CpuWindow {
  const t0 = performance.now();
  const p0 = pid === undefined ? undefined : processCpuMicros(pid);
  const b0 = process.cpuUsage();
  const m0 = machineCpu();
  return () => {
    const elapsedMicros = (performance.now() - t0) * 1000;
    const p1 = pid === undefined ? undefined : processCpuMicros(pid);
    const b = process.cpuUsage(b0);
    const m1 = machineCpu();
    return {
      process: p0 === undefined || p1 === undefined ? undefined : (p1 - p0) / elapsedMicros,
      bench: (b.user + b.system) / elapsedMicros,
      machine:
        m0 === undefined || m1 === undefined ? undefined : (m1.busyMicros - m0.busyMicros) / elapsedMicros,
    };
  };
}

/** Where the machine's CPU went: named groups of processes (and threads), in µs or cores. */
export type CpuBreakdown = Readonly<Record<string, number>>;

/** Process names of the backing services, grouped as `postgres`, `redis`, `nats`. */
const SERVICE_GROUPS: Readonly<Record<string, string>> = {
  postgres: "postgres",
  "redis-server": "redis",
  "nats-server": "nats",
};

function readCpuFields(path: string): { comm: string; micros: number } | undefined {
  try {
    const stat = readFileSync(path, "latin1");
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const fields = stat.slice(close + 2).split(" ");
    return { comm, micros: ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

function threadsOf(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`);
  } catch {
    return []; // it exited meanwhile
  }
}

/**
 * µs of CPU so far by group: `<label>.main` (the main thread of `pid`, its event loop) and
 * `<label>.threads` (its other threads: libuv's pool, V8's GC helpers), `postgres`, `redis`, `nats`
 * (every process of that name), `bench` (this process). Linux only (empty elsewhere).
 */
export function cpuBreakdown(pid: number, label: string): CpuBreakdown {
  const groups: Record<string, number> = {};
  const add = (group: string, micros: number): void => {
    groups[group] = (groups[group] ?? 0) + micros;
  };
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return groups;
  }
  for (const entry of entries) {
    const other = Number(entry);
    if (other === pid) {
      for (const tid of threadsOf(pid)) {
        const thread = readCpuFields(`/proc/${pid}/task/${tid}/stat`);
        if (thread !== undefined)
          add(Number(tid) === pid ? `${label}.main` : `${label}.threads`, thread.micros);
      }
      continue;
    }
    const stat = readCpuFields(`/proc/${entry}/stat`);
    if (stat === undefined) continue;
    if (other === process.pid) add("bench", stat.micros);
    else {
      const group = SERVICE_GROUPS[stat.comm];
      if (group !== undefined) add(group, stat.micros);
    }
  }
  return groups;
}

/**
 * Starts a breakdown window (see {@link cpuBreakdown}); the result, called at the window's end, gives
 * the µs each group used over it, plus `other` (the rest of the machine's busy time).
 */
export function startCpuBreakdown(pid: number, label: string): () => CpuBreakdown {
  const b0 = cpuBreakdown(pid, label);
  const m0 = machineCpu();
  return () => {
    const b1 = cpuBreakdown(pid, label);
    const m1 = machineCpu();
    const used: Record<string, number> = {};
    for (const [group, micros] of Object.entries(b1)) used[group] = micros - (b0[group] ?? 0);
    if (m0 !== undefined && m1 !== undefined) {
      const known = Object.values(used).reduce((a, b) => a + b, 0);
      used.other = Math.max(0, m1.busyMicros - m0.busyMicros - known);
    }
    return used;
  };
}
