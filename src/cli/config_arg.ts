/**
 * Loading the config named on the command line, printing its problems the way `check` does.
 *
 * @module
 */

import process from "node:process";
import { type FileLoadResult, formatProblem, loadConfigFile } from "../config/load.ts";
import type { Config } from "../config/types.ts";

/** Exit code for an invalid config (contract: `check` exits 2). */
export const EXIT_INVALID = 2;

/**
 * Loads `file` and prints every problem to stderr. The result has a config (and the text it
 * was read from, for whoever must pass that very text on) only when the file is valid.
 */
export function loadReported(file: string): FileLoadResult {
  const loaded = loadConfigFile(file);
  for (const p of loaded.problems) process.stderr.write(formatProblem(p) + "\n");
  return loaded;
}

/** Loads `file`, prints every problem to stderr, returns the config or null when invalid. */
export function loadOrReport(file: string): Config | null {
  return loadReported(file).config;
}
