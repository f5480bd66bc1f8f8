/**
 * Which live zone server gets which cell: a pure function of the current owners and the live
 * servers, so it is tested without Redis or NATS.
 *
 * Load is cells held per unit of capacity (`cells / capacity`). Each cell without a live owner goes
 * to the server whose load would be lowest after taking it (ties: fewer reported players, then the
 * server id, so the plan is deterministic). Then, when `rebalance` is on, cells move one at a time
 * from the most loaded server to the least loaded one while that lowers the higher of the two loads:
 * a server that joins a running world gets its share. A moved cell is a change of owner like any
 * other (its epoch is raised; the new owner restores its players from their checkpoints), so
 * rebalancing only moves what it must: at most the cells that put a server above its fair share.
 *
 * Pinned cells (a new leader's cells still awaiting their previous owner, see `authority-term.ts`)
 * are neither assigned nor moved.
 *
 * @module
 */

/** A live server as assignment sees it. */
export interface ServerLoad {
  readonly id: string;
  readonly capacity: number;
  readonly players: number;
}

export interface AssignmentInput {
  /** Every cell of the grid → its current owner (`null`: none). Owners not in `servers` count as none. */
  readonly owners: ReadonlyMap<string, string | null>;
  readonly servers: readonly ServerLoad[];
  /** Cells to leave as they are. */
  readonly pinned?: ReadonlySet<string>;
  /** Move cells between live servers to even the load. Default true. */
  readonly rebalance?: boolean;
}

/** The owner changes to make: cell → new owner (`null`: withdraw, when no server is live). */
export function planAssignment(input: AssignmentInput): Map<string, string | null> {
  const pinned = input.pinned ?? new Set<string>();
  const servers = [...input.servers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const live = new Map(servers.map((s) => [s.id, s]));
  const held = new Map<string, string[]>(servers.map((s) => [s.id, []]));
  const changes = new Map<string, string | null>();
  const orphans: string[] = [];

  for (const [cell, owner] of input.owners) {
    if (pinned.has(cell)) continue;
    if (owner !== null && live.has(owner)) held.get(owner)?.push(cell);
    else orphans.push(cell);
  }
  const load = (id: string, extra = 0) =>
    ((held.get(id)?.length ?? 0) + extra) / (live.get(id)?.capacity ?? 1);

  orphans.sort();
  for (const cell of orphans) {
    let best: ServerLoad | undefined;
    for (const s of servers) {
      if (
        best === undefined ||
        load(s.id, 1) < load(best.id, 1) ||
        (load(s.id, 1) === load(best.id, 1) && s.players < best.players)
      ) {
        best = s;
      }
    }
    if (best === undefined) {
      if (input.owners.get(cell) !== null) changes.set(cell, null);
      continue;
    }
    held.get(best.id)?.push(cell);
    changes.set(cell, best.id);
  }

  if (input.rebalance !== false && servers.length > 1) {
    // Each move strictly lowers the sum of squared loads: the loop ends.
    for (let guard = 0; guard < input.owners.size * servers.length; guard++) {
      let most = servers[0] as ServerLoad;
      let least = servers[0] as ServerLoad;
      for (const s of servers) {
        if (load(s.id) > load(most.id)) most = s;
        if (load(s.id, 1) < load(least.id, 1)) least = s;
      }
      if (most === least || !(load(least.id, 1) < load(most.id))) break;
      const from = held.get(most.id) as string[];
      from.sort();
      const cell = from.pop() as string;
      held.get(least.id)?.push(cell);
      if (input.owners.get(cell) === least.id) changes.delete(cell);
      else changes.set(cell, least.id);
    }
  }
  return changes;
}
