/**
 * The runtime-neutral foreign-function interface that `src/sys/` builds on: open a C library
 * with a symbol table, call its symbols synchronously, read an int behind a returned pointer,
 * and wait for a file descriptor to become writable without blocking the event loop.
 *
 * `ffi_deno.ts` (Deno.dlopen) and `ffi_bun.ts` (bun:ffi) implement it; each runtime only ever
 * loads its own file. Nothing is opened until first use, so a router that never makes a
 * transparent socket never calls into FFI (nor needs Deno's --allow-ffi).
 *
 * @module
 */

/** The C types the symbol tables use. `buffer`: a Uint8Array passed as a pointer. */
export type NativeType = "i32" | "u32" | "i64" | "u64" | "buffer" | "pointer" | "void";

/** One C function: its parameter and result types. */
export interface NativeSymbol {
  readonly parameters: readonly NativeType[];
  readonly result: NativeType;
}

/** An opaque pointer returned by a `pointer` symbol; only `readI32` looks behind it. */
export type NativePointer = { readonly __nativePointer: never } | number | bigint | null;

/** What a symbol takes: numbers, bigints (64-bit), byte buffers, pointers. */
export type NativeArg = number | bigint | Uint8Array | NativePointer;

/** A synchronous C call. */
export type NativeFunction = (...args: NativeArg[]) => number | bigint | NativePointer;

/** An opened library. */
export interface NativeLibrary<S extends Record<string, NativeSymbol>> {
  readonly symbols: { readonly [K in keyof S]: NativeFunction };
  /** The 32-bit int at `ptr + offset` (e.g. errno behind `__errno_location()`). */
  readI32(ptr: NativePointer, offset?: number): number;
  close(): void;
}

/** What each runtime adapter provides. */
export interface Ffi {
  /** Opens the first of `paths` that loads; throws naming all of them when none does. */
  open<S extends Record<string, NativeSymbol>>(
    paths: readonly string[],
    symbols: S,
  ): NativeLibrary<S>;
  /**
   * Resolves true once `fd` is writable or has an error or hang-up pending (a non-blocking
   * connect() has finished, one way or the other), false after `timeoutMs`. The wait happens
   * on another thread: the event loop keeps running.
   */
  waitWritable(fd: number, timeoutMs: number): Promise<boolean>;
}

/** Structs such as struct pollfd and sockaddr's family field are in host byte order. */
export const HOST_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Where glibc (and musl) keep libc, tried in order. */
export const LIBC_PATHS: readonly string[] = [
  "libc.so.6",
  "libc.musl-x86_64.so.1",
  "libc.musl-aarch64.so.1",
  "libc.so",
];
