/**
 * How `explain` describes what an http route does besides choosing a backend: the answer of a
 * route that redirects or responds, and one indented line per action.
 *
 * @module
 */

import { formatDuration } from "../config/duration.ts";
import type { HeaderActions, ListenerConfig, RouteConfig } from "../config/types.ts";
import { cidrContains, type IpBytes } from "../net/cidr.ts";

/** Longest body quoted in full. */
const BODY_SHOWN = 40;

/** What a route that does not forward answers: "redirect 308 to …" or "respond 503 …". */
export function describeAnswer(route: RouteConfig): string | null {
  if (route.redirect !== undefined) {
    const { to, status } = route.redirect;
    return `redirect ${status} to ${to === "https" ? "https://{host}{uri}" : to}`;
  }
  if (route.respond !== undefined) {
    const { status, body } = route.respond;
    if (body === "") return `respond ${status}`;
    const shown = body.length > BODY_SHOWN ? `${body.slice(0, BODY_SHOWN)}...` : body;
    return `respond ${status} with ${JSON.stringify(shown)} (${byteLength(body)} bytes)`;
  }
  return null;
}

/**
 * One line per action of `route` (null: no route matched) and of listener `l`, indented, in
 * the order a request meets them; [] when there are none. `src` is the client address asked
 * about, so that allow and deny can say what it gets.
 */
export function describeActions(
  l: ListenerConfig,
  route: RouteConfig | null,
  src: { readonly text: string; readonly ip: IpBytes },
): string[] {
  const out: string[] = [];
  const r: Partial<RouteConfig> = route ?? {};
  if (r.respond !== undefined && r.respond.headers.length > 0) {
    out.push(`respond headers: ${pairs(r.respond.headers)}`);
  }
  if (r.deny !== undefined) {
    const hit = r.deny.some((c) => cidrContains(c, src.ip));
    out.push(`deny: ${cidrs(r.deny)} get 403 (${src.text} ${hit ? "does" : "does not"})`);
  }
  if (r.allow !== undefined) {
    const hit = r.allow.some((c) => cidrContains(c, src.ip));
    out.push(
      `allow: ${cidrs(r.allow)}; others get 403 (${src.text} ${hit ? "is let in" : "gets 403"})`,
    );
  }
  if (r.auth !== undefined) {
    const users = [...r.auth.users.keys()].join(", ");
    const forwarded = r.to == null
      ? ""
      : r.forwardAuthHeader
      ? "; Authorization forwarded"
      : "; Authorization removed before forwarding";
    out.push(
      `auth: basic, realm ${JSON.stringify(r.auth.realm)}, users ${users}; 401 without a valid ` +
        `password${forwarded}`,
    );
  }
  if (r.rateLimit !== undefined) {
    const { requests, perMs, burst } = r.rateLimit;
    out.push(
      `rate_limit: ${requests} requests per ${formatDuration(perMs)} per client address, ` +
        `burst ${burst}; 429 beyond`,
    );
  }
  if (r.stripPrefix === true && r.pathPrefix !== undefined) {
    out.push(`strip_prefix: ${r.pathPrefix.join(" or ")} removed before forwarding`);
  }
  if (r.requestHeaders !== undefined) out.push(`request_headers: ${edits(r.requestHeaders)}`);
  if (r.responseHeaders !== undefined) out.push(`response_headers: ${edits(r.responseHeaders)}`);
  if (l.responseHeaders !== null) {
    out.push(`listener response_headers: ${edits(l.responseHeaders)}`);
  }
  return out.map((line) => `  ${line}`);
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

function cidrs(list: readonly { readonly text: string }[]): string {
  return list.map((c) => c.text).join(", ");
}

function pairs(list: readonly (readonly [string, string])[]): string {
  return list.map(([name, value]) => `${name}: ${JSON.stringify(value)}`).join(", ");
}

/** "set A: "1", B: "2"; remove c, d". */
function edits(h: HeaderActions): string {
  const parts: string[] = [];
  if (h.set.length > 0) parts.push(`set ${pairs(h.set)}`);
  if (h.remove.length > 0) parts.push(`remove ${h.remove.join(", ")}`);
  return parts.join("; ");
}
