/**
 * Helpers for config tests: YAML from lines (so line numbers are easy to count) and problems
 * as the `check` command prints them.
 *
 * @module
 */

import { formatProblem, parseConfig } from "../../src/config/load.ts";

/** The YAML text of `lines`, one per line: line N of the file is argument N. */
export function yaml(...lines: string[]): string {
  return lines.join("\n") + "\n";
}

/** Every problem of `text` (read as "t.yaml"), formatted as `FILE:LINE:COL: path: message`. */
export function check(text: string): string[] {
  return parseConfig(text, "t.yaml").problems.map(formatProblem);
}

/** A valid config's lines: one http listener routing a.example.com to backend "app". */
export const BASE = [
  "listeners:",
  "  web:",
  '    bind: ":80"',
  "    protocol: http",
  "    routes:",
  "      - { host: a.example.com, to: app }",
  "backends:",
  "  app:",
  '    servers: ["127.0.0.1:3000"]',
];
