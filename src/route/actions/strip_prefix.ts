/**
 * `strip_prefix: true` on an http route with `path_prefix`: the matched prefix is removed from
 * the request target before forwarding, so a backend mounted at "/" can serve "/api/...".
 *
 * The result always starts with "/", as Traefik's StripPrefix does: the prefix is cut as
 * written and a "/" is put back when what remains does not start with one. So, for
 * "/api/v1/x":
 *
 * - prefix "/api/" → "/v1/x" (the slash was cut, then put back);
 * - prefix "/api"  → "/v1/x" (the slash remained);
 * - and "/api" itself → "/" with prefix "/api" (prefix "/api/" does not match "/api": the
 *   router would not have chosen the route).
 *
 * Since `path_prefix` is a plain string prefix, "/api" also matches "/apiv1", which becomes
 * "/v1"; a prefix ending in "/" is the way to match whole segments only. The query is kept.
 *
 * @module
 */

/**
 * `target` (origin-form path plus optional "?query"; an absolute-form target's path, its
 * scheme and authority kept) with `prefix` removed from the start of its path, as the module
 * describes. Returns `target` unchanged when its path does not start with `prefix` (the router
 * chose the route by that prefix, so this happens only for a prefix the route did not match
 * by) or for a target with no path (asterisk-form, authority-form).
 */
export function stripPrefix(target: string, prefix: string): string {
  const start = pathStart(target);
  if (start < 0 || !target.startsWith(prefix, start)) return target;
  const q = target.indexOf("?", start);
  // A "?" inside the prefix would mean the prefix ran into the query: the path does not
  // start with it.
  if (q >= 0 && q < start + prefix.length) return target;
  const restAt = start + prefix.length;
  const slash = target.charCodeAt(restAt) === 0x2f ? "" : "/";
  return target.slice(0, start) + slash + target.slice(restAt);
}

/**
 * {@link stripPrefix} with the longest of a route's `path_prefix` entries the target's path
 * starts with (the most specific one the router may have matched by); `target` unchanged when
 * none does.
 */
export function stripMatchedPrefix(target: string, prefixes: readonly string[]): string {
  const start = pathStart(target);
  if (start < 0) return target;
  const q = target.indexOf("?", start);
  const pathEnd = q < 0 ? target.length : q;
  let best: string | null = null;
  for (const p of prefixes) {
    if (
      (best === null || p.length > best.length) && start + p.length <= pathEnd &&
      target.startsWith(p, start)
    ) {
      best = p;
    }
  }
  return best === null ? target : stripPrefix(target, best);
}

/** Where the path of `target` starts: 0 for origin-form, after the authority for absolute-form. */
function pathStart(target: string): number {
  if (target.charCodeAt(0) === 0x2f) return 0;
  const scheme = target.indexOf("://");
  if (scheme < 0) return -1;
  let i = scheme + 3;
  while (i < target.length && target.charCodeAt(i) !== 0x2f) {
    // An authority followed directly by "?" has the empty path: no prefix starts it.
    if (target.charCodeAt(i) === 0x3f) return -1;
    i++;
  }
  return i === target.length ? -1 : i;
}
