/**
 * `check -c FILE`: validate, print `FILE:LINE:COL: message` per problem, exit 0 or 2.
 *
 * @module
 */

import process from "node:process";
import { EXIT_INVALID, loadOrReport } from "./config_arg.ts";

/** Runs `check`; returns the exit code. */
export function check(file: string): number {
  const config = loadOrReport(file);
  if (config === null) return EXIT_INVALID;
  const n = config.listeners.size;
  process.stdout.write(
    `${file}: ok (${n} listener${n === 1 ? "" : "s"}, ${config.backends.size} backends)\n`,
  );
  return 0;
}
