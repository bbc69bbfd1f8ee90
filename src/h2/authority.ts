/**
 * HTTP/2 cleartext request sniffer (h2c with prior knowledge, RFC 9113): reads the client's
 * preface and frames up to the end of the first request's header block, and reports the
 * request's authority so the router can pick a backend before any byte is forwarded.
 *
 * Only the client's bytes are seen. Frames before the first HEADERS are checked as the server
 * would check them and skipped; the header block is decoded with a fresh {@link HpackDecoder}.
 * Reasons start with "HTTP/2: ", or with "HPACK: " for a header block that does not decode.
 *
 * @module
 */

import { concat } from "../wire/bytes.ts";
import { HpackDecoder } from "./hpack.ts";
import { quote } from "../http1/fields.ts";
import { type Authority, parseAuthority } from "../http1/request_head.ts";
import { sniffH2Preface } from "./preface.ts";
import { invalid, match, NEED_MORE, type SniffResult } from "../wire/result.ts";

/** What the router needs from the first request on an h2c connection. */
export interface H2Request {
  /**
   * The host to route on, from `:authority`, or from a `host` field when `:authority` is
   * absent: lower-cased, without port or one trailing dot; IPv6 literals without brackets, in
   * RFC 5952 form (as `HttpRequestHead.host`). `null` when neither is present, or `host` is
   * empty.
   */
  authority: string | null;
  /** `:path` without its query (as `HttpRequestHead.path`), or `null` when absent (CONNECT). */
  path: string | null;
  /** `:method` as sent, or `null` when absent. */
  method: string | null;
  /** The request's stream identifier (odd; 1 from clients that follow the RFC). */
  stream: number;
}

const FRAME_HEADER_SIZE = 9;
/**
 * The default SETTINGS_MAX_FRAME_SIZE. A client may send larger frames only after the server
 * raised it, and no server has spoken yet.
 */
const MAX_FRAME_SIZE = 16384;

const DATA = 0x0;
const HEADERS = 0x1;
const PRIORITY = 0x2;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PUSH_PROMISE = 0x5;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;
const FRAME_NAMES = [
  "DATA",
  "HEADERS",
  "PRIORITY",
  "RST_STREAM",
  "SETTINGS",
  "PUSH_PROMISE",
  "PING",
  "GOAWAY",
  "WINDOW_UPDATE",
  "CONTINUATION",
];

const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

const SETTINGS_ENABLE_PUSH = 0x2;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_MAX_FRAME_SIZE = 0x5;

/** Pseudo-header fields a request may carry (RFC 9113 section 8.3.1, RFC 8441 `:protocol`). */
const REQUEST_PSEUDO_HEADERS = new Set([":method", ":scheme", ":authority", ":path", ":protocol"]);

/**
 * Sniffs the client side of an h2c connection up to the end of its first header block.
 *
 * - `no` when `buf` does not start with the connection preface; `more` for a proper prefix of
 *   it, and for a valid prefix of the frames that follow.
 * - `invalid` as soon as the bytes break a rule the server would enforce as a connection error
 *   (frame sizes, stream 0 rules, frames on idle streams, a first frame other than SETTINGS,
 *   anything but CONTINUATION inside a header block), for an undecodable header block, for a
 *   malformed request header list (pseudo-header rules, field name and value characters, a bad
 *   or conflicting authority), and when the header block would end past `maxBytes`.
 * - `match` once the first header block is complete; `length` is the offset just past its last
 *   frame. Later bytes are not looked at.
 */
export function sniffH2Authority(buf: Uint8Array, maxBytes = 65536): SniffResult<H2Request> {
  const preface = sniffH2Preface(buf);
  if (preface.kind !== "match") return preface;
  let pos = preface.length;
  // The stream whose header block is being collected (0 until HEADERS), and its fragments.
  let stream = 0;
  const fragments: Uint8Array[] = [];
  for (let first = true;; first = false) {
    if (pos + FRAME_HEADER_SIZE > maxBytes) return tooLong(maxBytes);
    if (pos + FRAME_HEADER_SIZE > buf.length) return NEED_MORE;
    const length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2];
    const type = buf[pos + 3];
    const flags = buf[pos + 4];
    // The reserved top bit is ignored (RFC 9113 section 4.1).
    const id = ((buf[pos + 5] & 0x7f) << 24) | (buf[pos + 6] << 16) | (buf[pos + 7] << 8) |
      buf[pos + 8];
    // The header alone decides these, so they are reported before the payload arrives.
    const headerFault = length > MAX_FRAME_SIZE
      ? `${frameName(type)} frame length ${length} exceeds the maximum frame size ${MAX_FRAME_SIZE}`
      : checkFrameHeader(type, flags, id, length, first, stream);
    if (headerFault !== null) return invalid(`HTTP/2: ${headerFault}`);
    const start = pos + FRAME_HEADER_SIZE;
    const end = start + length;
    if (end > maxBytes) return tooLong(maxBytes);
    if (end > buf.length) return NEED_MORE;
    const payload = buf.subarray(start, end);
    pos = end;

    if (type === HEADERS || type === CONTINUATION) {
      const fragment = type === HEADERS ? headersFragment(payload, flags, id) : payload;
      if (typeof fragment === "string") return invalid(`HTTP/2: ${fragment}`);
      stream = id;
      fragments.push(fragment);
      if ((flags & FLAG_END_HEADERS) === 0) continue;
      const decoded = new HpackDecoder().decode(concat(fragments));
      if ("error" in decoded) return invalid(decoded.error);
      const request = requestOf(decoded.headers);
      return typeof request === "string"
        ? invalid(`HTTP/2: ${request}`)
        : match({ ...request, stream }, pos);
    }
    const payloadFault = checkPayload(type, id, payload);
    if (payloadFault !== null) return invalid(`HTTP/2: ${payloadFault}`);
  }
}

function tooLong(maxBytes: number): SniffResult<H2Request> {
  return invalid(`HTTP/2: no complete header block within the first ${maxBytes} bytes`);
}

function frameName(type: number): string {
  return FRAME_NAMES[type] ?? `unknown (type 0x${type.toString(16).padStart(2, "0")})`;
}

/**
 * Checks a frame header against where it appears: first after the preface, inside the header
 * block of `stream`, or before any HEADERS (`stream` 0, when every other stream is idle).
 * Returns the fault, or `null`.
 */
function checkFrameHeader(
  type: number,
  flags: number,
  id: number,
  length: number,
  first: boolean,
  stream: number,
): string | null {
  const name = frameName(type);
  // The preface proper ends with the client's SETTINGS (RFC 9113 section 3.4).
  if (first && (type !== SETTINGS || (flags & FLAG_ACK) !== 0)) {
    return `first frame after the preface is ${name}${type === SETTINGS ? " ACK" : ""}, ` +
      `not SETTINGS`;
  }
  // A header block is one unit: only its own CONTINUATION frames may follow (section 6.10).
  if (stream !== 0) {
    if (type !== CONTINUATION) {
      return `${name} frame inside the header block of stream ${stream} (expected CONTINUATION)`;
    }
    if (id !== stream) {
      return `CONTINUATION frame for stream ${id} inside the header block of stream ${stream}`;
    }
    return null;
  }
  switch (type) {
    case HEADERS:
      if (id === 0) return "HEADERS frame on stream 0";
      if (id % 2 === 0) return `HEADERS frame on even stream ${id} (client streams are odd)`;
      return null;
    case PRIORITY:
      if (id === 0) return "PRIORITY frame on stream 0";
      return length === 5 ? null : `PRIORITY frame length ${length} (must be 5)`;
    case SETTINGS:
      if (id !== 0) return `SETTINGS frame on stream ${id} (must be 0)`;
      if ((flags & FLAG_ACK) !== 0 && length !== 0) {
        return `SETTINGS ACK frame length ${length} (must be 0)`;
      }
      return length % 6 === 0 ? null : `SETTINGS frame length ${length} (not a multiple of 6)`;
    case PING:
      if (id !== 0) return `PING frame on stream ${id} (must be 0)`;
      return length === 8 ? null : `PING frame length ${length} (must be 8)`;
    case GOAWAY:
      if (id !== 0) return `GOAWAY frame on stream ${id} (must be 0)`;
      return length >= 8 ? null : `GOAWAY frame length ${length} (must be at least 8)`;
    case WINDOW_UPDATE:
      if (length !== 4) return `WINDOW_UPDATE frame length ${length} (must be 4)`;
      return id === 0 ? null : `WINDOW_UPDATE frame on idle stream ${id}`;
    case DATA:
    case RST_STREAM:
      return id === 0 ? `${name} frame on stream 0` : `${name} frame on idle stream ${id}`;
    case PUSH_PROMISE:
      return "PUSH_PROMISE frame from a client";
    case CONTINUATION:
      return `CONTINUATION frame on stream ${id} without a HEADERS frame before it`;
    default:
      // Unknown frame types are ignored outside header blocks (section 5.5).
      return null;
  }
}

/**
 * Checks the payload of a frame skipped before the first HEADERS; the header was checked
 * already. Returns the fault, or `null`.
 */
function checkPayload(type: number, id: number, payload: Uint8Array): string | null {
  switch (type) {
    case SETTINGS:
      // SETTINGS_HEADER_TABLE_SIZE is deliberately not applied to the decoder: it sizes the
      // client's own decoding table (for the server's responses), while the client encodes its
      // requests for the server's table, which is 4096 bytes until the server says otherwise.
      for (let p = 0; p < payload.length; p += 6) {
        const setting = (payload[p] << 8) | payload[p + 1];
        const value = u32(payload, p + 2);
        const fault = checkSetting(setting, value);
        if (fault !== null) return fault;
      }
      return null;
    case PRIORITY: {
      const dependency = u32(payload, 0) & 0x7fffffff;
      return dependency === id ? `PRIORITY frame makes stream ${id} depend on itself` : null;
    }
    case WINDOW_UPDATE:
      return (u32(payload, 0) & 0x7fffffff) === 0 ? "WINDOW_UPDATE increment 0 on stream 0" : null;
    default:
      return null;
  }
}

/** Range checks RFC 9113 section 6.5.2 makes connection errors; other settings pass. */
function checkSetting(setting: number, value: number): string | null {
  switch (setting) {
    case SETTINGS_ENABLE_PUSH:
      return value <= 1 ? null : `SETTINGS_ENABLE_PUSH value ${value} (must be 0 or 1)`;
    case SETTINGS_INITIAL_WINDOW_SIZE:
      return value <= 0x7fffffff
        ? null
        : `SETTINGS_INITIAL_WINDOW_SIZE value ${value} (must be at most 2^31-1)`;
    case SETTINGS_MAX_FRAME_SIZE:
      return value >= 16384 && value <= 0xffffff
        ? null
        : `SETTINGS_MAX_FRAME_SIZE value ${value} (must be 16384 to 2^24-1)`;
    default:
      return null;
  }
}

/**
 * The header block fragment of a HEADERS frame, without its pad length, priority fields and
 * padding (RFC 9113 section 6.2), or the fault.
 */
function headersFragment(payload: Uint8Array, flags: number, id: number): Uint8Array | string {
  let start = 0;
  let padLength = 0;
  if ((flags & FLAG_PADDED) !== 0) {
    if (payload.length < 1) return "HEADERS frame with the PADDED flag has no pad length";
    padLength = payload[0];
    start = 1;
  }
  if ((flags & FLAG_PRIORITY) !== 0) {
    if (payload.length - start < 5) {
      return `HEADERS frame length ${payload.length} too short for its priority fields`;
    }
    if ((u32(payload, start) & 0x7fffffff) === id) {
      return `HEADERS frame makes stream ${id} depend on itself`;
    }
    start += 5;
  }
  if (padLength > payload.length - start) {
    return `HEADERS pad length ${padLength} exceeds the ${payload.length - start} bytes ` +
      `left in the frame`;
  }
  return payload.subarray(start, payload.length - padLength);
}

/**
 * Extracts the routing facts from a decoded request header list and checks the rules that
 * make a request malformed (RFC 9113 sections 8.2 and 8.3) where they bear on routing: a
 * forged or duplicated authority, or field names that would hide a `host` field.
 */
function requestOf(headers: [string, string][]): Omit<H2Request, "stream"> | string {
  const pseudo = new Map<string, string>();
  let host: string | null = null;
  let sawRegular = false;
  for (const [name, value] of headers) {
    const valueFault = checkValue(value);
    if (valueFault !== null) return `field ${quote(name)} value ${quote(value)} ${valueFault}`;
    if (name.charCodeAt(0) === 0x3a) {
      if (!REQUEST_PSEUDO_HEADERS.has(name)) return `unknown pseudo-header ${quote(name)}`;
      if (sawRegular) return `pseudo-header ${quote(name)} after a regular field`;
      if (pseudo.has(name)) return `several ${name} pseudo-headers`;
      pseudo.set(name, value);
      continue;
    }
    sawRegular = true;
    if (!isFieldName(name)) return `invalid field name ${quote(name)}`;
    if (name === "host") {
      if (host !== null) return "several host fields";
      host = value;
    }
  }

  const authorityText = pseudo.get(":authority");
  let authority: Authority | null = null;
  if (authorityText !== undefined) {
    // Userinfo is forbidden in :authority (RFC 9113 section 8.3.1); parseAuthority rejects "@".
    authority = parseAuthority(authorityText);
    if (authority === null) return `invalid :authority ${quote(authorityText)}`;
  }
  let fromHost: Authority | null = null;
  if (host !== null && host !== "") {
    fromHost = parseAuthority(host);
    if (fromHost === null) return `invalid host field ${quote(host)}`;
  }
  // Routing on one and serving by the other would let a request reach a host it was not
  // routed for (RFC 9113 section 8.3.1 lets the server treat this as malformed).
  if (authority !== null && host !== null) {
    if (fromHost === null || fromHost.host !== authority.host || fromHost.port !== authority.port) {
      return `:authority ${quote(authorityText ?? "")} and host ${quote(host)} differ`;
    }
  }
  const path = pseudo.get(":path");
  const query = path === undefined ? -1 : path.indexOf("?");
  return {
    authority: (authority ?? fromHost)?.host ?? null,
    path: path === undefined ? null : query < 0 ? path : path.slice(0, query),
    method: pseudo.get(":method") ?? null,
  };
}

/**
 * RFC 9113 section 8.2.1: no bytes 0x00-0x20, uppercase letters, 0x7f-0xff or colons in a
 * regular field name (so "Host" or "host " cannot pass for "host" at the backend).
 */
function isFieldName(name: string): boolean {
  if (name === "") return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || (c >= 0x41 && c <= 0x5a) || c >= 0x7f || c === 0x3a) return false;
  }
  return true;
}

/** RFC 9113 section 8.2.1: no NUL, CR or LF in a value, no leading or trailing SP or HTAB. */
function checkValue(value: string): string | null {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x00 || c === 0x0a || c === 0x0d) {
      return `contains 0x${c.toString(16).padStart(2, "0")}`;
    }
  }
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) {
    return "starts or ends with whitespace";
  }
  return null;
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}
