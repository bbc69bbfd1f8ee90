/**
 * Access records: one per connection (tcp, tls, auto) or request (http), built the same way
 * wherever a session ends, so every line carries the same fields.
 *
 * @module
 */

import { hostPort } from "../net/endpoint.ts";
import type { Addr } from "../runtime/types.ts";
import type { AccessFields, AccessRecord } from "./logger.ts";

/** How a connection or request ended: the `outcome` field (README "Logs" lists them). */
export type Outcome =
  | "ok"
  | "acme_challenge"
  | "redirected"
  | "responded"
  | "denied"
  | "unauthorized"
  | "rate_limited"
  | "terminated"
  | "upgraded"
  | "not_tls"
  | "not_http"
  | "malformed"
  | "refused"
  | "misdirected"
  | "inspect_timeout"
  | "no_route"
  | "connect_failed"
  | "client_closed"
  | "client_error"
  | "server_closed"
  | "server_error"
  | "server_timeout"
  | "bad_response"
  | "tls_failed"
  | "idle_timeout"
  | "aborted"
  | "over_limit"
  | "draining"
  | "proxy_untrusted"
  | "proxy_missing"
  | "proxy_invalid";

/**
 * The record of a connection `conn` (its client and where it connected, never IPv4-mapped:
 * Addr is normalized by the adapters) on `listener`, ended with `outcome`. `fields` must be a
 * fresh object: it is completed in place and returned, not copied (one record per request).
 */
export function accessRecord(
  listener: string,
  conn: { readonly remote: Addr; readonly local: Addr },
  outcome: Outcome,
  fields: AccessFields,
): AccessRecord {
  const rec = fields as AccessRecord;
  rec.listener = listener;
  rec.client = addrText(conn.remote);
  rec.dst = addrText(conn.local);
  rec.outcome = outcome;
  return rec;
}

/**
 * "host:port" of each address logged, made once per Addr object: a connection's requests
 * share it. Built per line, the two texts cost 0.5 us on Deno (JSON.stringify then flattens
 * each new concatenated string), more than the rest of the line.
 */
const texts = new WeakMap<Addr, string>();

function addrText(a: Addr): string {
  let text = texts.get(a);
  if (text === undefined) {
    text = hostPort(a.host, a.port);
    texts.set(a, text);
  }
  return text;
}
