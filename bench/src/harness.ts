/**
 * The benchmark harness's contract and its pure helpers: filter matching, medians, rounding, the
 * readable table and the `BENCH {…}` line. No I/O here, so all of it is unit-tested.
 *
 * @module
 */

/**
 * One measured figure. `value` is what the benchmark measured, `baseline` the bare reference
 * measured in the same run, `ratio` = value / baseline. Extra fields (`target`, `runs`, samples,
 * CPU shares…) are printed in the BENCH line after the five fixed ones.
 */
export interface Figure {
  /** Dotted name, starting with the benchmark's name (`netengine.tcp-echo.guarded`). */
  readonly name: string;
  readonly value: number;
  /** Unit of `value` and `baseline` (`frames/s`, `msgs/s`, `µs`…). */
  readonly unit: string;
  readonly baseline: number;
  /** value / baseline, rounded by {@link roundRatio}; null when the baseline is 0. */
  readonly ratio: number | null;
  /**
   * The ratio the figure should reach: at least it, or at most it when {@link Figure.better} is
   * `"lower"`. A miss is shown as `below target` (`above target`) in the table; it never fails the run.
   */
  readonly target?: number;
  /**
   * Which way is better for the ratio. Absent means `"higher"` (throughputs); latency figures set
   * `"lower"`, and it is printed in their BENCH line.
   */
  readonly better?: Better;
  readonly [extra: string]: unknown;
}

/** Which way a figure's ratio is better: a throughput against its baseline, or a latency against its. */
export const Better = { Higher: "higher", Lower: "lower" } as const;
export type Better = (typeof Better)[keyof typeof Better];

/** What every benchmark gets from the harness. */
export interface BenchContext {
  /** Measured duration of one run, after warm-up. */
  readonly durationMs: number;
  /** Warm-up before each measured run. */
  readonly warmupMs: number;
  /** Runs per variant; benchmarks interleave variants and report medians. */
  readonly runs: number;
  /**
   * When set, benchmarks that run servers in child processes start them with
   * `--cpu-prof`, profiles in `<dir>/<server>/`, written when the children exit (thread 0: main).
   */
  readonly cpuProfDir: string | undefined;
  /** Progress output (one line each), kept apart from the table and BENCH lines. */
  log(line: string): void;
}

/** A registered benchmark. */
export interface Benchmark {
  /** Dotted name (`netengine.tcp-echo`); the CLI filter matches its start. */
  readonly name: string;
  /** One sentence: what is measured against what. */
  readonly description: string;
  run(ctx: BenchContext): Promise<Figure[]>;
}

/** True when `name` starts with one of `filters`, or when there is no filter. */
export function matchesFilter(name: string, filters: readonly string[]): boolean {
  return filters.length === 0 || filters.some((filter) => name.startsWith(filter));
}

/** Median of a non-empty list (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of an empty list");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const upper = sorted[mid] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] as number) + upper) / 2;
}

/**
 * The `q`-quantile (0 < q ≤ 1) of a non-empty list by the nearest-rank method: the smallest value
 * with at least `q` of the list at or below it (`percentile(xs, 0.99)` is the p99). Does not
 * reorder its input.
 */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError("percentile of an empty list");
  if (!(q > 0 && q <= 1)) throw new RangeError(`percentile: q must be in (0, 1], got ${q}`);
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.ceil(q * sorted.length) - 1] as number;
}

/** value / baseline to three decimals; null when the baseline is 0 or not finite. */
export function roundRatio(value: number, baseline: number): number | null {
  if (baseline === 0 || !Number.isFinite(baseline) || !Number.isFinite(value)) return null;
  return Math.round((value / baseline) * 1000) / 1000;
}

/** Whole numbers from 100 up, three significant digits below (rates stay readable, µs keep precision). */
export function roundValue(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  if (Math.abs(value) >= 100) return Math.round(value);
  return Number(value.toPrecision(3));
}

/** Builds a figure: rounds value and baseline and computes the ratio from the rounded numbers. */
export function makeFigure(fields: {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  target?: number;
  better?: Better;
  [extra: string]: unknown;
}): Figure {
  const { name, value, unit, baseline, ...extra } = fields;
  const v = roundValue(value);
  const b = roundValue(baseline);
  return { name, value: v, unit, baseline: b, ratio: roundRatio(v, b), ...extra };
}

/**
 * Whether a figure missed its target (false when it has none or no ratio): its ratio is below the
 * target, or above it for a lower-is-better figure.
 */
export function missesTarget(figure: Figure): boolean {
  if (figure.target === undefined || figure.ratio === null) return false;
  return figure.better === Better.Lower ? figure.ratio > figure.target : figure.ratio < figure.target;
}

/**
 * The machine-readable line: `BENCH ` and one JSON object whose first keys are always name,
 * value, unit, baseline, ratio, in that order, then the extra fields.
 */
export function formatBenchLine(figure: Figure): string {
  const { name, value, unit, baseline, ratio, ...extra } = figure;
  return `BENCH ${JSON.stringify({ name, value, unit, baseline, ratio, ...extra })}`;
}

/** A readable, column-aligned table of figures: name, value, unit, baseline, ratio, target, status. */
export function formatTable(figures: readonly Figure[]): string {
  const header = ["figure", "value", "unit", "baseline", "ratio", "target", "status"];
  const rows = figures.map((f) => [
    f.name,
    formatNumber(f.value),
    f.unit,
    formatNumber(f.baseline),
    f.ratio === null ? "-" : f.ratio.toFixed(3),
    f.target === undefined ? "-" : `${f.better === Better.Lower ? "≤" : "≥"} ${f.target}`,
    f.target === undefined || f.ratio === null
      ? ""
      : missesTarget(f)
        ? f.better === Better.Lower
          ? "above target"
          : "below target"
        : "ok",
  ]);
  const all = [header, ...rows];
  const numeric = new Set([1, 3, 4]);
  const widths = header.map((_, col) => Math.max(...all.map((row) => (row[col] ?? "").length)));
  return all
    .map((row) =>
      row
        .map((cell, col) => {
          const width = widths[col] ?? 0;
          return numeric.has(col) ? cell.padStart(width) : cell.padEnd(width);
        })
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString("en-US") : String(n);
}

/** Options parsed from the command line. */
export interface CliOptions {
  readonly filters: string[];
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly runs: number;
  readonly cpuProfDir: string | undefined;
  readonly list: boolean;
  readonly help: boolean;
}

/** Defaults chosen so the whole netengine set takes about 50 s on two cores. */
export const DEFAULT_DURATION_MS = 2000;
export const DEFAULT_WARMUP_MS = 1000;
export const DEFAULT_RUNS = 3;

/** A bad command line; the CLI prints the message and the usage and exits with status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly code = "BENCH_USAGE";
}

export const USAGE = `usage: bench [filter…] [--duration-ms N] [--warmup-ms N] [--runs N] [--cpu-prof-dir DIR] [--list]

  filter            run benchmarks whose name starts with it (several allowed; none: all)
  --duration-ms N   measured time per run (default ${DEFAULT_DURATION_MS})
  --warmup-ms N     warm-up before each measured run (default ${DEFAULT_WARMUP_MS})
  --runs N          runs per variant, interleaved; medians are reported (default ${DEFAULT_RUNS})
  --cpu-prof-dir D  write V8 CPU profiles of the server child processes into D
  --list            list the registered benchmarks and exit`;

/** Parses `argv` (without node and script). Accepts `--flag value` and `--flag=value`; ignores a bare `--`. */
export function parseCliArgs(argv: readonly string[]): CliOptions {
  const filters: string[] = [];
  let durationMs = DEFAULT_DURATION_MS;
  let warmupMs = DEFAULT_WARMUP_MS;
  let runs = DEFAULT_RUNS;
  let cpuProfDir: string | undefined;
  let list = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") continue;
    if (!arg.startsWith("--")) {
      filters.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const value = (): string => {
      if (eq !== -1) return arg.slice(eq + 1);
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case "--duration-ms":
        durationMs = positiveInteger(flag, value());
        break;
      case "--warmup-ms":
        warmupMs = positiveInteger(flag, value(), true);
        break;
      case "--runs":
        runs = positiveInteger(flag, value());
        break;
      case "--cpu-prof-dir":
        cpuProfDir = value();
        break;
      case "--list":
        list = true;
        break;
      case "--help":
        help = true;
        break;
      default:
        throw new UsageError(`unknown option ${flag}`);
    }
  }
  return { filters, durationMs, warmupMs, runs, cpuProfDir, list, help };
}

function positiveInteger(flag: string, text: string, allowZero = false): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || (n === 0 && !allowZero)) {
    throw new UsageError(
      `${flag} must be a ${allowZero ? "non-negative" : "positive"} integer, got "${text}"`,
    );
  }
  return n;
}
