import type {
  ClientMessage,
  GatewayUpdates,
  Input,
  PlayerAttach,
  PlayerAttached,
  PlayerDetach,
  RouteSwitch,
  ServerMessage,
  Update,
  WorldError,
  ZoneInputs,
} from "@meridian/protocol";
import fc from "fast-check";

/** Hand-written arbitraries following the schemas' bounds (gateway-messages.ts, world-messages.ts). */
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
  { t: fc.constant("resume_ok" as const), ...sessionGrant, ack: uint32 },
  {
    requiredKeys: ["t", ...(Object.keys(sessionGrant) as (keyof typeof sessionGrant)[])],
    noNullPrototype: true,
  },
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

// ---- inputs, updates and the gateway ⇄ world contract (world-messages.ts) ----

/**
 * Game data (`input.data`, `update.data`…): any MessagePack value the game may send, limited to what
 * survives a round trip unchanged (no -0: MessagePack integers have no sign of zero; plain-prototype
 * maps with short keys, as a decoder produces).
 */
export const gameData: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
    fc.string({ maxLength: 32 }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/), tie("value"), {
      maxKeys: 4,
      noNullPrototype: true,
    }),
  ),
})).value;

/** An input sequence number: 1 to 2^32 − 1. */
export const seq = fc.integer({ min: 1, max: 0xffff_ffff });
const int53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const accountId = fc.stringMatching(/^[1-9][0-9]{0,18}$/);
/** A server, zone, world or gateway id: one NATS subject token of at most 64 characters. */
export const subjectToken = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

export const input: fc.Arbitrary<Input> = fc.record(
  { t: fc.constant("input" as const), seq, data: gameData },
  { noNullPrototype: true },
);
export const update: fc.Arbitrary<Update> = fc.record(
  { t: fc.constant("update" as const), tick: int53, ack: uint32, data: gameData },
  { noNullPrototype: true },
);

export const playerAttach: fc.Arbitrary<PlayerAttach> = fc.record(
  {
    t: fc.constant("player_attach" as const),
    accountId,
    sessionId: fc.uuid(),
    username: fc.string({ maxLength: 64 }),
    gateway: subjectToken,
    resumed: fc.boolean(),
  },
  { noNullPrototype: true },
);
export const playerAttached: fc.Arbitrary<PlayerAttached> = fc.record(
  {
    t: fc.constant("player_attached" as const),
    accountId,
    server: subjectToken,
    zone: subjectToken,
    epoch: int53,
    ack: uint32,
    world: subjectToken,
  },
  { noNullPrototype: true },
);
export const worldError: fc.Arbitrary<WorldError> = fc.record(
  {
    t: fc.constant("world_error" as const),
    code: fc.string({ minLength: 1, maxLength: 64 }),
    message: fc.string({ maxLength: 1024 }),
  },
  { noNullPrototype: true },
);
export const zoneInputs: fc.Arbitrary<ZoneInputs> = fc.record(
  {
    t: fc.constant("zone_inputs" as const),
    gateway: subjectToken,
    inputs: fc.array(fc.record({ accountId, seq, data: gameData }, { noNullPrototype: true }), {
      minLength: 1,
      maxLength: 8,
    }),
  },
  { noNullPrototype: true },
);
export const playerDetach: fc.Arbitrary<PlayerDetach> = fc.record(
  {
    t: fc.constant("player_detach" as const),
    accountId,
    sessionId: fc.uuid(),
    gateway: subjectToken,
    reason: fc.constantFrom("logout" as const, "grace_expired" as const, "kicked" as const),
  },
  { noNullPrototype: true },
);
export const gatewayUpdates: fc.Arbitrary<GatewayUpdates> = fc.record(
  {
    t: fc.constant("gateway_updates" as const),
    server: subjectToken,
    tick: int53,
    updates: fc.array(
      fc.record({ accountId, epoch: int53, ack: uint32, data: gameData }, { noNullPrototype: true }),
      { maxLength: 8 },
    ),
  },
  { noNullPrototype: true },
);
export const routeSwitch: fc.Arbitrary<RouteSwitch> = fc.record(
  {
    t: fc.constant("route_switch" as const),
    accountId,
    server: subjectToken,
    zone: subjectToken,
    world: subjectToken,
    epoch: int53,
  },
  { noNullPrototype: true },
);

export const clientMessage: fc.Arbitrary<ClientMessage> = fc.oneof(
  hello,
  login,
  resume,
  logout,
  input,
  ping,
  pong,
  bye,
);
export const serverMessage: fc.Arbitrary<ServerMessage> = fc.oneof(
  helloOk,
  loginOk,
  resumeOk,
  update,
  error,
  ping,
  pong,
  bye,
);
