/** IPC messages between the bench process and a server child. */

/** Parent → child. */
export type ChildRequest = { readonly type: "cpu"; readonly id: number } | { readonly type: "stop" };

/** Child → parent. */
export type ServerMessage =
  | { readonly type: "listening"; readonly port: number }
  | {
      readonly type: "cpu";
      readonly id: number;
      /** process.cpuUsage() of the child, in µs. */
      readonly user: number;
      readonly system: number;
      /** performance.now() of the child when it read the usage. */
      readonly at: number;
      /** write syscalls so far (Linux /proc/self/io `syscw`), or -1 where unavailable. */
      readonly writes: number;
    };
