/**
 * Trailer sections of chunked bodies, forwarded without the fields a trailer must not carry.
 * RFC 9110 section 6.5.1 forbids framing and routing fields there; a strict recipient (Node)
 * rejects a message whose trailers hold Content-Length or Transfer-Encoding, and a lenient one
 * might act on them. The body bytes before the trailer section stream through untouched; only a
 * non-empty trailer section (rare, at most MAX_TRAILERS bytes) is held until complete.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { BodyProgress } from "./body.ts";
import { concat } from "../wire/bytes.ts";
import { latin1 } from "./fields.ts";

/** Field names dropped from trailer sections, lower-cased. */
export const FORBIDDEN_TRAILERS: ReadonlySet<string> = new Set([
  "content-length",
  "transfer-encoding",
  "host",
]);

/**
 * A complete trailer section (field lines each ending in CRLF, then CRLF) without the
 * {@link FORBIDDEN_TRAILERS} fields; `section` itself when none is there.
 */
export function stripTrailers(section: Uint8Array): Uint8Array {
  // Every field line ends in CRLF: the split leaves an empty string after the last one.
  const lines = latin1(section, 0, section.length - 2).split("\r\n");
  lines.pop();
  const kept = lines.filter((line) => {
    const name = line.slice(0, line.indexOf(":")).toLowerCase();
    return !FORBIDDEN_TRAILERS.has(name);
  });
  if (kept.length === lines.length) return section;
  return Buffer.from(kept.map((line) => `${line}\r\n`).join("") + "\r\n", "latin1");
}

/** Passes a chunked body through, holding its trailer section until it can be stripped. */
export class TrailerFilter {
  #held: Uint8Array | null = null;

  /**
   * Given the body bytes of one push (`body`, the consumed part of the chunk) and the decoder's
   * progress for them, returns the bytes to forward now.
   */
  take(body: Uint8Array, p: BodyProgress): Uint8Array {
    const start = p.trailerStart;
    if (start < 0) return body;
    // The usual end, "0\r\n\r\n": an empty trailer section, nothing to look at.
    if (p.done && this.#held === null && body.length - start === 2) return body;
    const part = body.subarray(start);
    this.#held = this.#held === null ? part.slice() : concat([this.#held, part]);
    const before = body.subarray(0, start);
    if (!p.done) return before;
    const section = stripTrailers(this.#held);
    this.#held = null;
    return before.length === 0 ? section : concat([before, section]);
  }
}
