/**
 * The console in a real browser against a real cluster: the lobby, the authority, four zone servers
 * on a 2×2 world, a gateway, the console, and eight bots (`@meridian/client`'s `runBots`) that spawn
 * at the world's centre and roam across the borders. Debian's chromium (playwright-core) loads the
 * page; the test waits until the page has seen players move and at least one player change owner
 * across a border (and a `zone_handoff` event), checks the map, the zone table and the hooks, and
 * saves a screenshot to `test-output/world-map.png` (printed as `CONSOLE_SCREENSHOT <path>`).
 */
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { after, before, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type BotSummary, runBots } from "@meridian/client/node";
import { type Browser, chromium } from "playwright-core";
import { CHROMIUM_ARGS, ensureChromium } from "./helpers/chromium.js";
import { type ConsoleCluster, startConsoleCluster } from "./helpers/console-cluster.js";

const WORLD = { width: 800, height: 800, cols: 2, rows: 2, tickHz: 20, aoiRadius: 60 };
const BOTS = 8;
const OUTPUT_DIR = fileURLToPath(new URL("../test-output/", import.meta.url));
const SCREENSHOT = `${OUTPUT_DIR}world-map.png`;

/** What the page exposes as `window.__meridian` (public/console.js). */
interface PageState {
  connected: boolean;
  updates: number;
  world: string;
  owners: Record<string, string | null>;
  players: Record<string, { x: number; y: number; server: string }>;
  npcs: number;
  zones: { server: string; health: string; cells: string[]; players: number }[];
  handoffCount: number;
  lastHandoff: { entity: string; from: string; to: string; cell: string } | null;
  moves: number;
  crossings: number;
  crossed: string[];
}

/** The slice of the DOM the page-side functions use (the test's tsconfig has no DOM library). */
interface PageDocument {
  getElementById(
    id: string,
  ): { dataset: Record<string, string | undefined>; textContent: string | null } | null;
  querySelectorAll(selector: string): { length: number };
}

let executablePath = "";
let cluster: ConsoleCluster | undefined;
let browser: Browser | undefined;
const stopBots = new AbortController();
let bots: Promise<BotSummary> | undefined;

before(
  async () => {
    executablePath = await ensureChromium();
  },
  { timeout: 15 * 60_000 },
);

after(async () => {
  await browser?.close().catch(() => undefined);
  stopBots.abort();
  await bots?.catch(() => undefined);
  await cluster?.ctx.cleanup();
});

it("console - a browser sees the live world: cells by owner, players moving and crossing a border, zone load and health", {
  timeout: 180_000,
}, async () => {
  cluster = await startConsoleCluster({ world: WORLD, zones: 4, spawn: { x: 400, y: 400 } });
  bots = runBots({
    url: cluster.gatewayUrl,
    players: BOTS,
    prefix: `cb${cluster.ctx.runId}`.replace(/[^A-Za-z0-9]/g, "").slice(0, 12),
    loginsPerSecond: 8,
    inputsPerSecond: 10,
    progressIntervalMs: 60_000,
    signal: stopBots.signal,
  });
  browser = await chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_ARGS] });
  const page = await browser.newPage({ viewport: { width: 1500, height: 860 } });
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(cluster.consoleUrl);

  // The moment the page has seen it all, captured at once: the state, the hooks and the table.
  const handle = await page.waitForFunction(
    (bots: number) => {
      const m = (globalThis as unknown as { __meridian?: PageState }).__meridian;
      const ready =
        m?.connected === true &&
        Object.keys(m.players).length >= bots &&
        // The world settled: four cells, four owners, four healthy servers with one cell each.
        new Set(Object.values(m.owners).filter((s) => s !== null)).size === 4 &&
        m.zones.length === 4 &&
        m.zones.every((z) => z.health === "ok" && z.cells.length === 1) &&
        m.moves >= 4 * bots &&
        m.crossings >= 1 &&
        m.handoffCount >= 1;
      if (!ready) return false;
      const doc = (globalThis as unknown as { document: PageDocument }).document;
      const app = doc.getElementById("app");
      return {
        state: JSON.parse(JSON.stringify(m)) as PageState,
        data: { ...app?.dataset },
        rows: doc.querySelectorAll("#zone-table tbody tr").length,
        lastHandoffText: doc.getElementById("last-handoff")?.textContent ?? "",
      };
    },
    BOTS,
    { timeout: 90_000, polling: 100 },
  );
  const {
    state: seen,
    data,
    rows,
    lastHandoffText,
  } = (await handle.jsonValue()) as {
    state: PageState;
    data: Record<string, string | undefined>;
    rows: number;
    lastHandoffText: string;
  };
  // One more push or two so the flash and the table are on the screenshot.
  await page.waitForFunction(
    (updates: number) =>
      (globalThis as unknown as { __meridian: PageState }).__meridian.updates >= updates + 2,
    seen.updates,
    { timeout: 10_000 },
  );

  await mkdir(OUTPUT_DIR, { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  process.stdout.write(`CONSOLE_SCREENSHOT ${SCREENSHOT}\n`);
  process.stdout.write(
    `CONSOLE_SEEN ${JSON.stringify({
      updates: seen.updates,
      players: Object.keys(seen.players).length,
      npcs: seen.npcs,
      moves: seen.moves,
      crossings: seen.crossings,
      handoffs: seen.handoffCount,
      lastHandoff: seen.lastHandoff,
      owners: seen.owners,
    })}\n`,
  );

  // The map: four cells, each coloured by its own zone server.
  assert.equal(seen.world, cluster.worldName);
  assert.deepEqual(Object.keys(seen.owners).sort(), ["c0_0", "c0_1", "c1_0", "c1_1"]);
  assert.equal(new Set(Object.values(seen.owners)).size, 4);
  // The zone table: four servers, all healthy, each with one cell.
  assert.deepEqual(seen.zones.map((z) => z.server).sort(), ["z1", "z2", "z3", "z4"]);
  for (const zone of seen.zones) {
    assert.equal(zone.health, "ok", `${zone.server} is healthy`);
    assert.equal(zone.cells.length, 1);
  }
  assert.equal(rows, 4);
  // Players moving and crossing: a player seen on two owners, a handoff shown.
  assert.ok(seen.crossings >= 1 && seen.crossed.length >= 1, "a player changed owner on the page");
  assert.ok(
    seen.crossed.every((id) => id in seen.players),
    "the players seen crossing are players on the map",
  );
  assert.ok(seen.lastHandoff !== null);
  assert.notEqual(seen.lastHandoff.from, seen.lastHandoff.to);
  assert.match(seen.lastHandoff.cell, /^c[01]_[01]$/);
  assert.match(data.lastHandoff ?? "", /^p:\d+:z[1-4]>z[1-4]$/);
  assert.ok(Number(data.crossings) >= 1);
  assert.ok(Number(data.players) >= BOTS);
  assert.ok(Number(data.moves) >= 4 * BOTS);
  assert.equal(data.connected, "true");
  assert.match(lastHandoffText, /→/);
  assert.deepEqual(pageErrors, []);
});
