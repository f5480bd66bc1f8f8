import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { NetEngineErrorCode, OptionsError } from "../src/errors.js";
import { AdaptiveTolerance, type AdaptiveToleranceOptions } from "../src/guard/adaptive-tolerance.js";

describe("guard tolerance - scaling", () => {
  it("scales the deadline by factor per level, floored at minDeadlineMs, never above the base", () => {
    const t = new AdaptiveTolerance({ now: () => 0 });
    assert.deepEqual(
      [0, 1, 2, 3].map((level) => t.deadlineAt(level, 5000)),
      [5000, 2500, 1250, 1000],
    );
    assert.equal(t.deadlineAt(3, 800), 800, "a base below the floor is kept");
    assert.equal(t.deadlineAt(0, 5000), t.deadlineMs(5000));
  });

  it("scales limits by factor per level, floored at 1, Infinity unlimited", () => {
    const t = new AdaptiveTolerance({ now: () => 0, factor: 0.25, maxLevel: 4 });
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((level) => t.limitAt(level, 32)),
      [32, 8, 2, 1, 1],
    );
    assert.equal(t.limitAt(4, Number.POSITIVE_INFINITY), Number.POSITIVE_INFINITY);
    assert.equal(t.limit(7), 7);
  });

  it("validates its options", () => {
    const bad: AdaptiveToleranceOptions[] = [
      { factor: 0 },
      { factor: 1 },
      { tightenAbove: 1 },
      { relaxBelow: -0.1 },
      { minSamples: 1.5 },
      { minDeadlineMs: 0 },
      { stepIntervalMs: -1 },
      { windowMs: Number.NaN },
      { maxLevel: 33 },
    ];
    for (const options of bad) {
      assert.throws(
        () => new AdaptiveTolerance(options),
        (error: unknown) => error instanceof OptionsError && error.code === NetEngineErrorCode.InvalidOptions,
      );
    }
  });
});

describe("guard tolerance - window", () => {
  it("forgets outcomes older than the window, bucket by bucket", () => {
    let now = 0;
    const t = new AdaptiveTolerance({ now: () => now, windowMs: 10_000, bucketMs: 1000, maxLevel: 0 });
    for (let i = 0; i < 5; i++) t.recordEstablished();
    now = 3000;
    for (let i = 0; i < 5; i++) t.recordPruned();
    assert.deepEqual(t.state(), { level: 0, maxLevel: 0, share: 0.5, samples: 10 });
    now = 10_000;
    assert.equal(t.state().samples, 5, "the bucket of t=0 left the window");
    assert.equal(t.state().share, 1);
    now = 13_000;
    assert.equal(t.state().samples, 0);
  });

  it("property: the level stays in range, changes one step at a time, at least stepIntervalMs apart", () => {
    const event = fc.record({
      dt: fc.integer({ min: 0, max: 3000 }),
      pruned: fc.nat({ max: 40 }),
      established: fc.nat({ max: 40 }),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 80 }), (events) => {
        let now = 0;
        const changes: { at: number; level: number }[] = [];
        const t = new AdaptiveTolerance({
          now: () => now,
          onChange: (level, share) => {
            assert.ok(share >= 0 && share <= 1);
            changes.push({ at: now, level });
          },
        });
        for (const e of events) {
          now += e.dt;
          for (let i = 0; i < e.pruned; i++) t.recordPruned();
          for (let i = 0; i < e.established; i++) t.recordEstablished();
          const level = t.level;
          assert.ok(level >= 0 && level <= t.maxLevel);
        }
        let previous = { at: Number.NEGATIVE_INFINITY, level: 0 };
        for (const change of changes) {
          assert.equal(Math.abs(change.level - previous.level), 1);
          assert.ok(change.at - previous.at >= 5000);
          previous = change;
        }
      }),
    );
  });
});
