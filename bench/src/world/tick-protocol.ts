/** IPC messages between the world tick benchmarks and their child (`src/servers/zone-tick.ts`). */

/** Ticks measured in one window of a child. */
export interface TickSeries {
  /** Wall time of every measured tick, ms, in order. */
  readonly totalMs: readonly number[];
  /** Means per tick: inputs + step, encoding, publishing (ms); bytes and messages encoded; view entries. */
  readonly stepMs: number;
  readonly encodeMs: number;
  readonly publishMs: number;
  readonly bytes: number;
  readonly messages: number;
  readonly viewEntries: number;
  /** CPU time of the child (all its threads: GC helpers included) per tick, ms. */
  readonly cpuMsPerTick: number;
  /** Wall time of the measured window, ms (ticks plus the event-loop turns between them). */
  readonly wallMs: number;
}

/** Parent → child. */
export type TickChildRequest =
  | {
      readonly type: "measure";
      readonly id: number;
      readonly warmupMs: number;
      readonly durationMs: number;
      readonly minTicks: number;
    }
  | {
      readonly type: "probe";
      readonly id: number;
      readonly entities: number;
      /** Warm-up: at least this many ticks and at least this long. */
      readonly warmupTicks: number;
      readonly warmupMs: number;
      readonly ticks: number;
      /** A tick over this many ms counts against the p99… */
      readonly budgetMs: number;
      /** …and the probe stops once more than this many ticks went over. */
      readonly maxOver: number;
    }
  | { readonly type: "stop"; readonly id: number };

/** Child → parent. */
export type TickChildReply =
  | { readonly type: "ready"; readonly entities: number; readonly players: number }
  | { readonly type: "measured"; readonly id: number; readonly result: TickSeries }
  | { readonly type: "probed"; readonly id: number; readonly entities: number; readonly result: TickSeries }
  | { readonly type: "failed"; readonly id: number; readonly error: string };
