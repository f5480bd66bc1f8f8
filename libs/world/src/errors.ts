/** Errors of the world model; each carries a stable `code`. */
export const WorldErrorCode = {
  /** A world configuration (or a part of it) is invalid; `context.problems` lists every problem. */
  InvalidConfig: "WORLD_INVALID_CONFIG",
  /** A position outside the world's bounds, or a cell id that is not one of the grid's. */
  OutOfBounds: "WORLD_OUT_OF_BOUNDS",
} as const;
export type WorldErrorCode = (typeof WorldErrorCode)[keyof typeof WorldErrorCode];

export class WorldError extends Error {
  override readonly name: string = "WorldError";
  readonly code: WorldErrorCode;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: WorldErrorCode, message: string, context: Record<string, unknown> = {}) {
    super(message);
    this.code = code;
    this.context = Object.freeze({ ...context });
  }
}
