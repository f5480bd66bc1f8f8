import type { ClientMessage, ServerMessage } from "@meridian/protocol";
import fc from "fast-check";

/** Hand-written arbitraries following the schemas' bounds (gateway-messages.ts). */
const uint32 = fc.integer({ min: 0, max: 0xffff_ffff });
const version = fc.integer({ min: 1, max: 0xffff });

export const hello: fc.Arbitrary<ClientMessage> = fc.record(
  { t: fc.constant("hello" as const), v: version, client: fc.string({ maxLength: 64 }) },
  { requiredKeys: ["t", "v"], noNullPrototype: true },
);
export const helloOk: fc.Arbitrary<ServerMessage> = fc.record(
  {
    t: fc.constant("hello_ok" as const),
    v: version,
    server: fc.string({ maxLength: 64 }),
    maxMessageBytes: fc.integer({ min: 1, max: 0xffff_ffff }),
    heartbeatMs: fc.integer({ min: 1, max: 0x7fff_ffff }),
  },
  { noNullPrototype: true },
);
export const error: fc.Arbitrary<ServerMessage> = fc.record(
  {
    t: fc.constant("error" as const),
    code: fc.string({ minLength: 1, maxLength: 64 }),
    message: fc.string({ maxLength: 1024 }),
    ref: uint32,
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

export const clientMessage: fc.Arbitrary<ClientMessage> = fc.oneof(hello, ping, pong, bye);
export const serverMessage: fc.Arbitrary<ServerMessage> = fc.oneof(helloOk, error, ping, pong, bye);
