import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { parseConfig } from "../../src/config/load.ts";
import { findTooDeep, MAX_NESTING } from "../../src/config/nesting.ts";

const EXAMPLE = readFileSync(
  new URL("../fixtures/config/contract_example.yaml", import.meta.url),
  "utf8",
);

/**
 * Loads a fuzzer-found config and checks it is refused with one error on the line where
 * `deepPart` starts.
 */
function refusedAt(fixture: string, deepPart: string): void {
  const text = readFileSync(new URL(`../fixtures/config/${fixture}`, import.meta.url), "utf8");
  const r = parseConfig(text, fixture);
  assert.equal(r.config, null);
  assert.equal(r.problems.length, 1);
  assert.equal(r.problems[0].line, text.slice(0, text.indexOf(deepPart)).split("\n").length);
  assert.match(r.problems[0].message, /nested deeper than 256 levels/);
}

describe("config nesting guard", () => {
  test("the fuzzer's 5,000-level sequence is one positioned error, not a stack overflow", () => {
    refusedAt("fuzz_deep_sequence.yaml", "- - - -");
  });

  test("the fuzzer's 'cli: cli: cli: ...' line of nested maps is refused too", () => {
    refusedAt("fuzz_deep_map.yaml", "cli: cli: cli:");
    assert.equal(findTooDeep("a: " + "b: ".repeat(MAX_NESTING))?.line, 1);
  });

  test("deep block sequences, flow collections and indentation are all caught", () => {
    const dashes = "listeners:\n  " + "- ".repeat(10_000) + "\n";
    const flow = "a: 1\nlisteners: " + "[".repeat(10_000) + "\n";
    const maps = "x:\n" +
      Array.from({ length: 400 }, (_, i) => " ".repeat(i + 1) + "k:").join("\n");
    // Two spaces are levels 1 and 2; dash k (from 1, at column 1 + 2k) is level k + 2.
    const k = MAX_NESTING + 1 - 2;
    assert.deepEqual(findTooDeep(dashes), { line: 2, col: 1 + 2 * k });
    // "listeners: " is one level; bracket k (from 1) sits at column 11 + k.
    assert.deepEqual(findTooDeep(flow), { line: 2, col: 11 + MAX_NESTING });
    // Line n + 1 is n columns of indentation and its "k:", n + 1 levels.
    assert.equal(findTooDeep(maps)?.line, MAX_NESTING + 1);
    for (const t of [dashes, flow, maps]) {
      assert.match(parseConfig(t, "x.yaml").problems[0].message, /nested deeper/);
    }
  });

  test("a stray quote before the deep part does not hide it (third fuzz find)", () => {
    refusedAt("fuzz_deep_after_quote.yaml", "servers: : : :");
  });

  test("real configs pass; closing brackets give their levels back", () => {
    assert.equal(findTooDeep(EXAMPLE), null);
    assert.equal(findTooDeep("- - - x\n" + "[".repeat(MAX_NESTING - 3)), null);
    assert.equal(findTooDeep("[1]\n".repeat(10_000)), null);
    assert.equal(findTooDeep("a: b\n".repeat(10_000)), null);
  });
});
