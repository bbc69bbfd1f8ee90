/**
 * Sniffs an SSH client's identification string (RFC 4253 §4.2), for protocol routing.
 *
 * An SSH client speaks first with one line, `SSH-2.0-softwareversion SP comments CR LF`, so the
 * router can recognise SSH on a shared port before any backend is chosen.
 *
 * @module
 */

import { invalid, match, NEED_MORE, NO_MATCH, type SniffResult } from "../wire/result.ts";

/** What an SSH identification string says. */
export interface SshBanner {
  /** The protoversion: "2.0", or "1.99" from a client that also speaks SSH 1. */
  readonly version: string;
  /** The softwareversion, e.g. "OpenSSH_9.6p1"; comments are not included. */
  readonly software: string;
}

// RFC 4253 §4.2: the whole line, CR LF included, is at most 255 characters.
const MAX_LINE = 255;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const PREFIX = Uint8Array.of(0x53, 0x53, 0x48, 0x2d); // "SSH-"
// The protoversion with the dash that ends it; "1.99" is how a server or client that also
// speaks SSH 1 announces SSH 2 (RFC 4253 §5.1).
const VERSION_2_0 = Uint8Array.of(0x32, 0x2e, 0x30, 0x2d); // "2.0-"
const VERSION_1_99 = Uint8Array.of(0x31, 0x2e, 0x39, 0x39, 0x2d); // "1.99-"

/**
 * Sniffs an SSH identification string from `buf`, the bytes received from the client so far.
 *
 * - `no`: as soon as the bytes cannot be a prefix of "SSH-".
 * - `more`: a valid prefix of the line with no line end yet (an empty buffer included).
 * - `invalid`: a protoversion other than 2.0 or 1.99, a control character, an empty
 *   softwareversion, a CR not followed by LF, or no line end within 255 bytes.
 * - `match`: `length` counts the bytes through the LF. A bare LF ending is accepted, as
 *   OpenSSH does.
 *
 * Never throws.
 */
export function sniffSshBanner(buf: Uint8Array): SniffResult<SshBanner> {
  const n = buf.length;
  for (let i = 0; i < PREFIX.length; i++) {
    if (i >= n) return NEED_MORE;
    if (buf[i] !== PREFIX[i]) return NO_MATCH;
  }

  const v2 = prefixState(buf, PREFIX.length, VERSION_2_0);
  const v199 = prefixState(buf, PREFIX.length, VERSION_1_99);
  if (v2 < 0 && v199 < 0) {
    return invalid(`SSH: protoversion ${quoteVersion(buf)} is not "2.0" or "1.99"`);
  }
  if (v2 === 0 || v199 === 0) return NEED_MORE;
  const version = v2 > 0 ? "2.0" : "1.99";
  const start = PREFIX.length + (v2 > 0 ? VERSION_2_0.length : VERSION_1_99.length);

  let softwareEnd = -1; // where the softwareversion stops: at SP or at the line end
  const limit = n < MAX_LINE ? n : MAX_LINE;
  for (let i = start; i < limit; i++) {
    const c = buf[i];
    let lineEnd = -1; // index of the LF, when this byte ends the line
    if (c === LF) {
      lineEnd = i;
    } else if (c === CR) {
      if (i + 1 >= MAX_LINE) break;
      if (i + 1 >= n) return NEED_MORE;
      if (buf[i + 1] !== LF) {
        return invalid(`SSH: identification string has CR not followed by LF at offset ${i}`);
      }
      lineEnd = i + 1;
    } else if (c < 0x20 || c === 0x7f) {
      return invalid(
        `SSH: identification string has control character ${hex8(c)} at offset ${i}`,
      );
    } else if (softwareEnd < 0) {
      if (c === SP) {
        if (i === start) return invalid("SSH: softwareversion is empty");
        softwareEnd = i;
      } else if (c > 0x7e) {
        return invalid(`SSH: softwareversion has non-ASCII byte ${hex8(c)} at offset ${i}`);
      }
    }
    if (lineEnd >= 0) {
      if (softwareEnd < 0) softwareEnd = i;
      if (softwareEnd === start) return invalid("SSH: softwareversion is empty");
      const software = String.fromCharCode(...buf.subarray(start, softwareEnd));
      return match({ version, software }, lineEnd + 1);
    }
  }
  if (n >= MAX_LINE) {
    return invalid(`SSH: identification string has no line end within ${MAX_LINE} bytes`);
  }
  return NEED_MORE;
}

/** 1 when `buf` holds all of `lit` at `at`, 0 when it holds a proper prefix, -1 on mismatch. */
function prefixState(buf: Uint8Array, at: number, lit: Uint8Array): number {
  for (let i = 0; i < lit.length; i++) {
    if (at + i >= buf.length) return 0;
    if (buf[at + i] !== lit[i]) return -1;
  }
  return 1;
}

/** The protoversion bytes as a JSON string, escaped so that a reason stays one safe line. */
function quoteVersion(buf: Uint8Array): string {
  let end = PREFIX.length;
  // Enough to show what was sent, not enough to echo a long hostile line back into a log.
  const max = Math.min(buf.length, PREFIX.length + 16);
  while (end < max && buf[end] !== 0x2d && buf[end] !== LF) end++;
  return JSON.stringify(String.fromCharCode(...buf.subarray(PREFIX.length, end)));
}

function hex8(v: number): string {
  return "0x" + v.toString(16).padStart(2, "0");
}
