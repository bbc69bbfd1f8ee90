/**
 * The top-level `watch:` key: true or false (default false), its problems with FILE:LINE:COL,
 * and the did-you-mean for the names other tools give it.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../../src/config/load.ts";
import { BASE, check, yaml } from "./problems.ts";

describe("watch:", () => {
  test("false when absent, true or false as written", () => {
    assert.equal(parseConfig(yaml(...BASE), "t.yaml").config?.watch, false);
    assert.equal(parseConfig(yaml(...BASE, "watch: true"), "t.yaml").config?.watch, true);
    assert.equal(parseConfig(yaml(...BASE, "watch: false"), "t.yaml").config?.watch, false);
  });

  test("anything but true or false is an error at its line and column", () => {
    assert.deepEqual(check(yaml(...BASE, "watch: yes")), [
      't.yaml:10:8: watch: expected true or false, got "yes"',
    ]);
    assert.deepEqual(check(yaml(...BASE, "watch: 1")), [
      "t.yaml:10:8: watch: expected true or false, got 1",
    ]);
    assert.deepEqual(check(yaml(...BASE, "watch: [a]")), [
      "t.yaml:10:8: watch: expected a single value, got a list",
    ]);
  });

  test("a misspelled key, or another tool's name for it, suggests watch", () => {
    assert.deepEqual(check(yaml(...BASE, "wacth: true")), [
      't.yaml:10:1: unknown key "wacth" (did you mean "watch"?)',
    ]);
    assert.deepEqual(check(yaml(...BASE, "reload: true")), [
      't.yaml:10:1: unknown key "reload" (did you mean "watch"?)',
    ]);
    assert.deepEqual(check(yaml(...BASE, "auto_reload: true")), [
      't.yaml:10:1: unknown key "auto_reload" (did you mean "watch"?)',
    ]);
  });
});
