/**
 * Picks the runtime adapter once, at start-up. The adapters are imported dynamically so that
 * each runtime only ever loads its own file (the other names globals it does not have).
 *
 * @module
 */

import type { Runtime } from "./types.ts";

export type * from "./types.ts";

/** true under Bun. */
export const isBun: boolean = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

/** The adapter for the runtime this process runs on. */
export const runtime: Runtime = isBun
  ? (await import("./bun.ts")).bunRuntime
  : (await import("./deno.ts")).denoRuntime;
