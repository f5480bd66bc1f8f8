/**
 * W3C trace context over NATS headers (no NATS instrumentation exists for Node): the sender injects
 * `traceparent` (and `tracestate`) into the message's headers, the receiver extracts them and starts
 * its span as a child. Both are free when telemetry is off: no headers are built, nothing is read.
 *
 * @module
 */

import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import { telemetry } from "./telemetry.js";

/** The slice of NATS `MsgHdrs` the propagation reads and writes. */
export interface TraceCarrier {
  get(key: string): string;
  set(key: string, value: string): void;
  keys(): string[];
}

const setter: TextMapSetter<TraceCarrier> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};

const getter: TextMapGetter<TraceCarrier> = {
  get(carrier, key) {
    const value = carrier.get(key);
    return value === "" ? undefined : value;
  },
  keys(carrier) {
    return carrier.keys();
  },
};

/**
 * Headers carrying the trace context of `ctx` (default: the active one), for `publish` or `request`
 * options. `into` is added to and returned when given; otherwise fresh `headers()` are made.
 * `undefined` when telemetry is off or `ctx` holds no span: send no headers then.
 */
export function injectTraceHeaders(ctx: Context = context.active(), into?: MsgHdrs): MsgHdrs | undefined {
  if (!telemetry.enabled) return into;
  if (trace.getSpanContext(ctx) === undefined) return into;
  const carrier = into ?? natsHeaders();
  propagation.inject(ctx, carrier, setter);
  return carrier;
}

/**
 * The context a received message's headers carry (a parent for the receiver's span); the root
 * context when there are none or telemetry is off.
 */
export function extractTraceContext(headers: TraceCarrier | undefined): Context {
  if (!telemetry.enabled || headers === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, headers, getter);
}
