/**
 * Password hashing with argon2id (`@node-rs/argon2`). Hashing and verifying run on libuv's thread
 * pool, off the event loop. Passwords longer than {@link MAX_PASSWORD_BYTES} are refused before any
 * hashing, so a huge input cannot cost more than a normal one.
 */
import { hash as argon2Hash, verify as argon2Verify } from "@node-rs/argon2";
import { type Argon2Params, MIN_ARGON2_MEMORY_KIB, MIN_ARGON2_TIME_COST } from "../config.js";
import { LobbyError, LobbyErrorCode } from "../errors.js";

/** Longest password accepted, in UTF-8 bytes (1 KiB). */
export const MAX_PASSWORD_BYTES = 1024;

/** Options of {@link PasswordHasher} beyond its parameters. */
export interface PasswordHasherOptions {
  /**
   * Accept parameters below OWASP's minimum (m = 19 MiB, t = 2). For tests that need many cheap
   * hashes only; the configuration never sets it. Default false.
   */
  readonly allowWeakParameters?: boolean;
}

/** Parameters parsed from an argon2 PHC string. */
export interface StoredHashParams extends Argon2Params {
  /** `argon2id`, `argon2i` or `argon2d`. */
  readonly algorithm: string;
}

const PHC_PATTERN = /^\$(argon2(?:id|i|d))\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$/;

/** Parses the algorithm and parameters of an argon2 PHC string; `undefined` when it is not one. */
export function parseHashParams(phc: string): StoredHashParams | undefined {
  const m = PHC_PATTERN.exec(phc);
  if (!m) return undefined;
  return {
    algorithm: m[1] ?? "",
    memoryKib: Number(m[2]),
    timeCost: Number(m[3]),
    parallelism: Number(m[4]),
  };
}

/** `m=…,t=…,p=…`, as stored in `credentials.params`. */
export function formatParams(params: Argon2Params): string {
  return `m=${params.memoryKib},t=${params.timeCost},p=${params.parallelism}`;
}

function checkLength(password: string): void {
  if (typeof password !== "string") {
    throw new LobbyError(LobbyErrorCode.InvalidOptions, "password must be a string");
  }
  const bytes = Buffer.byteLength(password, "utf8");
  if (bytes > MAX_PASSWORD_BYTES) {
    throw new LobbyError(LobbyErrorCode.PasswordTooLong, `password longer than ${MAX_PASSWORD_BYTES} bytes`, {
      context: { bytes, max: MAX_PASSWORD_BYTES },
    });
  }
}

/** Hashes and verifies passwords with argon2id at fixed parameters. */
export class PasswordHasher {
  /** The parameters new hashes are made with. */
  readonly params: Argon2Params;

  /** @throws LobbyError `LOBBY_INVALID_OPTIONS` for parameters out of range or below OWASP's minimum. */
  constructor(params: Argon2Params, options: PasswordHasherOptions = {}) {
    const { memoryKib, timeCost, parallelism } = params;
    const ints = [memoryKib, timeCost, parallelism].every((v) => Number.isInteger(v) && v >= 1);
    const weak = memoryKib < MIN_ARGON2_MEMORY_KIB || timeCost < MIN_ARGON2_TIME_COST;
    if (!ints || parallelism > 255 || memoryKib < 8 * parallelism || (weak && !options.allowWeakParameters)) {
      throw new LobbyError(
        LobbyErrorCode.InvalidOptions,
        `argon2 parameters refused: ${formatParams(params)}`,
        {
          context: { ...params },
        },
      );
    }
    this.params = Object.freeze({ memoryKib, timeCost, parallelism });
  }

  /** `m=…,t=…,p=…` of {@link params}. */
  get paramsText(): string {
    return formatParams(this.params);
  }

  /**
   * Hashes `password` (argon2id, random 16-byte salt) into a PHC string.
   * @throws LobbyError `LOBBY_PASSWORD_TOO_LONG` over {@link MAX_PASSWORD_BYTES}, before hashing.
   */
  async hash(password: string): Promise<string> {
    checkLength(password);
    // The library's default algorithm is argon2id; its `Algorithm` is a const enum that
    // `isolatedModules` cannot import, and the test suite checks the `$argon2id$` prefix.
    return argon2Hash(password, {
      memoryCost: this.params.memoryKib,
      timeCost: this.params.timeCost,
      parallelism: this.params.parallelism,
    });
  }

  /**
   * Whether `password` matches the PHC string `phc` (made with any parameters).
   * @throws LobbyError `LOBBY_PASSWORD_TOO_LONG` over {@link MAX_PASSWORD_BYTES}, before hashing.
   */
  async verify(phc: string, password: string): Promise<boolean> {
    checkLength(password);
    return argon2Verify(phc, password);
  }

  /** True when `phc` was made with weaker parameters than {@link params} (or is not argon2id). */
  needsRehash(phc: string): boolean {
    const stored = parseHashParams(phc);
    if (stored?.algorithm !== "argon2id") return true;
    return (
      stored.memoryKib < this.params.memoryKib ||
      stored.timeCost < this.params.timeCost ||
      stored.parallelism < this.params.parallelism
    );
  }
}
