/**
 * Selects the FFI adapter (`ffi_types.ts` describes the interface). Each runtime only ever
 * loads its own adapter file.
 *
 * @module
 */

import { isBun } from "./mod.ts";
import type { Ffi } from "./ffi_types.ts";

export * from "./ffi_types.ts";

/** The adapter for this runtime (it opens nothing until called). */
export const ffi: Ffi = isBun
  ? (await import("./ffi_bun.ts")).bunFfi
  : (await import("./ffi_deno.ts")).denoFfi;
