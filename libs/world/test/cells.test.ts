import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  allCells,
  cellAt,
  cellBounds,
  cellCentre,
  cellsNear,
  parseCellId,
  WorldError,
  worldConfig,
} from "@meridian/world";
import fc from "fast-check";

const world = worldConfig();

describe("world config and cells", () => {
  it("cells - the default world is 2×2 cells of 1000 units, 20 Hz", () => {
    assert.deepEqual(allCells(world), ["c0_0", "c1_0", "c0_1", "c1_1"]);
    assert.equal(cellAt(world, 0, 0), "c0_0");
    assert.equal(cellAt(world, 1_999.9, 10), "c1_0");
    assert.equal(cellAt(world, 10, 1_000), "c0_1");
    assert.deepEqual(cellBounds(world, "c1_1"), { minX: 1_000, minY: 1_000, maxX: 2_000, maxY: 2_000 });
    assert.deepEqual(cellCentre(world, "c0_1"), { x: 500, y: 1_500 });
  });

  it("cells - every point in bounds lies in the cell whose bounds contain it (property)", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1_999.999, noNaN: true }),
        fc.double({ min: 0, max: 1_999.999, noNaN: true }),
        (x, y) => {
          const b = cellBounds(world, cellAt(world, x, y));
          assert.ok(x >= b.minX && x < b.maxX && y >= b.minY && y < b.maxY);
        },
      ),
    );
  });

  it("cells - points near a border are near the neighbouring cells, and only those", () => {
    assert.deepEqual(cellsNear(world, 990, 500, 100).sort(), ["c1_0"]);
    assert.deepEqual(cellsNear(world, 990, 990, 100).sort(), ["c0_1", "c1_0", "c1_1"]);
    assert.deepEqual(cellsNear(world, 500, 500, 100), []);
    assert.deepEqual(cellsNear(world, 5, 5, 100), [], "the world's edge has no neighbour");
  });

  it("cells - out of bounds and bad ids are WORLD_OUT_OF_BOUNDS", () => {
    for (const [x, y] of [
      [-1, 0],
      [0, 2_000],
      [Number.NaN, 1],
    ] as const) {
      assert.throws(
        () => cellAt(world, x, y),
        (e: unknown) => e instanceof WorldError && e.code === "WORLD_OUT_OF_BOUNDS",
      );
    }
    for (const id of ["c2_0", "c0_2", "x0_0", "c0-0", ""]) {
      assert.throws(
        () => parseCellId(world, id),
        (e: unknown) => e instanceof WorldError,
      );
    }
  });

  it("config - bad values are all reported; the ghost margin covers the interest radius", () => {
    assert.throws(
      () => worldConfig({ name: "a b", width: 0, cols: 0, tickHz: 0, aoiRadius: 100, ghostMargin: 50 }),
      (e: unknown) =>
        e instanceof WorldError &&
        e.code === "WORLD_INVALID_CONFIG" &&
        Array.isArray(e.context.problems) &&
        e.context.problems.length === 5,
    );
    assert.throws(() => worldConfig({ aoiRadius: 600 }), WorldError, "a margin over half a cell");
    assert.equal(worldConfig({ aoiRadius: 50 }).ghostMargin, 50);
    assert.equal(worldConfig({ aoiRadius: 50 }).detailRadius, 25);
    assert.throws(() => worldConfig({ farEvery: 0 }), /farEvery must be an integer from 1 to 8/);
    assert.throws(() => worldConfig({ farEvery: 1.5 }), /farEvery/);
    assert.throws(() => worldConfig({ detailRadius: -1 }), /detailRadius must be a non-negative number/);
  });
});
