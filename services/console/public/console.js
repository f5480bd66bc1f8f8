/**
 * The console's page: a canvas world map fed by the console's WebSocket (`/live`), one JSON
 * `WorldView` a push (services/console/src/state/world-state.ts). Plain ES module, no build step.
 *
 * Test hooks (stable): `window.__meridian` (the state below, updated in place) and the `data-*`
 * attributes of `#app`: connected, updates, players, npcs (simulated by the live zones), zones,
 * handoffs, crossings (players seen changing owner between two pushes), moves (player position
 * changes seen), last-handoff (`<entity>:<from>><to>`).
 */

const PALETTE = [
  "#e57373",
  "#64b5f6",
  "#81c784",
  "#ffb74d",
  "#ba68c8",
  "#4dd0e1",
  "#f06292",
  "#aed581",
  "#ffd54f",
  "#9575cd",
];
const FLASH_MS = 1500;
const MAX_CROSSED = 100;

/** A server's colour: stable for a name, whatever order servers appear in. */
function colourOf(server) {
  if (server === null || server === undefined) return "#37474f";
  let hash = 0;
  for (let i = 0; i < server.length; i++) hash = (hash * 31 + server.charCodeAt(i)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

const app = document.getElementById("app");
const canvas = document.getElementById("map");
const ctx = canvas.getContext("2d");

/** What the page knows; exposed for tests and curious operators. */
const state = {
  connected: false,
  updates: 0,
  world: "",
  geometry: null,
  mapVersion: null,
  /** cell → owning server (the authority's map). */
  owners: {},
  /** player id → { x, y, server } (the latest push). */
  players: {},
  /** NPCs whose positions the zones list (drawn). */
  npcs: 0,
  /** NPCs the zones simulate (entities − players, from their snapshots), listed or not. */
  npcTotal: 0,
  zones: [],
  handoffCount: 0,
  lastHandoff: null,
  moves: 0,
  crossings: 0,
  /** Ids of players seen changing owner, newest last. */
  crossed: [],
};
window.__meridian = state;

/** id → { kind, server, x0, y0, x1, y1 } for drawing between two pushes. */
let drawn = new Map();
let receivedAt = 0;
let period = 100;
let lastHandoffN = 0;
const flashes = [];

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/live`);
  socket.addEventListener("open", () => setConnected(true));
  socket.addEventListener("message", (event) => {
    try {
      apply(JSON.parse(event.data));
    } catch (error) {
      setStatus(`bad update: ${error instanceof Error ? error.message : String(error)}`, false);
    }
  });
  socket.addEventListener("close", () => {
    setConnected(false);
    setTimeout(connect, 1000);
  });
}

function setConnected(connected) {
  state.connected = connected;
  app.dataset.connected = String(connected);
  setStatus(connected ? "live" : "disconnected: reconnecting…", connected);
}

function setStatus(text, live) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("live", live);
}

function apply(view) {
  const now = performance.now();
  if (receivedAt !== 0) period = Math.min(1000, Math.max(16, now - receivedAt));
  receivedAt = now;
  state.updates++;
  state.world = view.world;
  state.geometry = view.geometry;
  state.mapVersion = view.map === null ? null : view.map.version;
  state.owners = {};
  for (const entry of view.map?.cells ?? []) state.owners[entry.cell] = entry.server;
  state.zones = view.zones;

  const next = new Map();
  const players = {};
  let npcs = 0;
  for (const [id, kindIndex, x, y, serverIndex] of view.entities) {
    const kind = view.kinds[kindIndex];
    const server = view.servers[serverIndex];
    const before = drawn.get(id);
    const at = before === undefined ? { x, y } : position(before, now);
    next.set(id, { kind, server, x0: at.x, y0: at.y, x1: x, y1: y });
    if (kind === "player") {
      players[id] = { x, y, server };
      const previous = state.players[id];
      if (previous !== undefined) {
        if (previous.x !== x || previous.y !== y) state.moves++;
        if (previous.server !== server) {
          state.crossings++;
          state.crossed.push(id);
          if (state.crossed.length > MAX_CROSSED) state.crossed.shift();
        }
      }
    } else {
      npcs++;
    }
  }
  drawn = next;
  state.players = players;
  state.npcs = npcs;
  state.npcTotal = view.zones
    .filter((zone) => zone.health !== "down")
    .reduce((sum, zone) => sum + Math.max(0, zone.entityCount - zone.players), 0);

  for (const handoff of view.handoffs) {
    if (handoff.n <= lastHandoffN) continue;
    lastHandoffN = handoff.n;
    state.lastHandoff = handoff;
    const where = players[handoff.entity];
    flashes.push({ entity: handoff.entity, cell: handoff.cell, x: where?.x, y: where?.y, start: now });
  }
  state.handoffCount = view.handoffCount;
  render(view);
}

function render(view) {
  const playerCount = Object.keys(state.players).length;
  document.getElementById("world").textContent = `world ${view.world}`;
  document.getElementById("players").textContent = String(playerCount);
  // NPCs are drawn when the zones list them; zone servers that list only their players still count them.
  const npcText = document.getElementById("npcs");
  npcText.textContent =
    state.npcs === state.npcTotal ? String(state.npcTotal) : `${state.npcTotal} (${state.npcs} shown)`;
  npcText.title =
    "NPCs simulated by the live zone servers (and how many of them the zones list with a position)";
  document.getElementById("zones").textContent = String(view.zones.length);
  document.getElementById("handoffs").textContent = String(view.handoffCount);
  document.getElementById("map-version").textContent =
    view.map === null
      ? "—"
      : `${view.map.version} (leader ${view.map.leaderEpoch}, ${(view.map.ageMs / 1000).toFixed(1)} s ago)`;
  Object.assign(app.dataset, {
    updates: String(state.updates),
    players: String(playerCount),
    npcs: String(state.npcTotal),
    zones: String(view.zones.length),
    handoffs: String(view.handoffCount),
    crossings: String(state.crossings),
    moves: String(state.moves),
    lastHandoff:
      state.lastHandoff === null
        ? ""
        : `${state.lastHandoff.entity}:${state.lastHandoff.from}>${state.lastHandoff.to}`,
  });
  renderZones(view.zones);
  renderHandoffs(view.handoffs);
}

function cellText(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className !== undefined) td.className = className;
  return td;
}

function renderZones(zones) {
  const rows = zones.map((zone) => {
    const tr = document.createElement("tr");
    tr.dataset.server = zone.server;
    tr.dataset.health = zone.health;
    const name = document.createElement("td");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colourOf(zone.server);
    name.append(swatch, zone.server);
    tr.append(
      name,
      cellText(zone.health, `health-${zone.health}`),
      cellText(zone.cells.join(" ") || "—"),
      cellText(String(zone.players)),
      cellText(String(zone.entityCount)),
      cellText(`${zone.tickMs.toFixed(2)} / ${zone.tickP99Ms.toFixed(2)}`),
      cellText(`${(zone.ageMs / 1000).toFixed(1)} s ago`),
      cellText(zone.leaseMs === null ? "—" : `${(zone.leaseMs / 1000).toFixed(1)} s`),
      cellText(`${zone.handoffsOut} / ${zone.handoffsIn}`),
    );
    return tr;
  });
  document.querySelector("#zone-table tbody").replaceChildren(...rows);
}

function renderHandoffs(handoffs) {
  const last = state.lastHandoff;
  document.getElementById("last-handoff").textContent =
    last === null ? "none yet" : `latest: player ${last.entity} ${last.from} → ${last.to} into ${last.cell}`;
  const now = Date.now();
  const items = handoffs
    .slice(-20)
    .reverse()
    .map((h) => {
      const li = document.createElement("li");
      li.textContent = `${h.entity}: ${h.from} → ${h.to} (${h.cell}, stall ${h.stallMs.toFixed(0)} ms)`;
      if (now - h.at < FLASH_MS) li.className = "new";
      return li;
    });
  document.getElementById("handoff-list").replaceChildren(...items);
}

function position(entity, now) {
  const f = Math.min(1, (now - receivedAt) / period);
  return { x: entity.x0 + (entity.x1 - entity.x0) * f, y: entity.y0 + (entity.y1 - entity.y0) * f };
}

function draw() {
  const now = performance.now();
  const ratio = window.devicePixelRatio || 1;
  const size = Math.round(canvas.clientWidth * ratio) || 720;
  if (canvas.width !== size) {
    canvas.width = size;
    canvas.height = size;
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const g = state.geometry;
  if (g !== null) {
    const scale = Math.min(canvas.width / g.width, canvas.height / g.height);
    const cw = g.width / g.cols;
    const ch = g.height / g.rows;
    ctx.font = `${Math.round(12 * ratio)}px system-ui, sans-serif`;
    for (let col = 0; col < g.cols; col++) {
      for (let row = 0; row < g.rows; row++) {
        const cell = `c${col}_${row}`;
        const owner = state.owners[cell] ?? null;
        const x = col * cw * scale;
        const y = row * ch * scale;
        ctx.fillStyle = colourOf(owner);
        ctx.globalAlpha = 0.22;
        ctx.fillRect(x, y, cw * scale, ch * scale);
        ctx.globalAlpha = 1;
        ctx.strokeStyle = "#546e7a";
        ctx.lineWidth = ratio;
        ctx.strokeRect(x, y, cw * scale, ch * scale);
        ctx.fillStyle = "#b0bec5";
        ctx.fillText(`${cell} · ${owner ?? "unowned"}`, x + 6 * ratio, y + 16 * ratio);
      }
    }
    for (const entity of drawn.values()) {
      if (entity.kind === "player") continue;
      const at = position(entity, now);
      ctx.fillStyle = "#7a8794";
      ctx.fillRect(at.x * scale - 2 * ratio, at.y * scale - 2 * ratio, 4 * ratio, 4 * ratio);
    }
    for (const entity of drawn.values()) {
      if (entity.kind !== "player") continue;
      const at = position(entity, now);
      ctx.beginPath();
      ctx.arc(at.x * scale, at.y * scale, 5 * ratio, 0, 2 * Math.PI);
      ctx.fillStyle = colourOf(entity.server);
      ctx.fill();
      ctx.lineWidth = 1.5 * ratio;
      ctx.strokeStyle = "#ffffff";
      ctx.stroke();
    }
    for (let i = flashes.length - 1; i >= 0; i--) {
      const flash = flashes[i];
      const age = now - flash.start;
      if (age > FLASH_MS) {
        flashes.splice(i, 1);
        continue;
      }
      const current = drawn.get(flash.entity);
      const at = current === undefined ? { x: flash.x, y: flash.y } : position(current, now);
      if (at.x === undefined) continue;
      ctx.beginPath();
      ctx.arc(at.x * scale, at.y * scale, (6 + (age / FLASH_MS) * 24) * ratio, 0, 2 * Math.PI);
      ctx.strokeStyle = "#ffeb3b";
      ctx.globalAlpha = 1 - age / FLASH_MS;
      ctx.lineWidth = 2 * ratio;
      ctx.stroke();
      ctx.globalAlpha = 1;
    }
  }
  requestAnimationFrame(draw);
}

connect();
requestAnimationFrame(draw);
