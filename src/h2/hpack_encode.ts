/**
 * HPACK header block encoder (RFC 7541), for the header blocks the router sends on an HTTP/2
 * connection.
 *
 * The dynamic table kept here must match the peer's decoder entry for entry, so its bookkeeping
 * is the decoder's (`HpackDecoder` in hpack.ts): entry size = name + value + 32, oldest evicted
 * first. Every block `encode` returns must therefore be sent, in the order it was made.
 *
 * @module
 */

import { DEFAULT_HEADER_TABLE_SIZE, STATIC_TABLE } from "./hpack.ts";
import { huffmanEncode } from "./hpack_huffman.ts";

/** Per-entry overhead in the table size accounting (RFC 7541 section 4.1). */
const ENTRY_OVERHEAD = 32;

/**
 * The largest dynamic table this encoder keeps, whatever the peer allows: a table costs memory
 * at both ends of every connection, and 4096 bytes is what HTTP/2 peers get by default anyway.
 */
const MAX_TABLE_SIZE = 4096;

/** A name's entries in a table: where its first or newest entry is, and each value's entry. */
interface NameEntries {
  /**
   * In the static table the index of the name's first entry; in the dynamic table the sequence
   * number of its newest entry (the smallest index, so the fewest bytes).
   */
  name: number;
  /** Per value: the static index, or the dynamic sequence number. */
  values: Map<string, number>;
}

/** The static table by name, then by value (section 2.3.1). */
const STATIC_BY_NAME = new Map<string, NameEntries>();
STATIC_TABLE.forEach(([name, value], i) => {
  const entries = STATIC_BY_NAME.get(name);
  if (entries === undefined) {
    STATIC_BY_NAME.set(name, { name: i + 1, values: new Map([[value, i + 1]]) });
  } else {
    entries.values.set(value, i + 1);
  }
});

/**
 * The Huffman code of each byte (RFC 7541 Appendix B): its length in bits, and its bits,
 * right-aligned. hpack_huffman.ts keeps the one copy of the table and exports only a coder that
 * returns a new array per string, which costs as much as the rest of a block on Deno; so the
 * codes are read back from it once, to code straight into the block: eight copies of a symbol
 * fill exactly as many bytes as its code has bits, and start with its code.
 */
const HUFFMAN_BITS = new Uint8Array(256);
const HUFFMAN_CODES = new Uint32Array(256);
{
  const eight = new Uint8Array(8);
  for (let symbol = 0; symbol < 256; symbol++) {
    const coded = huffmanEncode(eight.fill(symbol));
    const bits = coded.length;
    HUFFMAN_BITS[symbol] = bits;
    // Codes are 5 to 30 bits long, so the first 32 bits hold the first code whole.
    HUFFMAN_CODES[symbol] = new DataView(coded.buffer, coded.byteOffset).getUint32(0) >>>
      (32 - bits);
  }
}

/**
 * The block being built and the write position in it. `encode` runs to completion without
 * yielding, so every encoder can share one buffer: it grows by doubling, never shrinks, and the
 * caller gets an exact-size copy of the block.
 */
let buf = new Uint8Array(4096);
let at = 0;

/** Makes room for `extra` more bytes at `at`. */
function reserve(extra: number): void {
  if (at + extra <= buf.length) return;
  let size = buf.length * 2;
  while (size < at + extra) size *= 2;
  const grown = new Uint8Array(size);
  grown.set(buf.subarray(0, at));
  buf = grown;
}

/** Writes an integer with a `prefixBits`-bit prefix (section 5.1) below the bits in `flags`. */
function writeInteger(value: number, prefixBits: number, flags: number): void {
  // A string's length is below 2^32, which takes the prefix and five more bytes at most.
  reserve(6);
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    buf[at++] = flags | value;
    return;
  }
  buf[at++] = flags | max;
  let rest = value - max;
  while (rest >= 128) {
    buf[at++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  buf[at++] = rest;
}

/** Writes a string literal (section 5.2), Huffman-coded when that is strictly shorter. */
function writeString(text: string): void {
  const length = text.length;
  // A char above 0xff is not latin1 and cannot come from a parsed head. The raw coding keeps its
  // low byte, as any Uint8Array store does, and so does the Huffman one: the coding chosen never
  // changes what is sent.
  let bits = 0;
  for (let i = 0; i < length; i++) bits += HUFFMAN_BITS[text.charCodeAt(i) & 0xff];
  const coded = Math.ceil(bits / 8);
  if (coded >= length) {
    writeInteger(length, 7, 0);
    reserve(length);
    for (let i = 0; i < length; i++) buf[at++] = text.charCodeAt(i);
    return;
  }
  writeInteger(coded, 7, 0x80);
  reserve(coded);
  let pending = 0; // bits not yet written, right-aligned; fewer than 8 between symbols
  let pendingBits = 0;
  for (let i = 0; i < length; i++) {
    const byte = text.charCodeAt(i) & 0xff;
    const code = HUFFMAN_CODES[byte];
    // Codes are up to 30 bits: feed them 8 bits at a time so the accumulator stays in 32 bits.
    for (let left = HUFFMAN_BITS[byte]; left > 0;) {
      const take = Math.min(left, 8);
      left -= take;
      pending = (pending << take) | ((code >>> left) & ((1 << take) - 1));
      pendingBits += take;
      if (pendingBits >= 8) {
        pendingBits -= 8;
        buf[at++] = pending >>> pendingBits;
        pending &= (1 << pendingBits) - 1;
      }
    }
  }
  // The last byte is padded with the most significant bits of EOS, all ones.
  if (pendingBits > 0) buf[at++] = (pending << (8 - pendingBits)) | (0xff >> pendingBits);
}

/**
 * Fields sent as never indexed (section 7.1.3), so that neither this table nor any
 * intermediary's re-encoding lets a compression side channel (CRIME-style) guess them: credentials
 * always, and cookies short enough to be guessed; a long cookie is worth compressing, as
 * nghttp2 also decides.
 */
function neverIndexed(name: string, value: string): boolean {
  switch (name) {
    case "authorization":
    case "proxy-authorization":
    case "set-cookie":
      return true;
    case "cookie":
      return value.length < 20;
    default:
      return false;
  }
}

/**
 * Encodes the header blocks of one direction of one connection, in order: the dynamic table
 * carries over from block to block and stays in step with the peer's decoder.
 *
 * Fields matching a table entry are sent indexed; others as literals with incremental indexing,
 * except sensitive ones (never indexed) and ones so large they would empty the table (without
 * indexing). Names are referred to by index when a table has them.
 */
export class HpackEncoder {
  /**
   * The maximum table size the peer's decoder uses: the last one signalled, or 4096 before any
   * (RFC 9113 section 6.5.2: the initial SETTINGS_HEADER_TABLE_SIZE).
   */
  #maxSize = DEFAULT_HEADER_TABLE_SIZE;
  /** The smallest and the latest maximum asked for since the last block; -1 when none was. */
  #lowest = -1;
  #latest = -1;
  /** Sum of the entry sizes in the table. */
  #size = 0;
  /** Oldest first, as in the decoder. */
  #entries: [string, string][] = [];
  /** How many entries were ever evicted: the sequence number of `#entries[0]`. */
  #evicted = 0;
  /** The dynamic table by name, then by value, as sequence numbers (insertion count). */
  #byName = new Map<string, NameEntries>();

  /**
   * @param maxTableSize the SETTINGS_HEADER_TABLE_SIZE the peer advertised. The table used is
   *   at most 4096 bytes; when the peer allows less, the first block signals the smaller size,
   *   since the peer's decoder starts at 4096 like every HTTP/2 endpoint.
   */
  constructor(maxTableSize: number = DEFAULT_HEADER_TABLE_SIZE) {
    this.setMaxTableSize(maxTableSize);
  }

  /** The current size of the dynamic table in bytes (name + value + 32 per entry). */
  get tableSize(): number {
    return this.#size;
  }

  /**
   * Takes a new SETTINGS_HEADER_TABLE_SIZE from the peer. The table is resized at the start of
   * the next block, which signals the change (section 4.2): the smallest size asked for first
   * when the size went down and back up in between, then the final one.
   *
   * @throws RangeError when `maxTableSize` is not a non-negative integer.
   */
  setMaxTableSize(maxTableSize: number): void {
    if (!Number.isSafeInteger(maxTableSize) || maxTableSize < 0) {
      throw new RangeError(`HPACK: bad maximum table size ${maxTableSize}`);
    }
    const size = Math.min(maxTableSize, MAX_TABLE_SIZE);
    this.#lowest = this.#lowest < 0 ? size : Math.min(this.#lowest, size);
    this.#latest = size;
  }

  /**
   * Encodes one header block: `headers` in order, names in lower case, values one char per byte
   * (latin1). The result is the whole block, to be split into HEADERS and CONTINUATION frames;
   * it is a new array, the caller's to keep.
   */
  encode(headers: readonly (readonly [string, string])[]): Uint8Array {
    return this.encodeView(headers).slice();
  }

  /**
   * {@link encode} without the copy: the block is a view of scratch space shared by every
   * encoder, valid until the next block is encoded, for a caller that copies it at once (into
   * its frames). On Bun a view of a fresh copy also costs an ArrayBuffer; this costs neither.
   */
  encodeView(headers: readonly (readonly [string, string])[]): Uint8Array {
    at = 0;
    if (this.#latest >= 0) {
      if (this.#lowest < this.#latest && this.#lowest < this.#maxSize) {
        this.#sizeUpdate(this.#lowest);
      }
      if (this.#latest !== this.#maxSize) this.#sizeUpdate(this.#latest);
      this.#lowest = this.#latest = -1;
    }
    for (const [name, value] of headers) this.#field(name, value);
    return buf.subarray(0, at);
  }

  /** Writes a dynamic table size update (section 6.3) and applies it. */
  #sizeUpdate(size: number): void {
    writeInteger(size, 5, 0x20);
    this.#maxSize = size;
    this.#evictTo(size);
  }

  /** Writes one field's representation (section 6) and updates the table as the peer will. */
  #field(name: string, value: string): void {
    const never = neverIndexed(name, value);
    const fixed = STATIC_BY_NAME.get(name);
    const dynamic = this.#byName.get(name);
    if (!never) {
      const seq = dynamic?.values.get(value);
      const index = fixed?.values.get(value) ?? (seq === undefined ? 0 : this.#index(seq));
      if (index > 0) {
        writeInteger(index, 7, 0x80);
        return;
      }
    }
    // The name is looked up before the entry is inserted, as the decoder does (section 4.4).
    const nameIndex = fixed !== undefined
      ? fixed.name
      : dynamic !== undefined
      ? this.#index(dynamic.name)
      : 0;
    const size = name.length + value.length + ENTRY_OVERHEAD;
    // An entry over a quarter of the table would evict most of what the next blocks refer to.
    const indexing = !never && size <= this.#maxSize / 4;
    if (indexing) writeInteger(nameIndex, 6, 0x40);
    else writeInteger(nameIndex, 4, never ? 0x10 : 0);
    if (nameIndex === 0) writeString(name);
    writeString(value);
    if (indexing) this.#insert(name, value, size);
  }

  /** The index (section 2.3.3) of the dynamic entry with sequence number `seq`. */
  #index(seq: number): number {
    return STATIC_TABLE.length + this.#evicted + this.#entries.length - seq;
  }

  /** Adds an entry that fits the table, evicting the oldest first to make room (section 4.4). */
  #insert(name: string, value: string, size: number): void {
    this.#evictTo(this.#maxSize - size);
    const seq = this.#evicted + this.#entries.length;
    this.#entries.push([name, value]);
    this.#size += size;
    const entries = this.#byName.get(name);
    if (entries === undefined) {
      this.#byName.set(name, { name: seq, values: new Map([[value, seq]]) });
    } else {
      entries.name = seq;
      entries.values.set(value, seq);
    }
  }

  /** Evicts the oldest entries until the table size is at most `target` (section 4.3). */
  #evictTo(target: number): void {
    let evicted = 0;
    while (this.#size > target && evicted < this.#entries.length) {
      const [name, value] = this.#entries[evicted];
      const seq = this.#evicted + evicted++;
      this.#size -= name.length + value.length + ENTRY_OVERHEAD;
      const entries = this.#byName.get(name) as NameEntries;
      // Oldest go first, so when a name's newest entry goes, its others have gone before it.
      // The table never holds a pair twice (a pair in it is sent indexed, not inserted again),
      // so the value's entry is this one.
      if (entries.name === seq) this.#byName.delete(name);
      else entries.values.delete(value);
    }
    if (evicted > 0) {
      this.#entries.splice(0, evicted);
      this.#evicted += evicted;
    }
  }
}
