/**
 * A `Conn` seen as a node:stream Duplex, so that node:tls can run over it: TLS termination
 * after the ClientHello was already read (its bytes are replayed first), and TLS to backends.
 * node:tls reads a stream, not our sockets, so this is the one place bytes are copied: the
 * Deno adapter reuses its read buffer, and a stream may hold a chunk beyond the callback.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import type { Conn } from "../runtime/types.ts";

/** Wraps `conn`; `head` (bytes already read from it) is read first. */
export class ConnDuplex extends Duplex {
  #conn: Conn;
  #writeDone: ((err?: Error | null) => void) | null = null;

  constructor(conn: Conn, head: Uint8Array | null) {
    super({ allowHalfOpen: true });
    this.#conn = conn;
    if (head !== null && head.length > 0) this.push(copy(head));
    conn.start({
      data: (chunk) => {
        if (!this.push(copy(chunk))) conn.pause();
      },
      end: () => this.push(null),
      drain: () => {
        const cb = this.#writeDone;
        this.#writeDone = null;
        cb?.();
      },
      error: (err) => this.destroy(err),
    });
    conn.resume();
  }

  override _read(): void {
    this.#conn.resume();
  }

  override _write(chunk: Uint8Array, _enc: string, cb: (err?: Error | null) => void): void {
    if (this.#conn.write(chunk)) cb();
    else this.#writeDone = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#conn.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#conn.close();
    cb(err);
  }
}

/**
 * `bytes` copied into a Buffer of their own. Not Buffer.from(bytes): on Deno it copies byte by
 * byte (1.4 us for 100 bytes, 3 us for 600, measured); allocUnsafe (node:buffer's pool below
 * 4 KiB) and a native set take 0.1-0.4 us. Bun: the same either way.
 */
function copy(bytes: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(bytes.length);
  b.set(bytes);
  return b;
}
