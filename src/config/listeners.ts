/**
 * The `listeners:` map: where to bind, which protocol to expect and how to route.
 *
 * @module
 */

import { isSeq } from "yaml";
import { readEndpoint } from "./addresses.ts";
import type { BindUse } from "./binds.ts";
import { readAcceptProxy, readForwarded } from "./listener_options.ts";
import { checkName } from "./names.ts";
import { readHeaderActions } from "./route_actions.ts";
import { checkProtocol, readRoutes, type RouteOwner } from "./routes.ts";
import * as read from "./scalars.ts";
import { readTarget, type Refs } from "./targets.ts";
import type { Endpoint, ListenerConfig, ListenerProtocol, TerminateAlpn } from "./types.ts";
import type { Entry, Walker } from "./yaml_walk.ts";

const LISTENER_KEYS = [
  "bind",
  "protocol",
  "accept_proxy",
  "transparent",
  "forwarded",
  "max_connections",
  "routes",
  "default",
  "terminate",
  "fronting",
  "alpn",
  "response_headers",
  "ssh_wait",
  "inspect_timeout",
  "idle_timeout",
];

const LISTENER_HINTS = {
  listen: "bind",
  address: "bind",
  mode: "protocol",
  default_backend: "default",
  rules: "routes",
  maxconn: "max_connections",
  headers: "response_headers",
  header: "response_headers",
  add_header: "response_headers",
};

const PROTOCOLS: readonly ListenerProtocol[] = ["tcp", "tls", "http", "auto"];

/** What termination offers by default: HTTP/2 first, as browsers prefer. */
export const DEFAULT_TERMINATE_ALPN: readonly TerminateAlpn[] = Object.freeze(["h2", "http/1.1"]);
const TERMINATE_ALPN: readonly TerminateAlpn[] = DEFAULT_TERMINATE_ALPN;

/** How long an `auto` listener waits for a silent client before calling it ssh. */
export const DEFAULT_SSH_WAIT_MS = 2000;

/** Default cap on a listener's concurrent connections. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;

/** A `terminate:` naming another listener, checked once every listener is known. */
export interface TerminateUse {
  readonly target: string;
  readonly entry: Entry;
}

/** What reading listeners collects for checks that need all of them. */
export interface ListenerChecks {
  readonly binds: BindUse[];
  readonly terminates: TerminateUse[];
}

function readBinds(w: Walker, e: Entry, owner: string, checks: ListenerChecks): Endpoint[] {
  const out: Endpoint[] = [];
  for (const item of read.readList(w, e)) {
    const endpoint = readEndpoint(w, item, true);
    if (endpoint === undefined) continue;
    checks.binds.push({ endpoint, entry: item, owner });
    out.push(endpoint);
  }
  return out;
}

/** One listener (`name: { bind: ..., ... }`). */
function readListener(
  w: Walker,
  e: Entry,
  name: string,
  refs: Refs,
  checks: ListenerChecks,
): ListenerConfig | undefined {
  const m = w.map(e, LISTENER_KEYS, LISTENER_HINTS);
  if (m === null) return undefined;
  const protocolEntry = m.get("protocol");
  // undefined (already reported) turns off the protocol-specific checks below.
  const parsed = protocolEntry ? read.readEnum(w, protocolEntry, PROTOCOLS) : "tcp";
  const owner: RouteOwner = { name, protocol: parsed };
  const protocol = parsed ?? "tcp";
  const only = (key: string, ...on: ListenerProtocol[]) => checkProtocol(w, m, key, on, owner);
  const bind = m.get("bind");
  if (bind === undefined) {
    w.error(e.key, e.path, `listener "${name}" needs "bind", e.g. bind: ":80"`);
  }
  const duration = (key: string, fallback: number) =>
    read.optional(m, key, (d) => read.readDuration(w, d), fallback);
  const terminate = only("terminate", "tls") ? read.readString(w, m.get("terminate")!) : undefined;
  if (terminate !== undefined) {
    checks.terminates.push({ target: terminate, entry: m.get("terminate")! });
  }
  const fallback = m.has("default") ? readTarget(w, m.get("default")!, refs) : undefined;
  const listener: ListenerConfig = {
    name,
    bind: bind === undefined ? [] : readBinds(w, bind, `listener "${name}"`, checks),
    protocol,
    acceptProxy: read.optional(m, "accept_proxy", (a) => readAcceptProxy(w, a), null),
    transparent: read.optional(m, "transparent", (t) => read.readBool(w, t), false),
    forwarded: only("forwarded", "http") ? readForwarded(w, m.get("forwarded")!) : [],
    maxConnections: read.optional(
      m,
      "max_connections",
      (n) => read.readInt(w, n, 1, 1e6),
      DEFAULT_MAX_CONNECTIONS,
    ),
    routes: m.has("routes") ? readRoutes(w, m.get("routes")!, owner, refs) : [],
    ...(fallback === undefined ? {} : { default: fallback }),
    ...(terminate === undefined ? {} : { terminate }),
    fronting: only("fronting", "tls", "http")
      ? read.readEnum(w, m.get("fronting")!, ["deny", "allow"]) ?? "deny"
      : "deny",
    alpn: only("alpn", "tls") ? readTerminateAlpn(w, m, name) : DEFAULT_TERMINATE_ALPN,
    responseHeaders: only("response_headers", "http")
      ? readHeaderActions(w, m.get("response_headers")!) ?? null
      : null,
    sshWaitMs: only("ssh_wait", "auto")
      ? duration("ssh_wait", DEFAULT_SSH_WAIT_MS)
      : DEFAULT_SSH_WAIT_MS,
    inspectTimeoutMs: duration("inspect_timeout", refs.defaults.inspectTimeoutMs),
    idleTimeoutMs: duration("idle_timeout", refs.defaults.idleTimeoutMs),
  };
  const routes = m.get("routes")?.node;
  const noRoutes = routes == null || isSeq(routes) && routes.items.length === 0;
  if (noRoutes && !m.has("default") && !m.has("terminate")) {
    w.warn(
      e.key,
      e.path,
      `listener "${name}" has no routes and no default: it refuses every connection`,
    );
  }
  return listener;
}

/**
 * A tls listener's `alpn:`: what termination offers, a list of h2 and http/1.1 (each once).
 * Without `terminate:` nothing is decrypted, so there is nothing to offer.
 */
function readTerminateAlpn(w: Walker, m: Map<string, Entry>, name: string): TerminateAlpn[] {
  const e = m.get("alpn")!;
  if (!m.has("terminate")) {
    w.error(
      e.key,
      e.path,
      `listener "${name}": alpn is what termination offers; add terminate: or remove alpn ` +
        `(to route by the client's ALPN, use alpn: in a route)`,
    );
    return [...DEFAULT_TERMINATE_ALPN];
  }
  const out: TerminateAlpn[] = [];
  for (const item of read.readList(w, e)) {
    const v = read.readEnum(w, item, TERMINATE_ALPN);
    if (v === undefined) continue;
    if (out.includes(v)) w.error(item.node, item.path, `duplicate protocol "${v}": list each once`);
    else out.push(v);
  }
  return out.length > 0 ? out : [...DEFAULT_TERMINATE_ALPN];
}

/** Every listener of the `listeners:` map, plus what the cross-listener checks need. */
export function readListeners(
  w: Walker,
  e: Entry,
  refs: Refs,
): { listeners: Map<string, ListenerConfig>; checks: ListenerChecks } {
  const listeners = new Map<string, ListenerConfig>();
  const checks: ListenerChecks = { binds: [], terminates: [] };
  const m = e.node === null ? new Map<string, Entry>() : w.map(e, null);
  if (m !== null && m.size === 0) {
    w.error(e.node ?? e.key, e.path, "no listeners: define at least one");
  }
  for (const [name, entry] of m ?? []) {
    if (!checkName(w, entry.key, entry.path, "listener", name)) continue;
    const listener = readListener(w, entry, name, refs, checks);
    if (listener !== undefined) listeners.set(name, listener);
  }
  return { listeners, checks };
}
