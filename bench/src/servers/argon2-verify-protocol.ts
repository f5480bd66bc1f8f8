/** IPC messages between the bench process and the argon2 verify baseline (`argon2-verify.ts`). */

/** Parent → child: run one measured window, or exit. */
export type Argon2Request =
  | {
      readonly type: "run";
      /** Verifies kept in flight. */
      readonly concurrency: number;
      readonly warmupMs: number;
      readonly durationMs: number;
    }
  | { readonly type: "stop" };

/** Child → parent. */
export type Argon2Message =
  | { readonly type: "ready"; readonly uvThreadpoolSize: string | null }
  | {
      readonly type: "result";
      /** Verifies completed inside the measured window. */
      readonly verifies: number;
      readonly elapsedMs: number;
      /** The child's user + system CPU over the window, µs. */
      readonly cpuMicros: number;
    }
  | { readonly type: "error"; readonly message: string };
