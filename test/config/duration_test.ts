import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDuration, parseDuration } from "../../src/config/duration.ts";

test("durations: each unit and combinations, largest unit first", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("5s"), 5000);
  assert.equal(parseDuration("1m"), 60_000);
  assert.equal(parseDuration("2h"), 7_200_000);
  assert.equal(parseDuration("1m30s"), 90_000);
  assert.equal(parseDuration("1h2m3s4ms"), 3_723_004);
  assert.equal(parseDuration("0s"), 0);
  assert.equal(parseDuration("90s"), 90_000);
});

test("durations: bare numbers, spaces, repeats, wrong order and junk are refused", () => {
  for (
    const bad of [
      "",
      "5",
      "5 s",
      " 5s",
      "5s ",
      "s",
      "5x",
      "1.5s",
      "-1s",
      "30s1m",
      "1s1s",
      "5S",
      "1d",
      "ms",
    ]
  ) {
    assert.equal(parseDuration(bad), null, bad);
  }
});

test("durations: a value past the safe integer range is refused", () => {
  assert.equal(parseDuration("99999999999999999999h"), null);
});

test("durations: days only where asked for, largest unit first", () => {
  assert.equal(parseDuration("30d", true), 2_592_000_000);
  assert.equal(parseDuration("1d12h", true), 129_600_000);
  assert.equal(parseDuration("30d"), null);
  assert.equal(parseDuration("12h1d", true), null);
});

test("durations: formatted as written, and read back to the same value", () => {
  const cases: [number, string][] = [[0, "0s"], [250, "250ms"], [1000, "1s"], [90_000, "1m30s"]];
  cases.push([3_723_004, "1h2m3s4ms"], [129_600_000, "36h"]);
  for (const [ms, text] of cases) {
    assert.equal(formatDuration(ms), text);
    assert.equal(parseDuration(text), ms);
  }
  assert.equal(formatDuration(129_600_000, true), "1d12h");
});
