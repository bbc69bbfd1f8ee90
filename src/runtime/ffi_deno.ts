/**
 * The FFI adapter for Deno (`ffi.ts`), over Deno.dlopen.
 *
 * Waiting for writability uses poll(2) declared `nonblocking: true`: Deno runs such a call on
 * a thread of its blocking pool and returns a Promise, so the event loop never waits on it.
 *
 * @module
 */

import {
  type Ffi,
  HOST_LITTLE_ENDIAN,
  LIBC_PATHS,
  type NativeFunction,
  type NativeLibrary,
  type NativePointer,
  type NativeSymbol,
} from "./ffi_types.ts";

const POLLOUT = 0x4;

function openFirst<S extends Deno.ForeignLibraryInterface>(
  paths: readonly string[],
  symbols: S,
): Deno.DynamicLibrary<S> {
  const errors: string[] = [];
  for (const p of paths) {
    try {
      return Deno.dlopen(p, symbols);
    } catch (err) {
      errors.push(`${p}: ${(err as Error).message}`);
    }
  }
  throw new Error(`cannot open a C library (${errors.join("; ")})`);
}

/** The poll(2) used by waitWritable, opened on first use. */
let pollLib:
  | Deno.DynamicLibrary<{
    poll: { parameters: ["buffer", "u64", "i32"]; result: "i32"; nonblocking: true };
  }>
  | null = null;

/** The Deno FFI adapter. */
export const denoFfi: Ffi = {
  open<S extends Record<string, NativeSymbol>>(
    paths: readonly string[],
    symbols: S,
  ): NativeLibrary<S> {
    const table: Deno.ForeignLibraryInterface = {};
    for (const [name, s] of Object.entries(symbols)) {
      table[name] = {
        parameters: [...s.parameters] as Deno.NativeType[],
        result: s.result as Deno.NativeResultType,
      };
    }
    const lib = openFirst(paths, table);
    return {
      symbols: lib.symbols as unknown as { readonly [K in keyof S]: NativeFunction },
      readI32(ptr: NativePointer, offset = 0): number {
        return new Deno.UnsafePointerView(ptr as unknown as Deno.PointerObject).getInt32(offset);
      },
      close: () => lib.close(),
    };
  },

  async waitWritable(fd: number, timeoutMs: number): Promise<boolean> {
    pollLib ??= openFirst(LIBC_PATHS, {
      poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
    });
    // struct pollfd { int fd; short events; short revents; }, kept alive across the await.
    const pfd = new Uint8Array(8);
    const view = new DataView(pfd.buffer);
    view.setInt32(0, fd, HOST_LITTLE_ENDIAN);
    view.setInt16(4, POLLOUT, HOST_LITTLE_ENDIAN);
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const left = Math.max(0, deadline - Date.now());
      const n = await pollLib.symbols.poll(pfd, 1n, Math.min(left, 0x7fffffff));
      if (n > 0) return true;
      // 0: timed out. -1: EINTR (errno lives on the pool thread): poll again for what is left.
      if (n === 0 || Date.now() >= deadline) return false;
    }
  },
};
