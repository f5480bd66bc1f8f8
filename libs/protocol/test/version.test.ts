import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CloseCode,
  checkVersion,
  closeCodeFor,
  ErrorMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  ProtocolErrorCode,
  SUPPORTED_PROTOCOL_VERSIONS,
  toWire,
} from "@meridian/protocol";

describe("version - check", () => {
  it("the protocol is at version 1, the only one supported", () => {
    assert.equal(PROTOCOL_VERSION, 1);
    assert.deepEqual(SUPPORTED_PROTOCOL_VERSIONS, [1]);
  });

  it("accepts a supported version", () => {
    assert.deepEqual(checkVersion(1), { ok: true, version: 1 });
  });

  it("refuses another version with PROTO_VERSION_MISMATCH and the supported versions", () => {
    for (const v of [0, 2, 65_535, 1.5, Number.NaN]) {
      const result = checkVersion(v);
      assert.equal(result.ok, false);
      if (result.ok) continue;
      assert.ok(result.error instanceof ProtocolError);
      assert.equal(result.error.code, ProtocolErrorCode.VersionMismatch);
      assert.deepEqual(result.error.context.supported, [1]);
      assert.equal(result.error.context.received, v);
    }
  });

  it("checks against a given list of versions", () => {
    assert.ok(checkVersion(2, [1, 2]).ok);
    assert.ok(!checkVersion(3, [1, 2]).ok);
  });
});

describe("version - errors on the wire", () => {
  it("toWire keeps a protocol error's code and message, never its stack or cause", () => {
    const result = checkVersion(9);
    assert.ok(!result.ok);
    const wire = toWire(result.error, 12);
    assert.equal(wire.t, "error");
    assert.equal(wire.code, ProtocolErrorCode.VersionMismatch);
    assert.equal(wire.message, result.error.message);
    assert.equal(wire.ref, 12);
    assert.deepEqual(Object.keys(wire).sort(), ["code", "message", "ref", "t"]);
    assert.ok(ErrorMessage.check.Check(wire));
  });

  it("toWire hides an unknown throwable behind PROTO_INTERNAL", () => {
    for (const thrown of [
      new Error("db password is hunter2"),
      "boom",
      { code: "X", message: "y" },
      undefined,
    ]) {
      const wire = toWire(thrown);
      assert.equal(wire.code, ProtocolErrorCode.Internal);
      assert.ok(!wire.message.includes("hunter2"));
      assert.equal(wire.ref, undefined);
      assert.ok(ErrorMessage.check.Check(wire));
    }
  });

  it("toWire keeps the code of another package's coded error and cuts a long message", () => {
    const error = Object.assign(new Error("x".repeat(5000)), { code: "LOBBY_BAD_CREDENTIALS" });
    const wire = toWire(error);
    assert.equal(wire.code, "LOBBY_BAD_CREDENTIALS");
    assert.equal(wire.message.length, 1024);
    assert.ok(ErrorMessage.check.Check(wire));
  });
});

describe("version - close codes", () => {
  it("protocol close codes are in the private range 4000-4999, distinct", () => {
    const values = Object.values(CloseCode);
    assert.equal(new Set(values).size, values.length);
    for (const code of values) assert.ok((code >= 1000 && code < 1016) || (code >= 4000 && code <= 4999));
  });

  it("each wire error code maps to its close code", () => {
    assert.equal(closeCodeFor(ProtocolErrorCode.VersionMismatch), CloseCode.VersionMismatch);
    assert.equal(closeCodeFor(ProtocolErrorCode.HelloRequired), CloseCode.HelloRequired);
    assert.equal(closeCodeFor(ProtocolErrorCode.Malformed), CloseCode.Malformed);
    assert.equal(closeCodeFor(ProtocolErrorCode.InvalidMessage), CloseCode.InvalidMessage);
    assert.equal(closeCodeFor(ProtocolErrorCode.UnknownType), CloseCode.UnknownType);
    assert.equal(closeCodeFor(ProtocolErrorCode.TooLarge), CloseCode.MessageTooBig);
    assert.equal(closeCodeFor("SOMETHING_ELSE"), CloseCode.InternalError);
  });

  it("the engine's codes keep netengine's numbers", () => {
    assert.equal(CloseCode.PreAuthTimeout, 4001);
    assert.equal(CloseCode.IdleTimeout, 4002);
    assert.equal(CloseCode.SlowConsumer, 4003);
  });
});
