/**
 * The FFI adapter for Bun (`ffi.ts`), over bun:ffi.
 *
 * bun:ffi calls are synchronous only, so waiting for writability happens on one Worker thread
 * that blocks in poll(2) for every pending wait at once, plus an eventfd the main thread writes
 * to whenever it adds or drops a wait. Requests travel on a MessagePort that the worker reads
 * synchronously (receiveMessageOnPort) after each wake-up: the worker never returns to its own
 * event loop, and the main thread never blocks. Each wait has an id; a late report for a wait
 * that already timed out is ignored, so fd reuse cannot confuse two waits.
 *
 * @module
 */

import { MessageChannel, type MessagePort } from "node:worker_threads";
import {
  type Ffi,
  HOST_LITTLE_ENDIAN,
  LIBC_PATHS,
  type NativeFunction,
  type NativeLibrary,
  type NativePointer,
  type NativeSymbol,
} from "./ffi_types.ts";

/** The slice of bun:ffi used here (imported by name at run time: `deno check` skips it). */
interface BunFfiModule {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, NativeFunction>; close(): void };
  read: { i32(ptr: number, offset?: number): number };
}

const BUN_FFI = "bun:ffi";
const bunFfiModule: BunFfiModule = await import(BUN_FFI);

const TYPES: Record<string, string> = {
  i32: "i32",
  u32: "u32",
  i64: "i64",
  u64: "u64",
  buffer: "ptr",
  pointer: "ptr",
  void: "void",
};

function openFirst(
  paths: readonly string[],
  symbols: Record<string, { args: string[]; returns: string }>,
): { symbols: Record<string, NativeFunction>; close(): void } {
  const errors: string[] = [];
  for (const p of paths) {
    try {
      return bunFfiModule.dlopen(p, symbols);
    } catch (err) {
      errors.push(`${p}: ${(err as Error).message}`);
    }
  }
  throw new Error(`cannot open a C library (${errors.join("; ")})`);
}

/**
 * The worker's code, run from a Blob URL (no separate file: `bun build --compile` would have to
 * be told about it). Message from the main thread: { add: id, fd } or { remove: id }.
 * Message back: { id } when that fd is writable (or failed), { fatal } if libc will not open.
 */
const WORKER_SOURCE = `
import { dlopen } from "bun:ffi";
import { receiveMessageOnPort } from "node:worker_threads";
const POLLIN = 1, POLLOUT = 4;
self.onmessage = (e) => {
  self.onmessage = null;
  const { port, efd, paths, little } = e.data;
  let lib = null;
  for (const p of paths) {
    try {
      lib = dlopen(p, {
        poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
        read: { args: ["i32", "ptr", "u64"], returns: "i64" },
      });
      break;
    } catch {}
  }
  if (lib === null) {
    port.postMessage({ fatal: "cannot open libc in the poll worker" });
    return;
  }
  const poll = lib.symbols.poll, readFd = lib.symbols.read;
  const waits = new Map();
  const counter = new Uint8Array(8);
  let pfd = new Uint8Array(8 * 64), view = new DataView(pfd.buffer);
  for (;;) {
    for (let m; (m = receiveMessageOnPort(port)) !== undefined;) {
      const r = m.message;
      if (r.add !== undefined) waits.set(r.add, r.fd);
      else waits.delete(r.remove);
    }
    const ids = [...waits.keys()];
    const n = ids.length + 1;
    if (pfd.length < n * 8) {
      pfd = new Uint8Array(n * 16);
      view = new DataView(pfd.buffer);
    }
    view.setInt32(0, efd, little);
    view.setInt16(4, POLLIN, little);
    view.setInt16(6, 0, little);
    for (let i = 0; i < ids.length; i++) {
      const o = (i + 1) * 8;
      view.setInt32(o, waits.get(ids[i]), little);
      view.setInt16(o + 4, POLLOUT, little);
      view.setInt16(o + 6, 0, little);
    }
    if (poll(pfd, n, -1) <= 0) continue;
    if (view.getInt16(6, little) !== 0) readFd(efd, counter, 8);
    for (let i = 0; i < ids.length; i++) {
      if (view.getInt16((i + 1) * 8 + 6, little) === 0) continue;
      waits.delete(ids[i]);
      port.postMessage({ id: ids[i] });
    }
  }
};
`;

const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;

/** The poll thread, started on the first wait. */
class PollThread {
  #port: MessagePort;
  #efd: number;
  #write: NativeFunction;
  #one = new Uint8Array(8);
  #next = 1;
  #waiters = new Map<number, (ready: boolean) => void>();
  #fatal: string | null = null;

  constructor() {
    const lib = openFirst(LIBC_PATHS, {
      eventfd: { args: ["u32", "i32"], returns: "i32" },
      write: { args: ["i32", "ptr", "u64"], returns: "i64" },
    });
    this.#write = lib.symbols.write;
    this.#efd = lib.symbols.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number;
    if (this.#efd < 0) throw new Error("eventfd() failed: cannot start the connect poller");
    new DataView(this.#one.buffer).setBigUint64(0, 1n, HOST_LITTLE_ENDIAN);
    const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
    const worker = new Worker(url);
    (worker as unknown as { unref?: () => void }).unref?.();
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    port1.on("message", (m: { id?: number; fatal?: string }) => this.#report(m));
    port1.unref();
    worker.postMessage(
      { port: port2, efd: this.#efd, paths: LIBC_PATHS, little: HOST_LITTLE_ENDIAN },
      [port2 as unknown as Transferable],
    );
  }

  #report(m: { id?: number; fatal?: string }): void {
    if (m.fatal !== undefined) {
      this.#fatal = m.fatal;
      for (const w of this.#waiters.values()) w(false);
      this.#waiters.clear();
      return;
    }
    const w = this.#waiters.get(m.id!);
    if (w === undefined) return;
    this.#waiters.delete(m.id!);
    w(true);
  }

  /** Posts a request, then wakes the worker (the message is queued before the wake). */
  #send(msg: { add: number; fd: number } | { remove: number }): void {
    this.#port.postMessage(msg);
    this.#write(this.#efd, this.#one, 8);
  }

  wait(fd: number, timeoutMs: number): Promise<boolean> {
    if (this.#fatal !== null) return Promise.reject(new Error(this.#fatal));
    const id = this.#next++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (!this.#waiters.delete(id)) return;
        this.#send({ remove: id });
        resolve(false);
      }, timeoutMs);
      this.#waiters.set(id, (ready) => {
        clearTimeout(timer);
        resolve(ready);
      });
      this.#send({ add: id, fd });
    });
  }
}

let poller: PollThread | null = null;

/** The Bun FFI adapter. */
export const bunFfi: Ffi = {
  open<S extends Record<string, NativeSymbol>>(
    paths: readonly string[],
    symbols: S,
  ): NativeLibrary<S> {
    const table: Record<string, { args: string[]; returns: string }> = {};
    for (const [name, s] of Object.entries(symbols)) {
      table[name] = { args: s.parameters.map((t) => TYPES[t]), returns: TYPES[s.result] };
    }
    const lib = openFirst(paths, table);
    return {
      symbols: lib.symbols as { readonly [K in keyof S]: NativeFunction },
      readI32: (ptr: NativePointer, offset = 0) => bunFfiModule.read.i32(ptr as number, offset),
      close: () => lib.close(),
    };
  },

  waitWritable(fd: number, timeoutMs: number): Promise<boolean> {
    poller ??= new PollThread();
    return poller.wait(fd, timeoutMs);
  },
};
