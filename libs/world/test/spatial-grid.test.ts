import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SpatialGrid, WorldError } from "@meridian/world";
import fc from "fast-check";

const coord = fc.double({ min: -500, max: 500, noNaN: true, noDefaultInfinity: true });

type Op =
  | { op: "insert"; id: number; x: number; y: number }
  | { op: "move"; id: number; x: number; y: number }
  | { op: "remove"; id: number };

const ops = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant("insert" as const), id: fc.nat(30), x: coord, y: coord }),
    fc.record({ op: fc.constant("move" as const), id: fc.nat(30), x: coord, y: coord }),
    fc.record({ op: fc.constant("remove" as const), id: fc.nat(30) }),
  ),
  { maxLength: 120 },
);

function apply(grid: SpatialGrid<number>, model: Map<number, { x: number; y: number }>, list: Op[]): void {
  for (const o of list) {
    if (o.op === "remove") {
      assert.equal(grid.remove(o.id), model.delete(o.id));
    } else {
      grid[o.op](o.id, o.x, o.y);
      model.set(o.id, { x: o.x, y: o.y });
    }
  }
}

const sorted = (a: number[]): number[] => [...a].sort((p, q) => p - q);

describe("spatial grid", () => {
  it("spatial grid - radius queries equal brute force after any insert/move/remove (property)", () => {
    fc.assert(
      fc.property(
        ops,
        coord,
        coord,
        fc.double({ min: 0, max: 400, noNaN: true }),
        fc.double({ min: 1, max: 200, noNaN: true }),
        (list, qx, qy, r, cellSize) => {
          const grid = new SpatialGrid<number>({ cellSize });
          const model = new Map<number, { x: number; y: number }>();
          apply(grid, model, list);
          assert.equal(grid.size, model.size);
          const expected = [...model]
            .filter(([, p]) => (p.x - qx) ** 2 + (p.y - qy) ** 2 <= r * r)
            .map(([id]) => id);
          assert.deepEqual(sorted(grid.queryRadius(qx, qy, r)), sorted(expected));
          for (const [id, p] of model) assert.deepEqual(grid.position(id), p);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("spatial grid - rectangle queries equal brute force (property)", () => {
    fc.assert(
      fc.property(ops, coord, coord, coord, coord, (list, a, b, c, d) => {
        const grid = new SpatialGrid<number>({ cellSize: 37 });
        const model = new Map<number, { x: number; y: number }>();
        apply(grid, model, list);
        const [minX, maxX] = a <= b ? [a, b] : [b, a];
        const [minY, maxY] = c <= d ? [c, d] : [d, c];
        const expected = [...model]
          .filter(([, p]) => p.x >= minX && p.x <= maxX && p.y >= minY && p.y <= maxY)
          .map(([id]) => id);
        assert.deepEqual(sorted(grid.queryRect(minX, minY, maxX, maxY)), sorted(expected));
      }),
      { numRuns: 300 },
    );
  });

  it("spatial grid - the circle's edge is included; visitRadius sees the same items", () => {
    const grid = new SpatialGrid<string>({ cellSize: 10 });
    grid.insert("edge", 10, 0);
    grid.insert("out", 10.001, 0);
    assert.deepEqual(grid.queryRadius(0, 0, 10), ["edge"]);
    const seen: string[] = [];
    grid.visitRadius(0, 0, 10, (id) => seen.push(id));
    assert.deepEqual(seen, ["edge"]);
  });

  it("spatial grid - a bad cell size or a non-finite point is refused", () => {
    assert.throws(() => new SpatialGrid({ cellSize: 0 }), WorldError);
    const grid = new SpatialGrid<string>({ cellSize: 1 });
    assert.throws(
      () => grid.insert("a", Number.NaN, 0),
      (e: unknown) => e instanceof WorldError && e.code === "WORLD_OUT_OF_BOUNDS",
    );
  });
});
