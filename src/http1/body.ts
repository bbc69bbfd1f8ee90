/**
 * HTTP/1.1 message-body framing (RFC 9112 section 6.3) for a proxy that routes each request of a
 * keep-alive connection on its own, and so must find where every body ends.
 *
 * Nothing here decodes or buffers a body: the proxy forwards the bytes exactly as received, and
 * these scanners only say how many of them belong to the current message. They never throw on
 * network input; malformed framing is an `{ error }` value.
 *
 * @module
 */

import { charName } from "./fields.ts";
import type { HttpRequestHead } from "./request_head.ts";
import type { HttpResponseHead } from "./response_head.ts";

/** How a request body is delimited; requests are never delimited by closing the connection. */
export type RequestBodyKind =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" };

/**
 * How a response body is delimited: additionally by the server closing the connection, or not
 * at all when the connection becomes a tunnel after the head.
 */
export type ResponseBodyKind =
  | RequestBodyKind
  | { readonly kind: "close" }
  | { readonly kind: "tunnel" };

// Shared results: the kind is looked up for every message, and these carry no data.
const NONE = Object.freeze({ kind: "none" } as const);
const CHUNKED = Object.freeze({ kind: "chunked" } as const);
const CLOSE = Object.freeze({ kind: "close" } as const);
const TUNNEL = Object.freeze({ kind: "tunnel" } as const);

/**
 * The framing of a request body: chunked, else Content-Length, else none (RFC 9112 section
 * 6.3). A zero length is reported as `none`, so callers never wait for bytes that cannot come.
 * The head must come from `sniffHttpRequestHead`, which rejects conflicting framing headers.
 */
export function requestBodyKind(
  req: Pick<HttpRequestHead, "chunked" | "contentLength">,
): RequestBodyKind {
  if (req.chunked) return CHUNKED;
  if (req.contentLength === null || req.contentLength === 0) return NONE;
  return { kind: "length", length: req.contentLength };
}

/**
 * The framing of the response to a request with method `req.method` (RFC 9112 section 6.3):
 *
 * 1. 101 (Switching Protocols): `tunnel`, the connection speaks the upgraded protocol; the
 *    caller should check that the request asked for an upgrade.
 * 2. HEAD, any other 1xx, 204, 304: `none`, whatever the framing headers say.
 * 3. 2xx to CONNECT: `tunnel`.
 * 4. final coding chunked: `chunked`.
 * 5. Content-Length (when no Transfer-Encoding overrides it): `length`, or `none` for zero.
 * 6. otherwise, including a Transfer-Encoding not ending in chunked: `close`, the body ends
 *    when the server closes the connection, so the client connection must close after it too.
 */
export function responseBodyKind(
  req: { readonly method: string },
  res: Pick<HttpResponseHead, "status" | "chunked" | "contentLength">,
): ResponseBodyKind {
  const { status } = res;
  if (status === 101) return TUNNEL;
  if (req.method === "HEAD" || status < 200 || status === 204 || status === 304) return NONE;
  if (req.method === "CONNECT" && status < 300) return TUNNEL;
  if (res.chunked) return CHUNKED;
  if (res.contentLength === 0) return NONE;
  if (res.contentLength !== null) return { kind: "length", length: res.contentLength };
  return CLOSE;
}

/**
 * What a body scanner's `push` reports: `consumed` leading bytes of the chunk belong to the body,
 * and `done` tells whether the body ended within them. Once `done`, the rest of the chunk (if
 * any) is the start of the next message, and later pushes consume nothing.
 *
 * The object is reused by the scanner's next `push`: read it before pushing again.
 */
export interface BodyProgress {
  readonly consumed: number;
  readonly done: boolean;
  /**
   * Where a chunked body's trailer section (its field lines and the final CRLF) starts in the
   * chunk: 0 when it had started before this push, -1 when it is not in the consumed bytes.
   */
  readonly trailerStart: number;
}

/** Why bytes are not a valid body, with the offset of the bad byte from the body's start. */
export interface BodyError {
  readonly error: string;
}

/** Counts a Content-Length body through as it streams by. */
export class LengthCounter {
  #remaining: number;
  readonly #progress = { consumed: 0, done: false, trailerStart: -1 };

  /** `length` is the Content-Length: a non-negative safe integer, as the head sniffers give. */
  constructor(length: number) {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`body length ${length} is not a non-negative safe integer`);
    }
    this.#remaining = length;
  }

  /** Bytes of the body still to come. */
  get remaining(): number {
    return this.#remaining;
  }

  /** Takes up to the remaining length from `chunk`; see {@link BodyProgress}. */
  push(chunk: Uint8Array): BodyProgress {
    const take = Math.min(this.#remaining, chunk.length);
    this.#remaining -= take;
    this.#progress.consumed = take;
    this.#progress.done = this.#remaining === 0;
    return this.#progress;
  }
}

/** Longest chunk-size line accepted, extensions included, CRLF excluded. */
export const MAX_CHUNK_LINE = 4096;
/** Largest trailer section accepted: the field lines with their CRLFs. */
export const MAX_TRAILERS = 16384;
/** Most hex digits in a chunk size; leading zeros count. */
export const MAX_CHUNK_SIZE_DIGITS = 16;

// Scanner states. The chunk-size line's states come first so one range test finds them.
/** Hex digits of the chunk size. */
const SIZE = 0;
/** Whitespace after the size or an extension value: only ";" may follow. */
const EXT_BWS = 1;
/** After ";": optional whitespace, then an extension name. */
const EXT_NAME_START = 2;
const EXT_NAME = 3;
/** Whitespace after an extension name: "=" or ";" may follow. */
const EXT_NAME_BWS = 4;
/** After "=": optional whitespace, then a token or a quoted-string. */
const EXT_VALUE_START = 5;
const EXT_VALUE_TOKEN = 6;
const EXT_QUOTED = 7;
/** After a backslash in a quoted-string. */
const EXT_QUOTED_PAIR = 8;
/** After a quoted-string's closing quote. */
const EXT_QUOTED_END = 9;
/** The last state of the chunk-size line, after its CR. */
const SIZE_LF = 10;
const DATA = 11;
const DATA_CR = 12;
const DATA_LF = 13;
/** The start of a trailer field line, or of the empty line ending the body. */
const TRAILER_START = 14;
const TRAILER_NAME = 15;
const TRAILER_VALUE = 16;
const TRAILER_LF = 17;
/** After the CR of the empty line ending the body. */
const FINAL_LF = 18;
const DONE = 19;
/** Not a state: what {@link afterValue} answers for a byte that may not follow. */
const FAILED = 20;

const SP = 0x20;
const HTAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const DQUOTE = 0x22;
const SEMICOLON = 0x3b;

/** Hex digit values, -1 for other bytes. */
const HEX = new Int8Array(256).fill(-1);
for (let d = 0; d < 10; d++) HEX[0x30 + d] = d;
for (let d = 0; d < 6; d++) HEX[0x41 + d] = HEX[0x61 + d] = 10 + d;

/** RFC 9110 tchar lookup: 1 for token characters. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = TCHAR[c | 0x20] = 1;

/**
 * A streaming scanner for a chunked body (RFC 9112 section 7.1) that leaves the framing in
 * place: it finds where the body ends (last chunk, trailers and final CRLF included) so the
 * proxy can forward the bytes as they are and hand what follows to the next message.
 *
 * Bytes may arrive split anywhere, even one at a time; the result is the same. Every line end
 * must be CRLF. Limits: a chunk size of at most {@link MAX_CHUNK_SIZE_DIGITS} hex digits and
 * 2^53-1; a chunk-size line of at most {@link MAX_CHUNK_LINE} bytes; a trailer section of at most
 * {@link MAX_TRAILERS} bytes. Chunk extensions must be `;name[=token|quoted-string]` with
 * optional whitespace around ";" and "="; trailer fields must be `token ":" value` with the
 * value's bytes allowed in a header value. Their meaning is not interpreted.
 *
 * Runs in time linear in the bytes pushed, allocating nothing per push unless `onData` is given:
 * then each run of chunk data is also handed to it, as a view into the pushed bytes, for a peer
 * that needs the body without its framing (an HTTP/2 client).
 */
export class ChunkedDecoder {
  #state = SIZE;
  readonly #onData: ((data: Uint8Array) => void) | null;
  /** Bytes of the body consumed by earlier pushes: error offsets are relative to its start. */
  #offset = 0;
  /** Hex digits seen in the current chunk size. */
  #digits = 0;
  /** The current chunk's size while reading it, then its data bytes still to come. */
  #remaining = 0;
  /** Bytes of the current chunk-size line, excluding its CRLF. */
  #lineBytes = 0;
  #trailerBytes = 0;
  #error: BodyError | null = null;
  readonly #progress = { consumed: 0, done: false, trailerStart: -1 };

  constructor(onData: ((data: Uint8Array) => void) | null = null) {
    this.#onData = onData;
  }

  /**
   * Scans `chunk`; see {@link BodyProgress}. After an error, every push returns the same error:
   * the stream cannot be re-synchronized.
   */
  push(chunk: Uint8Array): BodyProgress | BodyError {
    if (this.#error !== null) return this.#error;
    const n = chunk.length;
    let state = this.#state;
    let i = 0;
    let trailerStart = state >= TRAILER_START && state < DONE ? 0 : -1;
    for (; i < n && state !== DONE; i++) {
      if (state === DATA) {
        // The only state spanning many bytes: skip them at once.
        const take = Math.min(this.#remaining, n - i);
        if (this.#onData !== null && take > 0) this.#onData(chunk.subarray(i, i + take));
        this.#remaining -= take;
        i += take - 1;
        if (this.#remaining === 0) state = DATA_CR;
        continue;
      }
      const b = chunk[i];
      if (state < SIZE_LF && b !== CR && ++this.#lineBytes > MAX_CHUNK_LINE) {
        return this.#fail(`chunk-size line longer than ${MAX_CHUNK_LINE} bytes`, i);
      }
      if (state >= TRAILER_START && state < FINAL_LF && !(state === TRAILER_START && b === CR)) {
        if (++this.#trailerBytes > MAX_TRAILERS) {
          return this.#fail(`trailer section longer than ${MAX_TRAILERS} bytes`, i);
        }
      }
      switch (state) {
        case SIZE: {
          const h = HEX[b];
          if (h >= 0) {
            if (++this.#digits > MAX_CHUNK_SIZE_DIGITS) {
              return this.#fail(`chunk size longer than ${MAX_CHUNK_SIZE_DIGITS} hex digits`, i);
            }
            // Exact: the previous value is at most 2^53-1, so times 16 is below 2^57 and a sum
            // that rounds is above 2^53-1 anyway.
            this.#remaining = this.#remaining * 16 + h;
            if (this.#remaining > Number.MAX_SAFE_INTEGER) {
              return this.#fail("chunk size above 2^53-1", i);
            }
            continue;
          }
          if (this.#digits === 0) return this.#fail(`chunk size expected, got ${charName(b)}`, i);
          state = afterValue(b);
          if (state === FAILED) return this.#failLine(b, "after chunk size", i);
          continue;
        }
        case EXT_BWS:
          if (b === SEMICOLON) state = EXT_NAME_START;
          else if (b !== SP && b !== HTAB) {
            return this.#failLine(b, "after whitespace in chunk-size line", i);
          }
          continue;
        case EXT_NAME_START:
          if (TCHAR[b] === 1) state = EXT_NAME;
          else if (b !== SP && b !== HTAB) {
            return this.#failLine(b, "at start of chunk extension name", i);
          }
          continue;
        case EXT_NAME:
          if (TCHAR[b] === 1) continue;
          if (b === SP || b === HTAB) state = EXT_NAME_BWS;
          else if (b === 0x3d) state = EXT_VALUE_START;
          else {
            state = afterValue(b);
            if (state === FAILED) return this.#failLine(b, "in chunk extension name", i);
          }
          continue;
        case EXT_NAME_BWS:
          if (b === 0x3d) state = EXT_VALUE_START;
          else if (b === SEMICOLON) state = EXT_NAME_START;
          else if (b !== SP && b !== HTAB) {
            return this.#failLine(b, "after chunk extension name", i);
          }
          continue;
        case EXT_VALUE_START:
          if (TCHAR[b] === 1) state = EXT_VALUE_TOKEN;
          else if (b === DQUOTE) state = EXT_QUOTED;
          else if (b !== SP && b !== HTAB) {
            return this.#failLine(b, "at start of chunk extension value", i);
          }
          continue;
        case EXT_VALUE_TOKEN:
          if (TCHAR[b] === 1) continue;
          state = afterValue(b);
          if (state === FAILED) return this.#failLine(b, "in chunk extension value", i);
          continue;
        case EXT_QUOTED:
          // qdtext: HTAB, SP, VCHAR except '"' and '\', obs-text.
          if (b === DQUOTE) state = EXT_QUOTED_END;
          else if (b === 0x5c) state = EXT_QUOTED_PAIR;
          else if (isControl(b)) return this.#failLine(b, "in chunk extension quoted-string", i);
          continue;
        case EXT_QUOTED_PAIR:
          if (isControl(b)) return this.#failLine(b, "in chunk extension quoted-string", i);
          state = EXT_QUOTED;
          continue;
        case EXT_QUOTED_END:
          state = afterValue(b);
          if (state === FAILED) return this.#failLine(b, "after chunk extension value", i);
          continue;
        case SIZE_LF:
          if (b !== LF) return this.#fail("CR not followed by LF ending the chunk-size line", i);
          if (this.#remaining === 0) {
            state = TRAILER_START;
            trailerStart = i + 1;
          } else state = DATA;
          continue;
        case DATA_CR:
          if (b === CR) state = DATA_LF;
          else if (b === LF) return this.#fail("bare LF after chunk data", i);
          else return this.#fail(`chunk data followed by ${charName(b)}, not CRLF`, i);
          continue;
        case DATA_LF:
          if (b !== LF) return this.#fail("CR not followed by LF after chunk data", i);
          state = SIZE;
          this.#digits = 0;
          this.#lineBytes = 0;
          continue;
        case TRAILER_START:
          if (b === CR) state = FINAL_LF;
          else if (TCHAR[b] === 1) state = TRAILER_NAME;
          else if (b === LF) return this.#fail("bare LF in trailer section", i);
          else if (b === SP || b === HTAB) return this.#fail("obsolete line folding in trailer", i);
          else if (b === 0x3a) return this.#fail("empty trailer field name", i);
          else return this.#fail(`invalid character ${charName(b)} in trailer field name`, i);
          continue;
        case TRAILER_NAME:
          if (b === 0x3a) state = TRAILER_VALUE;
          else if (b === CR || b === LF) return this.#fail("trailer field without colon", i);
          else if (TCHAR[b] !== 1) {
            return this.#fail(`invalid character ${charName(b)} in trailer field name`, i);
          }
          continue;
        case TRAILER_VALUE:
          if (b === CR) state = TRAILER_LF;
          else if (b === LF) return this.#fail("bare LF in trailer section", i);
          else if (isControl(b)) {
            return this.#fail(`invalid character ${charName(b)} in trailer field value`, i);
          }
          continue;
        case TRAILER_LF:
          if (b !== LF) return this.#fail("CR not followed by LF in trailer section", i);
          state = TRAILER_START;
          continue;
        default: // FINAL_LF
          if (b !== LF) return this.#fail("CR not followed by LF ending the chunked body", i);
          state = DONE;
      }
    }
    this.#state = state;
    this.#offset += i;
    this.#progress.consumed = i;
    this.#progress.done = state === DONE;
    this.#progress.trailerStart = trailerStart;
    return this.#progress;
  }

  /** Fails on byte `b` of a chunk-size line, naming line-end faults specially. */
  #failLine(b: number, where: string, at: number): BodyError {
    if (b === LF) return this.#fail("bare LF in chunk-size line", at);
    return this.#fail(`invalid character ${charName(b)} ${where}`, at);
  }

  #fail(reason: string, at: number): BodyError {
    this.#error = Object.freeze({ error: `${reason} at offset ${this.#offset + at}` });
    return this.#error;
  }
}

/** The state after byte `b` ends a chunk size or an extension name or value, or FAILED. */
function afterValue(b: number): number {
  switch (b) {
    case SEMICOLON:
      return EXT_NAME_START;
    case SP:
    case HTAB:
      return EXT_BWS;
    case CR:
      return SIZE_LF;
    default:
      return FAILED;
  }
}

/** Bytes never allowed in a field value or quoted-string: CTLs other than HTAB, and DEL. */
function isControl(b: number): boolean {
  return (b < SP && b !== HTAB) || b === 0x7f;
}
