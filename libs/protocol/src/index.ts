/**
 * `@meridian/protocol`: Meridian's contracts. Client⇄gateway messages and their schemas, the
 * MessagePack codec, the protocol version, error and close codes, and NATS subject names.
 * Imports no other Meridian package. `docs/protocol.md` is the normative wire description.
 */
export { CloseCode, closeCodeFor } from "./close-codes.js";
export { DECODE_ERROR_CODES, ProtocolError, ProtocolErrorCode } from "./errors.js";
export {
  Bye,
  type ClientMessage,
  ClientMessages,
  ErrorMessage,
  Hello,
  HelloOk,
  Ping,
  Pong,
  type ServerMessage,
  ServerMessages,
  toWire,
} from "./gateway-messages.js";
export {
  type CodecOptions,
  createCodec,
  DEFAULT_MAX_MESSAGE_BYTES,
  type DecodeResult,
  decodeMessage,
  encodeMessage,
  type MessageCodec,
} from "./message-codec.js";
export {
  type AnyMessageDefinition,
  defineMessage,
  type MessageDefinition,
  type MessageOf,
  MessageRegistry,
  type MessageSchema,
  type RegistryMessage,
} from "./message-registry.js";
export {
  createSubjects,
  DEFAULT_SUBJECT_PREFIX,
  type Subjects,
  type SubjectsOptions,
} from "./subjects.js";
export {
  checkVersion,
  PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
  type VersionCheck,
} from "./version.js";
