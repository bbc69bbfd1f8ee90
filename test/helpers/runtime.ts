/**
 * The runtime that runs the tests (deno test → Deno, bun test → Bun), for the tests and the
 * helpers that start scripts under it. The one place in test/ that tells the runtimes apart.
 */

import process from "node:process";

/** true under `bun test`. */
export const isBun: boolean = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

/** The name of the runtime the tests (and the routers they start) run under. */
export const runtimeName: "deno" | "bun" = isBun ? "bun" : "deno";

/** The command line that runs a script under this runtime. */
export function scriptCommand(file: string, args: string[]): [string, string[]] {
  return isBun
    ? [process.execPath, [file, ...args]]
    : [process.execPath, ["run", "-A", file, ...args]];
}
