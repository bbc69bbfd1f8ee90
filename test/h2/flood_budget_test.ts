/** FloodBudget: the two budgets, their shared window, and the ENHANCE_YOUR_CALM they end in. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FloodBudget, type FloodLimits } from "../../src/h2/flood_budget.ts";
import { ERROR } from "../../src/h2/frame.ts";

function budget(limits: FloodLimits, peer: "client" | "server" = "client") {
  const clock = { now: 1_000_000 };
  const failures: [number, string][] = [];
  const b = new FloodBudget(
    limits,
    peer,
    (code, reason) => failures.push([code, reason]),
    () => clock.now,
  );
  return { b, clock, failures };
}

describe("FloodBudget", () => {
  test("control frames up to the budget are fine; the next one fails with ENHANCE_YOUR_CALM", () => {
    const { b, failures } = budget({ maxControlFrames: 3, maxResets: 1, floodWindowMs: 1000 });
    assert.deepEqual([b.control(), b.control(), b.control()], [false, false, false]);
    assert.deepEqual(failures, []);
    assert.equal(b.control(), true);
    assert.deepEqual(failures, [[
      ERROR.ENHANCE_YOUR_CALM,
      "more than 3 frames without request progress in 1000 ms",
    ]]);
  });

  test("resets have their own budget, named after the peer", () => {
    const { b, failures } = budget({ maxControlFrames: 100, maxResets: 2, floodWindowMs: 500 });
    assert.deepEqual([b.reset(), b.reset(), b.control()], [false, false, false]);
    assert.equal(b.reset(), true);
    assert.deepEqual(failures, [[
      ERROR.ENHANCE_YOUR_CALM,
      "more than 2 streams reset by or because of the client in 500 ms",
    ]]);
  });

  test("a server peer makes progress with responses; without maxResets, resets are free", () => {
    const { b, failures } = budget({ maxControlFrames: 1, floodWindowMs: 1000 }, "server");
    for (let i = 0; i < 1000; i++) assert.equal(b.reset(), false);
    b.control();
    assert.equal(b.control(), true);
    assert.deepEqual(failures, [[
      ERROR.ENHANCE_YOUR_CALM,
      "more than 1 frames without response progress in 1000 ms",
    ]]);
  });

  test("both counters restart together once the window has passed", () => {
    const { b, clock, failures } = budget({
      maxControlFrames: 2,
      maxResets: 2,
      floodWindowMs: 1000,
    });
    b.control();
    b.control();
    b.reset();
    b.reset();
    clock.now += 999;
    assert.equal(b.control(), true, "still the same window");
    clock.now += 1;
    assert.deepEqual([b.control(), b.control(), b.reset(), b.reset()], [
      false,
      false,
      false,
      false,
    ]);
    assert.equal(failures.length, 1);
  });
});
