import type { ClientMessage, ServerMessage } from "@meridian/protocol";
import fc from "fast-check";

/** Hand-written arbitraries following the schemas' bounds (gateway-messages.ts). */
const uint32 = fc.integer({ min: 0, max: 0xffff_ffff });
const version = fc.integer({ min: 1, max: 0xffff });
const epochMs = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
/** A login nonce field: any 1–128 characters (the schema checks bounds; the lobby checks the format). */
const nonce = fc.string({ minLength: 1, maxLength: 128 });
const token = fc.string({ minLength: 1, maxLength: 128 });

export const hello: fc.Arbitrary<ClientMessage> = fc.record(
  { t: fc.constant("hello" as const), v: version, client: fc.string({ maxLength: 64 }) },
  { requiredKeys: ["t", "v"], noNullPrototype: true },
);
export const login: fc.Arbitrary<ClientMessage> = fc.record(
  {
    t: fc.constant("login" as const),
    ref: uint32,
    username: fc.string({ minLength: 1, maxLength: 128 }),
    password: fc.string({ minLength: 1, maxLength: 1024 }),
    nonce,
  },
  { noNullPrototype: true },
);
export const resume: fc.Arbitrary<ClientMessage> = fc.record(
  { t: fc.constant("resume" as const), ref: uint32, refreshToken: token },
  { noNullPrototype: true },
);
export const logout: fc.Arbitrary<ClientMessage> = fc.record(
  { t: fc.constant("logout" as const), ref: uint32 },
  { noNullPrototype: true },
);

export const helloOk: fc.Arbitrary<ServerMessage> = fc.record(
  {
    t: fc.constant("hello_ok" as const),
    v: version,
    server: fc.string({ maxLength: 64 }),
    maxMessageBytes: fc.integer({ min: 1, max: 0xffff_ffff }),
    heartbeatMs: fc.integer({ min: 1, max: 0x7fff_ffff }),
    nonce,
  },
  { noNullPrototype: true },
);
const sessionGrant = {
  ref: uint32,
  accountId: fc.stringMatching(/^[1-9][0-9]{0,18}$/),
  username: fc.string({ maxLength: 64 }),
  sessionId: fc.uuid(),
  refreshToken: token,
  refreshExpiresAt: epochMs,
};
export const loginOk: fc.Arbitrary<ServerMessage> = fc.record(
  { t: fc.constant("login_ok" as const), ...sessionGrant, created: fc.boolean() },
  { noNullPrototype: true },
);
export const resumeOk: fc.Arbitrary<ServerMessage> = fc.record(
  { t: fc.constant("resume_ok" as const), ...sessionGrant },
  { noNullPrototype: true },
);
export const error: fc.Arbitrary<ServerMessage> = fc.record(
  {
    t: fc.constant("error" as const),
    code: fc.string({ minLength: 1, maxLength: 64 }),
    message: fc.string({ maxLength: 1024 }),
    ref: uint32,
    retryAfterMs: epochMs,
    reason: fc.string({ maxLength: 500 }),
    expiresAt: epochMs,
    nonce,
  },
  { requiredKeys: ["t", "code", "message"], noNullPrototype: true },
);
export const ping = fc.record({ t: fc.constant("ping" as const), n: uint32 }, { noNullPrototype: true });
export const pong = fc.record({ t: fc.constant("pong" as const), n: uint32 }, { noNullPrototype: true });
export const bye = fc.record(
  {
    t: fc.constant("bye" as const),
    code: fc.integer({ min: 1000, max: 4999 }),
    reason: fc.string({ maxLength: 123 }),
  },
  { noNullPrototype: true },
);

export const clientMessage: fc.Arbitrary<ClientMessage> = fc.oneof(
  hello,
  login,
  resume,
  logout,
  ping,
  pong,
  bye,
);
export const serverMessage: fc.Arbitrary<ServerMessage> = fc.oneof(
  helloOk,
  loginOk,
  resumeOk,
  error,
  ping,
  pong,
  bye,
);
