/**
 * The child of the world tick benchmarks (`src/world/tick-workload.ts`): one zone's tick, alone on
 * its event loop, driven over IPC by `src/world/tick-child.ts`.
 *
 * - `zone-tick.ts zone <entities>` / `zone-tick.ts bare <entities>`: builds the subject (ZoneSim,
 *   views, encoding) or the baseline (the same update loop, nothing else) with that many entities,
 *   says `ready`, then answers each `measure` with the ticks it ran back to back (yielding to the
 *   event loop between ticks, as a server does) for the warm-up and then the measured time.
 * - `zone-tick.ts probe <natsUrl> <subjectPrefix>`: for each `probe`, builds a fresh subject with the
 *   asked entity count, publishing every tick's messages over NATS (`gw.<bgwN>.updates`,
 *   `zone.<owner>.ghosts`), and answers with its tick durations (stopping early once the p99 is lost).
 *
 * Runs with `--expose-gc` when the parent passes it: a full GC before each measurement.
 *
 * @module
 */
import { setImmediate as yieldLoop } from "node:timers/promises";
import { createSubjects } from "@meridian/protocol";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { TickChildReply, TickChildRequest, TickSeries } from "../world/tick-protocol.js";
import {
  BareTickWorkload,
  type TickCost,
  type TickWorkload,
  ZoneTickWorkload,
} from "../world/tick-workload.js";

const [mode, first, second] = process.argv.slice(2);

function send(message: TickChildReply): void {
  process.send?.(message);
}

function fullGc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function series(costs: readonly TickCost[], cpuMicros: number, wallMs: number): TickSeries {
  let stepMs = 0;
  let encodeMs = 0;
  let publishMs = 0;
  let bytes = 0;
  let messages = 0;
  let viewEntries = 0;
  for (const c of costs) {
    stepMs += c.stepMs;
    encodeMs += c.encodeMs;
    publishMs += c.publishMs;
    bytes += c.bytes;
    messages += c.messages;
    viewEntries += c.viewEntries;
  }
  const n = Math.max(1, costs.length);
  return {
    totalMs: costs.map((c) => c.totalMs),
    stepMs: stepMs / n,
    encodeMs: encodeMs / n,
    publishMs: publishMs / n,
    bytes: bytes / n,
    messages: messages / n,
    viewEntries: viewEntries / n,
    cpuMsPerTick: cpuMicros / 1000 / n,
    wallMs,
  };
}

function cpuNow(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

async function measure(workload: TickWorkload, warmupMs: number, durationMs: number, minTicks: number) {
  fullGc();
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) {
    workload.tick();
    await yieldLoop();
  }
  const costs: TickCost[] = [];
  const cpu0 = cpuNow();
  const t0 = performance.now();
  while (performance.now() - t0 < durationMs || costs.length < minTicks) {
    costs.push(workload.tick());
    await yieldLoop();
  }
  return series(costs, cpuNow() - cpu0, performance.now() - t0);
}

async function probe(
  nc: NatsConnection,
  prefix: string,
  entities: number,
  warmupTicks: number,
  warmupMs: number,
  ticks: number,
  budgetMs: number,
  maxOver: number,
) {
  fullGc();
  const workload = new ZoneTickWorkload(entities, { nc, subjects: createSubjects({ prefix }) });
  const warmEnd = performance.now() + warmupMs;
  for (let i = 0; i < warmupTicks || performance.now() < warmEnd; i++) {
    workload.tick();
    await yieldLoop();
  }
  await nc.flush();
  const costs: TickCost[] = [];
  let over = 0;
  const cpu0 = cpuNow();
  const t0 = performance.now();
  while (costs.length < ticks && over <= maxOver) {
    const cost = workload.tick();
    costs.push(cost);
    if (cost.totalMs > budgetMs) over++;
    await yieldLoop();
  }
  await nc.flush();
  return { result: series(costs, cpuNow() - cpu0, performance.now() - t0), entities: workload.entities };
}

async function main(): Promise<void> {
  let nc: NatsConnection | undefined;
  let workload: TickWorkload | undefined;
  if (mode === "zone" || mode === "bare") {
    const entities = Number(first);
    workload = mode === "zone" ? new ZoneTickWorkload(entities) : new BareTickWorkload(entities);
    send({ type: "ready", entities: workload.entities, players: workload.players });
  } else if (mode === "probe" && first !== undefined && second !== undefined) {
    nc = await connect({ servers: [first], name: `bench-zone-tick-${process.pid}`, timeout: 10_000 });
    send({ type: "ready", entities: 0, players: 0 });
  } else {
    process.stderr.write("usage: zone-tick.ts zone|bare <entities> | probe <natsUrl> <subjectPrefix>\n");
    process.exit(2);
  }
  const stop = async (): Promise<void> => {
    await nc?.close().catch(() => undefined);
    process.exit(0);
  };
  process.on("disconnect", () => void stop());
  process.on("SIGTERM", () => void stop());
  process.on("message", (message: TickChildRequest) => {
    void (async () => {
      try {
        if (message.type === "stop") return void (await stop());
        if (message.type === "measure" && workload !== undefined) {
          const result = await measure(workload, message.warmupMs, message.durationMs, message.minTicks);
          send({ type: "measured", id: message.id, result });
        } else if (message.type === "probe" && nc !== undefined && second !== undefined) {
          const { result, entities } = await probe(
            nc,
            second,
            message.entities,
            message.warmupTicks,
            message.warmupMs,
            message.ticks,
            message.budgetMs,
            message.maxOver,
          );
          send({ type: "probed", id: message.id, entities, result });
        } else {
          send({ type: "failed", id: message.id, error: `cannot ${message.type} in mode ${mode}` });
        }
      } catch (error) {
        send({
          type: "failed",
          id: message.id,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
      }
    })();
  });
}

await main();
