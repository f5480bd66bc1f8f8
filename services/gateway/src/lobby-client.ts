/**
 * The lobby as the gateway calls it: one typed request per verb over NATS request/reply
 * (docs/protocol.md §10), with a timeout. A NATS "no responders" answer, a timeout or a reply that
 * does not decode all mean the same to a player: {@link GatewayErrorCode.LobbyUnavailable}.
 *
 * @module
 */
import {
  type LobbyErrorReply,
  type LobbyReplyOf,
  type LobbyRequestOf,
  type LobbyVerb,
  LobbyVerbs,
  lobbyReplyCodec,
  lobbyRequestCodec,
  lobbySubject,
  type Subjects,
} from "@meridian/protocol";
import {
  context,
  failSpan,
  injectTraceHeaders,
  recordNatsRequest,
  type Span,
  SpanAttr,
  SpanKind,
  startSpan,
  telemetry,
  trace,
} from "@meridian/telemetry";
import type { NatsConnection } from "@nats-io/transport-node";
import { GatewayError, GatewayErrorCode } from "./errors.js";

/** A request body: the verb's request without its `t`. */
export type LobbyBody<V extends LobbyVerb> = Omit<LobbyRequestOf<V>, "t">;
/** What a request resolves with: the verb's success reply, or the lobby's `lobby_error`. */
export type LobbyAnswer<V extends LobbyVerb> = LobbyReplyOf<V> | LobbyErrorReply;

/** The slice of a NATS connection the client uses. */
export type LobbyBus = Pick<NatsConnection, "request">;

/** Typed lobby requests over NATS. */
export class LobbyClient {
  readonly #nc: LobbyBus;
  readonly #subjects: Subjects;
  readonly #timeoutMs: number;

  constructor(nc: LobbyBus, subjects: Subjects, options: { timeoutMs?: number } = {}) {
    this.#nc = nc;
    this.#subjects = subjects;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
  }

  /**
   * Sends `verb` with `body`. Resolves with the success reply or the lobby's `lobby_error` (a value:
   * branch on `t`).
   * @throws GatewayError `LOBBY_UNAVAILABLE` when no lobby answered in time or the reply is not one.
   */
  async request<V extends LobbyVerb>(verb: V, body: LobbyBody<V>): Promise<LobbyAnswer<V>> {
    const type = LobbyVerbs[verb].request.type;
    // The request codec's message type is the verb's request; `{ t, ...body }` is exactly that.
    const payload = lobbyRequestCodec(verb).encode({ ...body, t: type } as unknown as Parameters<
      ReturnType<typeof lobbyRequestCodec<V>>["encode"]
    >[0]);
    let data: Uint8Array;
    // Traced (telemetry on): a client span whose context travels in the request's headers, so the
    // lobby's handler span is its child.
    let span: Span | undefined;
    let started = 0;
    if (telemetry.enabled) {
      span = startSpan("gateway", `lobby.${verb}`, {
        kind: SpanKind.CLIENT,
        attributes: {
          [SpanAttr.Service]: "gateway",
          "messaging.system": "nats",
          "meridian.lobby.verb": verb,
        },
      });
      started = performance.now();
    }
    try {
      const msg = await this.#nc.request(lobbySubject(this.#subjects, verb), payload, {
        timeout: this.#timeoutMs,
        ...(span === undefined ? {} : { headers: injectTraceHeaders(trace.setSpan(context.active(), span)) }),
      });
      data = msg.data;
      if (span !== undefined) {
        recordNatsRequest("gateway", `lobby.${verb}`, performance.now() - started, true);
        span.end();
      }
    } catch (cause) {
      if (span !== undefined) {
        recordNatsRequest("gateway", `lobby.${verb}`, performance.now() - started, false);
        failSpan(span, cause);
        span.end();
      }
      throw new GatewayError(GatewayErrorCode.LobbyUnavailable, "the lobby is unavailable; try again later", {
        cause,
        context: { verb },
      });
    }
    const reply = lobbyReplyCodec(verb).decode(data);
    if (!reply.ok) {
      throw new GatewayError(GatewayErrorCode.LobbyUnavailable, "the lobby sent an unreadable reply", {
        cause: reply.error,
        context: { verb },
      });
    }
    return reply.message as LobbyAnswer<V>;
  }
}

/** Whether a lobby answer is the `lobby_error` reply. */
export function isLobbyError(answer: { readonly t: string }): answer is LobbyErrorReply {
  return answer.t === "lobby_error";
}
