/**
 * Builders for HPACK header blocks (RFC 7541 section 6), for tests of the decoder and of the
 * HTTP/2 sniffer. Each builder returns the bytes of one representation; `block` joins them.
 *
 * @module
 */

import { huffmanEncode } from "../../src/h2/hpack_huffman.ts";

/** How a literal field is represented (RFC 7541 section 6.2). */
export type LiteralKind = "indexing" | "without" | "never";

/** An integer with a `prefixBits`-bit prefix; `flags` sets the bits above the prefix. */
export function hpackInt(value: number, prefixBits: number, flags = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [flags | value];
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** A string literal, one byte per char, Huffman-coded when `huffman` is set. */
export function hpackString(text: string, huffman = false): number[] {
  const raw = Uint8Array.from(text, (c) => c.charCodeAt(0));
  const bytes = huffman ? huffmanEncode(raw) : raw;
  return [...hpackInt(bytes.length, 7, huffman ? 0x80 : 0), ...bytes];
}

/** An indexed header field (section 6.1). */
export function indexed(index: number): number[] {
  return hpackInt(index, 7, 0x80);
}

/** A literal header field; `name` is a table index or a literal name. */
export function literal(
  kind: LiteralKind,
  name: number | string,
  value: string,
  huffman = false,
): number[] {
  const [prefixBits, flags] = kind === "indexing" ? [6, 0x40] : [4, kind === "never" ? 0x10 : 0];
  const head = typeof name === "number"
    ? hpackInt(name, prefixBits, flags)
    : [...hpackInt(0, prefixBits, flags), ...hpackString(name, huffman)];
  return [...head, ...hpackString(value, huffman)];
}

/** A dynamic table size update (section 6.3). */
export function sizeUpdate(size: number): number[] {
  return hpackInt(size, 5, 0x20);
}

/** Joins representations into one header block. */
export function block(...representations: number[][]): Uint8Array {
  return Uint8Array.from(representations.flat());
}
