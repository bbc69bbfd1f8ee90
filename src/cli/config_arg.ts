/**
 * Loading the config named on the command line, printing its problems the way `check` does.
 *
 * @module
 */

import process from "node:process";
import { formatProblem, loadConfigFile } from "../config/load.ts";
import type { Config } from "../config/types.ts";

/** Exit code for an invalid config (contract: `check` exits 2). */
export const EXIT_INVALID = 2;

/** Loads `file`, prints every problem to stderr, returns the config or null when invalid. */
export function loadOrReport(file: string): Config | null {
  const { config, problems } = loadConfigFile(file);
  for (const p of problems) process.stderr.write(formatProblem(p) + "\n");
  return problems.some((p) => p.severity === "error") ? null : config;
}
