/**
 * The benchmark CLI: `pnpm --filter @meridian/bench run bench -- [filter…] [flags]`.
 *
 * Runs every registered benchmark whose name starts with a filter (all without one), prints per
 * benchmark a table and one `BENCH {…}` line per figure, and exits with status 1 when a benchmark
 * threw or no benchmark matched, 2 on a bad command line. A figure below its target is shown in the
 * table and never changes the exit status.
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import {
  type BenchContext,
  type CliOptions,
  formatBenchLine,
  formatTable,
  matchesFilter,
  parseCliArgs,
  USAGE,
  UsageError,
} from "./harness.js";
import { benchmarks } from "./registry.js";

function parse(): CliOptions {
  try {
    return parseCliArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message}\n${USAGE}`);
    process.exit(2);
  }
}

async function main(): Promise<number> {
  const options = parse();
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const selected = benchmarks.filter((b) => matchesFilter(b.name, options.filters));
  if (options.list) {
    for (const b of selected) console.log(`${b.name.padEnd(24)} ${b.description}`);
    return 0;
  }
  if (selected.length === 0) {
    console.error(
      `bench: no benchmark matches ${options.filters.map((f) => `"${f}"`).join(", ")}; known: ${benchmarks.map((b) => b.name).join(", ")}`,
    );
    return 1;
  }
  const cpuProfDir = options.cpuProfDir === undefined ? undefined : resolve(options.cpuProfDir);
  if (cpuProfDir !== undefined) mkdirSync(cpuProfDir, { recursive: true });
  const ctx: BenchContext = {
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    runs: options.runs,
    cpuProfDir,
    log: (line) => console.log(line),
  };
  console.log(
    `bench: ${selected.length} benchmark(s); ${ctx.runs} run(s) per variant, ${ctx.warmupMs} ms warm-up, ${ctx.durationMs} ms measured; node ${process.version}`,
  );
  let failed = 0;
  for (const benchmark of selected) {
    console.log(`\n== ${benchmark.name}: ${benchmark.description}`);
    const started = performance.now();
    try {
      const figures = await benchmark.run(ctx);
      console.log(`\n${formatTable(figures)}\n`);
      for (const figure of figures) console.log(formatBenchLine(figure));
      console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
    } catch (error) {
      failed++;
      console.error(`bench: ${benchmark.name} failed:`, error);
    }
  }
  if (failed > 0) console.error(`\nbench: ${failed} of ${selected.length} benchmark(s) failed`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main();
