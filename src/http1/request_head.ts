/**
 * HTTP/1.0 and HTTP/1.1 request-head sniffer (RFC 9112).
 *
 * It is strict where leniency enables request smuggling or routing confusion: bare CR or LF,
 * obs-fold, whitespace before a colon, conflicting framing headers and duplicate Host headers
 * are all rejected. An `invalid` reason starts with the status code to
 * answer, e.g. `"400: Content-Length and Transfer-Encoding together"`, and quotes the bad value.
 *
 * @module
 */

import { formatIp, parseIp } from "../net/ip.ts";
import {
  charName,
  type HeadKind,
  type HttpHead,
  isToken,
  quote,
  readFields,
  sniffHead,
  TCHAR,
} from "./fields.ts";
import { invalid, NEED_MORE, NO_MATCH, type SniffResult } from "../wire/result.ts";

/**
 * A parsed request head: the framing facts of {@link HttpHead} (Transfer-Encoding must end in
 * chunked, the only framing allowed with it), and what routing needs.
 */
export interface HttpRequestHead extends HttpHead {
  method: string;
  /** The request-target exactly as sent. */
  target: string;
  /**
   * The host to route on: lower-cased, without port or one trailing dot; IPv6 literals without
   * brackets, in RFC 5952 form. An absolute-form (or CONNECT authority-form) target's authority
   * wins over the Host header (RFC 9112 section 3.2.2). `null` when neither gives a host
   * (HTTP/1.0 without Host, or an empty Host value).
   */
  host: string | null;
  /** The authority text `host` was derived from, as sent (OWS trimmed), or `null`. */
  hostRaw: string | null;
  /**
   * Path of the target, without the query: from origin-form, or from absolute-form ("/" when
   * empty); "*" for asterisk-form; "" for CONNECT authority-form.
   */
  path: string;
  /** HTTP/1.1 "Expect: 100-continue" (HTTP/1.0 expectations are ignored per RFC 9110 10.1.1). */
  expectContinue: boolean;
  /**
   * The head must not be forwarded as sent (see request_rewrite.ts): Content-Length is
   * repeated, an h2c upgrade is offered (an HTTP2-Settings field, or "h2c" in Upgrade), or an
   * absolute-form target names another authority than the Host field.
   */
  rewrite: boolean;
}

/** Size limits for {@link sniffHttpRequestHead}, in bytes. */
export interface HttpHeadLimits {
  /** Longest request line, excluding its CRLF (longer: "414:"). */
  maxLine: number;
  /** Longest head, including the final CRLFCRLF (longer: "431:"). */
  maxHead: number;
}

/**
 * The limits the router reads request heads with: a request line up to 8 KiB (414 beyond), a
 * head up to 32 KiB (431 beyond), as HAProxy's and nginx's defaults allow.
 */
export const HEAD_LIMITS: HttpHeadLimits = Object.freeze({ maxLine: 8192, maxHead: 32768 });

const SP = 0x20;

/** Transfer codings this proxy can pass through (it frames by the final chunked coding). */
const KNOWN_CODINGS = new Set(["chunked", "gzip", "x-gzip", "deflate", "compress", "x-compress"]);

/**
 * Sniffs an HTTP/1.0 or HTTP/1.1 request head at the start of `buf`.
 *
 * - `no` when the bytes cannot start a request line (a method token then SP), checked on the
 *   first bytes, and for the "PRI" method, which only the HTTP/2 preface uses; so a caller may
 *   try `sniffH2Preface` (src/h2/preface.ts) as well. Leading empty lines are not skipped.
 * - `more` until the CRLFCRLF ending the head arrives (within the limits).
 * - `invalid` with a reason prefixed by the status to answer: "414:" for a request line over
 *   `maxLine`, "431:" for a head over `maxHead`, "505:" for an HTTP version other than 1.0/1.1,
 *   "501:" for an unknown transfer coding, "417:" for an unknown expectation, "400:" for other
 *   faults. Line ends must be CRLF; a bare LF or CR is invalid. The request line is checked as
 *   soon as it is complete, header fields once the head is.
 * - `match` with `length` = `headerEnd`.
 */
export function sniffHttpRequestHead(
  buf: Uint8Array,
  limits: HttpHeadLimits,
): SniffResult<HttpRequestHead> {
  const { maxLine, maxHead } = limits;
  const n = buf.length;
  let methodEnd = 0;
  while (methodEnd < n && TCHAR[buf[methodEnd]] === 1) methodEnd++;
  if (methodEnd === n) {
    return n > maxLine ? invalid(`414: request line longer than ${maxLine} bytes`) : NEED_MORE;
  }
  if (methodEnd === 0 || buf[methodEnd] !== SP) return NO_MATCH;
  // "PRI" is reserved for the HTTP/2 preface (RFC 9113 section 11.1).
  if (methodEnd === 3 && buf[0] === 0x50 && buf[1] === 0x52 && buf[2] === 0x49) return NO_MATCH;

  return sniffHead(buf, methodEnd, maxLine, maxHead, REQUEST, parseHead);
}

/** How scanHead reads a request head. */
const REQUEST: HeadKind<RequestLine> = {
  what: "request",
  status: "400",
  lineStatus: "414",
  headStatus: "431",
  firstLine: parseRequestLine,
};

interface RequestLine {
  method: string;
  target: string;
  version: "1.0" | "1.1";
  /** Length of the request line; header fields start 2 bytes later. */
  length: number;
}

/** Validates "method SP request-target SP HTTP-version"; returns an error reason or the parts. */
function parseRequestLine(text: string): RequestLine | string {
  const sp1 = text.indexOf(" ");
  const sp2 = text.indexOf(" ", sp1 + 1);
  if (sp2 < 0 || sp2 === sp1 + 1 || text.indexOf(" ", sp2 + 1) >= 0) {
    return `400: malformed request line ${quote(text)}`;
  }
  const versionText = text.slice(sp2 + 1);
  if (!/^HTTP\/[0-9]\.[0-9]$/.test(versionText)) {
    return `400: invalid HTTP version ${quote(versionText)}`;
  }
  const version = versionText.slice(5);
  if (version !== "1.0" && version !== "1.1") {
    return `505: HTTP version ${quote(versionText)} not supported`;
  }
  const target = text.slice(sp1 + 1, sp2);
  // Visible ASCII only: CTLs, DEL and raw non-ASCII never belong in a target. A fragment is
  // never sent, and "%" must start a %XX escape so that decoders downstream agree.
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= SP || c >= 0x7f || c === 0x23) {
      return `400: invalid character ${charName(c)} in request-target ${quote(target)}`;
    }
    if (c === 0x25 && !/^%[0-9A-Fa-f]{2}/.test(target.slice(i, i + 3))) {
      return `400: invalid percent-encoding in request-target ${quote(target)}`;
    }
  }
  return { method: text.slice(0, sp1), target, version, length: text.length };
}

/** Parses the header fields and derives routing and framing facts. */
function parseHead(text: string, line: RequestLine, headEnd: number): HttpRequestHead | string {
  // Assigned in the callback below, where control-flow narrowing cannot follow.
  let hostHeader = null as string | null;
  let http2Settings = false;
  const expectations: string[] = [];
  const fields = readFields(text, line.length + 2, headEnd - 2, "400", (name, value) => {
    if (name === "http2-settings") http2Settings = true;
    else if (name === "host") {
      if (hostHeader !== null) return "400: several Host headers";
      hostHeader = value;
    } else if (name === "expect") {
      for (const item of value.split(",")) {
        const expectation = item.trim().toLowerCase();
        if (expectation !== "") expectations.push(expectation);
      }
    }
    return null;
  });
  if (typeof fields === "string") return fields;
  const { headers, contentLength, codings, sawTransferEncoding, connection, upgrades } = fields;
  const h2cOffered = http2Settings || connection.includes("http2-settings") ||
    upgrades.some(namesH2c);

  // Framing (RFC 9112 section 6).
  let chunked = false;
  if (sawTransferEncoding) {
    if (line.version === "1.0") return "400: Transfer-Encoding in an HTTP/1.0 request";
    if (contentLength !== null) return "400: Content-Length and Transfer-Encoding together";
    if (codings.length === 0) return "400: empty Transfer-Encoding";
    for (const coding of codings) {
      if (!isToken(coding)) return `400: invalid transfer coding ${quote(coding)}`;
      if (!KNOWN_CODINGS.has(coding)) return `501: unsupported transfer coding ${quote(coding)}`;
    }
    // Only a final chunked coding delimits a request body; chunked twice is forbidden too.
    if (codings.indexOf("chunked") !== codings.length - 1) {
      return `400: chunked is not the last transfer coding in ${quote(codings.join(", "))}`;
    }
    chunked = true;
  }

  // Host (RFC 9112 section 3.2).
  if (hostHeader === null && line.version === "1.1") return "400: missing Host header";
  let hostFromHeader: string | null = null;
  if (hostHeader !== null && hostHeader !== "") {
    const parsed = parseAuthority(hostHeader);
    if (parsed === null) return `400: invalid Host header ${quote(hostHeader)}`;
    hostFromHeader = parsed.host;
  }
  const form = parseTarget(line);
  if (typeof form === "string") return form;
  const fromTarget = form.authority !== null;

  const versionIs11 = line.version === "1.1";
  let expectContinue = false;
  if (versionIs11) {
    for (const expectation of expectations) {
      if (expectation !== "100-continue") {
        return `417: unsupported expectation ${quote(expectation)}`;
      }
      expectContinue = true;
    }
  }
  return {
    method: line.method,
    target: line.target,
    version: line.version,
    host: fromTarget ? form.host : hostFromHeader,
    hostRaw: fromTarget ? form.authority : hostHeader,
    path: form.path,
    headerEnd: headEnd,
    headers,
    contentLength: contentLength === null ? null : Number(contentLength),
    chunked,
    connectionClose: connection.includes("close") ||
      (!versionIs11 && !connection.includes("keep-alive")),
    upgrade: versionIs11 && connection.includes("upgrade") && upgrades.length > 0
      ? upgrades.join(", ")
      : null,
    expectContinue,
    rewrite: fields.contentLengthFields > 1 || h2cOffered ||
      (fromTarget && line.method !== "CONNECT" && form.authority !== hostHeader),
  };
}

/** Whether an Upgrade field value lists the h2c protocol (RFC 9113 section 3.1). */
export function namesH2c(upgrade: string): boolean {
  for (const item of upgrade.split(",")) {
    if (upgradeProtocol(item) === "h2c") return true;
  }
  return false;
}

/** The protocol name of an Upgrade list element ("name[/version]"), lower-cased. */
export function upgradeProtocol(item: string): string {
  const t = item.trim();
  const slash = t.indexOf("/");
  return (slash < 0 ? t : t.slice(0, slash)).toLowerCase();
}

interface TargetForm {
  path: string;
  /** The target's authority when it names the host (absolute- and authority-form). */
  authority: string | null;
  host: string | null;
}

/** Classifies the request-target (RFC 9112 section 3.2) and extracts path and authority. */
function parseTarget(line: RequestLine): TargetForm | string {
  const { method, target } = line;
  if (method === "CONNECT") {
    const parsed = parseAuthority(target);
    if (parsed === null || parsed.port === "") {
      return `400: CONNECT needs host:port as its target, not ${quote(target)}`;
    }
    return { path: "", authority: target, host: parsed.host };
  }
  if (target.charCodeAt(0) === 0x2f) {
    const q = target.indexOf("?");
    return { path: q < 0 ? target : target.slice(0, q), authority: null, host: null };
  }
  if (target === "*") {
    if (method !== "OPTIONS") return `400: asterisk-form target with method ${quote(method)}`;
    return { path: "*", authority: null, host: null };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(target);
  if (scheme === null) return `400: invalid request-target ${quote(target)}`;
  const schemeName = scheme[1].toLowerCase();
  if (schemeName !== "http" && schemeName !== "https") {
    return `400: unsupported scheme ${quote(scheme[1])} in request-target`;
  }
  const rest = target.slice(scheme[0].length);
  let authorityEnd = rest.search(/[/?]/);
  if (authorityEnd < 0) authorityEnd = rest.length;
  const authority = rest.slice(0, authorityEnd);
  // Userinfo in http(s) URIs is deprecated and a phishing vector (RFC 9110 section 4.2.4).
  if (authority.includes("@")) return `400: userinfo in request-target ${quote(target)}`;
  const parsed = parseAuthority(authority);
  if (parsed === null) return `400: invalid host in request-target ${quote(target)}`;
  const afterAuthority = rest.slice(authorityEnd);
  const q = afterAuthority.indexOf("?");
  const path = q < 0 ? afterAuthority : afterAuthority.slice(0, q);
  return { path: path === "" ? "/" : path, authority, host: parsed.host };
}

/** A parsed `host [":" port]`. */
export interface Authority {
  /** Lower-cased, one trailing dot stripped; IPv6 in RFC 5952 form without brackets. */
  readonly host: string;
  /** The port digits as sent, or "" when there is none. */
  readonly port: string;
}

/**
 * The text parseAuthority() read last, and what it gave: the requests of a connection, and
 * most of a busy listener's, name one authority (parsing it was 2.5 % of Bun's busy time on
 * the h2 benchmark).
 */
let lastText: string | null = null;
let lastAuthority: Authority | null = null;

/**
 * Parses `host [":" port]` into the routing host, or `null` when malformed. Host names are
 * limited to letters, digits and "-._~": sub-delims and %-escapes are legal in a URI reg-name
 * but no DNS name uses them, and they would let one host have several spellings (or look like a
 * wildcard pattern) to the router. The port, when present, must be 1..5 digits up to 65535.
 */
export function parseAuthority(text: string): Authority | null {
  if (text !== lastText) {
    lastAuthority = readAuthority(text);
    lastText = text;
  }
  return lastAuthority;
}

function readAuthority(text: string): Authority | null {
  let host: string;
  let rest: string;
  if (text.charCodeAt(0) === 0x5b) {
    const close = text.indexOf("]");
    if (close < 0) return null;
    const ip = parseIp(text.slice(1, close));
    if (ip === null || ip.family !== 6) return null;
    host = formatIp(ip.bytes);
    rest = text.slice(close + 1);
  } else {
    const colon = text.indexOf(":");
    const name = colon < 0 ? text : text.slice(0, colon);
    rest = colon < 0 ? "" : text.slice(colon);
    if (!/^[A-Za-z0-9._~-]+$/.test(name)) return null;
    host = (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase();
    if (host === "") return null;
  }
  if (rest === "") return { host, port: "" };
  if (!/^:[0-9]{1,5}$/.test(rest) || Number(rest.slice(1)) > 65535) return null;
  return { host, port: rest.slice(1) };
}
