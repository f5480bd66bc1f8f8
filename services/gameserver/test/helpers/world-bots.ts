/**
 * Walking bots for the world's end-to-end tests: real `@meridian/client` Node clients through a
 * real gateway, each walking on a persistent heading (bouncing off the world's edges) so they cross
 * cell borders often, numbering their inputs (the client assigns `seq`), and recording what the
 * checker needs: the acks they see, their own position (from the `ViewDelta`s) and whether, standing
 * within the AOI radius of a border, they had an entity from the other side in view.
 */
import { createNodeClient, type MeridianClient, NodeConnector } from "@meridian/client/node";
import type { BotRecord } from "./world-checker.js";

/** The world as the bots need it. */
export interface BotWorld {
  readonly width: number;
  readonly height: number;
  readonly cols: number;
  readonly rows: number;
  readonly aoiRadius: number;
}

/** Bots sharing one source address (127.0.x.y). */
const BOTS_PER_ADDRESS = 8;

export interface WalkerOptions {
  /** The gateway's WebSocket URL (`ws://127.0.0.1:<port>/`): each group of bots binds its own loopback address. */
  readonly url: string;
  readonly count: number;
  readonly prefix: string;
  readonly world: BotWorld;
  /** Input period per bot, ms (each input is a `move` on the bot's heading). */
  readonly inputIntervalMs: number;
  /** Logins started per second. */
  readonly loginsPerSecond: number;
  /** Stay still (no input) until `walk()` is called. Default false: walk once logged in. */
  readonly waitForWalk?: boolean;
}

interface ViewEntity {
  x: number;
  y: number;
}

/** One bot and what it recorded. */
export class Walker {
  readonly client: MeridianClient;
  readonly username: string;
  accountId = "";
  lastSent = 0;
  readonly acks: number[] = [];
  /** When each ack was first seen (ms), by ack. */
  readonly ackAt = new Map<number, number>();
  updates = 0;
  fullViews = 0;
  nearBorder = 0;
  sawAcross = 0;
  lastUpdateAt = 0;
  x = Number.NaN;
  y = Number.NaN;
  dx: number;
  dy: number;
  #you = "";
  readonly #view = new Map<string, ViewEntity>();
  readonly #world: BotWorld;

  constructor(client: MeridianClient, username: string, world: BotWorld, heading: number) {
    this.client = client;
    this.username = username;
    this.#world = world;
    this.dx = Math.cos(heading);
    this.dy = Math.sin(heading);
    client.on("update", (update) => this.#onUpdate(update.ack, update.data));
  }

  record(): BotRecord {
    return {
      accountId: this.accountId,
      lastSent: this.lastSent,
      acks: this.acks,
      nearBorder: this.nearBorder,
      sawAcross: this.sawAcross,
    };
  }

  /** Sends one move on the heading, turning back at the world's edges. */
  step(): void {
    if (this.client.state !== "logged_in") return;
    const margin = 20;
    if (!Number.isNaN(this.x)) {
      if (this.x < margin) this.dx = Math.abs(this.dx);
      if (this.x > this.#world.width - margin) this.dx = -Math.abs(this.dx);
      if (this.y < margin) this.dy = Math.abs(this.dy);
      if (this.y > this.#world.height - margin) this.dy = -Math.abs(this.dy);
    }
    this.lastSent = this.client.sendInput({ move: { dx: this.dx, dy: this.dy } });
  }

  #onUpdate(ack: number, data: unknown): void {
    this.updates++;
    this.lastUpdateAt = Date.now();
    this.acks.push(ack);
    if (!this.ackAt.has(ack)) this.ackAt.set(ack, Date.now());
    const delta = data as {
      full?: boolean;
      you?: string;
      enter?: { id: string; x: number; y: number }[];
      update?: { id: string; x?: number; y?: number }[];
      leave?: string[];
    } | null;
    if (delta === null || typeof delta !== "object") return;
    if (delta.full === true) {
      this.fullViews++;
      this.#view.clear();
      if (typeof delta.you === "string") this.#you = delta.you;
    }
    for (const e of delta.enter ?? []) this.#view.set(e.id, { x: e.x, y: e.y });
    for (const e of delta.update ?? []) {
      const known = this.#view.get(e.id);
      if (known === undefined) continue;
      if (typeof e.x === "number") known.x = e.x;
      if (typeof e.y === "number") known.y = e.y;
    }
    for (const id of delta.leave ?? []) this.#view.delete(id);
    const me = this.#view.get(this.#you);
    if (me === undefined) return;
    this.x = me.x;
    this.y = me.y;
    this.#observeBorders(me);
  }

  /** Near a border (within the AOI radius): is an entity from the other side in view? */
  #observeBorders(me: ViewEntity): void {
    const w = this.#world;
    const cw = w.width / w.cols;
    const ch = w.height / w.rows;
    const col = (x: number) => Math.min(w.cols - 1, Math.floor(x / cw));
    const row = (y: number) => Math.min(w.rows - 1, Math.floor(y / ch));
    const near: ((e: ViewEntity) => boolean)[] = [];
    for (let c = 1; c < w.cols; c++) {
      const bx = c * cw;
      if (Math.abs(me.x - bx) <= w.aoiRadius) near.push((e) => e.x < bx !== me.x < bx);
    }
    for (let r = 1; r < w.rows; r++) {
      const by = r * ch;
      if (Math.abs(me.y - by) <= w.aoiRadius) near.push((e) => e.y < by !== me.y < by);
    }
    if (near.length === 0) return;
    this.nearBorder++;
    const home = `${col(me.x)}_${row(me.y)}`;
    for (const [id, e] of this.#view) {
      if (id === this.#you || `${col(e.x)}_${row(e.y)}` === home) continue;
      if (near.some((across) => across(e))) {
        this.sawAcross++;
        return;
      }
    }
  }
}

/** A swarm of walkers: logged in, walking, stopped, logged out. */
export class Walkers {
  readonly bots: Walker[] = [];
  /** One connector per source address: the gateway's per-IP limits (netengine's defaults, 32 open
   * and 16 new a second, not configurable) would refuse a swarm from one address. */
  readonly #connectors: NodeConnector[] = [];
  readonly #options: WalkerOptions;
  #timer: NodeJS.Timeout | undefined;
  #walking = false;

  constructor(options: WalkerOptions) {
    this.#options = options;
  }

  /** Logs every bot in (ramped); resolves when all are logged in. */
  async start(): Promise<void> {
    const { count, prefix, url, world, loginsPerSecond } = this.#options;
    const logins: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const group = Math.floor(i / BOTS_PER_ADDRESS);
      let connector = this.#connectors[group];
      if (connector === undefined) {
        connector = new NodeConnector({
          webSocket: { localAddress: `127.0.${1 + Math.floor(group / 250)}.${2 + (group % 250)}` },
        });
        this.#connectors[group] = connector;
      }
      const client = createNodeClient({
        url,
        connector,
        requestTimeoutMs: 30_000,
        reconnect: { maxAttempts: 20, initialDelayMs: 100, maxDelayMs: 1_000 },
      });
      // Headings spread around the circle, off the axes: every bot crosses both kinds of border.
      const heading = (2 * Math.PI * (i + 0.37)) / count + 0.3;
      const bot = new Walker(client, `${prefix}${i + 1}`, world, heading);
      this.bots.push(bot);
      logins.push(this.#login(bot));
      await new Promise((resolve) => setTimeout(resolve, 1000 / loginsPerSecond));
    }
    await Promise.all(logins);
    if (this.#options.waitForWalk !== true) this.walk();
  }

  async #login(bot: Walker): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await bot.client.connect();
        const ok = await bot.client.login(bot.username, `pw-${bot.username}-correct-horse`);
        bot.accountId = ok.accountId;
        return;
      } catch (error) {
        if (attempt >= 5) throw error;
        bot.client.close();
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  }

  /** Starts the inputs: every bot sends one move per input period, spread over the period. */
  walk(): void {
    if (this.#walking) return;
    this.#walking = true;
    let next = 0;
    const slice = Math.max(1, Math.ceil(this.bots.length / Math.max(1, this.#options.inputIntervalMs / 10)));
    this.#timer = setInterval(() => {
      for (let k = 0; k < slice; k++) {
        const bot = this.bots[next];
        next = (next + 1) % this.bots.length;
        bot?.step();
      }
    }, 10);
  }

  /** Stops sending inputs. */
  stopWalking(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Waits until every bot's last ack is its last input (or `timeoutMs` passes); returns the laggards. */
  async drain(timeoutMs: number): Promise<Walker[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const behind = this.bots.filter((b) => (b.acks.at(-1) ?? 0) !== b.lastSent);
      if (behind.length === 0 || Date.now() > deadline) return behind;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Closes every client (sessions kept: the processes are stopped next) and the connector. */
  async close(): Promise<void> {
    this.stopWalking();
    for (const bot of this.bots) bot.client.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await Promise.all(this.#connectors.map((c) => c.close()));
  }
}
