/**
 * HTTP/2 request header lists (RFC 9113 sections 8.1 to 8.3), checked and turned into the
 * HTTP/1.1 request head the backend is sent. Pure: a malformed list is an `invalid` value
 * whose reason starts with "HTTP/2 request: " and quotes the bad value, never an exception.
 *
 * The checks are the RFC's, and a little stricter where the request is about to become
 * HTTP/1.1 text: control bytes the HTTP/1 head parser refuses (src/http1/fields.ts) are
 * refused in values too, and `:path` must be a request-target that parser would accept, so a
 * backend never receives from this path what the router would refuse on its HTTP/1 path.
 *
 * @module
 */

import { charName, isToken, quote } from "../http1/fields.ts";
import { type Authority, parseAuthority } from "../http1/request_head.ts";
import { FORBIDDEN_TRAILERS } from "../http1/trailers.ts";
import { latin1Bytes } from "../wire/bytes.ts";
import { type Invalid, invalid } from "../wire/result.ts";

/** A header field as HPACK decodes it: lower-case name, value. */
export type H2Field = readonly [name: string, value: string];

/** An HTTP/2 request header list, checked, with what routing and forwarding need. */
export interface H2RequestHead {
  /** `:method` as sent (a token). */
  readonly method: string;
  /** `:scheme` as sent, or `null` for CONNECT. */
  readonly scheme: string | null;
  /** `:authority` as sent, or `null` when absent. */
  readonly authority: string | null;
  /**
   * The host to route on, from `:authority`, else from the host field: lower-cased, without
   * port or one trailing dot; IPv6 literals without brackets, in RFC 5952 form (as
   * `HttpRequestHead.host`). `null` only for a scheme other than http and https sent with
   * neither.
   */
  readonly host: string | null;
  /** `:path` as sent, query included (it becomes the request-target); "" for CONNECT. */
  readonly path: string;
  /**
   * The regular fields in order, except content-length (see `contentLength`) and te (see
   * `te`); cookie crumbs joined with "; " (empty ones left out) into one cookie field where the
   * first one was; the
   * host field removed when `:authority` is present.
   */
  readonly fields: readonly H2Field[];
  /** The content-length value (identical repeats merged), or `null` when absent. */
  readonly contentLength: number | null;
  /** "te: trailers" was sent: the client accepts trailers in the response. */
  readonly te: boolean;
}

/**
 * Connection-specific fields (RFC 9113 section 8.2.2): an HTTP/2 message carrying one is
 * malformed, and none of them may be copied from an HTTP/1.1 message into an HTTP/2 one.
 */
export const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

const REQUEST = "HTTP/2 request: ";

/** RFC 3986 section 3.1. */
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;

/**
 * Checks an HTTP/2 request header list and gathers what forwarding it needs (see
 * {@link H2RequestHead}). Malformed (RFC 9113 sections 8.2 and 8.3), with a reason starting
 * "HTTP/2 request: ": a pseudo-header other than `:method`, `:scheme`, `:authority` and
 * `:path` (`:protocol`, extended CONNECT, is not supported; `:status` belongs to responses),
 * one sent twice or after a regular field; a missing `:method`, `:scheme` or `:path`
 * (CONNECT: no `:authority`, one without a port, or any `:scheme` or `:path`); a `:path` that
 * is empty or not a valid request-target (for http and https: not starting with "/", or "*"
 * other than for OPTIONS); an http or https request with neither `:authority` nor a non-empty
 * host field; an invalid `:authority` or host field, or both naming different authorities;
 * several host fields; any field the rules of {@link fieldFault} refuse; an invalid or
 * differing content-length.
 */
export function readRequestFields(list: readonly H2Field[]): H2RequestHead | Invalid {
  // The pseudo-headers (null: not sent), in locals: a Map per request cost more.
  let method: string | null = null;
  let scheme: string | null = null;
  let authorityText: string | null = null;
  let path: string | null = null;
  const fields: [string, string][] = [];
  // Where the joined cookie field goes, and its crumbs (RFC 9113 section 8.2.3).
  let cookieAt = -1;
  const crumbs: string[] = [];
  let hostField: string | null = null;
  let contentLength: string | null = null;
  let te = false;
  let regular = false;
  for (const [name, value] of list) {
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return bad(`pseudo-header ${quote(name)} after a regular field`);
      const before = name === ":method"
        ? method
        : name === ":scheme"
        ? scheme
        : name === ":authority"
        ? authorityText
        : name === ":path"
        ? path
        : undefined;
      if (before === undefined) return bad(requestPseudoFault(name));
      if (before !== null) return bad(`several ${name} pseudo-headers`);
      const fault = valueFault(name, value);
      if (fault !== null) return bad(fault);
      if (name === ":method") method = value;
      else if (name === ":scheme") scheme = value;
      else if (name === ":authority") authorityText = value;
      else path = value;
      continue;
    }
    regular = true;
    const fault = fieldFault(name, value);
    if (fault !== null) return bad(fault);
    switch (name) {
      case "content-length": {
        const lengthFault = contentLengthFault(contentLength, value);
        if (lengthFault !== null) return bad(lengthFault);
        contentLength = value;
        continue;
      }
      case "te":
        te = true;
        continue;
      case "host":
        if (hostField !== null) return bad("several host fields");
        hostField = value;
        // Pseudo-headers all came first, so whether :authority was sent is known here; the
        // backend gets it as its Host instead.
        if (authorityText !== null) continue;
        break;
      case "cookie":
        // An empty crumb adds nothing but a "; " the joined value would end or start with.
        if (value !== "") crumbs.push(value);
        if (cookieAt >= 0) continue;
        cookieAt = fields.length;
        break;
    }
    fields.push([name, value]);
  }
  if (cookieAt >= 0) fields[cookieAt] = ["cookie", crumbs.join("; ")];

  if (method === null) return bad("missing :method");
  if (!isToken(method)) return bad(`invalid :method ${quote(method)}`);
  let webScheme = false;
  if (method === "CONNECT") {
    // RFC 9113 section 8.5: the authority is the tunnel's destination, and nothing else.
    if (authorityText === null) return bad("CONNECT without :authority");
    if (scheme !== null) return bad(`CONNECT with :scheme ${quote(scheme)}`);
    if (path !== null) return bad(`CONNECT with :path ${quote(path)}`);
    path = "";
  } else {
    if (scheme === null) return bad("missing :scheme");
    if (!SCHEME.test(scheme)) return bad(`invalid :scheme ${quote(scheme)}`);
    if (path === null) return bad("missing :path");
    webScheme = /^https?$/i.test(scheme);
    const fault = pathFault(method, path, webScheme);
    if (fault !== null) return bad(fault);
  }

  let authority: Authority | null = null;
  if (authorityText !== null) {
    // Userinfo is forbidden in :authority (RFC 9113 section 8.3.1); parseAuthority rejects "@".
    authority = parseAuthority(authorityText);
    if (authority === null) return bad(`invalid :authority ${quote(authorityText)}`);
    if (method === "CONNECT" && authority.port === "") {
      return bad(`CONNECT :authority ${quote(authorityText)} without a port`);
    }
  }
  let fromHost: Authority | null = null;
  if (hostField !== null && hostField !== "") {
    fromHost = parseAuthority(hostField);
    if (fromHost === null) return bad(`invalid host field ${quote(hostField)}`);
  }
  // Routed by one and served by the other, a request would reach a host it was not routed for
  // (RFC 9113 section 8.3.1). Compared as parsed, so case, a trailing dot and IPv6 spelling
  // do not count, as the routing host is computed (parseAuthority).
  if (authority !== null && hostField !== null) {
    if (fromHost === null || fromHost.host !== authority.host || fromHost.port !== authority.port) {
      return bad(`:authority ${quote(authorityText ?? "")} and host ${quote(hostField)} differ`);
    }
  }
  // RFC 9113 section 8.3.1: http and https URIs have a mandatory, non-empty authority.
  if (webScheme && authority === null && fromHost === null) {
    return bad(
      hostField === null ? "neither :authority nor host" : "empty host field without :authority",
    );
  }
  return {
    method,
    scheme,
    authority: authorityText,
    host: (authority ?? fromHost)?.host ?? null,
    path,
    fields,
    contentLength: contentLength === null ? null : Number(contentLength),
    te,
  };
}

/**
 * The HTTP/1.1 request head for `req` (as {@link readRequestFields} returned it), ending in
 * CRLFCRLF, one byte per char: the request line (CONNECT: authority-form), Host (the
 * `:authority`, else the host field, else empty as RFC 9112 section 3.2 asks), the fields in
 * order, then the framing `body` says: "length" adds Content-Length when the client gave one,
 * "chunked" adds Transfer-Encoding: chunked, "none" neither; then `extra` (CRLF-terminated
 * lines, the forwarded fields). te is left out: it is hop-by-hop in HTTP/1.1, and the backend's
 * trailers reach the client whether it asked or not.
 */
export function http1RequestHead(
  req: H2RequestHead,
  body: "none" | "length" | "chunked",
  extra = "",
): Uint8Array {
  const target = req.method === "CONNECT" ? req.authority ?? "" : req.path;
  let host = req.authority;
  let fields = "";
  for (const [name, value] of req.fields) {
    // Without :authority the host field is kept in `fields`; it is sent first, as Host.
    if (name === "host") host ??= value;
    else fields += `${name}: ${value}\r\n`;
  }
  let head = `${req.method} ${target} HTTP/1.1\r\nHost: ${host ?? ""}\r\n${fields}`;
  if (body === "length" && req.contentLength !== null) {
    head += `Content-Length: ${req.contentLength}\r\n`;
  } else if (body === "chunked") head += "Transfer-Encoding: chunked\r\n";
  return latin1Bytes(`${head}${extra}\r\n`);
}

/**
 * The header list for an HTTP/2 backend (`http2: true`): the pseudo-header fields first, with
 * `scheme` for the connection to the backend and the host field (when the client sent no
 * :authority) as :authority; then the client's fields, its content-length and `te: trailers`
 * (gRPC servers require it).
 */
export function h2BackendFields(req: H2RequestHead, scheme: "http" | "https"): H2Field[] {
  const out: H2Field[] = [[":method", req.method]];
  let authority = req.authority;
  const rest: H2Field[] = [];
  for (const field of req.fields) {
    if (field[0] === "host") authority ??= field[1];
    else rest.push(field);
  }
  if (req.method === "CONNECT") out.push([":authority", authority ?? ""]);
  else out.push([":scheme", scheme], [":authority", authority ?? ""], [":path", req.path]);
  out.push(...rest);
  if (req.contentLength !== null) out.push(["content-length", String(req.contentLength)]);
  if (req.te) out.push(["te", "trailers"]);
  return out;
}

/**
 * Checks a request's trailer section (RFC 9113 section 8.1): no pseudo-header fields, and
 * the rules of {@link fieldFault}. Returns the fields to forward: all but those a trailer must
 * not carry (content-length and host, as src/http1/trailers.ts drops them from HTTP/1.1
 * trailers) and te, which is never forwarded to an HTTP/1.1 backend.
 */
export function readTrailerFields(list: readonly H2Field[]): readonly H2Field[] | Invalid {
  const kept: H2Field[] = [];
  for (const [name, value] of list) {
    if (name.charCodeAt(0) === 0x3a) return bad(`pseudo-header ${quote(name)} in trailers`);
    const fault = fieldFault(name, value);
    if (fault !== null) return bad(fault);
    if (name !== "te" && !FORBIDDEN_TRAILERS.has(name)) kept.push([name, value]);
  }
  return kept;
}

/**
 * Why a regular field makes an HTTP/2 message malformed (RFC 9113 section 8.2), or `null`:
 * a name that is not a lower-case token; a connection-specific field; a value with NUL, CR,
 * LF (or another control byte but HTAB, DEL, or a char above 0xff, none of which HTTP/1.1
 * text may carry) or starting or ending with SP or HTAB; te other than "trailers".
 */
export function fieldFault(name: string, value: string): string | null {
  if (/[A-Z]/.test(name)) return `uppercase letter in field name ${quote(name)}`;
  if (!isToken(name)) return `invalid field name ${quote(name)}`;
  if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${quote(name)}`;
  const fault = valueFault(name, value);
  if (fault !== null) return fault;
  // The one te value HTTP/2 allows (RFC 9113 section 8.2.2); t-codings are case-insensitive.
  if (name === "te" && value.toLowerCase() !== "trailers") {
    return `te ${quote(value)} (only "trailers" is allowed)`;
  }
  return null;
}

/**
 * Why a content-length `value` is refused after `seen` (the value so far, or `null`), or
 * `null`: only digits, at most 15 of them (a safe integer), and repeats identical.
 */
export function contentLengthFault(seen: string | null, value: string): string | null {
  if (!/^[0-9]+$/.test(value)) return `invalid content-length ${quote(value)}`;
  if (value.length > 15) return `content-length ${quote(value)} too large`;
  // Identical repeats are harmless (RFC 9110 section 8.6); differing ones are how requests are
  // smuggled and responses split.
  if (seen !== null && seen !== value) {
    return `differing content-length values ${quote(seen)} and ${quote(value)}`;
  }
  return null;
}

function bad(reason: string): Invalid {
  return invalid(REQUEST + reason);
}

/** Why pseudo-header `name` has no place in a request. */
function requestPseudoFault(name: string): string {
  if (name === ":status") return 'response pseudo-header ":status" in a request';
  if (name === ":protocol") return 'pseudo-header ":protocol" (extended CONNECT) not supported';
  return `unknown pseudo-header ${quote(name)}`;
}

/** RFC 9113 section 8.2.1, and the field-value characters of RFC 9110 section 5.5. */
function valueFault(name: string, value: string): string | null {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) {
      return `field ${quote(name)} value ${quote(value)} contains ${charName(c)}`;
    }
  }
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) {
    return `field ${quote(name)} value ${quote(value)} starts or ends with whitespace`;
  }
  return null;
}

/**
 * Why `path` cannot be the request-target of `method`: empty; for http and https (`web`),
 * neither "/..." nor "*" for OPTIONS (RFC 9113 section 8.3.1); and, as the HTTP/1 head parser
 * demands of any target, a byte outside visible ASCII, a fragment, or "%" not starting a %XX
 * escape.
 */
function pathFault(method: string, path: string, web: boolean): string | null {
  if (path === "") return "empty :path";
  if (web && path.charCodeAt(0) !== 0x2f && !(path === "*" && method === "OPTIONS")) {
    return path === "*"
      ? `:path "*" with method ${quote(method)}`
      : `:path ${quote(path)} does not start with "/"`;
  }
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x23) {
      return `invalid character ${charName(c)} in :path ${quote(path)}`;
    }
    if (c === 0x25 && !/^%[0-9A-Fa-f]{2}/.test(path.slice(i, i + 3))) {
      return `invalid percent-encoding in :path ${quote(path)}`;
    }
  }
  return null;
}
