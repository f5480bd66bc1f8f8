/**
 * A gateway's inboxes over real NATS, as a test sees them: every `gateway_updates` entry and every
 * `route_switch` received on `gw.<id>.updates` / `.routes`, and a way to send `zone_inputs` and
 * `player_detach` as a gateway does.
 */
import {
  encodeMessage,
  GATEWAY_ROUTES_CHANNEL,
  GATEWAY_UPDATES_CHANNEL,
  gatewayInboxCodec,
  type RouteSwitch,
  type Subjects,
  ZONE_DETACH_CHANNEL,
  ZONE_INPUTS_CHANNEL,
} from "@meridian/protocol";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";

export interface ReceivedUpdate {
  readonly server: string;
  readonly tick: number;
  readonly accountId: string;
  readonly epoch: number;
  readonly ack: number;
  readonly data: unknown;
}

export class FakeGateway {
  readonly id: string;
  readonly updates: ReceivedUpdate[] = [];
  readonly routes: RouteSwitch[] = [];
  /** `gateway_updates` messages received, by server. */
  readonly messages = new Map<string, number>();
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #subscriptions: Subscription[] = [];

  constructor(nc: NatsConnection, subjects: Subjects, id: string) {
    this.#nc = nc;
    this.#subjects = subjects;
    this.id = id;
  }

  async start(): Promise<void> {
    const codec = gatewayInboxCodec();
    for (const channel of [GATEWAY_UPDATES_CHANNEL, GATEWAY_ROUTES_CHANNEL]) {
      this.#subscriptions.push(
        this.#nc.subscribe(this.#subjects.gateway(this.id, channel), {
          callback: (_error, msg) => {
            const decoded = codec.decode(msg.data);
            if (!decoded.ok) return;
            const message = decoded.message;
            if (message.t === "route_switch") {
              this.routes.push(message);
              return;
            }
            this.messages.set(message.server, (this.messages.get(message.server) ?? 0) + 1);
            for (const u of message.updates)
              this.updates.push({ server: message.server, tick: message.tick, ...u });
          },
        }),
      );
    }
    await this.#nc.flush();
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.#subscriptions.splice(0).map((s) => s.drain()));
  }

  /** Sends inputs to `server` as one `zone_inputs`. */
  send(server: string, accountId: string, inputs: readonly { seq: number; data: unknown }[]): void {
    this.#nc.publish(
      this.#subjects.zone(server, ZONE_INPUTS_CHANNEL),
      encodeMessage({ t: "zone_inputs", gateway: this.id, inputs: inputs.map((i) => ({ accountId, ...i })) }),
    );
  }

  detach(server: string, accountId: string, sessionId: string, gateway: string = this.id): void {
    this.#nc.publish(
      this.#subjects.zone(server, ZONE_DETACH_CHANNEL),
      encodeMessage({ t: "player_detach", accountId, sessionId, gateway, reason: "logout" }),
    );
  }

  /** The highest ack received for `accountId` (from any server). */
  ack(accountId: string): number {
    let ack = 0;
    for (const u of this.updates) if (u.accountId === accountId && u.ack > ack) ack = u.ack;
    return ack;
  }

  updatesFor(accountId: string): ReceivedUpdate[] {
    return this.updates.filter((u) => u.accountId === accountId);
  }
}

/** Polls `check` until it returns a value that is not undefined/false; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
