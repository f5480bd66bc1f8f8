import { Packr, Unpackr } from "msgpackr";
import { ProtocolError, ProtocolErrorCode } from "./errors.js";
import type { AnyMessageDefinition, MessageOf, MessageRegistry } from "./message-registry.js";

/** Default largest encoded message, in bytes: 64 KiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

/** Options of {@link createCodec}. */
export interface CodecOptions<D extends AnyMessageDefinition> {
  /** The messages this side accepts; decode validates against it. */
  readonly registry: MessageRegistry<D>;
  /**
   * Largest encoded message, in bytes, checked before decoding (and on encode). Default
   * {@link DEFAULT_MAX_MESSAGE_BYTES} (64 KiB). An integer from 1 to 2^32 − 1.
   */
  readonly maxMessageBytes?: number;
}

/** What decode returns: never a throw. */
export type DecodeResult<M> =
  | { readonly ok: true; readonly message: M }
  | { readonly ok: false; readonly error: ProtocolError };

/** Encodes and decodes the messages of one registry. Made by {@link createCodec}. */
export interface MessageCodec<D extends AnyMessageDefinition> {
  /** The limit this codec enforces, in bytes. */
  readonly maxMessageBytes: number;
  /**
   * Encodes a message as a MessagePack map. Fields whose value is `undefined` are left out.
   * Does not validate (the message's type already does): sending is local code.
   * @throws ProtocolError `PROTO_TOO_LARGE` when the encoding is larger than `maxMessageBytes`.
   */
  encode(message: MessageOf<D>): Uint8Array;
  /**
   * Decodes and validates one message. Never throws: the result's `error.code` is one of
   * `DECODE_ERROR_CODES` (`PROTO_TOO_LARGE`, `PROTO_MALFORMED`, `PROTO_INVALID_MESSAGE`,
   * `PROTO_UNKNOWN_TYPE`). The returned message is a fresh plain object holding only the fields
   * of its schema (unknown fields are dropped).
   */
  decode(bytes: Uint8Array): DecodeResult<MessageOf<D>>;
}

/*
 * Plain MessagePack only: no msgpackr records/structures (`useRecords: false`), no shared
 * structures, no bundled strings. Records are a msgpackr-specific extension a client written in
 * another language could not read; plain maps are what every MessagePack library speaks. The cost
 * is the key names on the wire (a few bytes per field), acceptable for the client protocol.
 * 64-bit integers decode as numbers (lossy above 2^53, and the schemas only allow safe integers).
 * `variableMapSize` writes each map with the smallest header (fixmap for up to 15 fields) instead of
 * msgpackr's default map16. `undefined` never reaches the wire as msgpackr's private extension: top-level fields holding it
 * are left out (an absent optional field), and nested ones encode as nil.
 */
const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });

/** Encodes any `{ t }` message as plain MessagePack, without a size check or validation. */
export function encodeMessage<M extends { readonly t: string }>(message: M): Uint8Array {
  return packr.pack(withoutUndefined(message));
}

function withoutUndefined(message: object): object {
  const entries = Object.entries(message);
  if (entries.every(([, value]) => value !== undefined)) return message;
  return Object.fromEntries(entries.filter(([, value]) => value !== undefined));
}

/**
 * Decodes `bytes` with `registry`: the functional form of {@link MessageCodec.decode}. Never throws.
 */
export function decodeMessage<D extends AnyMessageDefinition>(
  bytes: Uint8Array,
  registry: MessageRegistry<D>,
  options: { readonly maxMessageBytes?: number } = {},
): DecodeResult<MessageOf<D>> {
  return decodeWith(bytes, registry, options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
}

/**
 * A codec for the messages of a registry.
 * @throws ProtocolError `PROTO_INVALID_OPTIONS` for a bad `maxMessageBytes`.
 */
export function createCodec<D extends AnyMessageDefinition>(options: CodecOptions<D>): MessageCodec<D> {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1 || maxMessageBytes > 0xffff_ffff) {
    throw new ProtocolError(
      ProtocolErrorCode.InvalidOptions,
      `maxMessageBytes must be an integer from 1 to 4294967295, got ${String(maxMessageBytes)}`,
      { context: { option: "maxMessageBytes", value: maxMessageBytes } },
    );
  }
  const { registry } = options;
  return Object.freeze({
    maxMessageBytes,
    encode(message: MessageOf<D>): Uint8Array {
      // Every MessageOf<D> has a string `t` (defineMessage adds it), but for a generic D TypeScript
      // only knows TypeBox's unresolved Static<S>; the cast states what defineMessage guarantees.
      const tagged = message as { readonly t: string };
      const bytes = encodeMessage(tagged);
      if (bytes.byteLength > maxMessageBytes) {
        throw new ProtocolError(
          ProtocolErrorCode.TooLarge,
          `message ${tagged.t} encodes to ${bytes.byteLength} bytes, more than ${maxMessageBytes}`,
          { context: { type: tagged.t, size: bytes.byteLength, maxMessageBytes } },
        );
      }
      return bytes;
    },
    decode(bytes: Uint8Array): DecodeResult<MessageOf<D>> {
      return decodeWith(bytes, registry, maxMessageBytes);
    },
  });
}

function fail(code: ProtocolErrorCode, message: string, context: Record<string, unknown>, cause?: unknown) {
  return { ok: false, error: new ProtocolError(code, message, { context, cause }) } as const;
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function decodeWith<D extends AnyMessageDefinition>(
  bytes: Uint8Array,
  registry: MessageRegistry<D>,
  maxMessageBytes: number,
): DecodeResult<MessageOf<D>> {
  if (!(bytes instanceof Uint8Array)) {
    return fail(ProtocolErrorCode.Malformed, "a message must be bytes (Uint8Array)", { path: "" });
  }
  // The size check comes first: an oversize message is never handed to the decoder.
  if (bytes.byteLength > maxMessageBytes) {
    return fail(
      ProtocolErrorCode.TooLarge,
      `message of ${bytes.byteLength} bytes is larger than ${maxMessageBytes}`,
      { size: bytes.byteLength, maxMessageBytes },
    );
  }
  if (bytes.byteLength === 0) return fail(ProtocolErrorCode.Malformed, "empty message", { size: 0 });

  let value: unknown;
  try {
    value = unpackr.unpack(bytes);
  } catch (cause) {
    // msgpackr throws on truncation, trailing bytes, reserved bytes and runaway nesting alike.
    return fail(
      ProtocolErrorCode.Malformed,
      "not a single valid MessagePack value",
      { size: bytes.byteLength },
      cause,
    );
  }

  if (!isPlainMap(value)) {
    return fail(ProtocolErrorCode.InvalidMessage, "a message must be a MessagePack map", { path: "" });
  }
  const t = value.t;
  if (typeof t !== "string") {
    return fail(ProtocolErrorCode.InvalidMessage, "a message must have a string field t", { path: "/t" });
  }
  const definition = registry.get(t);
  if (definition === undefined) {
    return fail(ProtocolErrorCode.UnknownType, `unknown message type ${JSON.stringify(t.slice(0, 64))}`, {
      type: t.slice(0, 64),
    });
  }
  if (!definition.check.Check(value)) {
    const first = definition.check.Errors(value).First();
    const path = first?.path ?? "";
    return fail(
      ProtocolErrorCode.InvalidMessage,
      `message ${t}: ${path === "" ? "" : `field ${path}: `}${first?.message ?? "does not match its schema"}`,
      { type: t, path },
    );
  }
  // A fresh object with the schema's fields only: unknown fields (forward compatibility) are dropped,
  // and nothing the decoder produced beyond validated values reaches the application.
  const message: Record<string, unknown> = {};
  for (const field of definition.fields) {
    const fieldValue = value[field];
    if (fieldValue !== undefined) message[field] = fieldValue;
  }
  // The validator just proved `value` is a MessageOf<D>, and `message` holds exactly its schema's
  // fields; TypeScript cannot follow the copy, hence the cast.
  return { ok: true, message: message as MessageOf<D> };
}
