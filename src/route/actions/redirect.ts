/**
 * `redirect:` on an http route: the Location a request is sent to, and the answer that carries
 * it, as HTTP/1.1 bytes and as an HTTP/2 header list. The router answers without contacting a
 * backend.
 *
 * Strings here are byte strings (one char per byte, as the heads are read with `latin1`): the
 * request target goes into Location byte for byte, so a template is expected to be ASCII (the
 * config loader's to check).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import type { RedirectAction } from "../../config/types.ts";

/** The placeholders a `redirect.to` template may use; any other `{...}` stays as written. */
export const REDIRECT_PLACEHOLDERS: readonly string[] = ["host", "path", "query", "uri"];

/** What a redirect needs from the request (an HttpRequestHead or an H2 request both fit). */
export interface RedirectRequest {
  /**
   * The routing host: lower-cased, without port or trailing dot, IPv6 without brackets
   * (`HttpRequestHead.host`, `H2RequestHead.host`); null when the request named none.
   */
  readonly host: string | null;
  /** The request target as sent: origin-form path plus optional "?query" (h2: `:path`). */
  readonly target: string;
}

// `redirect: https` is this template; one definition keeps both paths identical.
const HTTPS_TEMPLATE = "https://{host}{uri}";
const PLACEHOLDER = /\{(host|path|query|uri)\}/g;

/**
 * The Location for `req` under `a`. `to: "https"` gives `https://{host}{uri}`; a template
 * expands `{host}` (without port; an IPv6 literal in brackets), `{path}` (without query),
 * `{query}` (without "?"; empty when there is none) and `{uri}` (path, then "?query" when the
 * request had a query, even an empty one).
 *
 * The host is the routing host rather than the Host field as sent: it is validated and has
 * no port already, which is what a redirect to another scheme needs (the listener's port
 * would be wrong there).
 *
 * An absolute-form target ("http://a/b?c", HTTP/1 only) gives its path and query; an
 * asterisk-form or authority-form target (OPTIONS *, CONNECT) counts as "/".
 *
 * @returns the Location, or null when it needs `{host}` and the request has no host
 * (HTTP/1.0 without Host): the caller answers 400 then, since no absolute URL can be formed.
 */
export function redirectLocation(a: RedirectAction, req: RedirectRequest): string | null {
  const template = a.to === "https" ? HTTPS_TEMPLATE : a.to;
  // Most templates are short; skip the parse when nothing is to be expanded.
  if (template.indexOf("{") < 0) return template;
  const { path, query } = splitTarget(req.target);
  let missingHost = false;
  const location = template.replace(PLACEHOLDER, (_, name: string) => {
    switch (name) {
      case "host":
        if (req.host === null) {
          missingHost = true;
          return "";
        }
        return req.host.indexOf(":") >= 0 ? `[${req.host}]` : req.host;
      case "path":
        return path;
      case "query":
        return query ?? "";
      default:
        return query === null ? path : `${path}?${query}`;
    }
  });
  return missingHost ? null : location;
}

/** A target's path and query (null: no "?"), per the forms {@link redirectLocation} lists. */
function splitTarget(target: string): { path: string; query: string | null } {
  let start = 0;
  if (target.charCodeAt(0) !== 0x2f) {
    const scheme = target.indexOf("://");
    if (scheme < 0) return { path: "/", query: null };
    start = scheme + 3;
    while (start < target.length) {
      const c = target.charCodeAt(start);
      if (c === 0x2f || c === 0x3f) break;
      start++;
    }
  }
  const q = target.indexOf("?", start);
  const path = target.slice(start, q < 0 ? target.length : q);
  return { path: path === "" ? "/" : path, query: q < 0 ? null : target.slice(q + 1) };
}

const REASONS: Readonly<Record<number, string>> = {
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
};

/**
 * The HTTP/1.1 redirect: status line with its reason, Location, `Content-Length: 0` and, when
 * `close`, `Connection: close`. The body is empty: every client follows Location, and an
 * empty body makes the answer to HEAD the same bytes (no HEAD special case for the caller).
 * The connection may stay open: the answer is complete and framed.
 */
export function redirectResponse(status: number, location: string, close = false): Uint8Array {
  return Buffer.from(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Redirect"}\r\nLocation: ${location}\r\n` +
      `Content-Length: 0\r\n${close ? "Connection: close\r\n" : ""}\r\n`,
    "latin1",
  );
}

/** The same redirect as an HTTP/2 header list (no DATA follows: end the stream with it). */
export function redirectFields(status: number, location: string): [string, string][] {
  return [[":status", String(status)], ["location", location], ["content-length", "0"]];
}
