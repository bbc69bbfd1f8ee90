/**
 * What a matched HTTP route decides about a request before any backend is contacted (#18's
 * route actions), the same for HTTP/1 and HTTP/2: `deny`/`allow` (403), `rate_limit` (429 with
 * Retry-After; before auth, so that password guessing is limited too), `auth` (401 with a
 * challenge; bcrypt runs off the event loop, so this may be a promise), then `redirect` or
 * `respond`. A request that passes is forwarded with the route's request edits (see
 * `forwardTarget`). Per-route state (the compiled access rule, the auth cache, the rate-limit
 * buckets) lives with the route object, so a reload starts it afresh.
 *
 * @module
 */

import type { HeaderActions, RouteConfig } from "../config/types.ts";
import { editFieldList, editHeadFields } from "../route/actions/headers.ts";
import type { Outcome } from "../log/access.ts";
import type { IpBytes } from "../net/cidr.ts";
import { accessAllowed } from "../route/actions/access.ts";
import { BasicAuthChecker, challenge } from "../route/actions/basic_auth.ts";
import { RateLimiter } from "../route/actions/rate_limit.ts";
import { redirectLocation } from "../route/actions/redirect.ts";
import { stripMatchedPrefix } from "../route/actions/strip_prefix.ts";
import { latin1Bytes } from "../wire/bytes.ts";

/** An answer the router gives itself. */
export interface GateAnswer {
  readonly status: number;
  /** Fields beyond Content-Type/Content-Length (Location, Retry-After, WWW-Authenticate...). */
  readonly headers: readonly (readonly [string, string])[];
  /** The body text; the status line's reason when null. */
  readonly body: string | null;
  readonly outcome: Outcome;
  /** For the log line (none for a redirect or respond the config asked for). */
  readonly reason?: string;
}

/** Forward (null) or answer. */
export type GateResult = GateAnswer | null;

/** What the gate reads from a request. */
export interface GateRequest {
  readonly ip: IpBytes;
  readonly host: string | null;
  /** The request target as sent (path and query). */
  readonly target: string;
  readonly authorization: string | null;
}

interface RouteState {
  readonly auth: BasicAuthChecker | null;
  readonly limiter: RateLimiter | null;
}

const states = new WeakMap<RouteConfig, RouteState>();

function stateOf(route: RouteConfig): RouteState {
  let s = states.get(route);
  if (s === undefined) {
    s = {
      auth: route.auth === undefined ? null : new BasicAuthChecker(route.auth),
      limiter: route.rateLimit === undefined ? null : new RateLimiter(route.rateLimit),
    };
    states.set(route, s);
  }
  return s;
}

/**
 * The route's decision for `req`: null to forward, an answer, or a promise of either while a
 * password is checked. `limited` is called for each request the rate limit refuses (metrics).
 */
export function gate(
  route: RouteConfig,
  req: GateRequest,
  limited: () => void,
): GateResult | Promise<GateResult> {
  if ((route.allow !== undefined || route.deny !== undefined) && !accessAllowed(route, req.ip)) {
    return {
      status: 403,
      headers: [],
      body: null,
      outcome: "denied",
      reason: "address not allowed",
    };
  }
  const state = stateOf(route);
  if (state.limiter !== null) {
    const wait = state.limiter.take(req.ip, performance.now());
    if (wait > 0) {
      limited();
      return {
        status: 429,
        headers: [["Retry-After", String(wait)]],
        body: null,
        outcome: "rate_limited",
        reason: "rate limit",
      };
    }
  }
  if (state.auth !== null) {
    const realm = route.auth!.realm;
    return state.auth.check(req.authorization).then((ok) =>
      ok ? actionOf(route, req) : {
        status: 401,
        headers: [["WWW-Authenticate", challenge(realm)]],
        body: null,
        outcome: "unauthorized",
        reason: req.authorization === null ? "no credentials" : "wrong credentials",
      }
    );
  }
  return actionOf(route, req);
}

/** `redirect` or `respond`, else null (forward). */
function actionOf(route: RouteConfig, req: GateRequest): GateResult {
  if (route.redirect !== undefined) {
    const location = redirectLocation(route.redirect, req);
    if (location === null) {
      return {
        status: 400,
        headers: [],
        body: null,
        outcome: "malformed",
        reason: "a redirect needs the request's Host",
      };
    }
    return {
      status: route.redirect.status,
      headers: [["Location", location]],
      body: "",
      outcome: "redirected",
    };
  }
  if (route.respond !== undefined) {
    return {
      status: route.respond.status,
      headers: route.respond.headers,
      body: route.respond.body,
      outcome: "responded",
    };
  }
  return null;
}

/** The target to forward: with the matched `path_prefix` removed when `strip_prefix` says so. */
export function forwardTarget(route: RouteConfig | null, target: string): string {
  if (route === null || route.stripPrefix !== true || route.pathPrefix === undefined) return target;
  return stripMatchedPrefix(target, route.pathPrefix);
}

/** Whether `route` has anything for {@link gate} to do (most routes have not: skip the call). */
export function hasGate(route: RouteConfig): boolean {
  return route.to === null || route.allow !== undefined || route.deny !== undefined ||
    route.auth !== undefined || route.rateLimit !== undefined;
}

const REMOVE_AUTHORIZATION: HeaderActions = Object.freeze({ set: [], remove: ["authorization"] });

/**
 * An HTTP/1 request head as `route` forwards it: the target with the matched prefix stripped,
 * the request-header edits, and Authorization removed once `auth` checked it (unless
 * `forward_auth_header`). `head` itself when the route changes nothing.
 */
export function requestEdits(route: RouteConfig, head: Uint8Array, target: string): Uint8Array {
  let out = head;
  const next = forwardTarget(route, target);
  if (next !== target) out = withTarget(out, next);
  if (route.requestHeaders !== undefined) out = editHeadFields(out, route.requestHeaders);
  if (route.auth !== undefined && route.forwardAuthHeader !== true) {
    out = editHeadFields(out, REMOVE_AUTHORIZATION);
  }
  return out;
}

/** `head` with the request line's target replaced (the bytes between its two spaces). */
function withTarget(head: Uint8Array, target: string): Uint8Array {
  const first = head.indexOf(0x20);
  const second = head.indexOf(0x20, first + 1);
  const t = latin1Bytes(target);
  const out = new Uint8Array(head.length - (second - first - 1) + t.length);
  out.set(head.subarray(0, first + 1));
  out.set(t, first + 1);
  out.set(head.subarray(second), first + 1 + t.length);
  return out;
}

/** An HTTP/2 request's fields as `route` forwards them (see {@link requestEdits}). */
export function requestFieldEdits(
  route: RouteConfig,
  fields: readonly (readonly [string, string])[],
): readonly (readonly [string, string])[] {
  let out = fields;
  if (route.requestHeaders !== undefined) out = editFieldList(out, route.requestHeaders);
  if (route.auth !== undefined && route.forwardAuthHeader !== true) {
    out = editFieldList(out, REMOVE_AUTHORIZATION);
  }
  return out;
}
