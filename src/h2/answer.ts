/**
 * What the router sends on an h2c connection it answers itself instead of proxying it. Like
 * any HTTP/2 server it starts with its SETTINGS (RFC 9113 section 3.4). Then either an ACK of
 * the client's SETTINGS, a response on the request's stream and a GOAWAY naming that stream
 * (no route, no server: the client reports the status, as from a server), or, for a
 * connection error, a GOAWAY with its error code and the reason as debug data (no ACK: the
 * client's SETTINGS may be what was wrong).
 *
 * Header blocks use literals without indexing (RFC 7541 section 6.2.2): they create no
 * dynamic-table state, so the block means the same to any decoder.
 *
 * @module
 */

import { concat } from "../wire/bytes.ts";
import { reasonPhrase } from "../http1/error_response.ts";

const DATA = 0x0;
const HEADERS = 0x1;
const SETTINGS = 0x4;
const GOAWAY = 0x7;
const ACK = 0x1;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;

/** HTTP/2 error codes (RFC 9113 section 7) a connection error is sent with. */
export const H2_ERROR = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  FRAME_SIZE_ERROR: 0x6,
  COMPRESSION_ERROR: 0x9,
} as const;

// HPACK static table indices (RFC 7541 appendix A).
const STATUS = 8;
const CACHE_CONTROL = 24;
const CONTENT_LENGTH = 28;
const CONTENT_TYPE = 31;

/** The default SETTINGS_MAX_FRAME_SIZE: the client has announced nothing larger to us yet. */
const MAX_PAYLOAD = 16384;

const encoder = new TextEncoder();

/**
 * The frames answering the request on `stream` with `status` and a one-line text body, then
 * a GOAWAY that names `stream` as the last one processed. `head`: the request was HEAD, so
 * the HEADERS frame ends the stream and no DATA follows (RFC 9113 section 8.1.1).
 */
export function h2ErrorResponse(
  stream: number,
  status: number,
  detail: string,
  head = false,
): Uint8Array {
  const text = `${status} ${reasonPhrase(status)}${detail ? `: ${detail}` : ""}\n`;
  const body = utf8(text, MAX_PAYLOAD);
  const block = [
    ...literal(STATUS, String(status)),
    ...literal(CONTENT_TYPE, "text/plain; charset=utf-8"),
    ...literal(CONTENT_LENGTH, String(body.length)),
    ...literal(CACHE_CONTROL, "no-store"),
  ];
  const headers = Uint8Array.from(block);
  return concat([
    SETTINGS_FRAME,
    SETTINGS_ACK_FRAME,
    ...(head
      ? [frame(HEADERS, END_HEADERS | END_STREAM, stream, headers)]
      : [frame(HEADERS, END_HEADERS, stream, headers), frame(DATA, END_STREAM, stream, body)]),
    goAway(stream, H2_ERROR.NO_ERROR, ""),
  ]);
}

/**
 * The error code for an h2c sniffer's `invalid` reason: a header block that does not decode
 * is a COMPRESSION_ERROR, a frame of the wrong size a FRAME_SIZE_ERROR (RFC 9113 section
 * 4.2), anything else a PROTOCOL_ERROR.
 */
export function h2ErrorCode(reason: string): number {
  if (reason.startsWith("HPACK:")) return H2_ERROR.COMPRESSION_ERROR;
  if (/ frame length \d+ /.test(reason)) return H2_ERROR.FRAME_SIZE_ERROR;
  return H2_ERROR.PROTOCOL_ERROR;
}

/** The frames closing a connection with `code`, `reason` as debug data: no stream processed. */
export function h2ConnectionError(code: number, reason: string): Uint8Array {
  return concat([SETTINGS_FRAME, goAway(0, code, reason)]);
}

function goAway(lastStream: number, code: number, debug: string): Uint8Array {
  const data = utf8(debug, MAX_PAYLOAD - 8);
  const payload = new Uint8Array(8 + data.length);
  const view = new DataView(payload.buffer);
  view.setUint32(0, lastStream & 0x7fffffff);
  view.setUint32(4, code);
  payload.set(data, 8);
  return frame(GOAWAY, 0, 0, payload);
}

/** The server's (empty) SETTINGS, and the acknowledgement of the client's. */
const SETTINGS_FRAME = frame(SETTINGS, 0, 0, new Uint8Array(0));
const SETTINGS_ACK_FRAME = frame(SETTINGS, ACK, 0, new Uint8Array(0));

/** `text` as UTF-8, cut after the last whole character that fits in `max` bytes. */
function utf8(text: string, max: number): Uint8Array {
  const buf = new Uint8Array(Math.min(max, text.length * 3));
  return buf.subarray(0, encoder.encodeInto(text, buf).written);
}

function frame(type: number, flags: number, stream: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[0] = payload.length >> 16;
  out[1] = (payload.length >> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, stream & 0x7fffffff);
  out.set(payload, 9);
  return out;
}

/** A literal field without indexing, its name from the static table, its value raw (H = 0). */
function literal(nameIndex: number, value: string): number[] {
  const v = encoder.encode(value);
  return [...integer(nameIndex, 4, 0x00), ...integer(v.length, 7, 0x00), ...v];
}

/** An HPACK integer with an `n`-bit prefix (RFC 7541 section 5.1) after the bits of `first`. */
function integer(value: number, n: number, first: number): number[] {
  const max = (1 << n) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  for (value -= max; value >= 128; value >>= 7) out.push((value & 0x7f) | 0x80);
  out.push(value);
  return out;
}
