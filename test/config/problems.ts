/**
 * Helpers for config tests: YAML from lines (so line numbers are easy to count) and problems
 * as the `check` command prints them.
 *
 * @module
 */

import { readFileSync } from "node:fs";
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

/** The YAML example of issue #18 (route actions on http routes), exactly as the issue has it. */
export const ISSUE_18 = readFileSync(
  new URL("../fixtures/config/route_actions_issue.yaml", import.meta.url),
  "utf8",
);

/** A bcrypt hash (cost 4) of "secret". */
export const HASH = "$2b$04$OvE4dBmsb28yQZeUBX9trOoHAjaglhiUV44PTVdIuEf30Q8Z9X2Hy";

/**
 * {@link ISSUE_18} made loadable: listener "site" gets a bind, alice a real hash in place of
 * "$2b$12$...", and the backends it names are defined.
 */
export function completedIssue18(): string {
  return ISSUE_18
    .replace("  site:\n", '  site:\n    bind: [":443"]\n')
    .replace("$2b$12$...", () => HASH) +
    yaml(
      "backends:",
      '  acme: { servers: ["127.0.0.1:8402"] }',
      '  api: { servers: ["127.0.0.1:3000"] }',
      '  admin: { servers: ["127.0.0.1:3001"] }',
    );
}
