/**
 * What an `auto` listener sends a client whose bytes start as HTTP/2 with prior knowledge (h2c)
 * but break HTTP/2 before its first request is complete (see src/proxy/detect.ts): the client
 * never reaches the HTTP/2 engine, so the router answers here as any HTTP/2 server would. It
 * starts with its SETTINGS (RFC 9113 section 3.4), then closes with a GOAWAY carrying the
 * connection error's code and the reason as debug data; it does not ACK the client's SETTINGS,
 * which may be what was wrong.
 *
 * @module
 */

import { concat } from "../wire/bytes.ts";
import { DEFAULT_MAX_FRAME_SIZE, ERROR, FRAME, frame, settingsFrame } from "./frame.ts";

/** The HTTP/2 error codes (RFC 9113 section 7) {@link h2ErrorCode} picks from. */
export const H2_ERROR = {
  PROTOCOL_ERROR: ERROR.PROTOCOL_ERROR,
  FRAME_SIZE_ERROR: ERROR.FRAME_SIZE_ERROR,
  COMPRESSION_ERROR: ERROR.COMPRESSION_ERROR,
} as const;

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
  return concat([settingsFrame([]), goAway(code, reason)]);
}

/**
 * A GOAWAY naming no stream. The debug data is cut (on a character) to fit the default
 * SETTINGS_MAX_FRAME_SIZE, the largest frame the client has agreed to receive so far.
 */
function goAway(code: number, debug: string): Uint8Array {
  const max = DEFAULT_MAX_FRAME_SIZE - 8;
  const buf = new Uint8Array(Math.min(max, debug.length * 3));
  const data = buf.subarray(0, new TextEncoder().encodeInto(debug, buf).written);
  const payload = new Uint8Array(8 + data.length); // last stream 0
  new DataView(payload.buffer).setUint32(4, code);
  payload.set(data, 8);
  return frame(FRAME.GOAWAY, 0, 0, payload);
}
