import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ClientMessages,
  createCodec,
  defineMessage,
  type MessageOf,
  MessageRegistry,
  ProtocolError,
  ProtocolErrorCode,
  type RegistryMessage,
  ServerMessages,
} from "@meridian/protocol";
import { Type } from "@sinclair/typebox";

const isCode = (code: ProtocolErrorCode) => (error: unknown) =>
  error instanceof ProtocolError && error.code === code;

const Move = defineMessage("move", Type.Object({ x: Type.Number(), y: Type.Number() }));
const Say = defineMessage(
  "say",
  Type.Object({ text: Type.String({ maxLength: 10 }), to: Type.Optional(Type.String()) }),
);
const registry = new MessageRegistry([Move, Say]);

describe("registry - definitions", () => {
  it("defineMessage adds the literal t field to the schema", () => {
    assert.equal(Move.type, "move");
    assert.deepEqual(Move.fields, ["t", "x", "y"]);
    assert.ok(Move.check.Check({ t: "move", x: 1, y: 2 }));
    assert.ok(!Move.check.Check({ t: "say", x: 1, y: 2 }));
  });

  it("the message type is derived from the schema", () => {
    const move: MessageOf<typeof Move> = { t: "move", x: 1, y: 2 };
    // @ts-expect-error: y is required by the schema
    const bad: MessageOf<typeof Move> = { t: "move", x: 1 };
    assert.ok(move && bad);
  });

  it("a registry's messages form a union discriminated on t", () => {
    const describeMessage = (message: RegistryMessage<typeof registry>): string => {
      switch (message.t) {
        case "move":
          return `${message.x},${message.y}`;
        case "say":
          return message.text;
      }
    };
    assert.equal(describeMessage({ t: "say", text: "hi" }), "hi");
  });

  it("refuses a bad type name with PROTO_INVALID_DEFINITION", () => {
    for (const type of ["", "Hello", "a.b", "with space", "x".repeat(65)]) {
      assert.throws(() => defineMessage(type, Type.Object({})), isCode(ProtocolErrorCode.InvalidDefinition));
    }
  });

  it("refuses a body that defines t with PROTO_INVALID_DEFINITION", () => {
    assert.throws(
      () => defineMessage("x", Type.Object({ t: Type.String() })),
      isCode(ProtocolErrorCode.InvalidDefinition),
    );
  });

  it("refuses two definitions of one type with PROTO_INVALID_DEFINITION", () => {
    const Other = defineMessage("move", Type.Object({}));
    assert.throws(() => new MessageRegistry([Move, Other]), isCode(ProtocolErrorCode.InvalidDefinition));
  });

  it("lists its types in definition order", () => {
    assert.deepEqual(registry.types, ["move", "say"]);
    assert.ok(registry.has("say"));
    assert.equal(registry.get("nope"), undefined);
  });

  it("a codec over a custom registry round-trips and validates its messages", () => {
    const codec = createCodec({ registry });
    const decoded = codec.decode(codec.encode({ t: "say", text: "hello", to: "bob" }));
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.message, { t: "say", text: "hello", to: "bob" });
    const invalid = codec.decode(codec.encode({ t: "say", text: "far too long a text" }));
    assert.ok(!invalid.ok);
    assert.equal(invalid.error.code, ProtocolErrorCode.InvalidMessage);
    assert.equal(invalid.error.context.path, "/text");
  });
});

describe("registry - gateway messages", () => {
  it("the client sends hello, login, resume, logout, input, ping, pong and bye", () => {
    assert.deepEqual(ClientMessages.types, [
      "hello",
      "login",
      "resume",
      "logout",
      "input",
      "ping",
      "pong",
      "bye",
    ]);
  });

  it("the server sends hello_ok, login_ok, resume_ok, update, error, ping, pong and bye", () => {
    assert.deepEqual(ServerMessages.types, [
      "hello_ok",
      "login_ok",
      "resume_ok",
      "update",
      "error",
      "ping",
      "pong",
      "bye",
    ]);
  });

  it("no message type is accepted in both directions except the symmetric ones", () => {
    const both = ClientMessages.types.filter((type) => ServerMessages.has(type));
    assert.deepEqual(both, ["ping", "pong", "bye"]);
  });
});
