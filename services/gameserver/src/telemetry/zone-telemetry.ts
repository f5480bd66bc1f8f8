/**
 * The zone server's traces and recorded metrics (`@meridian/telemetry`), kept out of the zone server's
 * code paths: every method is a no-op (or calls straight through) when telemetry is off, decided once
 * at construction.
 *
 * Traces: `zone.inputs` (a gateway's input batch, child of the gateway's publish span) → the player's
 * crossing → `zone.handoff.offer` on the source (child of the context of that player's last input
 * batch, so a crossing continues the trace of the input that caused it) → NATS headers of the offer →
 * `zone.handoff.accept` on the target (its child) → the target's `route_switch` to the gateway carries
 * the accept's context (the gateway's `gateway.route_switch` span is its child).
 *
 * Metrics: `meridian.zone.tick.duration` and `meridian.zone.handoff.duration` (ms histograms); the
 * counters and gauges read from `stats()` are registered in `zone-metrics.ts`.
 *
 * @module
 */
import type { HandoffOffer } from "@meridian/protocol";
import {
  type Context,
  context,
  durationHistogram,
  extractTraceContext,
  failSpan,
  type Histogram,
  injectTraceHeaders,
  inSpan,
  ROOT_CONTEXT,
  recordNatsRequest,
  type Span,
  SpanAttr,
  SpanKind,
  startSpan,
  telemetry,
  trace,
} from "@meridian/telemetry";
import { headers, type Msg, type MsgHdrs } from "@nats-io/transport-node";

/** Bound on the remembered input contexts (one per player; cleared wholesale past it). */
const MAX_REMEMBERED = 100_000;
/** A remembered input context parents a handoff offer only when at most this old, ms. */
const INPUT_CONTEXT_MS = 2_000;

export class ZoneTelemetry {
  /** Telemetry on when this server was made. */
  readonly enabled: boolean;
  /** Records a tick's duration (ms); undefined when off (the tick loop skips the call). */
  readonly onTick: ((ms: number) => void) | undefined;
  readonly #attrs: Readonly<Record<string, string>>;
  /** The context of each player's last traced input batch, and when it arrived. */
  readonly #inputs = new Map<string, { readonly context: Context; readonly at: number }>();
  /** The context of each handoff being accepted here, by player (its `route_switch` carries it). */
  readonly #accepting = new Map<string, Context>();
  readonly #offers = new Map<string, { span: Span; started: number; target: string }>();
  readonly #handoffs: Histogram | undefined;

  constructor(serverId: string) {
    this.enabled = telemetry.enabled;
    this.#attrs = Object.freeze({ [SpanAttr.Service]: "gameserver", [SpanAttr.Instance]: serverId });
    if (!this.enabled) {
      this.onTick = undefined;
      this.#handoffs = undefined;
      return;
    }
    const ticks = durationHistogram("gameserver", "meridian.zone.tick.duration", "Duration of one zone tick");
    this.#handoffs = durationHistogram(
      "gameserver",
      "meridian.zone.handoff.duration",
      "Handoffs out: freeze to accept (the player's stall)",
    );
    const attrs = this.#attrs;
    this.onTick = (ms) => ticks.record(ms, attrs);
  }

  /**
   * Runs `handle` (a gateway's `zone_inputs`); a traced batch (it carries a `traceparent`: the
   * gateway sampled it) in a `zone.inputs` span, whose context is remembered per player.
   */
  inputs(msg: Msg, accountIds: readonly { readonly accountId: string }[], handle: () => void): void {
    if (!this.enabled || !msg.headers?.has("traceparent")) {
      handle();
      return;
    }
    const parent = extractTraceContext(msg.headers);
    inSpan(
      "gameserver",
      "zone.inputs",
      {
        kind: SpanKind.CONSUMER,
        parent,
        attributes: { ...this.#attrs, "meridian.inputs": accountIds.length },
      },
      () => {
        const remembered = { context: context.active(), at: performance.now() };
        if (this.#inputs.size > MAX_REMEMBERED) this.#inputs.clear();
        for (const { accountId } of accountIds) this.#inputs.set(accountId, remembered);
        handle();
      },
    );
  }

  /**
   * Headers for a handoff offer (attempt 1 starts the `zone.handoff.offer` span, child of the player's
   * last input context; retries reuse it). undefined when off.
   */
  offerHeaders(offer: HandoffOffer, target: string): MsgHdrs | undefined {
    if (!this.enabled) return undefined;
    let entry = this.#offers.get(offer.handoffId);
    if (entry === undefined) {
      // The player's last traced input, if recent: the crossing continues that input's trace.
      const input = this.#inputs.get(offer.accountId);
      this.#inputs.delete(offer.accountId);
      const parent =
        input !== undefined && performance.now() - input.at <= INPUT_CONTEXT_MS
          ? input.context
          : ROOT_CONTEXT;
      const span = startSpan("gameserver", "zone.handoff.offer", {
        kind: SpanKind.PRODUCER,
        parent,
        attributes: {
          ...this.#attrs,
          "meridian.handoff.id": offer.handoffId,
          "meridian.handoff.target": target,
          "meridian.account": offer.accountId,
          "meridian.cell": offer.cell,
        },
      });
      entry = { span, started: performance.now(), target };
      this.#offers.set(offer.handoffId, entry);
    } else {
      entry.span.addEvent("retry");
    }
    return injectTraceHeaders(trace.setSpan(context.active(), entry.span));
  }

  /**
   * The W3C `traceparent` of an offer sent in a `handoff_offers` batch (the batch's entries carry
   * their own context: one message, many players' traces). undefined when off.
   */
  offerTrace(offer: HandoffOffer, target: string): string | undefined {
    return this.offerHeaders(offer, target)?.get("traceparent") || undefined;
  }

  /** {@link accept} for an offer of a batch: the parent is the entry's `traceparent`. */
  acceptTraced<T>(
    traceparent: string | undefined,
    offer: HandoffOffer,
    accept: () => Promise<T>,
  ): Promise<T> {
    if (!this.enabled) return accept();
    const carrier = headers();
    if (traceparent !== undefined) carrier.set("traceparent", traceparent);
    return this.#accept(carrier, offer, accept);
  }

  /** The offer settled: ends its span and records the stall of an accepted handoff. */
  offerDone(handoffId: string, accepted: boolean, reason: string, stallMs: number): void {
    if (!this.enabled) return;
    const entry = this.#offers.get(handoffId);
    if (entry === undefined) return;
    this.#offers.delete(handoffId);
    recordNatsRequest("gameserver", "zone.handoff", performance.now() - entry.started, accepted);
    entry.span.setAttribute("meridian.handoff.accepted", accepted);
    entry.span.setAttribute("meridian.handoff.reason", reason);
    if (accepted) this.#handoffs?.record(stallMs, this.#attrs);
    else failSpan(entry.span, new Error(`handoff not accepted: ${reason}`));
    entry.span.end();
  }

  /**
   * Runs `accept` (the target's handling of an offer) in a `zone.handoff.accept` span, child of the
   * offer; the player's `route_switch` sent meanwhile carries its context ({@link routeHeaders}).
   */
  accept<T>(msg: Msg, offer: HandoffOffer, accept: () => Promise<T>): Promise<T> {
    if (!this.enabled) return accept();
    return this.#accept(msg.headers, offer, accept);
  }

  #accept<T>(carrier: MsgHdrs | undefined, offer: HandoffOffer, accept: () => Promise<T>): Promise<T> {
    const accepting = this.#accepting;
    return inSpan(
      "gameserver",
      "zone.handoff.accept",
      {
        kind: SpanKind.CONSUMER,
        parent: extractTraceContext(carrier),
        attributes: {
          ...this.#attrs,
          "meridian.handoff.id": offer.handoffId,
          "meridian.handoff.source": offer.fromServer,
          "meridian.account": offer.accountId,
        },
      },
      (span) => {
        accepting.set(offer.accountId, trace.setSpan(context.active(), span));
        return accept().finally(() => accepting.delete(offer.accountId));
      },
    );
  }

  /** Headers for a player's `route_switch`: the accept's context while accepting them; else none. */
  routeHeaders(accountId: string): MsgHdrs | undefined {
    if (!this.enabled) return undefined;
    const ctx = this.#accepting.get(accountId);
    return ctx === undefined ? undefined : injectTraceHeaders(ctx);
  }
}
