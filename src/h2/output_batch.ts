/**
 * The output of an HTTP/2 connection, batched: the frames emitted during one turn of the event
 * loop go to the socket in one write, flushed once the turn's I/O callbacks have run
 * (setImmediate), so that a burst of small frames (a PING answer, a SETTINGS ACK, the responses
 * of ten streams whose backends answered in the same turn) costs one write rather than one each.
 * Measured with h2load (10 connections x 10 streams) through termination: on Bun the router's
 * CPU per request fell from 57 to 43 µs against a microtask flush (one write per backend read);
 * on Deno it is unchanged. Once closed it takes no more frames: nothing may follow the GOAWAY
 * that ended the connection, whatever its owner still calls.
 *
 * @module
 */

import { concat } from "../wire/bytes.ts";

/** Frames waiting for the end of the turn. */
export class OutputBatch {
  readonly #write: (bytes: Uint8Array) => boolean;
  readonly #full: () => void;
  #out: Uint8Array[] = [];
  #queued = false;
  #closed = false;

  /**
   * `write` hands bytes to the socket, false when the socket queued them; `full` is then called
   * so that the connection holds back what can wait (DATA) until the socket drains.
   */
  constructor(write: (bytes: Uint8Array) => boolean, full: () => void) {
    this.#write = write;
    this.#full = full;
  }

  /** Adds `bytes` (kept by reference: they must not change before the flush) to the batch. */
  emit(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#out.push(bytes);
    if (this.#queued) return;
    this.#queued = true;
    setImmediate(() => this.flush());
  }

  /** Hands everything emitted so far to the socket in one write. */
  flush(): void {
    this.#queued = false;
    if (this.#out.length === 0) return;
    const bytes = concat(this.#out);
    this.#out = [];
    if (!this.#write(bytes)) this.#full();
  }

  /** The connection is over: later frames are dropped; what was emitted before still goes. */
  close(): void {
    this.#closed = true;
  }
}
