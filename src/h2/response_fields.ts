/**
 * HTTP/2 response header lists (RFC 9113 sections 8.1 to 8.3): built from an HTTP/1.1
 * backend's response head for the client, and checked when they come from an HTTP/2 backend.
 * Pure: a response that cannot be forwarded is an `invalid` value whose reason starts with
 * "HTTP/2 response: " and quotes the bad value, never an exception.
 *
 * @module
 */

import type { HttpResponseHead } from "../http1/response_head.ts";
import { quote } from "../http1/fields.ts";
import {
  CONNECTION_SPECIFIC,
  contentLengthFault,
  fieldFault,
  type H2Field,
} from "./request_fields.ts";
import { type Invalid, invalid } from "../wire/result.ts";

/** An HTTP/2 response header list, checked. */
export interface H2ResponseHead {
  /** `:status`, 100..999 but not 101. */
  readonly status: number;
  /** The regular fields in order, except content-length (see `contentLength`). */
  readonly fields: readonly H2Field[];
  /** The content-length value (identical repeats merged), or `null` when absent. */
  readonly contentLength: number | null;
}

const RESPONSE = "HTTP/2 response: ";

/**
 * The HTTP/2 header list for an HTTP/1.1 response head: `:status` first, then every field,
 * name lower-cased (values are already trimmed by the head parser), except the
 * connection-specific ones, te (hop-by-hop, and a value other than "trailers" makes HTTP/2
 * clients refuse the response), the fields the Connection field lists (RFC 9110 section
 * 7.6.1), and Content-Length when Transfer-Encoding overrides it; a repeated Content-Length
 * goes once. Invalid, with a reason starting "HTTP/2 response: ": a 101, which HTTP/2 has no
 * use for (RFC 9113 section 8.6), and a transfer coding other than chunked, which HTTP/2
 * cannot carry (DATA frames delimit the body, but the coding would stay on it unannounced).
 */
export function h2ResponseFields(head: HttpResponseHead): [string, string][] | Invalid {
  if (head.status === 101) return bad("101 Switching Protocols cannot be forwarded");
  for (const coding of head.codings) {
    if (coding !== "chunked") return bad(`transfer coding ${quote(coding)} cannot be forwarded`);
  }
  // The names the head parser lower-cased once, and the Connection options it read.
  const { headers, names, connectionOptions: listed } = head;
  const out: [string, string][] = [[":status", String(head.status)]];
  let sentLength = false;
  for (let i = 0; i < headers.length; i++) {
    const lower = names[i];
    if (CONNECTION_SPECIFIC.has(lower) || lower === "te" || listed.includes(lower)) continue;
    if (lower === "content-length") {
      // contentLength is null when Transfer-Encoding was sent too: the chunked framing won.
      if (head.contentLength === null || sentLength) continue;
      sentLength = true;
    }
    out.push([lower, headers[i][1]]);
  }
  return out;
}

/**
 * Checks the header list of a response from an HTTP/2 backend: exactly one `:status` of three
 * digits, 100 or above and not 101 (RFC 9113 section 8.6), before any regular field; no
 * other pseudo-header; regular fields as in requests (`fieldFault` in request_fields.ts);
 * content-length digits, repeats identical. Reasons start "HTTP/2 response: ".
 */
export function readResponseFields(list: readonly H2Field[]): H2ResponseHead | Invalid {
  let status: string | null = null;
  let contentLength: string | null = null;
  const fields: H2Field[] = [];
  let regular = false;
  for (const [name, value] of list) {
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return bad(`pseudo-header ${quote(name)} after a regular field`);
      if (name !== ":status") return bad(`pseudo-header ${quote(name)} in a response`);
      if (status !== null) return bad("several :status pseudo-headers");
      status = value;
      continue;
    }
    regular = true;
    const fault = fieldFault(name, value);
    if (fault !== null) return bad(fault);
    if (name === "content-length") {
      const lengthFault = contentLengthFault(contentLength, value);
      if (lengthFault !== null) return bad(lengthFault);
      contentLength = value;
    } else fields.push([name, value]);
  }
  if (status === null) return bad("missing :status");
  if (!/^[0-9]{3}$/.test(status)) return bad(`invalid :status ${quote(status)}`);
  const code = Number(status);
  if (code < 100) return bad(`:status ${quote(status)} below 100`);
  if (code === 101) return bad(':status "101" (no protocol switch in HTTP/2)');
  return {
    status: code,
    fields,
    contentLength: contentLength === null ? null : Number(contentLength),
  };
}

function bad(reason: string): Invalid {
  return invalid(RESPONSE + reason);
}
