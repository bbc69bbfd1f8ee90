/**
 * Accumulates the first bytes of a connection for sniffing. Starts small and doubles, so a
 * 300-byte ClientHello costs 512 bytes and a 60 KiB post-quantum one still fits. Nothing is
 * allocated before the first push: an HTTP session makes one per request and, when the head
 * comes in one read, never pushes to it.
 *
 * @module
 */

import { concat } from "../wire/bytes.ts";

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

  /**
   * What to sniff once `chunk` has arrived: `chunk` itself while nothing is held (no copy: a
   * head usually comes in one read), else the held bytes with `chunk` appended, or, past the
   * cap, a joined copy that is not held (a sniffer answers "invalid" past its limit, so such
   * bytes are never kept). A result the sniffer wants more of goes to {@link keep}.
   */
  join(chunk: Uint8Array): Uint8Array {
    if (this.#len === 0) return chunk;
    return this.push(chunk) ? this.bytes : concat([this.bytes, chunk]);
  }

  /**
   * Holds `bytes`, a result of {@link join}, for the next read (a no-op when it is what the
   * buffer holds already); false when they are over the cap.
   */
  keep(bytes: Uint8Array): boolean {
    return bytes.length === this.#len || this.push(bytes);
  }

  /** The bytes so far (a view: valid until the next push). */
  get bytes(): Uint8Array {
    return this.#len === this.#buf.length ? this.#buf : this.#buf.subarray(0, this.#len);
  }

  get length(): number {
    return this.#len;
  }
}
