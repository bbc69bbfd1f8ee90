/**
 * The C library's socket calls, opened once on first use through the runtime's FFI adapter,
 * and errno as the calling thread sees it right after a failed call.
 *
 * @module
 */

import { ffi, LIBC_PATHS, type NativeLibrary } from "../runtime/ffi.ts";

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = NativeLibrary<typeof SYMBOLS>;

let lib: Libc | null = null;

/** The opened library; throws (naming the paths tried) where there is no loadable libc. */
export function libc(): Libc {
  if (lib === null) {
    try {
      lib = ffi.open(LIBC_PATHS, SYMBOLS);
    } catch (err) {
      throw new Error(
        `transparent sockets need Linux's C library through FFI: ${(err as Error).message}`,
      );
    }
  }
  return lib;
}

/** errno of the last failed call on this thread (read at once, before anything else runs). */
export function lastErrno(): number {
  const l = libc();
  return l.readI32(l.symbols.__errno_location(), 0);
}
