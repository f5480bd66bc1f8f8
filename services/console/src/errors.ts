/**
 * Errors of the console. Every error carries a stable `code` from {@link ConsoleErrorCode}; callers
 * and tests branch on the code, never on the message.
 */
import type { ConfigProblem } from "@meridian/service-kit";

export type { ConfigProblem } from "@meridian/service-kit";

export const ConsoleErrorCode = {
  /** The environment failed validation. `problems` lists every bad variable. */
  Config: "CONSOLE_CONFIG",
  /** The HTTP listener could not start (port in use, bad host). */
  Listen: "CONSOLE_LISTEN",
  /** A static asset of the page is missing from the package (`public/`). */
  Asset: "CONSOLE_ASSET",
} as const;
export type ConsoleErrorCode = (typeof ConsoleErrorCode)[keyof typeof ConsoleErrorCode];

/** Base class of every error the console raises. */
export class ConsoleError extends Error {
  override readonly name: string = "ConsoleError";
  readonly code: ConsoleErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: ConsoleErrorCode,
    message: string,
    options: { cause?: unknown; context?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = Object.freeze({ ...(options.context ?? {}) });
  }
}

/** The environment failed validation: every bad variable is listed, each with its own message. */
export class ConfigError extends ConsoleError {
  override readonly name: string = "ConfigError";
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(
      ConsoleErrorCode.Config,
      `invalid console configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join("\n")}`,
      { context: { variables: problems.map((p) => p.variable) } },
    );
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}
