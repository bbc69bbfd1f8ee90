/**
 * What an http route does besides choosing a backend: answer with a redirect or a fixed
 * response instead of forwarding, edit headers, strip the matched path prefix, let addresses in
 * or keep them out, ask for a password and limit the request rate. Also the header edits a
 * listener applies to every response (`response_headers:` on the listener).
 *
 * A route forwards (`to`), redirects or responds: exactly one of the three. Access control
 * (allow, deny, auth, rate_limit) and response_headers combine with all three; what changes the
 * forwarded request (strip_prefix, request_headers, forward_auth_header) needs `to`.
 *
 * @module
 */

import { isMap, isScalar, isSeq } from "yaml";
import { readCidrs } from "./addresses.ts";
import { frozenMap } from "./freeze.ts";
import * as read from "./scalars.ts";
import { didYouMean } from "./suggest.ts";
import type {
  BasicAuth,
  Cidr,
  HeaderActions,
  RateLimit,
  RedirectAction,
  RespondAction,
} from "./types.ts";
import { describe, type Entry, type Walker, type YamlNode } from "./yaml_walk.ts";

/** Route keys this module reads (all only on http listeners). */
export const ACTION_KEYS = [
  "redirect",
  "respond",
  "strip_prefix",
  "request_headers",
  "response_headers",
  "allow",
  "deny",
  "auth",
  "forward_auth_header",
  "rate_limit",
];

/** Words from Traefik, Caddy, nginx and HAProxy configs, mapped to the key doing their job. */
export const ACTION_HINTS = {
  redir: "redirect",
  redirectscheme: "redirect",
  redirect_scheme: "redirect",
  redirectregex: "redirect",
  return: "respond",
  static_response: "respond",
  stripprefix: "strip_prefix",
  strip_path: "strip_prefix",
  header_up: "request_headers",
  customrequestheaders: "request_headers",
  header: "response_headers",
  header_down: "response_headers",
  add_header: "response_headers",
  customresponseheaders: "response_headers",
  ipallowlist: "allow",
  ipwhitelist: "allow",
  whitelist: "allow",
  allowlist: "allow",
  blacklist: "deny",
  denylist: "deny",
  basicauth: "auth",
  basic_auth: "auth",
  limit_req: "rate_limit",
};

/** The keys of which a route has exactly one: what it does with a request. */
export const ANSWER_KEYS = ["to", "redirect", "respond"] as const;

/** Keys that change the request forwarded to a backend, so they need `to`. */
const FORWARD_ONLY = ["strip_prefix", "request_headers", "forward_auth_header"];

const REDIRECT_STATUSES = [301, 302, 303, 307, 308] as const;
const PLACEHOLDERS = ["host", "path", "query", "uri"];
/** Statuses whose responses never have a body (RFC 9110 15.3.5, 15.3.6, 15.4.5). */
const NO_BODY = [204, 205, 304];

/** An HTTP field name (RFC 9110 5.1: a token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A field value Switchyard writes as is: printable ASCII, spaces and tabs. */
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

const HOP_BY_HOP = "hop-by-hop headers belong to each connection, which Switchyard manages";
const FRAMING = "Switchyard frames each message itself";
const FORWARDED = `the listener's "forwarded" key controls it`;

/** Header names no action may set or remove, and why. */
const FORBIDDEN: Readonly<Record<string, string>> = {
  connection: HOP_BY_HOP,
  "keep-alive": HOP_BY_HOP,
  upgrade: HOP_BY_HOP,
  te: HOP_BY_HOP,
  "proxy-connection": HOP_BY_HOP,
  "transfer-encoding": FRAMING,
  "content-length": FRAMING,
  host: "routing matched it, and the backend receives it as the client sent it",
  "x-forwarded-for": FORWARDED,
  "x-forwarded-proto": FORWARDED,
  "x-forwarded-host": FORWARDED,
  forwarded: FORWARDED,
};

/** `$2a$`, `$2b$` or `$2y$`, a two-digit cost from 04 to 31, 22 characters of salt, 31 of hash. */
const BCRYPT = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;

/** What an http route's action keys give, as RouteConfig fields. */
export interface RouteActions {
  redirect?: RedirectAction;
  respond?: RespondAction;
  stripPrefix?: boolean;
  requestHeaders?: HeaderActions;
  responseHeaders?: HeaderActions;
  allow?: readonly Cidr[];
  deny?: readonly Cidr[];
  auth?: BasicAuth;
  forwardAuthHeader?: boolean;
  rateLimit?: RateLimit;
}

/**
 * Checks that route `e` (its map `m`, on an http listener) has exactly one of `to`, `redirect`
 * and `respond`, and that the keys which change the forwarded request come with `to`.
 */
export function checkAnswer(w: Walker, e: Entry, m: ReadonlyMap<string, Entry>): void {
  // In file order, so that the error points at the key that came second.
  const given = [...m.keys()].filter((k) => (ANSWER_KEYS as readonly string[]).includes(k));
  if (given.length === 0) {
    w.error(
      e.node,
      e.path,
      `route needs "to" (a backend name or address), "redirect" or "respond"`,
    );
    return;
  }
  if (given.length > 1) {
    const names = given.map((k) => `"${k}"`);
    const both = names.length === 2
      ? `both ${names[0]} and ${names[1]}`
      : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
    const second = m.get(given[1])!;
    w.error(
      second.key,
      e.path,
      `route has ${both}: keep one (a route forwards to a backend, redirects or responds)`,
    );
    return;
  }
  if (given[0] === "to") return;
  const does = given[0] === "redirect" ? "redirects" : "responds";
  for (const key of FORWARD_ONLY) {
    const k = m.get(key);
    if (k === undefined) continue;
    w.error(
      k.key,
      k.path,
      `"${key}" changes the request forwarded to a backend, but this route ${does}: ` +
        `it needs "to"`,
    );
  }
}

/**
 * The action keys of route map `m` that `usable` allows (the listener is http), read into
 * RouteConfig fields. `to` and the answer rules are the caller's ({@link checkAnswer}).
 */
export function readActions(
  w: Walker,
  m: ReadonlyMap<string, Entry>,
  usable: (key: string) => boolean,
): RouteActions {
  const out: RouteActions = {};
  const redirect = usable("redirect") ? readRedirect(w, m.get("redirect")!) : undefined;
  if (redirect !== undefined) out.redirect = redirect;
  const respond = usable("respond") ? readRespond(w, m.get("respond")!) : undefined;
  if (respond !== undefined) out.respond = respond;
  if (usable("strip_prefix")) {
    const e = m.get("strip_prefix")!;
    const strip = read.readBool(w, e);
    if (strip === true && !m.has("path_prefix")) {
      w.error(
        e.key,
        e.path,
        `strip_prefix needs "path_prefix" on the same route: it removes the prefix that matched`,
      );
    }
    if (strip !== undefined) out.stripPrefix = strip;
  }
  const request = usable("request_headers")
    ? readHeaderActions(w, m.get("request_headers")!)
    : undefined;
  if (request !== undefined) out.requestHeaders = request;
  const response = usable("response_headers")
    ? readHeaderActions(w, m.get("response_headers")!)
    : undefined;
  if (response !== undefined) out.responseHeaders = response;
  if (usable("allow")) out.allow = readCidrs(w, m.get("allow")!);
  if (usable("deny")) out.deny = readCidrs(w, m.get("deny")!);
  const auth = usable("auth") ? readAuth(w, m.get("auth")!) : undefined;
  if (auth !== undefined) out.auth = auth;
  if (usable("forward_auth_header")) {
    const e = m.get("forward_auth_header")!;
    const keep = read.readBool(w, e);
    if (keep !== undefined && !m.has("auth")) {
      w.error(
        e.key,
        e.path,
        `forward_auth_header needs "auth" on the same route: without it the Authorization ` +
          `header is always forwarded`,
      );
    }
    if (keep !== undefined) out.forwardAuthHeader = keep;
  }
  const limit = usable("rate_limit") ? readRateLimit(w, m.get("rate_limit")!) : undefined;
  if (limit !== undefined) out.rateLimit = limit;
  return out;
}

/** `redirect: https`, `redirect: "https://x{uri}"` or `redirect: { to, status }`. */
function readRedirect(w: Walker, e: Entry): RedirectAction | undefined {
  if (!isMap(e.node)) {
    const to = readRedirectTarget(w, e);
    return to === undefined ? undefined : { to, status: 308 };
  }
  const m = w.map(e, ["to", "status"], { location: "to", url: "to", code: "status" });
  if (m === null) return undefined;
  const toEntry = m.get("to");
  if (toEntry === undefined) {
    w.error(
      e.node,
      e.path,
      `redirect needs "to": https, or a URL such as "https://example.com{uri}"`,
    );
  }
  const to = toEntry === undefined ? undefined : readRedirectTarget(w, toEntry);
  const status = read.optional(m, "status", (s) => readRedirectStatus(w, s), 308);
  return to === undefined ? undefined : { to, status };
}

/** "https", or a URL or path template using only {host} {path} {query} {uri}. */
function readRedirectTarget(w: Walker, e: Entry): string | undefined {
  const text = read.readString(w, e);
  if (text === undefined) return undefined;
  if (text === "https") return text;
  if (!/^(https?:\/\/[^/]|\/)/.test(text)) {
    w.error(
      e.node,
      e.path,
      `redirect target "${text}" must be https, a URL starting with http:// or https://, ` +
        `or a path starting with "/"`,
    );
    return undefined;
  }
  if (!/^[\x21-\x7e]*$/.test(text)) {
    w.error(
      e.node,
      e.path,
      `redirect target "${text}" must be printable ASCII without spaces (percent-encode the rest)`,
    );
    return undefined;
  }
  let ok = true;
  for (const [whole, name] of text.matchAll(/\{([^{}]*)\}/g)) {
    if (PLACEHOLDERS.includes(name)) continue;
    const hint = didYouMean(name, PLACEHOLDERS);
    const mean = hint === "" ? "" : hint.replace(/"(\w+)"/, `"{$1}"`);
    w.error(
      e.node,
      e.path,
      `unknown placeholder "${whole}" in redirect target${mean}: use {host}, {path}, {query} ` +
        `or {uri}`,
    );
    ok = false;
  }
  if (ok && /[{}]/.test(text.replace(/\{(host|path|query|uri)\}/g, ""))) {
    w.error(
      e.node,
      e.path,
      `unmatched brace in redirect target "${text}": placeholders are {host}, {path}, {query} ` +
        `and {uri}`,
    );
    ok = false;
  }
  return ok ? text : undefined;
}

function readRedirectStatus(w: Walker, e: Entry): RedirectAction["status"] | undefined {
  const v = isScalar(e.node) ? e.node.value : undefined;
  if (typeof v === "number" && (REDIRECT_STATUSES as readonly number[]).includes(v)) {
    return v as RedirectAction["status"];
  }
  w.error(e.node ?? e.key, e.path, `expected 301, 302, 303, 307 or 308, got ${describe(e.node)}`);
  return undefined;
}

/** `respond: { status, body, headers }`. */
function readRespond(w: Walker, e: Entry): RespondAction | undefined {
  const m = w.map(e, ["status", "body", "headers"], { code: "status", content: "body" });
  if (m === null) return undefined;
  const status = read.optional(m, "status", (s) => read.readInt(w, s, 200, 599), 200);
  const bodyEntry = m.get("body");
  const body = bodyEntry === undefined ? "" : readText(w, bodyEntry);
  if (bodyEntry !== undefined && body !== undefined && body !== "" && NO_BODY.includes(status)) {
    w.error(
      bodyEntry.key,
      bodyEntry.path,
      `a ${status} response has no body: remove "body" or use another status`,
    );
  }
  const headersEntry = m.get("headers");
  const headers = headersEntry === undefined ? [] : readHeaderMap(w, headersEntry, "set");
  if (body === undefined || headers === undefined) return undefined;
  return { status, body, headers };
}

/** Text, empty allowed; numbers and booleans are refused with a hint to quote them. */
function readText(w: Walker, e: Entry): string | undefined {
  if (e.node === null) return "";
  if (!isScalar(e.node)) {
    w.error(e.node, e.path, `expected text, got ${describe(e.node)}`);
    return undefined;
  }
  const v = e.node.value;
  if (typeof v !== "string") {
    w.error(e.node, e.path, `expected text, got ${describe(e.node)} (quote it: "${String(v)}")`);
    return undefined;
  }
  return v;
}

/**
 * `{ set: { Name: value }, remove: [Name] }` for a request or a response; undefined after
 * reporting what is wrong.
 */
export function readHeaderActions(w: Walker, e: Entry): HeaderActions | undefined {
  const m = w.map(e, ["set", "remove"], { add: "set", delete: "remove", del: "remove" });
  if (m === null) return undefined;
  const setEntry = m.get("set");
  const set = setEntry === undefined ? [] : readHeaderMap(w, setEntry, "set");
  const removeEntry = m.get("remove");
  const remove = removeEntry === undefined ? [] : readRemove(w, removeEntry);
  if (set === undefined || remove === undefined) return undefined;
  if (set.length === 0 && remove.length === 0) {
    const some = setEntry !== undefined || removeEntry !== undefined;
    w.error(
      e.node ?? e.key,
      e.path,
      some
        ? `no header to set or remove: list some, or leave the key out`
        : `expected "set: { Name: value }" and/or "remove: [Name]"`,
    );
    return undefined;
  }
  const setNames = new Map(set.map(([name], i) => [name.toLowerCase(), i]));
  let ok = true;
  for (const [i, name] of remove.entries()) {
    if (!setNames.has(name)) continue;
    const at = w.list(removeEntry!)[i];
    w.error(
      at.node,
      at.path,
      `"${set[setNames.get(name)!][0]}" is both set and removed: setting it already replaces it`,
    );
    ok = false;
  }
  return ok ? { set, remove } : undefined;
}

/** Whether actions may use header `name` (written at `at`); reports why not. */
function checkHeaderName(
  w: Walker,
  at: YamlNode | null,
  path: string,
  name: string,
  verb: "set" | "remove",
): boolean {
  if (!TOKEN.test(name)) {
    const chars = "!#$%&'*+-.^_`|~";
    w.error(
      at,
      path,
      `bad header name "${name}": use letters, digits and ${chars} (no spaces or ":")`,
    );
    return false;
  }
  const why = FORBIDDEN[name.toLowerCase()];
  if (why !== undefined) {
    w.error(at, path, `cannot ${verb} "${name}": ${why}`);
    return false;
  }
  return true;
}

/** `Name: value` pairs in file order; names once each, whatever their case. */
function readHeaderMap(
  w: Walker,
  e: Entry,
  verb: "set",
): (readonly [string, string])[] | undefined {
  if (e.node === null) return [];
  const m = w.map(e, null);
  if (m === null) return undefined;
  const out: (readonly [string, string])[] = [];
  const seen = new Map<string, Entry>();
  let ok = true;
  for (const [name, entry] of m) {
    if (!checkHeaderName(w, entry.key, entry.path, name, verb)) {
      ok = false;
      continue;
    }
    const first = seen.get(name.toLowerCase());
    if (first !== undefined) {
      const line = w.lineOf(first.key);
      w.error(entry.key, entry.path, `"${name}" is already set (line ${line}): names ignore case`);
      ok = false;
      continue;
    }
    seen.set(name.toLowerCase(), entry);
    const value = readText(w, entry);
    if (value === undefined) {
      ok = false;
    } else if (!FIELD_VALUE.test(value)) {
      w.error(
        entry.node,
        entry.path,
        `the value of "${name}" must be printable ASCII: no line breaks, control or ` +
          `non-ASCII characters`,
      );
      ok = false;
    } else {
      out.push([name, value]);
    }
  }
  return ok ? out : undefined;
}

/** `remove:` names, lower-cased, each once. */
function readRemove(w: Walker, e: Entry): string[] | undefined {
  if (e.node === null || isSeq(e.node) && e.node.items.length === 0) return [];
  const out: string[] = [];
  let ok = true;
  for (const item of w.list(e)) {
    const name = read.readString(w, item);
    if (name === undefined || !checkHeaderName(w, item.node, item.path, name, "remove")) {
      ok = false;
      continue;
    }
    const lower = name.toLowerCase();
    if (out.includes(lower)) {
      w.error(item.node, item.path, `"${name}" is listed twice`);
      ok = false;
    } else {
      out.push(lower);
    }
  }
  return ok ? out : undefined;
}

/** `auth: { basic: { realm, users: { name: bcrypt-hash } } }`. */
function readAuth(w: Walker, e: Entry): BasicAuth | undefined {
  const m = w.map(e, ["basic"], { basicauth: "basic", basic_auth: "basic", users: "basic" });
  if (m === null) return undefined;
  const basicEntry = m.get("basic");
  if (basicEntry === undefined) {
    w.error(
      e.node,
      e.path,
      `auth needs "basic": { realm: NAME, users: { USER: BCRYPT-HASH } }`,
    );
    return undefined;
  }
  const b = w.map(basicEntry, ["realm", "users"], { name: "realm" });
  if (b === null) return undefined;
  const realmEntry = b.get("realm");
  const usersEntry = b.get("users");
  if (realmEntry === undefined) {
    w.error(
      basicEntry.node,
      basicEntry.path,
      `basic needs "realm": the name browsers show when they ask for the password`,
    );
  }
  if (usersEntry === undefined) {
    w.error(basicEntry.node, basicEntry.path, `basic needs "users": { USER: BCRYPT-HASH }`);
  }
  const realm = realmEntry === undefined ? undefined : readRealm(w, realmEntry);
  const users = usersEntry === undefined ? undefined : readUsers(w, usersEntry);
  return realm === undefined || users === undefined ? undefined : { realm, users };
}

function readRealm(w: Walker, e: Entry): string | undefined {
  const realm = read.readString(w, e);
  if (realm === undefined) return undefined;
  if (!/^[\x20-\x7e]*$/.test(realm) || /["\\]/.test(realm)) {
    w.error(
      e.node,
      e.path,
      `realm must be printable ASCII without " or \\ (it is sent quoted in WWW-Authenticate)`,
    );
    return undefined;
  }
  return realm;
}

function readUsers(w: Walker, e: Entry): ReadonlyMap<string, string> | undefined {
  if (e.node === null || isMap(e.node) && e.node.items.length === 0) {
    w.error(e.node ?? e.key, e.path, `users must not be empty: add USER: BCRYPT-HASH`);
    return undefined;
  }
  const m = w.map(e, null);
  if (m === null) return undefined;
  const users = new Map<string, string>();
  let ok = true;
  for (const [name, entry] of m) {
    // deno-lint-ignore no-control-regex
    if (name.includes(":") || /[\x00-\x1f\x7f]/.test(name)) {
      w.error(
        entry.key,
        entry.path,
        `bad user name "${name}": no ":" (Basic auth splits user and password at the first ":") ` +
          `and no control characters`,
      );
      ok = false;
    }
    // The value is never quoted back: it may be a password written where the hash belongs.
    const hash = isScalar(entry.node) ? entry.node.value : undefined;
    if (typeof hash !== "string" || !BCRYPT.test(hash)) {
      w.error(
        entry.node ?? entry.key,
        entry.path,
        `expected a bcrypt hash ($2a$, $2b$ or $2y$, a cost from 04 to 31, "$" and 53 ` +
          `characters), not a password: make one with "switchyard hash-password"`,
      );
      ok = false;
    } else {
      users.set(name, hash);
    }
  }
  return ok ? frozenMap(users) : undefined;
}

/** `rate_limit: { requests, per, burst }`. */
function readRateLimit(w: Walker, e: Entry): RateLimit | undefined {
  const m = w.map(e, ["requests", "per", "burst"], {
    average: "requests",
    rate: "requests",
    period: "per",
    interval: "per",
  });
  if (m === null) return undefined;
  const requestsEntry = m.get("requests");
  if (requestsEntry === undefined) {
    w.error(e.node, e.path, `rate_limit needs "requests", e.g. { requests: 20, per: 1s }`);
  }
  const requests = requestsEntry === undefined
    ? undefined
    : read.readInt(w, requestsEntry, 1, 1_000_000_000);
  const perEntry = m.get("per");
  const perMs = perEntry === undefined ? 1000 : read.readDuration(w, perEntry);
  const burstEntry = m.get("burst");
  const burst = burstEntry === undefined ? requests : read.readInt(w, burstEntry, 1, 1_000_000_000);
  if (requests === undefined || perMs === undefined || burst === undefined) return undefined;
  if (burst < requests) {
    w.error(
      burstEntry!.node,
      burstEntry!.path,
      `burst must be at least requests (${requests}), got ${burst}`,
    );
    return undefined;
  }
  return { requests, perMs, burst };
}
