/**
 * Route matching, compiled once per listener at load.
 *
 * Semantics: routes are tried in order and the first whose keys all match wins; a list
 * inside one key matches if any entry does. To avoid trying every route, routes with a
 * `sni` (or else `host`) key are indexed by name: exact names in a map, "*.example.com"
 * under "example.com". A connection then tries, in route order, only the routes its names
 * index to plus the routes that have no name key.
 *
 * Inputs are expected already normalized (the sniffers do this with `normalizeName`): names
 * lower-case without port or trailing dot, and no IPv4-mapped IPv6 source address.
 *
 * @module
 */

import type { DetectedProtocol, ListenerConfig, RouteConfig } from "../config/types.ts";
import { CidrSet, type IpBytes } from "../net/cidr.ts";
import { normalizeName } from "./name.ts";

/** What is known about a connection (or request) when it is routed. */
export interface RouteInput {
  /** TLS server name, if a ClientHello carried one. */
  readonly sni?: string | null;
  /** ALPN protocols the client offered. */
  readonly alpn?: readonly string[];
  /** HTTP Host, without port. */
  readonly host?: string | null;
  /** HTTP request path. */
  readonly path?: string;
  readonly src: IpBytes;
  /** The address the client connected to (a transparent listener: the original one). */
  readonly dst?: IpBytes | null;
  /** The client is on this host. */
  readonly local: boolean;
  /** The HTTP request arrived through TLS termination. */
  readonly tls?: boolean;
  /** What an `auto` listener detected. */
  readonly protocol?: DetectedProtocol;
}

/** Where a connection or request goes: the route that matched, and the backend it names. */
export interface Decision {
  /** null: no route matched (the backend is the listener's default, if any). */
  readonly route: RouteConfig | null;
  /** null: no route matched and the listener has no default. */
  readonly backend: string | null;
}

/** A listener's compiled routes. */
export interface Router {
  /** The first route (in config order) that matches, or null. */
  match(c: RouteInput): RouteConfig | null;
  /**
   * The route and backend for `c`: the first matching route's `to`, else the default. The
   * objects are made once at compile time, so deciding allocates nothing.
   */
  decide(c: RouteInput): Decision;
  /** The listener's backend for unmatched connections. */
  readonly default?: string;
  /** Whether some route names `protocol` (auto listeners). */
  routesProtocol(protocol: DetectedProtocol): boolean;
}

type Check = (c: RouteInput) => boolean;

/** Exact names and wildcard suffixes of one name key ("sni" or "host"). */
class Names {
  readonly exact = new Set<string>();
  readonly wild = new Set<string>();

  constructor(names: readonly string[]) {
    for (const raw of names) {
      const name = normalizeName(raw);
      if (name.startsWith("*.")) this.wild.add(name.slice(2));
      else this.exact.add(name);
    }
  }

  /** Whether `name` is listed or lies strictly below a wildcard's suffix. */
  has(name: string): boolean {
    if (this.exact.has(name)) return true;
    for (let dot = name.indexOf("."); dot >= 0; dot = name.indexOf(".", dot + 1)) {
      if (dot > 0 && this.wild.has(name.slice(dot + 1))) return true;
    }
    return false;
  }
}

/** Name → indices (ascending) of the routes listing it, for one name key. */
class NameIndex {
  readonly #exact = new Map<string, number[]>();
  readonly #wild = new Map<string, number[]>();

  add(names: Names, index: number): void {
    for (const n of names.exact) push(this.#exact, n, index);
    for (const n of names.wild) push(this.#wild, n, index);
  }

  /** Appends to `out` the index lists that `name` selects. */
  collect(name: string, out: number[][]): void {
    const exact = this.#exact.get(name);
    if (exact !== undefined) out.push(exact);
    if (this.#wild.size === 0) return;
    for (let dot = name.indexOf("."); dot >= 0; dot = name.indexOf(".", dot + 1)) {
      const wild = dot > 0 ? this.#wild.get(name.slice(dot + 1)) : undefined;
      if (wild !== undefined) out.push(wild);
    }
  }
}

function push(map: Map<string, number[]>, key: string, index: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [index]);
  else list.push(index);
}

/** The checks of `route`, leaving out the name key `indexed` (the index already did it). */
function compileChecks(route: RouteConfig, indexed: "sni" | "host" | null): Check[] {
  const checks: Check[] = [];
  if (route.sni !== undefined && indexed !== "sni") {
    const names = new Names(route.sni);
    checks.push((c) => c.sni != null && names.has(c.sni));
  }
  if (route.host !== undefined && indexed !== "host") {
    const names = new Names(route.host);
    checks.push((c) => c.host != null && names.has(c.host));
  }
  if (route.alpn !== undefined) {
    const alpn = new Set(route.alpn);
    checks.push((c) => c.alpn !== undefined && c.alpn.some((p) => alpn.has(p)));
  }
  if (route.src !== undefined) {
    const src = new CidrSet(route.src);
    checks.push((c) => src.has(c.src));
  }
  if (route.dst !== undefined) {
    const dst = new CidrSet(route.dst);
    checks.push((c) => c.dst != null && dst.has(c.dst));
  }
  if (route.family !== undefined) {
    const family = route.family === "ipv4" ? 4 : 6;
    checks.push((c) => c.src.family === family);
  }
  if (route.local !== undefined) {
    const local = route.local;
    checks.push((c) => c.local === local);
  }
  if (route.tls !== undefined) {
    const tls = route.tls;
    checks.push((c) => (c.tls ?? false) === tls);
  }
  if (route.pathPrefix !== undefined) {
    const prefixes = route.pathPrefix;
    checks.push((c) => c.path !== undefined && prefixes.some((p) => c.path!.startsWith(p)));
  }
  if (route.protocol !== undefined) {
    const protocols = new Set(route.protocol);
    checks.push((c) => c.protocol !== undefined && protocols.has(c.protocol));
  }
  return checks;
}

/** Compiles `listener`'s routes into a {@link Router}. */
export function compileRouter(listener: ListenerConfig): Router {
  const routes = listener.routes;
  const checks: Check[][] = [];
  const sni = new NameIndex();
  const host = new NameIndex();
  // Routes without a name key: candidates for every connection.
  const always: number[] = [];
  routes.forEach((route, i) => {
    const indexed = route.sni !== undefined ? "sni" : route.host !== undefined ? "host" : null;
    checks.push(compileChecks(route, indexed));
    if (indexed === "sni") sni.add(new Names(route.sni!), i);
    else if (indexed === "host") host.add(new Names(route.host!), i);
    else always.push(i);
  });

  const passes = (i: number, c: RouteInput): boolean => {
    for (const check of checks[i]) if (!check(c)) return false;
    return true;
  };
  // Reused between calls (matching is synchronous): candidate lists and a cursor per list.
  const lists: number[][] = [];
  const cursors: number[] = [];

  const match = (c: RouteInput): RouteConfig | null => {
    lists.length = 0;
    if (c.sni != null) sni.collect(c.sni, lists);
    if (c.host != null) host.collect(c.host, lists);
    if (always.length > 0) lists.push(always);
    if (lists.length === 1) {
      for (const i of lists[0]) if (passes(i, c)) return routes[i];
      return null;
    }
    // Merge the ascending lists so candidates are tried in route order, each once.
    cursors.length = 0;
    for (let k = 0; k < lists.length; k++) cursors.push(0);
    let last = -1;
    for (;;) {
      let best = -1;
      let bestIndex = Infinity;
      for (let k = 0; k < lists.length; k++) {
        const list = lists[k];
        while (cursors[k] < list.length && list[cursors[k]] <= last) cursors[k]++;
        if (cursors[k] < list.length && list[cursors[k]] < bestIndex) {
          best = k;
          bestIndex = list[cursors[k]];
        }
      }
      if (best < 0) return null;
      last = bestIndex;
      if (passes(bestIndex, c)) return routes[bestIndex];
    }
  };

  const named = new Set(routes.flatMap((r) => r.protocol ?? []));
  const routesProtocol = (p: DetectedProtocol) => named.has(p);
  const decisions = new Map<RouteConfig, Decision>(
    routes.map((route) => [route, Object.freeze({ route, backend: route.to })]),
  );
  const fallback: Decision = Object.freeze({ route: null, backend: listener.default ?? null });
  const decide = (c: RouteInput): Decision => {
    const route = match(c);
    return route === null ? fallback : decisions.get(route)!;
  };
  return Object.freeze(
    listener.default === undefined
      ? { match, decide, routesProtocol }
      : { match, decide, routesProtocol, default: listener.default },
  );
}
