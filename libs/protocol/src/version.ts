import { ProtocolError, ProtocolErrorCode } from "./errors.js";

/** The client protocol version this package defines (`hello.v`). Raised on any incompatible change. */
export const PROTOCOL_VERSION = 1;

/** Every client protocol version a server built from this package speaks, oldest first. */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = Object.freeze([PROTOCOL_VERSION]);

/** What {@link checkVersion} returns. */
export type VersionCheck =
  | { readonly ok: true; readonly version: number }
  | { readonly ok: false; readonly error: ProtocolError };

/**
 * Checks the version a client announced in `hello.v`. A mismatch is `PROTO_VERSION_MISMATCH` with
 * `context.received` and `context.supported`; the server then answers `error` and closes with
 * `CloseCode.VersionMismatch`.
 */
export function checkVersion(
  v: number,
  supported: readonly number[] = SUPPORTED_PROTOCOL_VERSIONS,
): VersionCheck {
  if (supported.includes(v)) return { ok: true, version: v };
  return {
    ok: false,
    error: new ProtocolError(
      ProtocolErrorCode.VersionMismatch,
      `protocol version ${String(v)} is not supported; supported: ${supported.join(", ")}`,
      { context: { received: v, supported: [...supported] } },
    ),
  };
}
