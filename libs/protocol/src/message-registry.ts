import type { Static, TLiteral, TObject, TProperties, TSchema } from "@sinclair/typebox";
import { Type } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";
import { ProtocolError, ProtocolErrorCode } from "./errors.js";

/** Message types: lowercase words joined by `_` (`hello_ok`), at most 64 characters. */
const MESSAGE_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/** The schema of a message of type `T` whose other fields are `P`: `{ t: T } & P`. */
export type MessageSchema<T extends string, P extends TProperties> = TObject<{ t: TLiteral<T> } & P>;

/**
 * One message kind: its type tag, its TypeBox schema (with `t`) and the compiled validator. Made by
 * {@link defineMessage}; immutable.
 */
export interface MessageDefinition<T extends string = string, S extends TSchema = TSchema> {
  /** The value of the message's `t` field. */
  readonly type: T;
  /** The full schema, `t` included. */
  readonly schema: S;
  /** The compiled validator of {@link schema}. */
  readonly check: TypeCheck<S>;
  /** The field names of the schema, `t` first; decode keeps only these (unknown fields are dropped). */
  readonly fields: readonly string[];
}

/** Any message definition (the constraint of registries and helpers). */
// `S extends TSchema` rather than `TObject`: TypeBox's TObject<{ t } & P> does not satisfy
// TObject<TProperties> while P is still generic (its `required` tuple type cannot be resolved).
export type AnyMessageDefinition = MessageDefinition<string, TSchema>;

/** The TypeScript type of the messages of a definition, or of a union of definitions. */
export type MessageOf<D> = D extends MessageDefinition<string, infer S> ? Static<S> : never;

/** The discriminated union (on `t`) of the messages of a registry. */
export type RegistryMessage<R> = R extends MessageRegistry<infer D> ? MessageOf<D> : never;

/**
 * Defines a message: `type` becomes the literal `t` field, `body` gives the other fields. The
 * message's TypeScript type is `MessageOf<typeof definition>` (TypeBox `Static`).
 *
 * @example
 * const Ping = defineMessage("ping", Type.Object({ n: Type.Integer() }));
 * type Ping = MessageOf<typeof Ping>; // { t: "ping"; n: number }
 * @throws ProtocolError `PROTO_INVALID_DEFINITION` for a bad type name or a body that defines `t`.
 */
export function defineMessage<const T extends string, P extends TProperties>(
  type: T,
  body: TObject<P>,
): MessageDefinition<T, MessageSchema<T, P>> {
  if (!MESSAGE_TYPE_PATTERN.test(type)) {
    throw new ProtocolError(
      ProtocolErrorCode.InvalidDefinition,
      `message type ${JSON.stringify(type)} must match ${MESSAGE_TYPE_PATTERN}`,
      { context: { type } },
    );
  }
  if (Object.hasOwn(body.properties, "t")) {
    throw new ProtocolError(
      ProtocolErrorCode.InvalidDefinition,
      `message ${type}: the body must not define t`,
      {
        context: { type },
      },
    );
  }
  const { properties: _properties, type: _type, ...options } = body;
  // The spread of `{ t }` and `P` is `{ t: TLiteral<T> } & P` for TypeScript, exactly what
  // MessageSchema states; TypeBox infers the same, so no cast is needed here.
  const schema = Type.Object({ t: Type.Literal(type), ...body.properties }, options);
  const fields = Object.freeze(Object.keys(schema.properties));
  return Object.freeze({ type, schema, check: TypeCompiler.Compile(schema), fields });
}

/**
 * The set of messages one side accepts, keyed by `t`. The codec validates every decoded message
 * against its registry; a `t` not in it is `PROTO_UNKNOWN_TYPE`.
 */
export class MessageRegistry<D extends AnyMessageDefinition = AnyMessageDefinition> {
  readonly #byType: ReadonlyMap<string, D>;

  /** @throws ProtocolError `PROTO_INVALID_DEFINITION` when two definitions share a type. */
  constructor(definitions: readonly D[]) {
    const byType = new Map<string, D>();
    for (const definition of definitions) {
      if (byType.has(definition.type)) {
        throw new ProtocolError(
          ProtocolErrorCode.InvalidDefinition,
          `message type ${definition.type} is defined twice in one registry`,
          { context: { type: definition.type } },
        );
      }
      byType.set(definition.type, definition);
    }
    this.#byType = byType;
  }

  /** The definition of type `type`, if the registry has one. */
  get(type: string): D | undefined {
    return this.#byType.get(type);
  }

  /** Whether the registry has a message of type `type`. */
  has(type: string): boolean {
    return this.#byType.has(type);
  }

  /** Every type tag of the registry, in definition order. */
  get types(): readonly string[] {
    return [...this.#byType.keys()];
  }

  /** Every definition of the registry, in definition order. */
  get definitions(): readonly D[] {
    return [...this.#byType.values()];
  }
}
