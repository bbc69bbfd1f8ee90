/**
 * Mutated configs never make the loader throw, and every problem it reports is positioned.
 * Seeded, so a failure reproduces: the message names the iteration and the text.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseConfig } from "../../src/config/load.ts";
import { completedIssue18 } from "./problems.ts";

const EXAMPLE = readFileSync(
  new URL("../fixtures/config/contract_example.yaml", import.meta.url),
  "utf8",
);
const ITERATIONS = 20_000;
// Characters that change YAML structure, plus a few ordinary ones.
const CHARS = ":-[]{}, \t\"'*&!#|>?%@`\\\n0a9Zé";

/** mulberry32: a small seeded generator, so failures are reproducible. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(text: string, rand: () => number): string {
  const pick = (n: number) => Math.floor(rand() * n);
  let lines = text.split("\n");
  for (let m = 1 + pick(4); m > 0; m--) {
    const i = pick(lines.length);
    const kind = pick(4);
    if (kind === 0) lines.splice(i, 1);
    else if (kind === 1) lines.splice(i, 0, lines[pick(lines.length)]);
    else {
      const line = lines[i] ?? "";
      const at = pick(line.length + 1);
      const c = CHARS[pick(CHARS.length)];
      // Flip a character (kind 2) or insert one (kind 3).
      lines[i] = line.slice(0, at) + c + line.slice(kind === 2 ? at + 1 : at);
    }
    if (lines.length === 0) lines = [""];
  }
  return lines.join("\n");
}

/** Parses `iterations` mutations of `base`: none throws, every problem is positioned. */
function fuzz(base: string, seed: number, iterations: number): void {
  const rand = random(seed);
  let invalid = 0;
  for (let i = 0; i < iterations; i++) {
    const text = mutate(base, rand);
    let result;
    try {
      result = parseConfig(text, "fuzz.yaml");
    } catch (err) {
      assert.fail(`iteration ${i} threw ${err}\n--- text ---\n${text}`);
    }
    const lineCount = text.split("\n").length;
    for (const p of result.problems) {
      const where = `iteration ${i}: ${JSON.stringify(p)}\n--- text ---\n${text}`;
      assert.ok(p.line >= 1 && p.line <= lineCount + 1 && p.col >= 1, where);
      assert.equal(p.file, "fuzz.yaml", where);
    }
    const errors = result.problems.some((p) => p.severity === "error");
    assert.equal(result.config === null, errors, `iteration ${i}`);
    if (errors) invalid++;
  }
  // The mutations must actually exercise the error paths, not just whitespace.
  assert.ok(invalid > iterations / 4, `only ${invalid} invalid`);
}

test(
  `${ITERATIONS} mutated configs: no throw, every problem at line >= 1`,
  { timeout: 120_000 },
  () => fuzz(EXAMPLE, 20240601, ITERATIONS),
);

test(
  `${ITERATIONS / 4} mutated route-action configs (issue #18): no throw, positioned problems`,
  { timeout: 120_000 },
  () => fuzz(completedIssue18(), 20250118, ITERATIONS / 4),
);
