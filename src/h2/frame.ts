/**
 * HTTP/2 frames (RFC 9113 section 4 and 6) as bytes: the frame header read from a buffer without
 * copying (pure: need-more / invalid / match), the payload layouts that need checking (padding,
 * priority, SETTINGS, WINDOW_UPDATE, RST_STREAM, GOAWAY), and encoders for the frames a server
 * sends. The connection (connection.ts) decides what a frame means; this module only says
 * whether its bytes are well formed, with the error code RFC 9113 gives for each fault.
 *
 * @module
 */

import { type Invalid, invalid, match, NEED_MORE, type SniffResult } from "../wire/result.ts";
import { alloc } from "../wire/bytes.ts";

/** Frame types (RFC 9113 section 6). */
export const FRAME = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags; END_STREAM and ACK share a bit, on different frame types. */
export const FLAG = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** SETTINGS parameters (RFC 9113 section 6.5.2, RFC 8441). */
export const SETTING = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
  ENABLE_CONNECT_PROTOCOL: 0x8,
} as const;

/** Error codes (RFC 9113 section 7). */
export const ERROR = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

const ERROR_NAMES = Object.fromEntries(Object.entries(ERROR).map(([k, v]) => [v, k]));
const FRAME_NAMES = Object.fromEntries(Object.entries(FRAME).map(([k, v]) => [v, k]));

/** The name of an error code, or its number in hex for one RFC 9113 does not define. */
export function errorName(code: number): string {
  return ERROR_NAMES[code] ?? `0x${code.toString(16)}`;
}

/** The name of a frame type, or "type 0x.." for an unknown (extension) type. */
export function frameName(type: number): string {
  return FRAME_NAMES[type] ?? `type 0x${type.toString(16)}`;
}

export const FRAME_HEADER_SIZE = 9;
/** The initial and smallest SETTINGS_MAX_FRAME_SIZE (RFC 9113 section 6.5.2). */
export const DEFAULT_MAX_FRAME_SIZE = 16384;
/** The initial flow-control window of a stream and of the connection (section 6.9.2). */
export const DEFAULT_WINDOW = 65535;
export const MAX_WINDOW = 2 ** 31 - 1;

/** One frame; `payload` is a view into the buffer it was read from. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Uint8Array;
}

/** A malformed frame: the reason, and the connection error code it calls for. */
export interface FrameFault extends Invalid {
  readonly code: number;
}

function fault(code: number, reason: string): FrameFault {
  return { ...invalid(`HTTP/2: ${reason}`), code };
}

/**
 * The first frame of `buf`. Invalid (FRAME_SIZE_ERROR) as soon as the header announces more
 * than `maxFrameSize`, before the payload arrives: a peer cannot make us buffer an oversize frame.
 */
export function sniffFrame(buf: Uint8Array, maxFrameSize: number): SniffResult<Frame> | FrameFault {
  if (buf.length < FRAME_HEADER_SIZE) return NEED_MORE;
  const length = (buf[0] << 16) | (buf[1] << 8) | buf[2];
  const type = buf[3];
  if (length > maxFrameSize) {
    return fault(
      ERROR.FRAME_SIZE_ERROR,
      `${frameName(type)} frame of ${length} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${maxFrameSize}`,
    );
  }
  const end = FRAME_HEADER_SIZE + length;
  if (buf.length < end) return NEED_MORE;
  // The reserved top bit of the stream identifier is ignored (section 4.1).
  const stream = ((buf[5] & 0x7f) << 24) | (buf[6] << 16) | (buf[7] << 8) | buf[8];
  return match({
    type,
    flags: buf[4],
    stream,
    payload: buf.subarray(FRAME_HEADER_SIZE, end),
  }, end);
}

/** The data or header block fragment of a DATA or HEADERS frame, without padding and priority. */
export function framePayload(f: Frame): Uint8Array | FrameFault {
  let start = 0;
  let end = f.payload.length;
  if ((f.flags & FLAG.PADDED) !== 0) {
    if (end < 1) {
      return fault(
        ERROR.FRAME_SIZE_ERROR,
        `${frameName(f.type)} frame too short for its pad length`,
      );
    }
    end -= f.payload[0];
    start = 1;
  }
  if (f.type === FRAME.HEADERS && (f.flags & FLAG.PRIORITY) !== 0) start += 5;
  if (f.payload.length < start) {
    // Section 4.2: a frame too small for its mandatory fields is a FRAME_SIZE_ERROR.
    return fault(
      ERROR.FRAME_SIZE_ERROR,
      `${frameName(f.type)} frame of ${f.payload.length} bytes too short for its priority fields`,
    );
  }
  if (end < start) {
    // Section 6.1/6.2: padding that covers the payload is a PROTOCOL_ERROR.
    return fault(ERROR.PROTOCOL_ERROR, `${frameName(f.type)} frame padding exceeds its payload`);
  }
  return f.payload.subarray(start, end);
}

/** The stream a HEADERS (with PRIORITY) or PRIORITY frame depends on, or -1 when it has none. */
export function priorityDependency(f: Frame): number {
  const at = f.type === FRAME.HEADERS ? ((f.flags & FLAG.PADDED) !== 0 ? 1 : 0) : 0;
  if (f.type === FRAME.HEADERS && (f.flags & FLAG.PRIORITY) === 0) return -1;
  const p = f.payload;
  if (p.length < at + 5) return -1;
  return ((p[at] & 0x7f) << 24) | (p[at + 1] << 16) | (p[at + 2] << 8) | p[at + 3];
}

/** SETTINGS entries in order, or why the payload is malformed (section 6.5). */
export function readSettings(payload: Uint8Array): [id: number, value: number][] | FrameFault {
  if (payload.length % 6 !== 0) {
    return fault(
      ERROR.FRAME_SIZE_ERROR,
      `SETTINGS payload of ${payload.length} bytes is not a multiple of 6`,
    );
  }
  const out: [number, number][] = [];
  for (let i = 0; i < payload.length; i += 6) {
    out.push([(payload[i] << 8) | payload[i + 1], u32(payload, i + 2)]);
  }
  return out;
}

/** A 32-bit big-endian unsigned integer at `at`. */
export function u32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

// ---- encoders ------------------------------------------------------------------------------

/** Writes a frame header at `out[at]`. */
export function writeFrameHeader(
  out: Uint8Array,
  at: number,
  length: number,
  type: number,
  flags: number,
  stream: number,
): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out[at + 5] = (stream >>> 24) & 0x7f;
  out[at + 6] = (stream >>> 16) & 0xff;
  out[at + 7] = (stream >>> 8) & 0xff;
  out[at + 8] = stream & 0xff;
}

/** One frame with `payload` copied after its header. */
export function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Uint8Array,
): Uint8Array {
  const out = alloc(FRAME_HEADER_SIZE + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, stream);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

/** A SETTINGS frame with `entries`. */
export function settingsFrame(entries: readonly (readonly [number, number])[]): Uint8Array {
  const p = new Uint8Array(entries.length * 6);
  entries.forEach(([id, value], i) => {
    p[i * 6] = id >> 8;
    p[i * 6 + 1] = id & 0xff;
    putU32(p, i * 6 + 2, value);
  });
  return frame(FRAME.SETTINGS, 0, 0, p);
}

/** The SETTINGS acknowledgement. */
export const SETTINGS_ACK: Uint8Array = frame(FRAME.SETTINGS, FLAG.ACK, 0, new Uint8Array(0));

/** A PING acknowledging `data` (8 bytes). */
export function pingAck(data: Uint8Array): Uint8Array {
  return frame(FRAME.PING, FLAG.ACK, 0, data);
}

/** GOAWAY naming the last stream processed, with the error code and a reason as debug data. */
export function goawayFrame(lastStream: number, code: number, debug = ""): Uint8Array {
  const text = new TextEncoder().encode(debug.slice(0, 256));
  const p = new Uint8Array(8 + text.length);
  putU32(p, 0, lastStream & 0x7fffffff);
  putU32(p, 4, code);
  p.set(text, 8);
  return frame(FRAME.GOAWAY, 0, 0, p);
}

/** RST_STREAM for `stream` with `code`. */
export function rstStreamFrame(stream: number, code: number): Uint8Array {
  const p = new Uint8Array(4);
  putU32(p, 0, code);
  return frame(FRAME.RST_STREAM, 0, stream, p);
}

/** WINDOW_UPDATE adding `increment` (1 to 2^31-1) to `stream`'s window (0: the connection's). */
export function windowUpdateFrame(stream: number, increment: number): Uint8Array {
  const p = new Uint8Array(4);
  putU32(p, 0, increment & 0x7fffffff);
  return frame(FRAME.WINDOW_UPDATE, 0, stream, p);
}

/**
 * A header block as HEADERS plus as many CONTINUATION frames as `maxFrameSize` requires, in one
 * array (the frames of a block must not be interleaved with others, section 6.10).
 */
export function headersFrames(
  stream: number,
  block: Uint8Array,
  endStream: boolean,
  maxFrameSize: number,
): Uint8Array {
  const count = Math.max(1, Math.ceil(block.length / maxFrameSize));
  const out = alloc(block.length + count * FRAME_HEADER_SIZE);
  let at = 0;
  for (let i = 0; i < count; i++) {
    // The usual block fits one frame: no view of it is made.
    const part = count === 1 ? block : block.subarray(i * maxFrameSize, (i + 1) * maxFrameSize);
    const type = i === 0 ? FRAME.HEADERS : FRAME.CONTINUATION;
    const flags = (i === count - 1 ? FLAG.END_HEADERS : 0) |
      (i === 0 && endStream ? FLAG.END_STREAM : 0);
    writeFrameHeader(out, at, part.length, type, flags, stream);
    out.set(part, at + FRAME_HEADER_SIZE);
    at += FRAME_HEADER_SIZE + part.length;
  }
  return out;
}

/**
 * A DATA frame of `length` bytes on `stream`: the header written, the payload (from offset
 * {@link FRAME_HEADER_SIZE}) for the caller to fill, so that a frame costs one array.
 */
export function dataFrame(stream: number, length: number, endStream: boolean): Uint8Array {
  const out = alloc(FRAME_HEADER_SIZE + length);
  writeFrameHeader(out, 0, length, FRAME.DATA, endStream ? FLAG.END_STREAM : 0, stream);
  return out;
}

function putU32(p: Uint8Array, at: number, v: number): void {
  p[at] = (v >>> 24) & 0xff;
  p[at + 1] = (v >>> 16) & 0xff;
  p[at + 2] = (v >>> 8) & 0xff;
  p[at + 3] = v & 0xff;
}
