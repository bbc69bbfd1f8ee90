/**
 * What the parts of an HTTP session share about the request in flight: the facts its access-log
 * line reports (`Exchange`, logged by `logExchange`) and the backend connection it went out on
 * (`Upstream`).
 *
 * @module
 */

import type { DetectedProtocol, RouteConfig } from "../config/types.ts";
import { accessRecord, type Outcome } from "../log/access.ts";
import { type ParsedIp, parseIp } from "../net/ip.ts";
import type { RouteInput } from "../route/router.ts";
import type { Conn } from "../runtime/types.ts";
import { bump, type ListenerContext } from "./context.ts";
import type { Lease } from "./dial.ts";

/** Facts about the request in flight, for its log line. */
export interface Exchange {
  readonly t0: number;
  readonly method: string;
  readonly host: string | null;
  readonly path: string;
  /** The upgrade protocols the request offered as forwarded ("a, b"), or null. */
  upgrade: string | null;
  route: RouteConfig | null;
  backend: string | null;
  server: string | null;
  bytesIn: number;
  bytesOut: number;
  status: number;
}

/** A new exchange, started now: not routed yet, nothing counted. */
export function newExchange(
  method: string,
  host: string | null,
  path: string,
  upgrade: string | null,
): Exchange {
  return {
    t0: Date.now(),
    method,
    host,
    path,
    upgrade,
    route: null,
    backend: null,
    server: null,
    bytesIn: 0,
    bytesOut: 0,
    status: 0,
  };
}

/**
 * Logs one exchange of the session on `ctx`/`client` and counts its status per backend. `ex`
 * null: no request was read, `unread` bytes of one arrived. `status`: the answer the session
 * gave itself, over `ex.status`.
 */
export function logExchange(
  session: { readonly ctx: ListenerContext; readonly client: Conn },
  ex: Exchange | null,
  unread: number,
  outcome: Outcome,
  reason?: string,
  proto?: string,
  status?: number,
): void {
  const { ctx, client } = session;
  const code = status ?? ex?.status ?? 0;
  if (code !== 0) bump(ctx.counters.httpRequests, statusKey(ex?.backend ?? "", code));
  if (!ctx.services.log.accessOn) return;
  ctx.services.log.access(accessRecord(ctx.listener.name, client, outcome, {
    host: ex?.host ?? null,
    method: ex?.method,
    path: ex?.path,
    proto,
    status: code === 0 ? undefined : code,
    route: ex?.route?.index ?? null,
    backend: ex?.backend ?? null,
    server: ex?.server ?? null,
    bytes_in: ex?.bytesIn ?? unread,
    bytes_out: ex?.bytesOut ?? 0,
    duration_ms: ex === null ? 0 : Date.now() - ex.t0,
    reason,
  }));
}

/**
 * The httpRequests counter's key for `backend` and `code` ("backend\tcode"), made once per
 * pair: a key built per request was a new string to hash twice (bump: 1 % of Bun's busy time on
 * the h2 benchmark). Backends are the config's names, codes three digits: the table is bounded.
 */
function statusKey(backend: string, code: number): string {
  let byCode = statusKeys.get(backend);
  if (byCode === undefined) statusKeys.set(backend, byCode = new Map());
  let key = byCode.get(code);
  if (key === undefined) byCode.set(code, key = `${backend}\t${code}`);
  return key;
}

const statusKeys = new Map<string, Map<number, string>>();

/** The upstream connection of the current request. */
export interface Upstream {
  /** The backend connection and its server. */
  readonly lease: Lease;
  readonly backend: string;
  /** May carry another request after the current response. */
  reusable: boolean;
  /** A write to it returned false and has not drained. */
  blocked: boolean;
}

/** The client's address as routing reads it: all zeros when the socket gave none parsable. */
function clientIp(client: Conn): ParsedIp {
  const remote = client.remote;
  return parseIp(remote.host) ??
    { family: remote.family, bytes: new Uint8Array(remote.family === 4 ? 4 : 16) };
}

/** What routing reads of a connection, worked out once per connection: not per request. */
export interface ConnFacts {
  /** The client's address ({@link clientIp}). */
  readonly src: ParsedIp;
  /** Where the client connected (null: not parsable). */
  readonly dst: ParsedIp | null;
  /** The client is on this machine. */
  readonly local: boolean;
}

/** The {@link ConnFacts} of `session`'s connection. */
export function connFacts(
  session: { readonly ctx: ListenerContext; readonly client: Conn },
): ConnFacts {
  const { ctx, client } = session;
  return {
    src: clientIp(client),
    dst: parseIp(client.local.host),
    local: ctx.services.isLocal(client.remote.host),
  };
}

/**
 * What the router reads of an HTTP request (HTTP/1 or an HTTP/2 stream) on a connection with
 * `facts`: `tls` whether the connection came through termination, `protocol` what an auto
 * listener detected.
 */
export function httpRouteInput(
  facts: ConnFacts,
  host: string | null,
  path: string,
  tls: boolean,
  protocol?: DetectedProtocol,
): RouteInput {
  return { host, path, src: facts.src, local: facts.local, dst: facts.dst, tls, protocol };
}
