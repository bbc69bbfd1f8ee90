/**
 * The output of an HTTP/2 connection, batched: the frames emitted during one turn of the event
 * loop go to the socket in one write, flushed from a microtask, so that a burst of small frames
 * (a PING answer, a SETTINGS ACK, a response head and its first DATA) costs one write rather
 * than one each. Once closed it takes no more frames: nothing may follow the GOAWAY that ended
 * the connection, whatever its owner still calls.
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
    queueMicrotask(() => this.flush());
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
