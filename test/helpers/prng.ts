/**
 * A tiny seeded pseudo-random generator for reproducible randomized tests.
 *
 * Math.random cannot be seeded, and a failing fuzz case is only useful if it can be replayed.
 *
 * @module
 */

/** A seeded source of random numbers. */
export interface Prng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** An integer in [lo, hi], both ends included. */
  range(lo: number, hi: number): number;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
}

/**
 * mulberry32 (Tommy Ettinger's 32-bit generator): fast, small, and good enough for tests.
 * The same seed always gives the same sequence on every runtime.
 */
export function mulberry32(seed: number): Prng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    range: (lo, hi) => lo + int(hi - lo + 1),
    pick: (items) => items[int(items.length)],
  };
}

/**
 * One to three random edits of `input` (in place where it can): a bit flipped, a byte set to
 * or inserted from `interesting`, a byte deleted, or the rest cut off.
 */
export function editBytes(
  rand: Prng,
  input: Uint8Array,
  interesting: readonly number[],
): Uint8Array {
  let buf = input;
  const edits = rand.range(1, 3);
  for (let e = 0; e < edits; e++) {
    const at = rand.int(buf.length + 1);
    switch (rand.int(5)) {
      case 0:
        if (at < buf.length) buf[at] ^= 1 << rand.int(8);
        break;
      case 1:
        if (at < buf.length) buf[at] = rand.pick(interesting);
        break;
      case 2:
        buf = new Uint8Array([...buf.subarray(0, at), rand.pick(interesting), ...buf.subarray(at)]);
        break;
      case 3:
        buf = new Uint8Array([...buf.subarray(0, at), ...buf.subarray(at + 1)]);
        break;
      default:
        buf = buf.subarray(0, at);
    }
  }
  return buf;
}
