/** Cell assignment, a pure function: orphans to the least loaded, rebalancing, capacity, pinned cells. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planAssignment, type ServerLoad } from "../src/leases/assignment.js";

const grid = (cols: number, rows: number, owner: (cell: string) => string | null = () => null) => {
  const owners = new Map<string, string | null>();
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) owners.set(`c${c}_${r}`, owner(`c${c}_${r}`));
  return owners;
};
const servers = (...ids: string[]): ServerLoad[] => ids.map((id) => ({ id, capacity: 100, players: 0 }));
const apply = (owners: Map<string, string | null>, plan: Map<string, string | null>) => {
  for (const [cell, server] of plan) owners.set(cell, server);
  return owners;
};
const counts = (owners: Map<string, string | null>) => {
  const out: Record<string, number> = {};
  for (const server of owners.values()) if (server !== null) out[server] = (out[server] ?? 0) + 1;
  return out;
};

describe("assignment", () => {
  it("assignment - servers joining one by one end with one cell each of a 2×2 grid", () => {
    const owners = grid(2, 2);
    const live: ServerLoad[] = [];
    for (const id of ["a", "b", "c", "d"]) {
      live.push(...servers(id));
      apply(owners, planAssignment({ owners, servers: live }));
    }
    assert.deepEqual(counts(owners), { a: 1, b: 1, c: 1, d: 1 });
  });

  it("assignment - a dead server's cells go to the live ones, least loaded first, and nothing else moves", () => {
    const owners = grid(4, 2, (cell) =>
      cell.startsWith("c0") || cell.startsWith("c1") ? "a" : cell.startsWith("c2") ? "b" : "c",
    );
    const plan = planAssignment({ owners, servers: servers("b", "c"), rebalance: false });
    assert.equal(plan.size, 4);
    for (const server of plan.values()) assert.ok(server === "b" || server === "c");
    assert.deepEqual(counts(apply(owners, plan)), { b: 4, c: 4 });
  });

  it("assignment - capacity weighs: twice the capacity, twice the cells", () => {
    const owners = grid(3, 2);
    const plan = planAssignment({
      owners,
      servers: [
        { id: "big", capacity: 200, players: 0 },
        { id: "small", capacity: 100, players: 0 },
      ],
    });
    assert.deepEqual(counts(apply(owners, plan)), { big: 4, small: 2 });
  });

  it("assignment - no live server withdraws owned cells; pinned cells are left alone", () => {
    const owners = grid(2, 1, () => "gone");
    assert.deepEqual(
      [...planAssignment({ owners, servers: [] })],
      [
        ["c0_0", null],
        ["c1_0", null],
      ],
    );
    const plan = planAssignment({ owners, servers: servers("x"), pinned: new Set(["c0_0"]) });
    assert.deepEqual([...plan], [["c1_0", "x"]]);
  });

  it("assignment - a balanced world plans nothing", () => {
    const owners = grid(2, 2, (cell) => (cell.endsWith("0") ? "a" : "b"));
    assert.equal(planAssignment({ owners, servers: servers("a", "b") }).size, 0);
  });
});
