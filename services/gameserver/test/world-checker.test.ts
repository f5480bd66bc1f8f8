/**
 * The world checker (helpers/world-checker.ts) on synthetic histories: a clean handoff passes, and a
 * history breaking each property is caught.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type BotRecord, checkWorld, type HistoryRecord } from "./helpers/world-checker.js";

type Players = HistoryRecord["players"];

/** One 50 ms step of `server` at tick `tick` (step k runs from 1000 + 50k to +10 ms). */
function rec(
  server: string,
  tick: number,
  players: Players,
  events: HistoryRecord["events"] = [],
): HistoryRecord {
  return { server, tick, at: 1000 + 50 * tick, ms: 10, players, events };
}

const bot = (lastSent: number, acks: number[], sawAcross = 1): BotRecord => ({
  accountId: "7",
  lastSent,
  acks,
  nearBorder: 1,
  sawAcross,
});

/**
 * A clean crossing: A owns player 7 (epoch 1) for ticks 1–3 applying inputs 1–3, freezes it at tick
 * 4; B installs it (epoch 2, baseline 3) at 1215 ms and applies 4–5; A releases it at 1220 ms.
 */
function clean(): HistoryRecord[] {
  return [
    rec("A", 1, [["7", 1, 1, 0]], [["own", "7", 1, 0, 1000, "install", ""]]),
    rec("A", 2, [["7", 1, 2, 0]]),
    rec("A", 3, [["7", 1, 3, 0]]),
    rec("A", 4, [["7", 1, 3, 1]]),
    rec("A", 5, [], [["out", "7", 1, 3, 1220, "B"]]),
    rec("B", 4, []),
    rec("B", 5, [["7", 2, 4, 0]], [["own", "7", 2, 3, 1215, "handoff", "A"]]),
    rec("B", 6, [["7", 2, 5, 0]]),
  ];
}

describe("world checker", () => {
  it("checker - a clean handoff passes", () => {
    const report = checkWorld(clean(), [bot(5, [1, 2, 3, 3, 4, 5])]);
    assert.deepEqual(report.violations, []);
    assert.equal(report.handoffs, 1);
    assert.equal(report.ownerChanges, 1);
    assert.equal(report.inputsChecked, 5);
    assert.equal(report.players, 1);
  });

  it("checker - (a) two owners applying in overlapping steps are caught", () => {
    const history = clean();
    // B owns the player in a step that overlaps A's last owned step (tick 3: 1150–1160 ms).
    history.push(rec("B", 3, [["7", 2, 3, 0]]));
    history[5] = rec("B", 2, []);
    const report = checkWorld(history, [bot(5, [1, 2, 3, 4, 5])]);
    assert.ok(
      report.violations.some((v) => v.startsWith("ownership:")),
      report.violations.join("\n"),
    );
  });

  it("checker - (a) an older owner acting after a newer one is caught", () => {
    const history = clean();
    history.push(rec("A", 7, [["7", 1, 3, 0]]));
    history[4] = rec("A", 5, []);
    history.push(rec("A", 6, []));
    const report = checkWorld(history, [bot(5, [1, 2, 3, 4, 5])]);
    assert.ok(
      report.violations.some((v) => v.startsWith("ownership:") && v.includes("epoch not increasing")),
      report.violations.join("\n"),
    );
  });

  it("checker - (a) one epoch on two servers is caught", () => {
    const history = clean().map((r) =>
      r.server === "B"
        ? {
            ...r,
            players: r.players.map(([id, , seq, f]) => [id, 1, seq, f] as const),
            events: r.events.map(() => ["own", "7", 1, 3, 1215, "handoff", "A"]),
          }
        : r,
    );
    const report = checkWorld(history, [bot(5, [1, 2, 3, 4, 5])]);
    assert.ok(
      report.violations.some((v) => v.includes("epoch 1 used by")),
      report.violations.join("\n"),
    );
  });

  it("checker - (b) an input applied twice (baseline below the previous owner's) is caught", () => {
    const history = clean();
    history[6] = rec("B", 5, [["7", 2, 4, 0]], [["own", "7", 2, 2, 1215, "handoff", "A"]]);
    const report = checkWorld(history, [bot(5, [1, 2, 3, 4, 5])]);
    assert.ok(report.violations.some((v) => v.startsWith("inputs:") && v.includes("applied twice")));
    assert.ok(report.violations.some((v) => v.includes("inputs applied more than once")));
  });

  it("checker - (b) a lost input (baseline above the previous owner's) is caught", () => {
    const history = clean();
    history[6] = rec("B", 5, [["7", 2, 4, 0]], [["own", "7", 2, 4, 1215, "handoff", "A"]]);
    history[7] = rec("B", 6, [["7", 2, 5, 0]]);
    const report = checkWorld(history, [bot(5, [1, 2, 3, 4, 5])]);
    assert.ok(
      report.violations.some((v) => v.includes("inputs lost")),
      report.violations.join("\n"),
    );
    assert.ok(report.violations.some((v) => v.includes("never applied")));
  });

  it("checker - (b) a bot whose last input was never acknowledged is caught", () => {
    const report = checkWorld(clean(), [bot(6, [1, 2, 3, 4, 5])]);
    assert.ok(report.violations.some((v) => v.includes("last ack 5, last input 6")));
    assert.ok(report.violations.some((v) => v.includes("1 of 6 inputs never applied")));
  });

  it("checker - (b) inputs applied while frozen are caught", () => {
    const history = clean();
    history[3] = rec("A", 4, [["7", 1, 4, 1]]);
    const report = checkWorld(history, [bot(5, [1, 2, 3, 4, 5])]);
    assert.ok(report.violations.some((v) => v.includes("applied inputs while frozen")));
  });

  it("checker - (c) a second live copy during another's tenure is caught", () => {
    const history = clean();
    // A never froze the player: its copy kept being simulated while B held it.
    history[3] = rec("A", 4, [["7", 1, 3, 0]]);
    history[4] = rec("A", 5, [["7", 1, 3, 0]], [["out", "7", 1, 3, 1260, "B"]]);
    const report = checkWorld(history, [bot(5, [1, 2, 3, 4, 5])]);
    assert.ok(
      report.violations.some((v) => v.startsWith("duplicate:")),
      report.violations.join("\n"),
    );
  });

  it("checker - (d) no border observation is caught", () => {
    const report = checkWorld(clean(), [bot(5, [1, 2, 3, 4, 5], 0)]);
    assert.ok(report.violations.some((v) => v.startsWith("border:")));
  });

  it("checker - a hole in a server's ticks is reported", () => {
    const history = clean().filter((r) => !(r.server === "B" && r.tick === 5));
    const report = checkWorld(history, [bot(5, [1, 2, 3, 4, 5])]);
    assert.equal(report.missingRecords, 1);
    assert.ok(report.violations.some((v) => v.startsWith("history:")));
  });

  it("checker - a restore below the last input is progress lost only when allowed", () => {
    // A dies after tick 3 (inputs 1–3 applied; checkpoint at 2); C restores at epoch 2, baseline 2.
    const history: HistoryRecord[] = [
      rec("A", 1, [["7", 1, 1, 0]], [["own", "7", 1, 0, 1000, "install", ""]]),
      rec("A", 2, [["7", 1, 2, 0]]),
      rec("A", 3, [["7", 1, 3, 0]]),
      rec("C", 40, [["7", 2, 3, 0]], [["own", "7", 2, 2, 2990, "restore", ""]]),
      rec("C", 41, [["7", 2, 4, 0]]),
    ];
    const acks = [1, 2, 3, 3, 4];
    const strict = checkWorld(history, [bot(4, acks)]);
    assert.ok(strict.violations.some((v) => v.includes("applied twice")));
    const crash = checkWorld(history, [bot(4, acks)], { allowRestoreRegress: true });
    assert.deepEqual(crash.violations, []);
    assert.equal(crash.restores, 1);
    assert.equal(crash.regress.get("7"), 1);
  });
});
