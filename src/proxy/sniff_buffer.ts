/**
 * Accumulates the first bytes of a connection for sniffing. Starts small and doubles, so a
 * 300-byte ClientHello costs 512 bytes and a 60 KiB post-quantum one still fits. Nothing is
 * allocated before the first push: an HTTP session makes one per request and, when the head
 * comes in one read, never pushes to it.
 *
 * @module
 */

const EMPTY = new Uint8Array(0);

/** A growable byte accumulator with a hard cap. */
export class SniffBuffer {
  #buf: Uint8Array = EMPTY;
  #len = 0;
  constructor(readonly cap: number, readonly initial = 512) {}

  /** Appends `chunk`; false when it would exceed the cap (nothing is appended then). */
  push(chunk: Uint8Array): boolean {
    const need = this.#len + chunk.length;
    if (need > this.cap) return false;
    if (need > this.#buf.length) {
      let size = Math.max(this.#buf.length * 2, this.initial);
      while (size < need) size *= 2;
      const next = new Uint8Array(Math.min(size, this.cap));
      if (this.#len > 0) next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
    }
    this.#buf.set(chunk, this.#len);
    this.#len = need;
    return true;
  }

  /** The bytes so far (a view: valid until the next push). */
  get bytes(): Uint8Array {
    return this.#len === this.#buf.length ? this.#buf : this.#buf.subarray(0, this.#len);
  }

  get length(): number {
    return this.#len;
  }
}
