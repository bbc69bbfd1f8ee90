/**
 * `allow:` / `deny:` on an http route: which client addresses may use it (others get 403,
 * before any `auth`). `deny` is checked first, then `allow`: with `allow` set, only the
 * addresses it lists get through. The address is the client's after a trusted PROXY header.
 *
 * The lists become {@link CidrSet}s once per route (the same matcher `src:` routing uses), so
 * a request costs a few integer comparisons per IPv4 prefix and nothing is built per request.
 *
 * @module
 */

import type { RouteConfig } from "../../config/types.ts";
import { CidrSet, type IpBytes } from "../../net/cidr.ts";
import { isIpv4Mapped } from "../../net/ip.ts";

/** A route's compiled access rule: whether a client address may use the route. */
export type AccessCheck = (ip: IpBytes) => boolean;

/** The route keys access control reads. */
export type AccessRules = Pick<RouteConfig, "allow" | "deny">;

/**
 * Compiles a route's `allow` and `deny` into one check; null when the route has neither (every
 * address may use it), so a session can skip the call on routes without rules. An `allow`
 * list that is present but empty lets nobody in.
 */
export function compileAccess(route: AccessRules): AccessCheck | null {
  const allow = route.allow === undefined ? null : new CidrSet(route.allow);
  const deny = route.deny === undefined ? null : new CidrSet(route.deny);
  if (allow === null && deny === null) return null;
  return (ip) => {
    const a = unmapped(ip);
    if (deny !== null && deny.has(a)) return false;
    return allow === null || allow.has(a);
  };
}

const compiledCache = new WeakMap<AccessRules, AccessCheck | null>();

/**
 * Whether `ip` may use `route` ({@link compileAccess}, compiled on the first call for that
 * route object and kept with it, so repeated calls cost a WeakMap lookup).
 */
export function accessAllowed(route: AccessRules, ip: IpBytes): boolean {
  let check = compiledCache.get(route);
  if (check === undefined) {
    check = compileAccess(route);
    compiledCache.set(route, check);
  }
  return check === null || check(ip);
}

/**
 * The IPv4 address an IPv4-mapped IPv6 address stands for; `ip` itself otherwise. Clients are
 * normalized when accepted, but a PROXY header may still carry a mapped address, and prefixes
 * are stored unmapped (parseCidr), so a mapped client would escape an IPv4 `deny`.
 */
function unmapped(ip: IpBytes): IpBytes {
  return ip.family === 6 && isIpv4Mapped(ip.bytes)
    ? { family: 4, bytes: ip.bytes.subarray(12) }
    : ip;
}
