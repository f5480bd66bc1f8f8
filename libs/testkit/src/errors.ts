/**
 * Errors raised by the test kit. Every error carries a stable `code` from {@link TestKitErrorCode} and a
 * frozen `context` (service, URL, pid…); tests branch on the code, never on the message.
 */
export const TestKitErrorCode = {
  /** A backing service (PostgreSQL, Redis, NATS with JetStream) cannot be reached or lacks a feature. */
  ServiceUnavailable: "TK_SERVICE_UNAVAILABLE",
  /** A service answered but an operation on it failed (create database, SCAN, stream delete…). */
  ResourceFailed: "TK_RESOURCE_FAILED",
  /** A resource of a service the context was created without (`{ redis: false }`) was asked for. */
  ServiceDisabled: "TK_SERVICE_DISABLED",
  /** A configuration value (an environment variable or an option) is invalid. */
  ConfigInvalid: "TK_CONFIG_INVALID",
  /** A process could not be spawned (program not found, bad working directory). */
  ProcessSpawnFailed: "TK_PROCESS_SPAWN_FAILED",
  /** A process did not print its ready pattern in time. */
  ProcessNotReady: "TK_PROCESS_NOT_READY",
  /** A process exited while something waited for its output. */
  ProcessExited: "TK_PROCESS_EXITED",
  /** The context was used after `cleanup()` began. */
  ContextClosed: "TK_CONTEXT_CLOSED",
  /** One or more cleanups failed; see {@link TestKitCleanupError.errors}. */
  CleanupFailed: "TK_CLEANUP_FAILED",
} as const;
export type TestKitErrorCode = (typeof TestKitErrorCode)[keyof typeof TestKitErrorCode];

/** Base class of every error the test kit raises. */
export class TestKitError extends Error {
  override readonly name: string = "TestKitError";
  readonly code: TestKitErrorCode;
  /** Structured context (service, url, pid, output tail…) for the test report. */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: TestKitErrorCode,
    message: string,
    options: { cause?: unknown; context?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = Object.freeze({ ...(options.context ?? {}) });
  }
}

/** Every failure of one `cleanup()`, kept whole: no cleanup error is dropped. */
export class TestKitCleanupError extends TestKitError {
  override readonly name = "TestKitCleanupError";
  /** The errors, in the order the cleanups ran (the reverse of registration). */
  readonly errors: readonly unknown[];

  constructor(errors: readonly unknown[], context: Record<string, unknown> = {}) {
    const lines = errors.map((e, i) => `  ${i + 1}. ${describe(e)}`).join("\n");
    super(TestKitErrorCode.CleanupFailed, `${errors.length} cleanup(s) failed:\n${lines}`, {
      cause: errors[0],
      context,
    });
    this.errors = Object.freeze([...errors]);
  }
}

/** Which environment variable points at each service (named in errors). */
const SERVICE_VARIABLES = {
  postgres: "MERIDIAN_POSTGRES_URL",
  redis: "MERIDIAN_REDIS_URL",
  nats: "MERIDIAN_NATS_URL",
} as const;

/** The service cannot be reached at `url`: says how to bring the services up. */
export function serviceUnavailable(
  service: keyof typeof SERVICE_VARIABLES,
  url: string,
  cause: unknown,
  reason = `it is not reachable (${describe(cause)})`,
): TestKitError {
  const shown = redactUrl(url);
  return new TestKitError(
    TestKitErrorCode.ServiceUnavailable,
    `${service} at ${shown}: ${reason}. Start the backing services with \`npm run services\`, ` +
      `or point ${SERVICE_VARIABLES[service]} at a running one.`,
    { cause, context: { service, url: shown } },
  );
}

/** A URL with its password hidden, for messages and error context. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return url;
  }
}

/** One line for an unknown throwable (its code and message when it has them). */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const message =
      error.message || (error instanceof AggregateError ? error.errors.map(describe).join("; ") : "");
    return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(error);
}
