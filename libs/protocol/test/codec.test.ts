import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ClientMessages,
  createCodec,
  DECODE_ERROR_CODES,
  DEFAULT_MAX_MESSAGE_BYTES,
  type DecodeResult,
  decodeMessage,
  encodeMessage,
  ProtocolError,
  ProtocolErrorCode,
  ServerMessages,
} from "@meridian/protocol";
import fc from "fast-check";
import { Packr } from "msgpackr";
import {
  clientMessage,
  error as errorMessage,
  helloOk,
  input,
  login,
  loginOk,
  logout,
  resume,
  resumeOk,
  serverMessage,
  update,
} from "./arbitraries.js";

const clientCodec = createCodec({ registry: ClientMessages });
const serverCodec = createCodec({ registry: ServerMessages });
/** A second, independent MessagePack encoder, for hand-made inputs. */
const raw = (value: unknown) => new Packr({ useRecords: false }).pack(value);

function expectError(result: DecodeResult<unknown>, code: ProtocolErrorCode) {
  assert.equal(result.ok, false);
  if (result.ok) return undefined;
  assert.ok(result.error instanceof ProtocolError);
  assert.equal(result.error.code, code);
  return result.error;
}

describe("codec - round trip", () => {
  it("every client message survives encode then decode", () => {
    fc.assert(
      fc.property(clientMessage, (message) => {
        const result = clientCodec.decode(clientCodec.encode(message));
        assert.ok(result.ok);
        assert.deepEqual(result.message, message);
      }),
      { numRuns: 500 },
    );
  });

  it("every server message survives encode then decode", () => {
    fc.assert(
      fc.property(serverMessage, (message) => {
        const result = serverCodec.decode(serverCodec.encode(message));
        assert.ok(result.ok);
        assert.deepEqual(result.message, message);
      }),
      { numRuns: 500 },
    );
  });

  const perType: [string, fc.Arbitrary<unknown>, typeof clientCodec | typeof serverCodec][] = [
    ["login", login, clientCodec],
    ["resume", resume, clientCodec],
    ["logout", logout, clientCodec],
    ["input", input, clientCodec],
    ["hello_ok", helloOk, serverCodec],
    ["login_ok", loginOk, serverCodec],
    ["resume_ok (with ack)", resumeOk, serverCodec],
    ["update", update, serverCodec],
    ["error (with retryAfterMs, reason, expiresAt, nonce)", errorMessage, serverCodec],
  ];
  for (const [name, arbitrary, codec] of perType) {
    it(`${name} survives encode then decode`, () => {
      fc.assert(
        fc.property(arbitrary, (message) => {
          // The arbitraries are typed by direction; each is paired with its direction's codec.
          const bytes = (codec.encode as (m: unknown) => Uint8Array)(message);
          const result = codec.decode(bytes);
          assert.ok(result.ok, result.ok ? "" : result.error.message);
          assert.deepEqual(result.message, message);
        }),
        { numRuns: 200 },
      );
    });
  }

  it("an error with every new field decodes with each of them", () => {
    const message = {
      t: "error",
      code: "LOBBY_ACCOUNT_BANNED",
      message: "this account is banned",
      ref: 7,
      retryAfterMs: 0,
      reason: "cheating",
      expiresAt: 1_900_000_000_000,
      nonce: "lz2x4a0.AAAAAAAAAAAAAAAAAAAAAA",
    } as const;
    const result = serverCodec.decode(serverCodec.encode(message));
    assert.ok(result.ok);
    assert.deepEqual(result.message, message);
  });

  it("an optional field set to undefined is left out of the encoding", () => {
    const bytes = clientCodec.encode({ t: "hello", v: 1, client: undefined });
    assert.deepEqual(bytes, encodeMessage({ t: "hello", v: 1 }));
    const result = clientCodec.decode(bytes);
    assert.ok(result.ok);
    assert.deepEqual(result.message, { t: "hello", v: 1 });
  });

  it("encodes plain MessagePack maps (no msgpackr records): fixmap, fixstr keys", () => {
    const bytes = encodeMessage({ t: "ping", n: 7 });
    assert.deepEqual([...bytes], [0x82, 0xa1, 0x74, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa1, 0x6e, 0x07]);
  });

  it("two encodings do not share bytes", () => {
    const a = encodeMessage({ t: "ping", n: 1 });
    const b = encodeMessage({ t: "ping", n: 2 });
    assert.notDeepEqual([...a], [...b]);
    const decoded = clientCodec.decode(a);
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.message, { t: "ping", n: 1 });
  });

  it("decodeMessage is the functional form of codec.decode", () => {
    const result = decodeMessage(encodeMessage({ t: "pong", n: 3 }), ClientMessages);
    assert.ok(result.ok);
    assert.deepEqual(result.message, { t: "pong", n: 3 });
  });

  it("unknown fields are accepted and dropped", () => {
    const result = clientCodec.decode(raw({ t: "ping", n: 1, future: { x: [1, 2] } }));
    assert.ok(result.ok);
    assert.deepEqual(result.message, { t: "ping", n: 1 });
  });

  it("a __proto__ key does not reach the message's prototype", () => {
    const bytes = Uint8Array.from([
      0x83,
      0xa1,
      0x74,
      0xa4,
      ...Buffer.from("ping"),
      0xa1,
      0x6e,
      0x01,
      0xa9,
      ...Buffer.from("__proto__"),
      0x81,
      0xa1,
      0x78,
      0x01,
    ]);
    const result = clientCodec.decode(bytes);
    assert.ok(result.ok);
    assert.equal(Object.getPrototypeOf(result.message), Object.prototype);
    assert.deepEqual(result.message, { t: "ping", n: 1 });
  });
});

describe("codec - adversarial input", () => {
  it("random bytes never throw and fail with a documented code", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        const result = clientCodec.decode(bytes);
        if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code), result.error.code);
      }),
      { numRuns: 2000 },
    );
  });

  it("mutated valid messages never throw and fail with a documented code", () => {
    fc.assert(
      fc.property(clientMessage, fc.nat(), fc.integer({ min: 0, max: 255 }), (message, at, byte) => {
        const bytes = Uint8Array.from(clientCodec.encode(message));
        bytes[at % bytes.length] = byte;
        const result = clientCodec.decode(bytes);
        if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code), result.error.code);
      }),
      { numRuns: 2000 },
    );
  });

  it("arbitrary MessagePack values never throw and fail with a documented code", () => {
    fc.assert(
      fc.property(
        fc.anything({ withMap: true, withSet: true, withBigInt: true, withDate: true }),
        (value) => {
          let bytes: Uint8Array;
          try {
            bytes = raw(value);
          } catch {
            fc.pre(false); // a value MessagePack cannot hold (a bigint beyond 64 bits)
            return;
          }
          const result = clientCodec.decode(bytes);
          if (!result.ok) assert.ok(DECODE_ERROR_CODES.includes(result.error.code), result.error.code);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("deep nesting is PROTO_MALFORMED, and the codec still works after it", () => {
    expectError(clientCodec.decode(new Uint8Array(60_000).fill(0x91)), ProtocolErrorCode.Malformed);
    assert.ok(clientCodec.decode(encodeMessage({ t: "ping", n: 1 })).ok);
  });
});

describe("codec - errors", () => {
  it("empty bytes are PROTO_MALFORMED", () => {
    expectError(clientCodec.decode(new Uint8Array(0)), ProtocolErrorCode.Malformed);
  });

  it("truncated bytes are PROTO_MALFORMED", () => {
    const bytes = encodeMessage({ t: "hello", v: 1, client: "bot" });
    expectError(clientCodec.decode(bytes.subarray(0, bytes.length - 1)), ProtocolErrorCode.Malformed);
  });

  it("trailing bytes are PROTO_MALFORMED", () => {
    const bytes = encodeMessage({ t: "ping", n: 1 });
    expectError(clientCodec.decode(Uint8Array.from([...bytes, 0x00])), ProtocolErrorCode.Malformed);
  });

  it("a string whose length runs past the end is PROTO_MALFORMED", () => {
    expectError(
      clientCodec.decode(Uint8Array.from([0x81, 0xa1, 0x74, 0xd9, 0xff, 0x61])),
      ProtocolErrorCode.Malformed,
    );
  });

  it("a non-map is PROTO_INVALID_MESSAGE at the root", () => {
    for (const value of [1, "hello", null, true, [1, 2], ["hello", 1]]) {
      const error = expectError(clientCodec.decode(raw(value)), ProtocolErrorCode.InvalidMessage);
      assert.equal(error?.context.path, "");
    }
  });

  it("a missing or non-string t is PROTO_INVALID_MESSAGE at /t", () => {
    for (const value of [{}, { v: 1 }, { t: 1 }, { t: null }, { t: ["hello"] }]) {
      const error = expectError(clientCodec.decode(raw(value)), ProtocolErrorCode.InvalidMessage);
      assert.equal(error?.context.path, "/t");
    }
  });

  it("an unknown t is PROTO_UNKNOWN_TYPE", () => {
    const error = expectError(clientCodec.decode(raw({ t: "teleport" })), ProtocolErrorCode.UnknownType);
    assert.equal(error?.context.type, "teleport");
  });

  it("a message of the other direction is PROTO_UNKNOWN_TYPE", () => {
    const bytes = encodeMessage({
      t: "hello_ok",
      v: 1,
      server: "s",
      maxMessageBytes: 1,
      heartbeatMs: 1,
      nonce: "n",
    });
    expectError(clientCodec.decode(bytes), ProtocolErrorCode.UnknownType);
    assert.ok(serverCodec.decode(bytes).ok);
    for (const other of [
      {
        t: "login_ok",
        ref: 1,
        accountId: "1",
        username: "a",
        sessionId: "x".repeat(36),
        refreshToken: "r",
        refreshExpiresAt: 1,
        created: true,
      },
      {
        t: "resume_ok",
        ref: 1,
        accountId: "1",
        username: "a",
        sessionId: "x".repeat(36),
        refreshToken: "r",
        refreshExpiresAt: 1,
      },
      { t: "error", code: "X", message: "" },
    ]) {
      expectError(clientCodec.decode(encodeMessage(other)), ProtocolErrorCode.UnknownType);
    }
    for (const other of [
      { t: "login", ref: 1, username: "a", password: "p", nonce: "n" },
      { t: "resume", ref: 1, refreshToken: "r" },
      { t: "logout", ref: 1 },
    ]) {
      expectError(serverCodec.decode(encodeMessage(other)), ProtocolErrorCode.UnknownType);
    }
  });

  it("new message schema failures are PROTO_INVALID_MESSAGE with the failing path", () => {
    const login = { t: "login", ref: 1, username: "alice", password: "secret", nonce: "n" };
    const grant = {
      ref: 1,
      accountId: "42",
      username: "alice",
      sessionId: "00000000-0000-4000-8000-000000000000",
      refreshToken: "r",
      refreshExpiresAt: 1,
    };
    const clientCases: [unknown, string][] = [
      [{ t: "login", ref: 1, username: "alice", password: "secret" }, "/nonce"],
      [{ ...login, nonce: "" }, "/nonce"],
      [{ ...login, nonce: "n".repeat(129) }, "/nonce"],
      [{ ...login, username: "" }, "/username"],
      [{ ...login, password: "" }, "/password"],
      [{ ...login, password: "p".repeat(1025) }, "/password"],
      [{ ...login, ref: -1 }, "/ref"],
      [{ t: "resume", ref: 1 }, "/refreshToken"],
      [{ t: "resume", ref: 1, refreshToken: "r".repeat(129) }, "/refreshToken"],
      [{ t: "logout" }, "/ref"],
    ];
    for (const [value, path] of clientCases) {
      const error = expectError(clientCodec.decode(raw(value)), ProtocolErrorCode.InvalidMessage);
      assert.equal(error?.context.path, path, JSON.stringify(value));
    }
    const serverCases: [unknown, string][] = [
      [{ t: "hello_ok", v: 1, server: "s", maxMessageBytes: 1, heartbeatMs: 1 }, "/nonce"],
      [{ t: "login_ok", ...grant }, "/created"],
      [{ t: "login_ok", ...grant, created: true, sessionId: "short" }, "/sessionId"],
      [{ t: "resume_ok", ...grant, accountId: "" }, "/accountId"],
      [{ t: "resume_ok", ...grant, refreshExpiresAt: -1 }, "/refreshExpiresAt"],
      [{ t: "error", code: "X", message: "", retryAfterMs: -1 }, "/retryAfterMs"],
      [{ t: "error", code: "X", message: "", retryAfterMs: 1.5 }, "/retryAfterMs"],
      [{ t: "error", code: "X", message: "", reason: "r".repeat(501) }, "/reason"],
      [{ t: "error", code: "X", message: "", expiresAt: "soon" }, "/expiresAt"],
      [{ t: "error", code: "X", message: "", nonce: "" }, "/nonce"],
    ];
    for (const [value, path] of serverCases) {
      const error = expectError(serverCodec.decode(raw(value)), ProtocolErrorCode.InvalidMessage);
      assert.equal(error?.context.path, path, JSON.stringify(value));
    }
  });

  it("schema failures are PROTO_INVALID_MESSAGE with the failing path", () => {
    const cases: [unknown, string][] = [
      [{ t: "hello" }, "/v"],
      [{ t: "hello", v: 0 }, "/v"],
      [{ t: "hello", v: 1.5 }, "/v"],
      [{ t: "hello", v: "1" }, "/v"],
      [{ t: "hello", v: 1, client: "x".repeat(65) }, "/client"],
      [{ t: "hello", v: 1, client: 7 }, "/client"],
      [{ t: "ping", n: -1 }, "/n"],
      [{ t: "ping", n: 2 ** 32 }, "/n"],
      [{ t: "bye", code: 999, reason: "" }, "/code"],
      [{ t: "bye", code: 1000, reason: "r".repeat(124) }, "/reason"],
    ];
    for (const [value, path] of cases) {
      const error = expectError(clientCodec.decode(raw(value)), ProtocolErrorCode.InvalidMessage);
      assert.equal(error?.context.path, path, JSON.stringify(value));
    }
  });

  it("a 64-bit integer beyond 2^53 is PROTO_INVALID_MESSAGE, not a throw", () => {
    expectError(clientCodec.decode(raw({ t: "ping", n: 2n ** 60n })), ProtocolErrorCode.InvalidMessage);
  });
});

describe("codec - size limit", () => {
  it("defaults to 64 KiB", () => {
    assert.equal(DEFAULT_MAX_MESSAGE_BYTES, 65_536);
    assert.equal(clientCodec.maxMessageBytes, 65_536);
  });

  it("an oversize message is PROTO_TOO_LARGE, even when it is not MessagePack (checked before decoding)", () => {
    const codec = createCodec({ registry: ClientMessages, maxMessageBytes: 16 });
    const garbage = new Uint8Array(17).fill(0xc1);
    const error = expectError(codec.decode(garbage), ProtocolErrorCode.TooLarge);
    assert.equal(error?.context.size, 17);
    assert.equal(error?.context.maxMessageBytes, 16);
    expectError(codec.decode(garbage.subarray(0, 16)), ProtocolErrorCode.Malformed);
  });

  it("a valid message one byte over the limit is PROTO_TOO_LARGE; at the limit it decodes", () => {
    const bytes = encodeMessage({ t: "hello", v: 1, client: "bot" });
    expectError(
      createCodec({ registry: ClientMessages, maxMessageBytes: bytes.length - 1 }).decode(bytes),
      ProtocolErrorCode.TooLarge,
    );
    assert.ok(createCodec({ registry: ClientMessages, maxMessageBytes: bytes.length }).decode(bytes).ok);
  });

  it("encode refuses a message over the limit with PROTO_TOO_LARGE", () => {
    const codec = createCodec({ registry: ServerMessages, maxMessageBytes: 32 });
    assert.throws(
      () => codec.encode({ t: "error", code: "X", message: "m".repeat(100) }),
      (error: unknown) => error instanceof ProtocolError && error.code === ProtocolErrorCode.TooLarge,
    );
  });

  it("refuses a bad maxMessageBytes with PROTO_INVALID_OPTIONS", () => {
    for (const maxMessageBytes of [0, -1, 1.5, Number.NaN, 2 ** 32]) {
      assert.throws(
        () => createCodec({ registry: ClientMessages, maxMessageBytes }),
        (error: unknown) => error instanceof ProtocolError && error.code === ProtocolErrorCode.InvalidOptions,
      );
    }
  });
});
