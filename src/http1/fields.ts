/**
 * The base both HTTP/1 head parsers share (RFC 9110/9112): header fields, read the same way for
 * request heads (request_head.ts) and response heads (response_head.ts), the one-pass head
 * scanner, and the framing facts every head carries ({@link HttpHead}). Strict where a lenient
 * reader would let the proxy and its peer disagree about framing, with reasons that quote the
 * bad value.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { invalid, match, NEED_MORE, type SniffResult } from "../wire/result.ts";
import { commonName } from "./field_names.ts";

const SP = 0x20;
const HTAB = 0x09;
const CR = 0x0d;
const COLON = 0x3a;
const LF = 0x0a;

/** What a request head and a response head both say, derived once for the body code. */
export interface HttpHead {
  version: "1.0" | "1.1";
  /** Length of the head including the final CRLFCRLF (equals the match `length`). */
  headerEnd: number;
  /** Header fields in order; names as sent, values with surrounding whitespace trimmed. */
  headers: readonly [name: string, value: string][];
  /** Content-Length, or `null` when absent or overridden (never together with `chunked`). */
  contentLength: number | null;
  /** Transfer-Encoding is present and its final coding is chunked. */
  chunked: boolean;
  /**
   * The connection closes after this message: "Connection: close", or HTTP/1.0 without
   * "Connection: keep-alive" (and, for responses, more: see HttpResponseHead).
   */
  connectionClose: boolean;
  /**
   * The Upgrade header value(s) as sent, joined by ", ", when an HTTP/1.1 message also lists
   * "upgrade" in Connection (RFC 9110 section 7.8); otherwise `null`.
   */
  upgrade: string | null;
}

/** RFC 9110 tchar lookup: 1 for token characters. */
export const TCHAR: Uint8Array = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = TCHAR[c | 0x20] = 1;

/** Whether `text` is a non-empty RFC 9110 token. */
export function isToken(text: string): boolean {
  if (text === "") return false;
  for (let i = 0; i < text.length; i++) if (TCHAR[text.charCodeAt(i)] !== 1) return false;
  return true;
}

/** Optional whitespace: SP or HTAB. */
export function isOws(c: number): boolean {
  return c === SP || c === HTAB;
}

/**
 * node:buffer's latin1 decoder, called on any Uint8Array. It is ISO-8859-1 on both runtimes
 * (TextDecoder("latin1") is WHATWG's windows-1252, which turns 0x80..0x9f into other
 * characters) and native. Called directly, not through `Buffer.from(buf.buffer, ...)`: reading
 * `.buffer` of a fresh socket chunk makes JavaScriptCore create its ArrayBuffer, 2 us a chunk
 * on Bun (4 % of its busy time on the http case); this costs 0.06-0.17 us on either runtime.
 */
const latin1Slice = (Buffer.prototype as unknown as {
  latin1Slice: (this: Uint8Array, start: number, end: number) => string;
}).latin1Slice;

/**
 * Decodes bytes one char per byte, so offsets in the string equal offsets in the buffer
 * (`start` and `end` must lie within `buf`).
 */
export function latin1(buf: Uint8Array, start: number, end: number): string {
  return latin1Slice.call(buf, start, end);
}

/** A byte as `0x..`, for reasons. */
export function charName(c: number): string {
  return `0x${c.toString(16).padStart(2, "0")}`;
}

/** Quotes untrusted text for a reason: JSON escapes control bytes, the cap bounds its size. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

/** What framing needs from the fields of a head, gathered in one pass. */
export interface Fields {
  /** Every field in order; names as sent, values with surrounding whitespace trimmed. */
  readonly headers: [string, string][];
  /** The names of `headers`, lower-cased, in the same order. */
  readonly names: string[];
  /** The Content-Length value (identical repeats allowed), or null. */
  contentLength: string | null;
  /** How many Content-Length fields there were: above 1, a forwarder must send only one. */
  contentLengthFields: number;
  sawTransferEncoding: boolean;
  /** Transfer codings, lower-cased, empty list elements dropped. */
  readonly codings: string[];
  /** Connection options, lower-cased. */
  readonly connection: string[];
  /** Upgrade values as sent. */
  readonly upgrades: string[];
}

/**
 * Reads the field lines of a head from `start` to `end` (the offset of the CRLF ending the
 * head), every line ending in CRLF. Rejects obs-fold, a line without a colon, an empty or
 * invalid name, whitespace before the colon, control bytes in a value and invalid or differing
 * Content-Length values, with a reason starting with `status` ("400" for requests, "502" for
 * responses). `other` sees each field this function does not interpret (by lower-cased name)
 * and may reject it with a reason.
 */
export function readFields(
  text: string,
  start: number,
  end: number,
  status: string,
  other: (lowerName: string, value: string) => string | null,
): Fields | string {
  const f: Fields = {
    headers: [],
    names: [],
    contentLength: null,
    contentLengthFields: 0,
    sawTransferEncoding: false,
    codings: [],
    connection: [],
    upgrades: [],
  };
  for (let p = start; p < end;) {
    // One pass over the name (token characters up to the colon) and one over the value (up
    // to the CR: scanHead let no CR or LF through but in CRLF); anything unusual is named by
    // badLine, off this path.
    let colon = p;
    while (TCHAR[text.charCodeAt(colon)] === 1) colon++;
    if (colon === p || text.charCodeAt(colon) !== COLON) return badLine(text, p, status);
    const name = text.slice(p, colon);
    const lower = commonName(text, p, colon) ?? name.toLowerCase();
    let vs = colon + 1;
    while (isOws(text.charCodeAt(vs))) vs++;
    let e = vs;
    for (let c = text.charCodeAt(e); c !== CR && e < end; c = text.charCodeAt(++e)) {
      // Field values may hold HTAB, SP, VCHAR and obs-text; any other control byte (NUL,
      // DEL, ...) is treated differently by different parsers.
      if ((c < SP && c !== HTAB) || c === 0x7f) {
        return `${status}: invalid character ${charName(c)} in header ${quote(name)} value`;
      }
    }
    let ve = e;
    while (ve > vs && isOws(text.charCodeAt(ve - 1))) ve--;
    const value = text.slice(vs, ve);
    f.headers.push([name, value]);
    f.names.push(lower);
    p = e + 2;

    switch (lower) {
      case "content-length":
        if (!/^[0-9]+$/.test(value)) return `${status}: invalid Content-Length ${quote(value)}`;
        // Past 15 digits the value may not be a safe integer; nobody sends such bodies.
        if (value.length > 15) return `${status}: Content-Length ${quote(value)} too large`;
        // Identical repeats are harmless (RFC 9110 section 8.6); differing ones are how
        // requests are smuggled and responses split.
        if (f.contentLength !== null && f.contentLength !== value) {
          return `${status}: differing Content-Length values ${quote(f.contentLength)} and ${
            quote(value)
          }`;
        }
        f.contentLength = value;
        f.contentLengthFields++;
        break;
      case "transfer-encoding":
        f.sawTransferEncoding = true;
        for (const item of value.split(",")) {
          // Empty list elements are allowed and ignored (RFC 9110 section 5.6.1).
          const coding = item.trim().toLowerCase();
          if (coding !== "") f.codings.push(coding);
        }
        break;
      case "connection":
        for (const item of value.split(",")) f.connection.push(item.trim().toLowerCase());
        break;
      case "upgrade":
        f.upgrades.push(value);
        break;
      default: {
        const bad = other(lower, value);
        if (bad !== null) return bad;
      }
    }
  }
  return f;
}

/** Why the field line at `p` is not `token ":" ...`: the first rule it breaks, quoted. */
function badLine(text: string, p: number, status: string): string {
  const e = text.indexOf("\r\n", p);
  if (isOws(text.charCodeAt(p))) {
    return `${status}: obsolete line folding in ${quote(text.slice(p, e))}`;
  }
  const colon = text.indexOf(":", p);
  if (colon < 0 || colon > e) {
    return `${status}: header line without colon ${quote(text.slice(p, e))}`;
  }
  const name = text.slice(p, colon);
  if (name === "") return `${status}: empty header name in ${quote(text.slice(p, e))}`;
  if (isOws(name.charCodeAt(name.length - 1))) {
    return `${status}: whitespace between header name and colon in ${quote(name)}`;
  }
  return `${status}: invalid header name ${quote(name)}`;
}

/** What kind of head {@link scanHead} reads; one constant per sniffer, so nothing is built per call. */
export interface HeadKind<L> {
  /** "request" or "response": names the line and the head in reasons. */
  readonly what: string;
  /** Reason prefix for a bare CR or LF. */
  readonly status: string;
  /** Reason prefix for a first line over its limit. */
  readonly lineStatus: string;
  /** Reason prefix for a head over its limit. */
  readonly headStatus: string;
  /** Validates the first line (without its CRLF): its parts, or a reason. */
  readonly firstLine: (text: string) => L | string;
}

/**
 * Finds a head's end in one pass over `buf` from `from` (the first line's start was already
 * checked up to there): CRLF is the only line end, the first line is validated as soon as it
 * is complete (and may be at most `maxLine` bytes), and the head ends at the first empty line,
 * within `maxHead` bytes. Returns the parsed first line and the head's length (with its
 * CRLFCRLF), null while more bytes are needed, or a reason.
 */
export function scanHead<L>(
  buf: Uint8Array,
  from: number,
  maxLine: number,
  maxHead: number,
  kind: HeadKind<L>,
): { line: L; headEnd: number } | null | string {
  const n = buf.length;
  const seen = Math.min(n, maxHead);
  let line: L | null = null;
  let lineStart = 0;
  let headEnd = -1;
  // The first line apart, so the field lines' loop checks no line limit; in both, a byte
  // above CR (nearly every byte) costs one comparison.
  let i = from;
  const firstLimit = Math.min(seen, maxLine);
  while (i < firstLimit && (buf[i] > CR || (buf[i] !== CR && buf[i] !== LF))) i++;
  if (i === firstLimit && i < seen) {
    if (buf[i] !== CR && buf[i] !== LF) {
      return `${kind.lineStatus}: ${kind.what} line longer than ${maxLine} bytes`;
    }
  }
  for (; i < seen; i++) {
    const b = buf[i];
    if (b > CR) continue;
    if (b === LF) return `${kind.status}: bare LF at offset ${i}`;
    if (b !== CR) continue;
    if (i + 1 === n) break;
    if (buf[i + 1] !== LF) return `${kind.status}: bare CR at offset ${i}`;
    if (line === null) {
      const parsed = kind.firstLine(latin1(buf, 0, i));
      if (typeof parsed === "string") return parsed;
      line = parsed;
    } else if (i === lineStart) {
      headEnd = i + 2;
      break;
    }
    lineStart = i + 2;
    i++;
  }
  if (headEnd < 0 ? n >= maxHead : headEnd > maxHead) {
    return `${kind.headStatus}: ${kind.what} head longer than ${maxHead} bytes`;
  }
  if (headEnd < 0 || line === null) return null;
  return { line, headEnd };
}

/**
 * A head sniffer's result: {@link scanHead}, then `parse` over the head's text (the first line
 * already parsed), which gives the head or a reason.
 */
export function sniffHead<L, H>(
  buf: Uint8Array,
  from: number,
  maxLine: number,
  maxHead: number,
  kind: HeadKind<L>,
  parse: (text: string, line: L, headEnd: number) => H | string,
): SniffResult<H> {
  const scan = scanHead(buf, from, maxLine, maxHead, kind);
  if (scan === null) return NEED_MORE;
  if (typeof scan === "string") return invalid(scan);
  const head = parse(latin1(buf, 0, scan.headEnd), scan.line, scan.headEnd);
  return typeof head === "string" ? invalid(head) : match(head, scan.headEnd);
}
