/**
 * A listener's `routes:` list. Each route's keys AND together; a list inside a key ORs.
 *
 * @module
 */

import { isSeq } from "yaml";
import { isDnsName } from "../net/endpoint.ts";
import { parseIp } from "../net/ip.ts";
import { normalizeName } from "../route/name.ts";
import { readCidrs } from "./addresses.ts";
import { ACTION_HINTS, ACTION_KEYS, checkAnswer, readActions } from "./route_actions.ts";
import { readBool, readEnum, readList, readStrings } from "./scalars.ts";
import { readTarget, type Refs } from "./targets.ts";
import type { DetectedProtocol, ListenerProtocol, RouteConfig } from "./types.ts";
import { describe, type Entry, item, type Walker } from "./yaml_walk.ts";

/** The keys that decide whether a route matches (the others say what it does). */
const MATCH_KEYS = [
  "sni",
  "host",
  "alpn",
  "src",
  "dst",
  "family",
  "local",
  "tls",
  "path_prefix",
  "protocol",
];

const ROUTE_KEYS = [...MATCH_KEYS, "to", ...ACTION_KEYS];

/** RouteConfig fields of the match keys. */
const MATCH_FIELDS = new Set(MATCH_KEYS.map((k) => k === "path_prefix" ? "pathPrefix" : k));

/** Words from other proxies' configs, mapped to the key that does their job here. */
const ROUTE_HINTS = {
  backend: "to",
  use_backend: "to",
  service: "to",
  target: "to",
  upstream: "to",
  server_name: "sni",
  servername: "sni",
  hostname: "host",
  source: "src",
  destination: "dst",
  ...ACTION_HINTS,
};

/** Listener protocols each protocol-specific route key makes sense on. */
export const ROUTE_KEY_PROTOCOLS: Readonly<Record<string, readonly ListenerProtocol[]>> = {
  sni: ["tls", "auto"],
  alpn: ["tls", "auto"],
  host: ["http", "auto"],
  path_prefix: ["http", "auto"],
  tls: ["http"],
  protocol: ["auto"],
  ...Object.fromEntries(ACTION_KEYS.map((k) => [k, ["http"] as const])),
};

const DETECTED: readonly DetectedProtocol[] = ["tls", "http", "h2c", "ssh", "unknown"];

/** The listener a route list belongs to. */
export interface RouteOwner {
  readonly name: string;
  /** undefined when the listener's own protocol was invalid (already reported). */
  readonly protocol: ListenerProtocol | undefined;
}

/**
 * Reports `key` of map `m` when the owner's protocol is not among `allowed`; true if the key
 * is fine to read.
 */
export function checkProtocol(
  w: Walker,
  m: Map<string, Entry>,
  key: string,
  allowed: readonly ListenerProtocol[],
  owner: RouteOwner,
): boolean {
  const e = m.get(key);
  if (e === undefined) return false;
  if (owner.protocol === undefined || allowed.includes(owner.protocol)) return true;
  const on = allowed.length === 1 ? allowed[0] : `${allowed[0]} and ${allowed[1]}`;
  w.error(
    e.key,
    e.path,
    `"${key}" applies only to ${on} listeners; "${owner.name}" is ${owner.protocol}`,
  );
  return false;
}

/** sni/host names: lower-cased, port and trailing dot dropped; "*.example.com" allowed. */
function readNames(w: Walker, e: Entry): string[] {
  const out: string[] = [];
  for (const { value, entry } of readStrings(w, e)) {
    const name = normalizeName(value);
    const bare = name.startsWith("*.") ? name.slice(2) : name;
    if (name === "*") {
      w.error(entry.node, entry.path, `"*" matches every name: leave the key out instead`);
    } else if (!isDnsName(bare) && (bare !== name || parseIp(bare) === null)) {
      // An IP literal is a valid Host (as in http://192.0.2.1/), but no wildcard base.
      const eg = `e.g. "app.example.com" or "*.example.com"`;
      w.error(entry.node, entry.path, `bad name "${value}": expected a host name, ${eg}`);
    } else {
      out.push(name);
    }
  }
  return out;
}

function readAlpn(w: Walker, e: Entry): string[] {
  const out: string[] = [];
  for (const { value, entry } of readStrings(w, e)) {
    if (new TextEncoder().encode(value).length > 255) {
      w.error(entry.node, entry.path, `ALPN protocol "${value}" is longer than 255 bytes`);
    } else out.push(value);
  }
  return out;
}

function readPrefixes(w: Walker, e: Entry): string[] {
  const out: string[] = [];
  for (const { value, entry } of readStrings(w, e)) {
    if (!value.startsWith("/")) {
      w.error(entry.node, entry.path, `path prefix "${value}" must start with "/"`);
    } else out.push(value);
  }
  return out;
}

function readProtocols(w: Walker, e: Entry): DetectedProtocol[] {
  return readList(w, e).map((i) => readEnum(w, i, DETECTED)).filter((p) => p !== undefined);
}

/** One route; undefined when it has errors (all reported). */
function readRoute(
  w: Walker,
  e: Entry,
  index: number,
  owner: RouteOwner,
  refs: Refs,
): RouteConfig | undefined {
  const before = w.problems.length;
  const m = w.map(e, ROUTE_KEYS, ROUTE_HINTS);
  if (m === null) return undefined;
  const usable = (key: string) => checkProtocol(w, m, key, ROUTE_KEY_PROTOCOLS[key], owner);
  const route: Record<string, unknown> = { index };
  if (usable("sni")) route.sni = readNames(w, m.get("sni")!);
  if (usable("host")) route.host = readNames(w, m.get("host")!);
  if (usable("alpn")) route.alpn = readAlpn(w, m.get("alpn")!);
  if (m.has("src")) route.src = readCidrs(w, m.get("src")!);
  if (m.has("dst")) route.dst = readCidrs(w, m.get("dst")!);
  if (m.has("family")) route.family = readEnum(w, m.get("family")!, ["ipv4", "ipv6"]);
  if (m.has("local")) route.local = readBool(w, m.get("local")!);
  if (usable("tls")) route.tls = readBool(w, m.get("tls")!);
  if (usable("path_prefix")) route.pathPrefix = readPrefixes(w, m.get("path_prefix")!);
  if (usable("protocol")) route.protocol = readProtocols(w, m.get("protocol")!);
  const to = m.get("to");
  // An http route may redirect or respond instead (on a listener whose protocol is invalid,
  // already reported, give it the benefit of the doubt).
  if (owner.protocol === "http" || owner.protocol === undefined) checkAnswer(w, e, m);
  else if (to === undefined) w.error(e.node, e.path, `route needs "to": a backend name or address`);
  route.to = to === undefined ? null : readTarget(w, to, refs);
  Object.assign(route, readActions(w, m, usable));
  return w.problems.slice(before).some((p) => p.severity === "error")
    ? undefined
    : route as unknown as RouteConfig;
}

/**
 * The routes of `e` in order. A route with no match keys catches everything, so routes after
 * it get a warning: they can never match.
 */
export function readRoutes(w: Walker, e: Entry, owner: RouteOwner, refs: Refs): RouteConfig[] {
  const routes: RouteConfig[] = [];
  if (e.node === null) return routes;
  if (!isSeq(e.node)) {
    w.error(e.node, e.path, `routes must be a list, got ${describe(e.node)}`);
    return routes;
  }
  let catchAll: number | undefined;
  w.list(e).forEach((entry, i) => {
    if (catchAll !== undefined) {
      const at = item(e.path, catchAll);
      w.warn(entry.key, entry.path, `never matches: ${at} above matches every connection`);
    }
    const route = readRoute(w, entry, i, owner, refs);
    if (route === undefined) return;
    routes.push(route);
    const matchesAll = !Object.keys(route).some((k) => MATCH_FIELDS.has(k));
    if (catchAll === undefined && matchesAll) catchAll = i;
  });
  return routes;
}
