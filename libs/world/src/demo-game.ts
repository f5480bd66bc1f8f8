/**
 * The demo game, Meridian's default: players walk, emote and chat; a few NPCs wander in each cell
 * and wave back at a player who waves near them.
 *
 * Inputs (`data` of an input), one intent each:
 * - `{ move: { dx, dy } }`: walk in that direction at up to the player speed (per tick) until the
 *   next `move` (`{ dx: 0, dy: 0 }` stops). A vector longer than 1 (a speed hack) is cut to a unit
 *   vector and counted as a correction. Several moves in one tick: the last one holds; the player
 *   moves once per tick.
 * - `{ at: { x, y } }`: a client-claimed position. The player moves towards it by at most the
 *   player speed this tick and stops; a claim further than that (a teleport hack) is cut and counted.
 * - `{ emote: name }` with a name of {@link DEMO_EMOTES}: heard as `{ emote, name }` by every player
 *   within the interest radius; the player's view shows it for {@link DEMO_EMOTE_TICKS} ticks.
 * - `{ say: text }`, 1–{@link DEMO_MAX_SAY} characters without control characters: heard as
 *   `{ say, name }` within the interest radius.
 *
 * Views (`data` of an entity in a view delta): `{ name: string, emote: string | null }`.
 *
 * @module
 */
import type { Entity, GameContext, GameModule, NpcSpawn, Rect } from "./game-module.js";

/** The emotes of the demo game. */
export const DEMO_EMOTES = ["wave", "dance", "bow", "cheer", "laugh", "sit"] as const;
export type DemoEmote = (typeof DEMO_EMOTES)[number];
/** The longest chat line, characters. */
export const DEMO_MAX_SAY = 200;
/** How long an emote shows in the view, ticks. */
export const DEMO_EMOTE_TICKS = 40;
/** Default player speed, units per tick. */
export const DEFAULT_DEMO_PLAYER_SPEED = 5;
/** Default NPC speed, units per tick. */
export const DEFAULT_DEMO_NPC_SPEED = 1.5;
/** NPCs within this distance of a waving player wave back (on the next tick: a user event). */
export const DEMO_WAVE_BACK_RADIUS = 30;

/** The state of a demo entity (players and NPCs alike; JSON-serialisable). */
export interface DemoState {
  /** Walking direction (a vector of length ≤ 1); 0, 0 stands. */
  dx: number;
  dy: number;
  /** Where a player walks this tick after an `at` claim, or null. */
  target: { x: number; y: number } | null;
  emote: string | null;
  /** The tick at which `emote` ends. */
  emoteUntil: number;
  /** An NPC's home cell: it wanders inside it. Null for players. */
  home: Rect | null;
}

/** A valid demo input. */
export type DemoIntent =
  | { readonly move: { readonly dx: number; readonly dy: number } }
  | { readonly at: { readonly x: number; readonly y: number } }
  | { readonly emote: DemoEmote }
  | { readonly say: string };

/** The user event the demo posts when a player waves. */
export interface DemoWaveEvent {
  readonly type: "wave";
  readonly by: string;
  readonly x: number;
  readonly y: number;
}

/** Options of {@link createDemoGame}. */
export interface DemoGameOptions {
  /** Units per tick. Default {@link DEFAULT_DEMO_PLAYER_SPEED}. */
  readonly playerSpeed?: number;
  /** Units per tick. Default {@link DEFAULT_DEMO_NPC_SPEED}. */
  readonly npcSpeed?: number;
}

const CONTROL = /\p{Cc}/u;
// Float noise of a client normalising its own vector is not a hack.
const SLACK = 1e-6;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function finite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

function readRect(v: unknown): Rect | null {
  if (!isObject(v)) return null;
  const { minX, minY, maxX, maxY } = v;
  return finite(minX) && finite(minY) && finite(maxX) && finite(maxY) ? { minX, minY, maxX, maxY } : null;
}

function nameOf(e: Entity<DemoState>): string {
  return e.player?.username ?? `Wanderer ${e.id.slice(e.id.lastIndexOf(":") + 1)}`;
}

function setEmote(e: Entity<DemoState>, emote: string, ctx: GameContext<DemoState>): void {
  e.state.emote = emote;
  e.state.emoteUntil = ctx.tick + DEMO_EMOTE_TICKS;
  ctx.emit(e, { emote, name: nameOf(e) });
}

/** The demo game; see the module's documentation. */
export function createDemoGame(options: DemoGameOptions = {}): GameModule<DemoState, DemoIntent> {
  const playerSpeed = options.playerSpeed ?? DEFAULT_DEMO_PLAYER_SPEED;
  const npcSpeed = options.npcSpeed ?? DEFAULT_DEMO_NPC_SPEED;

  const fresh = (): DemoState => ({ dx: 0, dy: 0, target: null, emote: null, emoteUntil: 0, home: null });

  return {
    name: "demo",
    kinds: ["player", "npc"],
    playerKind: "player",

    initialPlayerState: fresh,

    restorePlayerState(saved) {
      const s = fresh();
      if (!isObject(saved)) return s;
      if (finite(saved.dx) && finite(saved.dy) && Math.hypot(saved.dx, saved.dy) <= 1 + SLACK) {
        s.dx = saved.dx;
        s.dy = saved.dy;
      }
      const t = saved.target;
      if (isObject(t) && finite(t.x) && finite(t.y)) s.target = { x: t.x, y: t.y };
      if (typeof saved.emote === "string") s.emote = saved.emote;
      if (finite(saved.emoteUntil)) s.emoteUntil = saved.emoteUntil;
      s.home = readRect(saved.home);
      return s;
    },

    spawnNpcs(cell, count, random) {
      const out: NpcSpawn<DemoState>[] = [];
      const pad = Math.min(10, (cell.maxX - cell.minX) / 4, (cell.maxY - cell.minY) / 4);
      for (let i = 0; i < count; i++) {
        const angle = random() * 2 * Math.PI;
        out.push({
          kind: "npc",
          x: cell.minX + pad + random() * (cell.maxX - cell.minX - 2 * pad),
          y: cell.minY + pad + random() * (cell.maxY - cell.minY - 2 * pad),
          state: { ...fresh(), dx: Math.cos(angle), dy: Math.sin(angle), home: { ...cell } },
        });
      }
      return out;
    },

    validateInput(data) {
      if (!isObject(data)) return undefined;
      const keys = Object.keys(data);
      if (keys.length !== 1) return undefined;
      const { move, at, emote, say } = data;
      if (isObject(move) && finite(move.dx) && finite(move.dy)) return { move: { dx: move.dx, dy: move.dy } };
      if (isObject(at) && finite(at.x) && finite(at.y)) return { at: { x: at.x, y: at.y } };
      if (typeof emote === "string" && (DEMO_EMOTES as readonly string[]).includes(emote)) {
        return { emote: emote as DemoEmote };
      }
      if (typeof say === "string") {
        const text = say.trim();
        if (text.length > 0 && text.length <= DEMO_MAX_SAY && !CONTROL.test(text)) return { say: text };
      }
      return undefined;
    },

    applyInput(player, intent, ctx) {
      const s = player.state;
      if ("move" in intent) {
        let { dx, dy } = intent.move;
        const len = Math.hypot(dx, dy);
        if (len > 1 + SLACK) {
          ctx.correct(player, "speed");
          dx /= len;
          dy /= len;
        }
        s.dx = dx;
        s.dy = dy;
        s.target = null;
      } else if ("at" in intent) {
        let { x, y } = intent.at;
        const dist = Math.hypot(x - player.x, y - player.y);
        if (dist > playerSpeed + SLACK) {
          ctx.correct(player, "teleport");
          x = player.x + ((x - player.x) / dist) * playerSpeed;
          y = player.y + ((y - player.y) / dist) * playerSpeed;
        }
        s.dx = 0;
        s.dy = 0;
        s.target = { x, y };
      } else if ("emote" in intent) {
        setEmote(player, intent.emote, ctx);
        if (intent.emote === "wave") {
          const event: DemoWaveEvent = { type: "wave", by: player.id, x: player.x, y: player.y };
          ctx.post(event);
        }
      } else {
        ctx.emit(player, { say: intent.say, name: nameOf(player) });
      }
    },

    systems: [
      // Movement: players walk at most `playerSpeed` per tick, whatever they sent.
      (ctx) => {
        for (const e of ctx.entities()) {
          if (e.player === undefined) continue;
          const s = e.state;
          if (s.target !== null) {
            ctx.moveTo(e, s.target.x, s.target.y);
            s.target = null;
          } else if (s.dx !== 0 || s.dy !== 0) {
            ctx.moveTo(e, e.x + s.dx * playerSpeed, e.y + s.dy * playerSpeed);
          }
        }
      },
      // NPCs wander inside their home cell, turning now and then and at its edges.
      (ctx) => {
        for (const e of ctx.entities()) {
          const home = e.state.home;
          if (e.player !== undefined || home === null) continue;
          const s = e.state;
          if (ctx.random() < 0.02) {
            const angle = ctx.random() * 2 * Math.PI;
            s.dx = Math.cos(angle);
            s.dy = Math.sin(angle);
          }
          let x = e.x + s.dx * npcSpeed;
          let y = e.y + s.dy * npcSpeed;
          if (x < home.minX || x >= home.maxX) {
            s.dx = -s.dx;
            x = Math.min(Math.max(x, home.minX), home.maxX - SLACK);
          }
          if (y < home.minY || y >= home.maxY) {
            s.dy = -s.dy;
            y = Math.min(Math.max(y, home.minY), home.maxY - SLACK);
          }
          ctx.moveTo(e, x, y);
        }
      },
      // Emotes end.
      (ctx) => {
        for (const e of ctx.entities()) {
          if (e.state.emote !== null && ctx.tick >= e.state.emoteUntil) e.state.emote = null;
        }
      },
    ],

    view(e) {
      return { name: nameOf(e), emote: e.state.emote };
    },

    onUserEvent(event, ctx) {
      if (!isObject(event) || event.type !== "wave" || !finite(event.x) || !finite(event.y)) return;
      for (const npc of ctx.near(event.x, event.y, DEMO_WAVE_BACK_RADIUS)) {
        if (npc.player === undefined && npc.state.emote === null) setEmote(npc, "wave", ctx);
      }
    },
  };
}
