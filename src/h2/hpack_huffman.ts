/**
 * The HPACK Huffman code (RFC 7541 Appendix B): decoding for the HPACK decoder, encoding for
 * tests and anything else that builds header blocks.
 *
 * The code is canonical: within one code length, codes are consecutive in symbol order, and each
 * length's first code follows on from the last code of the length before. So the code lengths
 * alone define it, and one table of 257 lengths is the single copy of Appendix B here.
 *
 * @module
 */

/** The end-of-string symbol; a decoder must reject it inside a string literal. */
export const HUFFMAN_EOS = 256;

/** Code length in bits of each symbol 0..256 (RFC 7541 Appendix B, "len in bits" column). */
// deno-fmt-ignore
const LENGTHS = Uint8Array.of(
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
);

const MAX_LENGTH = 30;

/** Symbols ordered by (code length, symbol): the order canonical codes are handed out in. */
const SORTED = new Uint16Array(257);
/** Per length: the first code, how many symbols have it, and their start in `SORTED`. */
const FIRST_CODE = new Uint32Array(MAX_LENGTH + 1);
const COUNT = new Uint16Array(MAX_LENGTH + 1);
const OFFSET = new Uint16Array(MAX_LENGTH + 1);
/** Per symbol: its code (right-aligned, at most 30 bits, so it fits a 32-bit integer). */
const CODES = new Uint32Array(257);

{
  for (let s = 0; s < 257; s++) COUNT[LENGTHS[s]]++;
  let code = 0;
  let offset = 0;
  for (let len = 1; len <= MAX_LENGTH; len++) {
    code = (code + COUNT[len - 1]) << 1;
    FIRST_CODE[len] = code;
    OFFSET[len] = offset;
    offset += COUNT[len];
  }
  const next = Uint32Array.from(FIRST_CODE);
  const filled = Uint16Array.from(OFFSET);
  for (let s = 0; s < 257; s++) {
    const len = LENGTHS[s];
    CODES[s] = next[len]++;
    SORTED[filled[len]++] = s;
  }
}

/**
 * Decodes a Huffman-coded string literal into `out`, which must have room for
 * `Math.floor(input.length * 8 / 5)` bytes (the shortest code is 5 bits).
 *
 * @returns the number of bytes written, or an error message (without a prefix) when the input
 * holds the EOS symbol, or ends in padding that is longer than 7 bits or not all ones
 * (RFC 7541 section 5.2).
 */
export function huffmanDecode(input: Uint8Array, out: Uint8Array): number | string {
  let written = 0;
  // The bits read since the last complete symbol, and how many there are.
  let code = 0;
  let len = 0;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i];
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1);
      len++;
      // Canonical decoding: the bits are a complete code exactly when they fall inside the run
      // of codes of this length; below it they would have matched at a shorter length already.
      const k = code - FIRST_CODE[len];
      if (k < COUNT[len]) {
        const symbol = SORTED[OFFSET[len] + k];
        if (symbol === HUFFMAN_EOS) return "contains the EOS symbol";
        out[written++] = symbol;
        code = 0;
        len = 0;
      }
    }
  }
  if (len > 7) return `ends in ${len} unused bits (padding is at most 7 bits)`;
  if (code !== (1 << len) - 1) {
    return `ends in padding 0b${code.toString(2).padStart(len, "0")} (must be all ones)`;
  }
  return written;
}

/**
 * Huffman-encodes `input` (one symbol per byte), padding the last byte with the most significant
 * bits of EOS (all ones) as RFC 7541 section 5.2 requires.
 */
export function huffmanEncode(input: Uint8Array): Uint8Array {
  let bits = 0;
  for (let i = 0; i < input.length; i++) bits += LENGTHS[input[i]];
  const out = new Uint8Array(Math.ceil(bits / 8));
  let pending = 0; // bits not yet written, right-aligned; fewer than 8 between symbols
  let pendingBits = 0;
  let o = 0;
  for (let i = 0; i < input.length; i++) {
    const symbol = input[i];
    let len = LENGTHS[symbol];
    const code = CODES[symbol];
    // Codes are up to 30 bits: feed them 8 bits at a time so the accumulator stays in 32 bits.
    while (len > 0) {
      const take = Math.min(len, 8);
      len -= take;
      pending = (pending << take) | ((code >>> len) & ((1 << take) - 1));
      pendingBits += take;
      if (pendingBits >= 8) {
        pendingBits -= 8;
        out[o++] = (pending >>> pendingBits) & 0xff;
        pending &= (1 << pendingBits) - 1;
      }
    }
  }
  if (pendingBits > 0) out[o] = ((pending << (8 - pendingBits)) | (0xff >> pendingBits)) & 0xff;
  return out;
}
