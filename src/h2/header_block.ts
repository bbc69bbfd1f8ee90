/**
 * Header blocks as they arrive (RFC 9113 sections 4.3 and 6.10): a HEADERS frame and the
 * CONTINUATION frames that complete it, put together in one buffer and decoded whole. Every
 * block is decoded, even one whose stream is then refused or was reset, since the peer's HPACK
 * table changed with it.
 *
 * Decoding whole means buffering first, so the peer's limit is enforced in two places: the
 * compressed block may not pass twice SETTINGS_MAX_HEADER_LIST_SIZE (CONTINUATION flood,
 * CVE-2024-27316), and its decoded list may not pass four times it (an HPACK bomb, a small block
 * of references to one large table entry). A header list between the limit and those bounds is
 * decoded, and the connection decides what that costs the stream.
 *
 * @module
 */

import type { FieldList } from "./connection.ts";
import type { FloodBudget } from "./flood_budget.ts";
import {
  ERROR,
  FLAG,
  FRAME,
  type Frame,
  frameName,
  framePayload,
  priorityDependency,
} from "./frame.ts";
import { DEFAULT_HEADER_TABLE_SIZE, HpackDecoder } from "./hpack.ts";

/** The compressed block's bound, as a multiple of the header list limit. */
const MAX_HEADER_BLOCK_FACTOR = 2;
/** Decoding stops (COMPRESSION_ERROR) past this multiple of the header list limit. */
const HPACK_BOMB_FACTOR = 4;

/** A complete header block, decoded. */
export interface HeaderBlock {
  readonly stream: number;
  /** Its HEADERS frame carried END_STREAM. */
  readonly endStream: boolean;
  /**
   * Its HEADERS frame's priority names its own stream: a stream error (section 5.3.1) for a
   * side that reads priorities, once the block is decoded.
   */
  readonly selfDependent: boolean;
  readonly fields: FieldList;
}

/** The block in progress: its fragments so far, in one buffer with room for more. */
interface Pending {
  readonly stream: number;
  readonly endStream: boolean;
  readonly selfDependent: boolean;
  bytes: Uint8Array;
  size: number;
}

/** Puts the peer's header blocks together and decodes them; one per connection. */
export class HeaderBlockReader {
  readonly #decoder: HpackDecoder;
  /** The bound of a compressed block, in bytes. */
  readonly #bound: number;
  readonly #floods: FloodBudget;
  readonly #fail: (code: number, reason: string) => void;
  #block: Pending | null = null;

  /**
   * `maxHeaderListSize` is the SETTINGS_MAX_HEADER_LIST_SIZE we advertised; `floods` counts
   * empty CONTINUATION frames; `fail` is the connection error.
   */
  constructor(
    maxHeaderListSize: number,
    floods: FloodBudget,
    fail: (code: number, reason: string) => void,
  ) {
    this.#decoder = new HpackDecoder(
      DEFAULT_HEADER_TABLE_SIZE,
      maxHeaderListSize * HPACK_BOMB_FACTOR,
    );
    this.#bound = maxHeaderListSize * MAX_HEADER_BLOCK_FACTOR;
    this.#floods = floods;
    this.#fail = fail;
  }

  /**
   * Section 6.10: while a block is in progress, only its CONTINUATION frames may come. True when
   * `f` broke that, which ended the connection.
   */
  interrupts(f: Frame): boolean {
    const block = this.#block;
    if (block === null || (f.type === FRAME.CONTINUATION && f.stream === block.stream)) {
      return false;
    }
    this.#fail(
      ERROR.PROTOCOL_ERROR,
      `${
        frameName(f.type)
      } on stream ${f.stream} inside the header block of stream ${block.stream}`,
    );
    return true;
  }

  /** A HEADERS frame: its block when END_HEADERS ends it, else null (more to come, or failed). */
  headers(f: Frame): HeaderBlock | null {
    const fragment = framePayload(f);
    if ("kind" in fragment) {
      this.#fail(fragment.code, fragment.reason);
      return null;
    }
    const block: Pending = {
      stream: f.stream,
      endStream: (f.flags & FLAG.END_STREAM) !== 0,
      selfDependent: priorityDependency(f) === f.stream,
      bytes: fragment,
      size: fragment.length,
    };
    if (this.#over(block, fragment.length)) return null;
    // A whole block is decoded where it lies; one that CONTINUATION frames complete is copied,
    // as the frame is only valid during `receive`.
    if ((f.flags & FLAG.END_HEADERS) !== 0) return this.#decode(block);
    block.bytes = new Uint8Array(Math.max(1024, fragment.length * 2));
    block.bytes.set(fragment);
    this.#block = block;
    return null;
  }

  /** A CONTINUATION frame: the block when END_HEADERS ends it, else null. */
  continuation(f: Frame): HeaderBlock | null {
    const block = this.#block;
    if (block === null) {
      this.#fail(ERROR.PROTOCOL_ERROR, `CONTINUATION on stream ${f.stream} without HEADERS`);
      return null;
    }
    const size = block.size + f.payload.length;
    if (this.#over(block, size)) return null;
    // Empty CONTINUATION frames make no progress.
    if (f.payload.length === 0 && this.#floods.control()) return null;
    // One buffer that doubles as fragments come rather than an array per fragment: a flood of
    // tiny CONTINUATION frames costs its bytes, not an object each.
    if (size > block.bytes.length) {
      const grown = new Uint8Array(Math.max(size, block.bytes.length * 2));
      grown.set(block.bytes.subarray(0, block.size));
      block.bytes = grown;
    }
    block.bytes.set(f.payload, block.size);
    block.size = size;
    if ((f.flags & FLAG.END_HEADERS) === 0) return null;
    this.#block = null;
    return this.#decode(block);
  }

  /** Whether `size` bytes take `block` past the bound, which ended the connection. */
  #over(block: Pending, size: number): boolean {
    if (size <= this.#bound) return false;
    this.#fail(
      ERROR.ENHANCE_YOUR_CALM,
      `header block of stream ${block.stream} exceeds ${this.#bound} bytes`,
    );
    return true;
  }

  #decode(block: Pending): HeaderBlock | null {
    const decoded = this.#decoder.decode(block.bytes.subarray(0, block.size));
    if ("error" in decoded) {
      this.#fail(ERROR.COMPRESSION_ERROR, decoded.error);
      return null;
    }
    return {
      stream: block.stream,
      endStream: block.endStream,
      selfDependent: block.selfDependent,
      fields: decoded.headers,
    };
  }
}
