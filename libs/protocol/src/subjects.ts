import { ProtocolError, ProtocolErrorCode } from "./errors.js";

/** Default subject prefix: every Meridian subject starts `meridian.`. */
export const DEFAULT_SUBJECT_PREFIX = "meridian";

/** One subject token: letters, digits, `_` and `-` (no `.`, no wildcard, no space). */
const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Options of {@link createSubjects}. */
export interface SubjectsOptions {
  /**
   * Prefix of every subject: one or more tokens joined by `.` (e.g. the testkit's `mt.<runId>`),
   * so a test run or a deployment can isolate itself on a shared NATS. Default
   * {@link DEFAULT_SUBJECT_PREFIX} (`meridian`).
   */
  readonly prefix?: string;
}

/**
 * The NATS subject names of Meridian, under one prefix. This is the one place subjects are named:
 * the lobby, authority, gateway and gameserver issues add their builders here, on top of the
 * generic ones below. Every builder validates its tokens and throws `PROTO_INVALID_SUBJECT`.
 */
export interface Subjects {
  /** The prefix, validated. */
  readonly prefix: string;
  /** A service's request/reply subject: `<prefix>.svc.<name>.<verb>` (e.g. `meridian.svc.lobby.login`). */
  service(name: string, verb: string): string;
  /** An event subject: `<prefix>.evt.<topic>`; `topic` is one or more tokens joined by `.`. */
  event(topic: string): string;
  /**
   * A zone server's inbox: `<prefix>.zone.<serverId>.<channel>` (e.g. `meridian.zone.z7.inputs`):
   * what gateways publish to the server that owns their players.
   */
  zone(serverId: string, channel: string): string;
  /**
   * A gateway's inbox: `<prefix>.gw.<gatewayId>.<channel>` (e.g. `meridian.gw.gw-1.updates`): what
   * zone servers publish to the gateway that holds their players' connections.
   */
  gateway(gatewayId: string, channel: string): string;
  /** A wildcard matching every subject under the prefix: `<prefix>.>` (monitoring, test cleanup). */
  all(): string;
}

/**
 * Subject builders under `prefix`.
 * @throws ProtocolError `PROTO_INVALID_SUBJECT` for a bad prefix.
 */
export function createSubjects(options: SubjectsOptions = {}): Subjects {
  const prefix = options.prefix ?? DEFAULT_SUBJECT_PREFIX;
  assertTokens(prefix, "prefix");
  return Object.freeze({
    prefix,
    service(name: string, verb: string): string {
      assertToken(name, "service name");
      assertToken(verb, "service verb");
      return `${prefix}.svc.${name}.${verb}`;
    },
    event(topic: string): string {
      assertTokens(topic, "event topic");
      return `${prefix}.evt.${topic}`;
    },
    zone(serverId: string, channel: string): string {
      assertToken(serverId, "zone server id");
      assertToken(channel, "zone channel");
      return `${prefix}.zone.${serverId}.${channel}`;
    },
    gateway(gatewayId: string, channel: string): string {
      assertToken(gatewayId, "gateway id");
      assertToken(channel, "gateway channel");
      return `${prefix}.gw.${gatewayId}.${channel}`;
    },
    all(): string {
      return `${prefix}.>`;
    },
  });
}

function assertToken(value: unknown, what: string): void {
  if (typeof value !== "string" || !TOKEN.test(value)) {
    throw new ProtocolError(
      ProtocolErrorCode.InvalidSubject,
      `${what} ${JSON.stringify(value)} must be one subject token of letters, digits, _ and -`,
      { context: { what, value } },
    );
  }
}

/** One or more tokens joined by single dots: no leading, trailing or double dot. */
function assertTokens(value: unknown, what: string): void {
  if (typeof value !== "string" || value === "" || !value.split(".").every((token) => TOKEN.test(token))) {
    throw new ProtocolError(
      ProtocolErrorCode.InvalidSubject,
      `${what} ${JSON.stringify(value)} must be subject tokens of letters, digits, _ and - joined by single dots`,
      { context: { what, value } },
    );
  }
}
