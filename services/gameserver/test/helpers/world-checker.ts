/**
 * The world checker: a pure function that proves, from the zone servers' history stream
 * (`src/history/zone-history.ts`, `ZONE_HISTORY=1`) and the bots' own records, the properties of
 * issue 6. No I/O: the end-to-end tests collect, this judges, and its unit tests feed it synthetic
 * histories (including ones that break each property).
 *
 * **Time.** Every process of a test runs on one machine, so the history's wall-clock times (`at`,
 * sub-ms) are comparable across servers. A server's tick is an interval: its step ran from `at` to
 * `at + ms`. "At each tick" means: for every step of every server, and every player,
 * - the player is **owned** by a server during a step when the server held it un-frozen when the
 *   step began (it applies the player's inputs in that step);
 * - (a) **exclusive ownership**: the steps in which different owners own a player never overlap in
 *   time, and owners follow one another in strictly increasing epoch (an owner, i.e. a (server,
 *   epoch) pair, never comes back once a newer one has owned the player; one epoch is never used
 *   by two servers);
 * - (c) **no duplicate entity**: two servers hold the player at once only during a handoff's frozen
 *   window, i.e. every step of the older copy that overlaps the newer copy's tenure is frozen; the
 *   newer copy's tenure starts at its `own` event.
 *
 * **Inputs** (b). Each owner's applied inputs are `(baseline, seq]` step by step, where the baseline
 * is the `seq` of its `own` event. Across owners in epoch order, an owner's baseline must equal the
 * previous owner's last applied `seq`: lower is inputs applied twice (unless the owner restored from
 * a checkpoint after a crash and `allowRestoreRegress` is set: then it is progress lost, reported),
 * higher is inputs lost. Every bot's inputs 1..lastSent must each be applied exactly once, in order,
 * and the bot's final ack must be its last input.
 *
 * (d) **Border visibility**: bots count the updates in which they stood within the AOI radius of a
 * border and had in view an entity on the other side of it; at least one is required.
 */

/** A history record (the wire shape of `ZoneHistoryRecord`, restated: a test never imports src). */
export interface HistoryRecord {
  readonly server: string;
  readonly tick: number;
  readonly at: number;
  readonly ms: number;
  readonly players: readonly (readonly [string, number, number, number])[];
  readonly events: readonly (readonly unknown[])[];
}

/** What a bot recorded. */
export interface BotRecord {
  readonly accountId: string;
  /** The last input sequence the bot sent (inputs 1..lastSent). */
  readonly lastSent: number;
  /** Every `update.ack` received, in order. */
  readonly acks: readonly number[];
  /** Updates in which the bot stood within the AOI radius of a border. */
  readonly nearBorder: number;
  /** … and had an entity from the other side of that border in view. */
  readonly sawAcross: number;
}

export interface CheckOptions {
  /** Restores from checkpoints may start below the previous owner's last input (a crash). Default false. */
  readonly allowRestoreRegress?: boolean;
  /** Require a border observation (d). Default true. */
  readonly requireBorderVisibility?: boolean;
}

export interface CheckReport {
  readonly servers: number;
  readonly records: number;
  readonly missingRecords: number;
  readonly players: number;
  /** Owned player-steps examined. */
  readonly ownedSteps: number;
  readonly handoffs: number;
  readonly restores: number;
  /** Changes of owner seen in the steps (crossings, as the simulation saw them). */
  readonly ownerChanges: number;
  readonly inputsChecked: number;
  /** Per restored player: inputs the restore went back by (the previous owner's last − the baseline). */
  readonly regress: ReadonlyMap<string, number>;
  readonly nearBorder: number;
  readonly sawAcross: number;
  /**
   * Each violation, one line starting with its property: `history:` (records missing), `ownership:`
   * (a), `inputs:` (b), `duplicate:` (c), `border:` (d); empty when every property holds.
   */
  readonly violations: readonly string[];
}

interface Step {
  readonly server: string;
  readonly epoch: number;
  readonly start: number;
  readonly end: number;
  readonly seq: number;
  readonly frozen: boolean;
}

interface Tenure {
  readonly server: string;
  readonly epoch: number;
  readonly since: number;
  readonly baseline: number;
  readonly via: string;
  until: number;
  steps: Step[];
}

const MAX_LISTED = 5_000;

export function checkWorld(
  history: readonly HistoryRecord[],
  bots: readonly BotRecord[],
  options: CheckOptions = {},
): CheckReport {
  const violations: string[] = [];
  const fail = (line: string) => {
    if (violations.length < MAX_LISTED) violations.push(line);
    else if (violations.length === MAX_LISTED) violations.push("history: … more violations left off");
  };

  // Completeness: every server's ticks are contiguous.
  const byServer = new Map<string, HistoryRecord[]>();
  for (const record of history) {
    let list = byServer.get(record.server);
    if (list === undefined) {
      list = [];
      byServer.set(record.server, list);
    }
    list.push(record);
  }
  let missingRecords = 0;
  for (const [server, list] of byServer) {
    list.sort((a, b) => a.tick - b.tick);
    for (let i = 1; i < list.length; i++) {
      const gap = (list[i]?.tick ?? 0) - (list[i - 1]?.tick ?? 0);
      if (gap !== 1) {
        missingRecords += Math.max(0, gap - 1);
        fail(
          `history: ${server} ticks ${list[i - 1]?.tick} → ${list[i]?.tick} (records missing or repeated)`,
        );
      }
    }
  }

  // Tenures: one per (server, epoch), from its `own` event (or first step) to its `out`/`drop` (or last step).
  const tenures = new Map<string, Map<string, Tenure>>();
  let handoffs = 0;
  let restores = 0;
  const tenureOf = (
    accountId: string,
    server: string,
    epoch: number,
    at: number,
    baseline: number,
    via: string,
  ) => {
    let mine = tenures.get(accountId);
    if (mine === undefined) {
      mine = new Map();
      tenures.set(accountId, mine);
    }
    const key = `${server}@${epoch}`;
    let tenure = mine.get(key);
    if (tenure === undefined) {
      tenure = { server, epoch, since: at, baseline, via, until: at, steps: [] };
      mine.set(key, tenure);
    }
    return tenure;
  };
  for (const [server, list] of byServer) {
    for (const record of list) {
      for (const event of record.events) {
        const [kind, accountId, epoch, seq, at, via] = event as [
          string,
          string,
          number,
          number,
          number,
          string,
        ];
        if (kind === "own") {
          const existing = tenures.get(accountId)?.get(`${server}@${epoch}`);
          if (existing !== undefined) fail(`ownership: ${accountId}: ${server} took epoch ${epoch} twice`);
          tenureOf(accountId, server, epoch, at, seq, via);
          if (via === "handoff") handoffs++;
          if (via === "restore") restores++;
        } else if (kind === "out" || kind === "drop") {
          const tenure = tenures.get(accountId)?.get(`${server}@${epoch}`);
          if (tenure !== undefined) tenure.until = Math.max(tenure.until, at);
        }
      }
      for (const [accountId, epoch, seq, frozen] of record.players) {
        const tenure = tenureOf(accountId, server, epoch, record.at, Number.NaN, "unknown");
        tenure.steps.push({
          server,
          epoch,
          start: record.at,
          end: record.at + record.ms,
          seq,
          frozen: frozen === 1,
        });
        tenure.until = Math.max(tenure.until, record.at + record.ms);
      }
    }
  }

  let ownedSteps = 0;
  let ownerChanges = 0;
  const regress = new Map<string, number>();
  const applied = new Map<string, { count: Map<number, number>; max: number }>();
  for (const [accountId, mine] of tenures) {
    const list = [...mine.values()].sort((a, b) => a.epoch - b.epoch || a.since - b.since);
    // One epoch, one server.
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1];
      const b = list[i];
      if (a !== undefined && b !== undefined && a.epoch === b.epoch) {
        fail(`ownership: ${accountId}: epoch ${a.epoch} used by ${a.server} and ${b.server}`);
      }
    }
    // (a) owned steps in time order: no overlap between owners, epochs strictly increasing.
    const owned = list.flatMap((t) => t.steps.filter((s) => !s.frozen)).sort((x, y) => x.start - y.start);
    ownedSteps += owned.length;
    const seen = new Set<string>();
    let current: Step | undefined;
    let currentEnd = Number.NEGATIVE_INFINITY;
    for (const step of owned) {
      const key = `${step.server}@${step.epoch}`;
      if (current === undefined || `${current.server}@${current.epoch}` !== key) {
        if (current !== undefined) {
          ownerChanges++;
          if (step.start < currentEnd) {
            fail(
              `ownership: ${accountId}: owned by ${current.server}@${current.epoch} and ${key} at once ` +
                `(steps overlap by ${(currentEnd - step.start).toFixed(1)} ms)`,
            );
          }
          if (step.epoch <= current.epoch) {
            fail(
              `ownership: ${accountId}: ${key} owned after ${current.server}@${current.epoch} (epoch not increasing)`,
            );
          }
        }
        if (seen.has(key)) fail(`ownership: ${accountId}: ${key} owned again after a newer owner`);
        seen.add(key);
        current = step;
        currentEnd = step.end;
      } else {
        currentEnd = Math.max(currentEnd, step.end);
      }
    }
    // (c) two copies at once only while the older one is frozen.
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const older = list[i];
        const newer = list[j];
        if (older === undefined || newer === undefined || older.server === newer.server) continue;
        for (const step of older.steps) {
          if (!step.frozen && step.end > newer.since && step.start < newer.until) {
            fail(
              `duplicate: ${accountId}: two live copies: ${older.server}@${older.epoch} not frozen while ` +
                `${newer.server}@${newer.epoch} held the player`,
            );
            break;
          }
        }
      }
    }
    // (b) applied inputs: each owner applies (baseline, seq]; baselines chain.
    const counts = new Map<number, number>();
    let max = 0;
    let previous: Tenure | undefined;
    let previousLast = 0;
    for (const tenure of list) {
      const steps = tenure.steps.sort((x, y) => x.start - y.start);
      let baseline = Number.isNaN(tenure.baseline) ? (steps[0]?.seq ?? previousLast) : tenure.baseline;
      if (Number.isNaN(tenure.baseline)) {
        fail(`ownership: ${accountId}: ${tenure.server}@${tenure.epoch} held without an own event`);
      }
      if (previous !== undefined) {
        if (baseline < previousLast) {
          if (tenure.via === "restore" && options.allowRestoreRegress === true) {
            regress.set(accountId, Math.max(regress.get(accountId) ?? 0, previousLast - baseline));
            // The restored owner re-applies from its baseline: the inputs in between count again.
            for (let s = baseline + 1; s <= previousLast; s++) counts.set(s, (counts.get(s) ?? 0) - 1);
          } else {
            fail(
              `inputs: ${accountId}: ${tenure.server}@${tenure.epoch} started at input ${baseline} below ` +
                `${previous.server}@${previous.epoch}'s ${previousLast} (applied twice)`,
            );
          }
        } else if (baseline > previousLast) {
          fail(
            `inputs: ${accountId}: ${tenure.server}@${tenure.epoch} started at input ${baseline} above ` +
              `${previous.server}@${previous.epoch}'s ${previousLast} (inputs lost)`,
          );
        }
      }
      let last = baseline;
      for (const step of steps) {
        if (step.seq < last)
          fail(`inputs: ${accountId}: ${step.server}@${step.epoch} ack went back ${last} → ${step.seq}`);
        if (step.frozen && step.seq !== last) {
          fail(`ownership: ${accountId}: ${step.server}@${step.epoch} applied inputs while frozen`);
        }
        for (let s = last + 1; s <= step.seq; s++) counts.set(s, (counts.get(s) ?? 0) + 1);
        last = Math.max(last, step.seq);
      }
      max = Math.max(max, last);
      baseline = last;
      previous = tenure;
      previousLast = last;
    }
    applied.set(accountId, { count: counts, max });
  }

  // (b) against the bots: 1..lastSent each applied exactly once; the final ack is the last input.
  let inputsChecked = 0;
  let nearBorder = 0;
  let sawAcross = 0;
  for (const bot of bots) {
    nearBorder += bot.nearBorder;
    sawAcross += bot.sawAcross;
    inputsChecked += bot.lastSent;
    const got = applied.get(bot.accountId);
    if (got === undefined) {
      if (bot.lastSent > 0) fail(`inputs: bot ${bot.accountId}: sent ${bot.lastSent} inputs, never owned`);
      continue;
    }
    if (got.max > bot.lastSent)
      fail(`inputs: bot ${bot.accountId}: input ${got.max} applied, only ${bot.lastSent} sent`);
    let lost = 0;
    let twice = 0;
    for (let s = 1; s <= bot.lastSent; s++) {
      const n = got.count.get(s) ?? 0;
      if (n < 1) lost++;
      if (n > 1) twice++;
    }
    if (lost > 0) fail(`inputs: bot ${bot.accountId}: ${lost} of ${bot.lastSent} inputs never applied`);
    if (twice > 0) fail(`inputs: bot ${bot.accountId}: ${twice} inputs applied more than once`);
    const finalAck = bot.acks.at(-1) ?? 0;
    if (finalAck !== bot.lastSent)
      fail(`inputs: bot ${bot.accountId}: last ack ${finalAck}, last input ${bot.lastSent}`);
    if (options.allowRestoreRegress !== true) {
      for (let i = 1; i < bot.acks.length; i++) {
        if ((bot.acks[i] ?? 0) < (bot.acks[i - 1] ?? 0)) {
          fail(`inputs: bot ${bot.accountId}: ack went back ${bot.acks[i - 1]} → ${bot.acks[i]}`);
          break;
        }
      }
    }
  }
  if (options.requireBorderVisibility !== false && sawAcross === 0) {
    fail(`border: border visibility: no bot near a border (${nearBorder} updates) saw an entity across it`);
  }

  return {
    servers: byServer.size,
    records: history.length,
    missingRecords,
    players: tenures.size,
    ownedSteps,
    handoffs,
    restores,
    ownerChanges,
    inputsChecked,
    regress,
    nearBorder,
    sawAcross,
    violations,
  };
}
