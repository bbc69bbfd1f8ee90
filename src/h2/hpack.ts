/**
 * HPACK header block decoder (RFC 7541), for reading the first request of an HTTP/2 connection.
 *
 * Pure and total: a header block is whatever the peer sent, so every length is checked against
 * the bytes left before it is used, and bad input is returned as `{ error }`, never thrown.
 * Errors start with "HPACK: " and give the offset in the block of the representation at fault.
 *
 * @module
 */

import { huffmanDecode } from "./hpack_huffman.ts";
import { latin1 } from "../http1/fields.ts";

/** Where Huffman strings are decoded before they become strings; grown as needed. */
let huffmanScratch = new Uint8Array(256);

/** A decoded header list in wire order, or why the block was rejected. */
export type HpackResult = { headers: [name: string, value: string][] } | { error: string };

/** The default SETTINGS_HEADER_TABLE_SIZE (RFC 9113 section 6.5.2). */
export const DEFAULT_HEADER_TABLE_SIZE = 4096;

/**
 * The default cap on a decoded header list, counted as RFC 9113 counts
 * SETTINGS_MAX_HEADER_LIST_SIZE (name + value + 32 per field). It also bounds the work a small
 * block can cause by referring to the same large table entry over and over.
 */
export const DEFAULT_MAX_HEADER_LIST_SIZE = 65536;

/**
 * Integers above this are rejected: no length, index or table size of a sane peer comes near it,
 * and the cap keeps the arithmetic exact.
 */
const MAX_INTEGER = 2 ** 28;

/** Per-entry overhead in the table size accounting (RFC 7541 section 4.1). */
const ENTRY_OVERHEAD = 32;

/** RFC 7541 Appendix A; index 1 is the first element. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/**
 * Decodes the header blocks of one direction of one connection, in order: the dynamic table
 * carries over from block to block, as HPACK requires.
 *
 * A decoding error is a connection error in HTTP/2 (COMPRESSION_ERROR) and leaves the table in
 * an unknown state, so once `decode` has returned an error it returns that error again.
 */
export class HpackDecoder {
  /** SETTINGS_HEADER_TABLE_SIZE: the most a dynamic table size update may ask for. */
  readonly #limit: number;
  readonly #maxHeaderListSize: number;
  /** The maximum table size in force: the limit until a size update changes it. */
  #maxSize: number;
  /** Sum of the entry sizes in the table. */
  #size = 0;
  /** Oldest first, so inserting is a push and evicting takes from the front. */
  #entries: [string, string][] = [];
  #failed: string | null = null;
  /** Read position in the block being decoded, and the reason the last read failed. */
  #pos = 0;
  #fault = "";

  /**
   * @param maxTableSize the SETTINGS_HEADER_TABLE_SIZE this endpoint advertised to the encoder,
   *   which is also the initial maximum table size.
   * @param maxHeaderListSize cap on the decoded header list of one block, in bytes counted as
   *   name + value + 32 per field; a block over it is an error.
   */
  constructor(
    maxTableSize: number = DEFAULT_HEADER_TABLE_SIZE,
    maxHeaderListSize: number = DEFAULT_MAX_HEADER_LIST_SIZE,
  ) {
    this.#limit = maxTableSize;
    this.#maxSize = maxTableSize;
    this.#maxHeaderListSize = maxHeaderListSize;
  }

  /** The current size of the dynamic table in bytes (name + value + 32 per entry). */
  get tableSize(): number {
    return this.#size;
  }

  /** The current maximum size of the dynamic table, as last set by a size update. */
  get tableMaxSize(): number {
    return this.#maxSize;
  }

  /** A copy of the dynamic table, newest entry (index 62) first. */
  tableEntries(): [name: string, value: string][] {
    const out: [string, string][] = [];
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      out.push([this.#entries[i][0], this.#entries[i][1]]);
    }
    return out;
  }

  /**
   * Decodes one complete header block (the HEADERS fragment plus its CONTINUATION fragments).
   * Names and values are decoded one char per byte (latin1), exactly as sent.
   */
  decode(block: Uint8Array): HpackResult {
    if (this.#failed !== null) return { error: this.#failed };
    const headers = this.#decodeBlock(block);
    if (headers !== null) return { headers };
    this.#failed = `HPACK: ${this.#fault}`;
    return { error: this.#failed };
  }

  /** The header list, or `null` with the reason in `#fault`. */
  #decodeBlock(block: Uint8Array): [string, string][] | null {
    const headers: [string, string][] = [];
    let listSize = 0;
    this.#pos = 0;
    while (this.#pos < block.length) {
      const at = this.#pos;
      const first = block[at];
      let name: string;
      let value: string;
      if ((first & 0x80) !== 0) {
        // Indexed header field (section 6.1).
        const entry = this.#entry(this.#integer(block, 7), at);
        if (entry === null) return null;
        [name, value] = entry;
      } else if ((first & 0xe0) === 0x20) {
        // Dynamic table size update (section 6.3): only before the first field of a block.
        if (headers.length > 0) {
          return this.#fail(`dynamic table size update at offset ${at} after a header field`);
        }
        const size = this.#integer(block, 5);
        if (size < 0) return null;
        if (size > this.#limit) {
          return this.#fail(
            `dynamic table size update to ${size} exceeds the limit ${this.#limit}`,
          );
        }
        this.#maxSize = size;
        this.#evictTo(size);
        continue;
      } else {
        // Literal header field (section 6.2): with incremental indexing (01), without
        // indexing (0000) or never indexed (0001); the name is indexed unless the index is 0.
        const indexing = (first & 0x40) !== 0;
        const nameIndex = this.#integer(block, indexing ? 6 : 4);
        if (nameIndex < 0) return null;
        if (nameIndex === 0) {
          const literal = this.#string(block);
          if (literal === null) return null;
          name = literal;
        } else {
          const entry = this.#entry(nameIndex, at);
          if (entry === null) return null;
          name = entry[0];
        }
        const literal = this.#string(block);
        if (literal === null) return null;
        value = literal;
        if (indexing) this.#insert(name, value);
      }
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > this.#maxHeaderListSize) {
        return this.#fail(
          `header list at offset ${at} exceeds ${this.#maxHeaderListSize} bytes ` +
            `(name + value + 32 per field)`,
        );
      }
      headers.push([name, value]);
    }
    return headers;
  }

  #fail(reason: string): null {
    this.#fault = reason;
    return null;
  }

  /**
   * Reads an integer with a `prefixBits`-bit prefix (section 5.1) at `#pos`, which the caller
   * has checked is inside the block. Returns -1 with `#fault` set when it is cut off or too big.
   */
  #integer(block: Uint8Array, prefixBits: number): number {
    const at = this.#pos;
    const max = (1 << prefixBits) - 1;
    let value = block[this.#pos++] & max;
    if (value < max) return value;
    for (let shift = 0;; shift += 7) {
      // Past 2^28 the value is rejected anyway; stopping here also stops an endless run of
      // zero continuation bytes (0x80 0x80 ...) that never makes the value grow.
      if (shift > 28) {
        this.#fault = `integer at offset ${at} has too many continuation bytes`;
        return -1;
      }
      if (this.#pos >= block.length) {
        this.#fault = `header block ends inside the integer at offset ${at}`;
        return -1;
      }
      const b = block[this.#pos++];
      value += (b & 0x7f) * 2 ** shift;
      if (value > MAX_INTEGER) {
        this.#fault = `integer at offset ${at} exceeds 2^28`;
        return -1;
      }
      if ((b & 0x80) === 0) return value;
    }
  }

  /** Reads a string literal (section 5.2) at `#pos`; `null` with `#fault` set when bad. */
  #string(block: Uint8Array): string | null {
    const at = this.#pos;
    if (at >= block.length) {
      return this.#fail(`header block ends before the string literal at offset ${at}`);
    }
    const huffman = (block[at] & 0x80) !== 0;
    const length = this.#integer(block, 7);
    if (length < 0) return null;
    const left = block.length - this.#pos;
    if (length > left) {
      return this.#fail(
        `string literal at offset ${at} is ${length} bytes long but the block has ${left} left`,
      );
    }
    const raw = block.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    if (!huffman) return latin1(raw, 0, raw.length);
    // The shortest code is 5 bits, so this is the most symbols `length` bytes can hold. The
    // symbols become a string at once, so one scratch array serves every string.
    const most = Math.floor(length * 8 / 5);
    if (huffmanScratch.length < most) huffmanScratch = new Uint8Array(most);
    const out = huffmanScratch;
    const written = huffmanDecode(raw, out);
    if (typeof written === "string") {
      return this.#fail(`Huffman string at offset ${at} ${written}`);
    }
    return latin1(out, 0, written);
  }

  /** Looks up a table index (section 2.3.3); `null` with `#fault` set when out of range. */
  #entry(index: number, at: number): readonly [string, string] | null {
    if (index < 0) return null;
    if (index === 0) return this.#fail(`index 0 at offset ${at} (index 0 is not used)`);
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1];
    const dynamic = index - STATIC_TABLE.length;
    const count = this.#entries.length;
    if (dynamic <= count) return this.#entries[count - dynamic];
    return this.#fail(
      `index ${index} is beyond the table (${STATIC_TABLE.length} static + ${count} dynamic)`,
    );
  }

  /** Adds an entry, evicting the oldest first to make room (section 4.4). */
  #insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    // An entry larger than the whole table empties it and is not added: that is not an error.
    this.#evictTo(this.#maxSize - size);
    if (size > this.#maxSize) return;
    this.#entries.push([name, value]);
    this.#size += size;
  }

  /** Evicts the oldest entries until the table size is at most `target` (section 4.3). */
  #evictTo(target: number): void {
    let evicted = 0;
    while (this.#size > target && evicted < this.#entries.length) {
      const [name, value] = this.#entries[evicted++];
      this.#size -= name.length + value.length + ENTRY_OVERHEAD;
    }
    if (evicted > 0) this.#entries.splice(0, evicted);
  }
}
