import { Type } from "@sinclair/typebox";
import { ProtocolError, ProtocolErrorCode } from "./errors.js";
import { defineMessage, type MessageOf, MessageRegistry, type RegistryMessage } from "./message-registry.js";
import { Input, Update } from "./world-messages.js";

/*
 * The client⇄gateway messages: the handshake, login and resume, errors, heartbeat and goodbye.
 * docs/protocol.md is their normative description; keep the two in step. The gateway and world
 * issues add input and update here.
 */

const UINT32_MAX = 0xffff_ffff;
const INT32_MAX = 0x7fff_ffff;

/** A protocol version: an integer from 1 to 65535. */
const Version = Type.Integer({ minimum: 1, maximum: 0xffff });
/** A counter or reference: an integer from 0 to 2^32 − 1. */
const Uint32 = Type.Integer({ minimum: 0, maximum: UINT32_MAX });

/** Client → gateway, first message: the protocol version and, optionally, the client's name. */
export const Hello = defineMessage(
  "hello",
  Type.Object({
    /** The protocol version the client speaks. */
    v: Version,
    /** Free-form client name and version for logs, e.g. `"meridian-bot/0.1"`. */
    client: Type.Optional(Type.String({ maxLength: 64 })),
  }),
);
export type Hello = MessageOf<typeof Hello>;

/** Gateway → client: the handshake succeeded; the connection's limits. */
export const HelloOk = defineMessage(
  "hello_ok",
  Type.Object({
    /** The protocol version of the connection (the client's `hello.v`). */
    v: Version,
    /** Name and version of the server, for logs. */
    server: Type.String({ maxLength: 64 }),
    /** Largest message, in bytes, either side may send on this connection. */
    maxMessageBytes: Type.Integer({ minimum: 1, maximum: UINT32_MAX }),
    /** Heartbeat period in milliseconds: the client sends a `ping` when it sent nothing for this long. */
    heartbeatMs: Type.Integer({ minimum: 1, maximum: INT32_MAX }),
    /**
     * This connection's login nonce (see `makeLoginNonce`): the client echoes it in `login`. A login
     * is accepted once per nonce; after a failed login the gateway sends a fresh one in `error.nonce`.
     */
    nonce: Type.String({ minLength: 1, maxLength: 128 }),
  }),
);
export type HelloOk = MessageOf<typeof HelloOk>;

/** Gateway → client: a request failed, or the connection is about to close. */
export const ErrorMessage = defineMessage(
  "error",
  Type.Object({
    /** A stable error code, e.g. `PROTO_VERSION_MISMATCH`. Branch on this. */
    code: Type.String({ minLength: 1, maxLength: 64 }),
    /** Human-readable explanation, for logs and display; never parse it. */
    message: Type.String({ maxLength: 1024 }),
    /** The request number of the message this answers, for messages that carry one. */
    ref: Type.Optional(Uint32),
    /** When to try again, ms (`LOBBY_THROTTLED`, `LOBBY_CREATION_LIMITED`, `LOBBY_RECOVERY_LOCKED`). */
    retryAfterMs: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    /** `LOBBY_ACCOUNT_BANNED`: the ban's reason, to show the player. */
    reason: Type.Optional(Type.String({ maxLength: 500 })),
    /** `LOBBY_ACCOUNT_BANNED`: when the ban ends, ms since the epoch; absent when permanent. */
    expiresAt: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    /** After a failed `login`: the connection's new login nonce, for the next attempt. */
    nonce: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  }),
);
export type ErrorMessage = MessageOf<typeof ErrorMessage>;

/** Either direction: a heartbeat; the receiver answers `pong` with the same `n`. */
export const Ping = defineMessage("ping", Type.Object({ n: Uint32 }));
export type Ping = MessageOf<typeof Ping>;

/** Either direction: the answer to `ping`, echoing its `n`. */
export const Pong = defineMessage("pong", Type.Object({ n: Uint32 }));
export type Pong = MessageOf<typeof Pong>;

/** Either direction: the sender is about to close the connection, with this close code and reason. */
export const Bye = defineMessage(
  "bye",
  Type.Object({
    /** A close code (`CloseCode`): 1000–4999. */
    code: Type.Integer({ minimum: 1000, maximum: 4999 }),
    /** Why, for logs and display (at most 123 characters, the WebSocket close reason limit). */
    reason: Type.String({ maxLength: 123 }),
  }),
);
export type Bye = MessageOf<typeof Bye>;

/** Client → gateway, after `hello_ok`: log in with a password, bound to the connection's nonce. */
export const Login = defineMessage(
  "login",
  Type.Object({
    /** Request number, echoed in the answer (`login_ok` or `error.ref`). */
    ref: Uint32,
    /** 3–32 letters, digits, `_` or `-` after normalisation (NFKC, case-folded). */
    username: Type.String({ minLength: 1, maxLength: 128 }),
    /** At most 1024 bytes of UTF-8. */
    password: Type.String({ minLength: 1, maxLength: 1024 }),
    /** The connection's login nonce, from `hello_ok.nonce` (or the last `error.nonce`). */
    nonce: Type.String({ minLength: 1, maxLength: 128 }),
  }),
);
export type Login = MessageOf<typeof Login>;

/** Client → gateway, after `hello_ok`: continue a session (after a drop) with its refresh token. */
export const Resume = defineMessage(
  "resume",
  Type.Object({
    ref: Uint32,
    /** The latest refresh token the client was given; it is spent by this resume. */
    refreshToken: Type.String({ minLength: 1, maxLength: 128 }),
  }),
);
export type Resume = MessageOf<typeof Resume>;

const SessionGrant = {
  /** The `ref` of the `login` or `resume` this answers. */
  ref: Uint32,
  /** The player's account id, a decimal string. */
  accountId: Type.String({ minLength: 1, maxLength: 20 }),
  /** The display form of the username. */
  username: Type.String({ maxLength: 64 }),
  /** The session id (uuid): stays the same across resumes. */
  sessionId: Type.String({ minLength: 36, maxLength: 36 }),
  /** Keep it safe: the one way back into this session. Single use; each resume returns a new one. */
  refreshToken: Type.String({ minLength: 1, maxLength: 128 }),
  /** When `refreshToken` expires, ms since the epoch. */
  refreshExpiresAt: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
};

/** Gateway → client: the login succeeded. */
export const LoginOk = defineMessage(
  "login_ok",
  Type.Object({
    ...SessionGrant,
    /** True when this login created the account. */
    created: Type.Boolean(),
  }),
);
export type LoginOk = MessageOf<typeof LoginOk>;

/** Gateway → client: the session continues; the previous refresh token is spent. */
export const ResumeOk = defineMessage(
  "resume_ok",
  Type.Object({
    ...SessionGrant,
    /**
     * The last input sequence the player's zone server applied: the client re-sends its inputs after
     * it (the server drops any it already applied). Absent when the world could not say.
     */
    ack: Type.Optional(Type.Integer({ minimum: 0, maximum: UINT32_MAX })),
  }),
);
export type ResumeOk = MessageOf<typeof ResumeOk>;

/** Client → gateway: end the session everywhere; the gateway answers `bye` and closes. */
export const Logout = defineMessage("logout", Type.Object({ ref: Uint32 }));
export type Logout = MessageOf<typeof Logout>;

/** The messages a gateway accepts from a client. */
export const ClientMessages = new MessageRegistry([Hello, Login, Resume, Logout, Input, Ping, Pong, Bye]);
/** A message a client sends to a gateway. */
export type ClientMessage = RegistryMessage<typeof ClientMessages>;

/** The messages a client accepts from a gateway. */
export const ServerMessages = new MessageRegistry([
  HelloOk,
  LoginOk,
  ResumeOk,
  Update,
  ErrorMessage,
  Ping,
  Pong,
  Bye,
]);
/** A message a gateway sends to a client. */
export type ServerMessage = RegistryMessage<typeof ServerMessages>;

const MAX_WIRE_MESSAGE = 1024;

/**
 * The `error` message for an error: its code and message, never a stack or a cause. A
 * {@link ProtocolError} (or any `Error` with a string `code`, such as another Meridian package's
 * errors) keeps its code and message; anything else becomes `PROTO_INTERNAL` with a generic message,
 * so internals never reach a client. The message is cut to the schema's 1024 characters.
 */
export function toWire(error: unknown, ref?: number): ErrorMessage {
  let code: string = ProtocolErrorCode.Internal;
  let message = "internal server error";
  if (error instanceof ProtocolError || (error instanceof Error && isWireCode(Reflect.get(error, "code")))) {
    code = String(Reflect.get(error, "code"));
    message = error.message.slice(0, MAX_WIRE_MESSAGE);
  }
  return ref === undefined ? { t: "error", code, message } : { t: "error", code, message, ref };
}

function isWireCode(value: unknown): value is string {
  return typeof value === "string" && /^[A-Z][A-Z0-9_]{0,63}$/.test(value);
}
