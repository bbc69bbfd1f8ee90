/**
 * `check -c FILE`: validate, print `FILE:LINE:COL: message` per problem, exit 0 or 2.
 *
 * @module
 */

import process from "node:process";
import { EXIT_INVALID, loadOrReport } from "./config_arg.ts";
import { missingTransparentSetup } from "./tproxy_setup.ts";

/** Runs `check`; returns the exit code. */
export function check(file: string): number {
  const config = loadOrReport(file);
  if (config === null) return EXIT_INVALID;
  // Transparent proxying: warn (exit code unchanged) about missing kernel set-up.
  const missing = missingTransparentSetup(config);
  if (missing.length > 0) {
    process.stderr.write(
      `${file}: warning: transparent proxying (source: usesrc, transparent: true) needs kernel ` +
        `set-up that is missing here (run "switchyard tproxy-setup --apply" as root):\n` +
        missing.map((m) => `  ${m}\n`).join(""),
    );
  }
  const n = config.listeners.size;
  process.stdout.write(
    `${file}: ok (${n} listener${n === 1 ? "" : "s"}, ${config.backends.size} backends)\n`,
  );
  return 0;
}
