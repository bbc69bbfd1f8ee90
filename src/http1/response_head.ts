/**
 * HTTP/1.0 and HTTP/1.1 response-head sniffer (RFC 9112), for a proxy that reads a backend's
 * response and must frame its body itself.
 *
 * It is as strict as the request-head sniffer where leniency would let the proxy and the client
 * disagree on where a response ends: bare CR or LF, obs-fold, whitespace before a colon, control
 * bytes in values and differing Content-Length values are rejected. An `invalid` reason starts
 * with "502:", the status the proxy answers its client with, and quotes the bad value.
 *
 * @module
 */

import {
  charName,
  type HeadKind,
  type HttpHead,
  isToken,
  quote,
  readFields,
  sniffHead,
} from "./fields.ts";
import { NO_MATCH, type SniffResult } from "../wire/result.ts";

/**
 * A parsed response head: the framing facts of {@link HttpHead} (Content-Length is null when
 * Transfer-Encoding overrides it; `connectionClose` also for an HTTP/1.0 response with
 * Transfer-Encoding, whose framing RFC 9112 section 6.1 says to distrust), and its status.
 */
export interface HttpResponseHead extends HttpHead {
  /** The three-digit status code, 100..999. */
  status: number;
  /** The reason phrase as sent (possibly empty); meaningless to the protocol. */
  reason: string;
  /**
   * Transfer-Encoding and Content-Length were both sent. Transfer-Encoding wins (RFC 9112
   * section 6.3) and `contentLength` is `null`, but such a response may be an attempt at
   * response splitting: the proxy must not forward Content-Length and should close both
   * connections after this response.
   */
  conflictingLength: boolean;
  /** The names of `headers`, lower-cased, in the same order. */
  names: readonly string[];
  /** The Connection options, lower-cased. */
  connectionOptions: readonly string[];
  /** The transfer codings, lower-cased, empty list elements dropped. */
  codings: readonly string[];
}

/** Size limits for {@link sniffHttpResponseHead}, in bytes. */
export interface HttpResponseHeadLimits {
  /** Longest head, including the final CRLFCRLF (longer: invalid). */
  maxHead: number;
}

const SP = 0x20;

/** "HTTP/": every status line starts with it. */
const HTTP_NAME = [0x48, 0x54, 0x54, 0x50, 0x2f];

/**
 * Sniffs an HTTP/1.0 or HTTP/1.1 response head at the start of `buf`.
 *
 * - `no` when the first bytes are not (a prefix of) "HTTP/": an HTTP/0.9 response or garbage.
 * - `more` until the CRLFCRLF ending the head arrives (within `maxHead`).
 * - `invalid` with a reason starting "502: " for a malformed status line or header field, an
 *   HTTP version other than 1.0/1.1, differing Content-Length values, a misplaced chunked
 *   coding, or a head over `maxHead`. Line ends must be CRLF. The status line is checked as soon
 *   as it is complete, header fields once the head is.
 * - `match` with `length` = `headerEnd`.
 *
 * The status line's reason phrase may be missing along with the space before it: RFC 9112
 * requires senders to send that space, but dropping it changes no framing.
 */
export function sniffHttpResponseHead(
  buf: Uint8Array,
  limits: HttpResponseHeadLimits,
): SniffResult<HttpResponseHead> {
  const { maxHead } = limits;
  const n = buf.length;
  const prefix = Math.min(n, HTTP_NAME.length);
  for (let i = 0; i < prefix; i++) if (buf[i] !== HTTP_NAME[i]) return NO_MATCH;

  return sniffHead(buf, prefix, Infinity, maxHead, RESPONSE, parseHead);
}

/** How scanHead reads a response head: the status line is bounded by maxHead alone. */
const RESPONSE: HeadKind<StatusLine> = {
  what: "response",
  status: "502",
  lineStatus: "502",
  headStatus: "502",
  firstLine: parseStatusLine,
};

interface StatusLine {
  version: "1.0" | "1.1";
  status: number;
  reason: string;
  /** Length of the status line; header fields start 2 bytes later. */
  length: number;
}

/** Validates "HTTP-version SP status-code [SP reason-phrase]"; returns a reason or the parts. */
function parseStatusLine(text: string): StatusLine | string {
  const parts = /^HTTP\/([0-9]\.[0-9]) ([0-9]{3})(?: (.*))?$/.exec(text);
  if (parts === null) return `502: malformed status line ${quote(text)}`;
  const version = parts[1];
  if (version !== "1.0" && version !== "1.1") {
    return `502: HTTP version ${quote(`HTTP/${version}`)} not supported`;
  }
  const status = Number(parts[2]);
  if (status < 100) return `502: status code ${quote(parts[2])} below 100`;
  const reason = parts[3] ?? "";
  // reason-phrase is HTAB, SP, VCHAR and obs-text; a control byte would be forwarded verbatim.
  for (let i = 0; i < reason.length; i++) {
    const c = reason.charCodeAt(i);
    if ((c < SP && c !== 0x09) || c === 0x7f) {
      return `502: invalid character ${charName(c)} in reason phrase ${quote(reason)}`;
    }
  }
  return { version, status, reason, length: text.length };
}

/** Parses the header fields and derives framing facts. */
function parseHead(text: string, line: StatusLine, headEnd: number): HttpResponseHead | string {
  const fields = readFields(text, line.length + 2, headEnd - 2, "502", () => null);
  if (typeof fields === "string") return fields;
  const { headers, contentLength, codings, sawTransferEncoding, connection, upgrades } = fields;

  // Framing (RFC 9112 section 6). A response whose final coding is not chunked is delimited by
  // the connection closing, so unknown codings are passed through rather than rejected; but
  // chunked anywhere except last (or twice) is a sender bug no client would frame alike.
  let chunked = false;
  if (sawTransferEncoding) {
    if (codings.length === 0) return "502: empty Transfer-Encoding";
    for (const coding of codings) {
      if (!isToken(coding)) return `502: invalid transfer coding ${quote(coding)}`;
    }
    const at = codings.indexOf("chunked");
    if (at >= 0 && at !== codings.length - 1) {
      return `502: chunked is not the last transfer coding in ${quote(codings.join(", "))}`;
    }
    chunked = at >= 0;
  }

  const versionIs11 = line.version === "1.1";
  return {
    version: line.version,
    status: line.status,
    reason: line.reason,
    headerEnd: headEnd,
    headers,
    contentLength: contentLength === null || sawTransferEncoding ? null : Number(contentLength),
    chunked,
    connectionClose: connection.includes("close") ||
      (!versionIs11 && (sawTransferEncoding || !connection.includes("keep-alive"))),
    upgrade: versionIs11 && connection.includes("upgrade") && upgrades.length > 0
      ? upgrades.join(", ")
      : null,
    conflictingLength: sawTransferEncoding && contentLength !== null,
    names: fields.names,
    connectionOptions: connection,
    codings,
  };
}
