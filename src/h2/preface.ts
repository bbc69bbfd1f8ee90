/**
 * The HTTP/2 client connection preface, which starts every h2c connection with prior
 * knowledge: the first thing sniffed on a cleartext port to tell HTTP/2 from HTTP/1.
 *
 * @module
 */

import { match, NEED_MORE, NO_MATCH, type SniffResult } from "../wire/result.ts";

/** The HTTP/2 client connection preface (RFC 9113 section 3.4). Do not mutate. */
export const H2_PREFACE: Uint8Array = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Detects the HTTP/2 client connection preface: `match` (length 24) when `buf` starts with it,
 * `more` for a proper prefix of it, `no` otherwise.
 */
export function sniffH2Preface(buf: Uint8Array): SniffResult<null> {
  const seen = Math.min(buf.length, H2_PREFACE.length);
  for (let i = 0; i < seen; i++) if (buf[i] !== H2_PREFACE[i]) return NO_MATCH;
  return seen < H2_PREFACE.length ? NEED_MORE : match(null, H2_PREFACE.length);
}
