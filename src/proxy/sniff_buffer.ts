/**
 * Accumulates the first bytes of a connection for sniffing. Starts small and doubles, so a
 * 300-byte ClientHello costs 512 bytes and a 60 KiB post-quantum one still fits.
 *
 * @module
 */

/** A growable byte accumulator with a hard cap. */
export class SniffBuffer {
  #buf: Uint8Array;
  #len = 0;
  constructor(readonly cap: number, initial = 512) {
    this.#buf = new Uint8Array(Math.min(initial, cap));
  }

  /** Appends `chunk`; false when it would exceed the cap (nothing is appended then). */
  push(chunk: Uint8Array): boolean {
    const need = this.#len + chunk.length;
    if (need > this.cap) return false;
    if (need > this.#buf.length) {
      let size = this.#buf.length * 2;
      while (size < need) size *= 2;
      const next = new Uint8Array(Math.min(size, this.cap));
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
    }
    this.#buf.set(chunk, this.#len);
    this.#len = need;
    return true;
  }

  /** The bytes so far (a view: valid until the next push). */
  get bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  get length(): number {
    return this.#len;
  }
}
