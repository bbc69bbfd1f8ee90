/**
 * The validated, frozen configuration model. `parseConfig` (load.ts) builds it from YAML; everything
 * else reads only this model, never the YAML.
 *
 * Durations are milliseconds. Addresses are already parsed and normalized (an IPv4-mapped
 * IPv6 literal is stored as IPv4).
 *
 * @module
 */

import type { Cidr } from "../net/cidr.ts";
import type { Endpoint } from "../net/endpoint.ts";

// The address types belong to net/, which parses them; re-exported so that users of the
// model find all its types here.
export type { Cidr, Endpoint };

/** A listener's protocol. */
export type ListenerProtocol = "tcp" | "tls" | "http" | "auto";

/** What `protocol: auto` can detect. */
export type DetectedProtocol = "tls" | "http" | "h2c" | "ssh" | "unknown";

/** One route: its keys AND together; a list inside one key ORs. */
export interface RouteConfig {
  /** Position in the listener's list (first match wins). */
  readonly index: number;
  /** Lower-cased names without a trailing dot; "*.example.com" wildcards allowed. */
  readonly sni?: readonly string[];
  readonly host?: readonly string[];
  readonly alpn?: readonly string[];
  readonly src?: readonly Cidr[];
  /**
   * The address the client connected to (the accepted socket's local address: with a
   * `transparent` listener and TPROXY, the original, foreign destination).
   */
  readonly dst?: readonly Cidr[];
  readonly family?: "ipv4" | "ipv6";
  /** true: the client is on this host. */
  readonly local?: boolean;
  /** true: the HTTP request arrived through TLS termination. */
  readonly tls?: boolean;
  readonly pathPrefix?: readonly string[];
  readonly protocol?: readonly DetectedProtocol[];
  /**
   * The backend name (an address in `to:` becomes a backend named after the address); null on
   * an http route that redirects or responds instead (exactly one of the three is set).
   */
  readonly to: string | null;
  /** http routes: answer with a redirect, never contacting a backend. */
  readonly redirect?: RedirectAction;
  /** http routes: answer with this response, never contacting a backend. */
  readonly respond?: RespondAction;
  /** http routes with `path_prefix`: the matched prefix is removed before forwarding. */
  readonly stripPrefix?: boolean;
  readonly requestHeaders?: HeaderActions;
  readonly responseHeaders?: HeaderActions;
  /** Client addresses let in (others: 403); checked after `deny`, before `auth`. */
  readonly allow?: readonly Cidr[];
  /** Client addresses refused with 403. */
  readonly deny?: readonly Cidr[];
  readonly auth?: BasicAuth;
  /** Keep the Authorization header when forwarding (removed by default once `auth` checked it). */
  readonly forwardAuthHeader?: boolean;
  readonly rateLimit?: RateLimit;
}

/**
 * Header edits on a request or a response: `set` replaces every field of that name (or adds
 * one), `remove` deletes them; names compare case-insensitively. Connection, Transfer-Encoding,
 * Content-Length, Host and the forwarded headers cannot be named (a config error).
 */
export interface HeaderActions {
  /** Names as written in the config, in order. */
  readonly set: readonly (readonly [name: string, value: string])[];
  /** Lower-cased names. */
  readonly remove: readonly string[];
}

/** `redirect:`; `to` "https" keeps host (without port), path and query. */
export interface RedirectAction {
  /** "https", or a template with {host} {path} {query} {uri}. */
  readonly to: string;
  readonly status: 301 | 302 | 303 | 307 | 308;
}

/** `respond:`: a fixed answer. */
export interface RespondAction {
  readonly status: number;
  readonly body: string;
  readonly headers: readonly (readonly [name: string, value: string])[];
}

/** `auth: { basic: ... }`: users with bcrypt hashes. */
export interface BasicAuth {
  readonly realm: string;
  /** user name -> bcrypt hash ($2a$/$2b$/$2y$). */
  readonly users: ReadonlyMap<string, string>;
}

/** `rate_limit:` a token bucket per client address (IPv6 by /64). */
export interface RateLimit {
  /** Tokens added per `perMs`. */
  readonly requests: number;
  readonly perMs: number;
  /** Bucket size (defaults to `requests`). */
  readonly burst: number;
}

/** Forwarded headers an http listener may add. */
export type ForwardedHeader =
  | "x-forwarded-for"
  | "x-forwarded-proto"
  | "x-forwarded-host"
  | "forwarded";

/** Who may send a PROXY header to a listener. */
export interface AcceptProxy {
  readonly from: readonly Cidr[];
}

/** An application protocol a terminating listener may speak to clients. */
export type TerminateAlpn = "h2" | "http/1.1";

/** A listener: where to bind and how to route what arrives. */
export interface ListenerConfig {
  readonly name: string;
  readonly bind: readonly Endpoint[];
  readonly protocol: ListenerProtocol;
  /** null: PROXY headers are refused. */
  readonly acceptProxy: AcceptProxy | null;
  readonly transparent: boolean;
  readonly forwarded: readonly ForwardedHeader[];
  readonly maxConnections: number;
  readonly routes: readonly RouteConfig[];
  /** Backend for connections no route matches; undefined: close (tcp/tls) or 503 (http). */
  readonly default?: string;
  /** tls only: decrypt unmatched ClientHellos and route them as this http listener. */
  readonly terminate?: string;
  /** What to do when a terminated request's Host differs from its SNI. */
  readonly fronting: "deny" | "allow";
  /** tls with terminate: the ALPN protocols offered to clients, in order of preference. */
  readonly alpn: readonly TerminateAlpn[];
  /** http: header edits on every response of the listener, its own answers included. */
  readonly responseHeaders: HeaderActions | null;
  /** auto only: how long a silent client may wait before it counts as ssh. */
  readonly sshWaitMs: number;
  readonly inspectTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/** One server of a backend. */
export interface ServerConfig {
  /** Unique within the backend; the address text unless `name:` is given. */
  readonly name: string;
  readonly address: Endpoint;
  readonly weight: number;
}

/** Re-encryption to a backend. */
export interface BackendTls {
  /** "host": the request's Host (or the client's SNI); otherwise a fixed name. */
  readonly sni: string;
  /** "system" or a PEM file path. */
  readonly ca: string;
  readonly verify: boolean;
}

/** Transparent source for outgoing connections. */
export interface SourceConfig {
  /** "client" | "clientip" | an IP literal. */
  readonly usesrc: string;
  /** Local address whose route carries the connection. */
  readonly address?: string;
}

/** Active health checking. */
export interface HealthCheckConfig {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  readonly http?: { readonly path: string; readonly expect: number; readonly host?: string };
}

/** Load-balancing algorithms. */
export type Balance = "roundrobin" | "leastconn" | "source" | "first";

/** A named group of servers. */
export interface BackendConfig {
  readonly name: string;
  readonly servers: readonly ServerConfig[];
  readonly balance: Balance;
  readonly retries: number;
  readonly connectTimeoutMs: number;
  readonly proxyProtocol: "v1" | "v2" | null;
  readonly tls: BackendTls | null;
  readonly source: SourceConfig | null;
  readonly healthCheck: HealthCheckConfig | null;
  /**
   * Speak HTTP/2 to the servers (h2c, or h2 with `tls:`) for requests from HTTP/2 clients,
   * multiplexed over few connections, trailers carried (gRPC).
   */
  readonly http2: boolean;
}

/** Timeouts every listener and backend inherits. */
export interface Defaults {
  readonly connectTimeoutMs: number;
  readonly inspectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
}

/** A certificate chain and its key, as file paths (resolved against the config's folder). */
export interface CertificateConfig {
  readonly cert: string;
  readonly key: string;
}

/** An ACME challenge type Switchyard answers itself (DNS-01 is not one: it needs a DNS API). */
export type AcmeChallenge = "http-01" | "tls-alpn-01";

/** One certificate to obtain from the ACME CA: `- acme: [names]` under `certificates`. */
export interface AcmeCertificateConfig {
  /** Lower-cased DNS names without a trailing dot, no wildcards; the first names it in storage. */
  readonly names: readonly string[];
}

/** `acme:` (present, with defaults, as soon as a certificate entry says `acme:`). */
export interface AcmeConfig {
  /** Account contact; null: none given (Let's Encrypt accepts an account without one). */
  readonly email: string | null;
  /** The directory URL (`letsencrypt` and `letsencrypt-staging` already resolved). */
  readonly directory: string;
  /** Extra CA file (absolute path) to trust for the directory's own TLS; null: system CAs. */
  readonly ca: string | null;
  /** Absolute path of the folder holding the account key, certificates, keys and locks. */
  readonly storage: string;
  /** Challenges to answer, in order of preference. */
  readonly challenges: readonly AcmeChallenge[];
  /**
   * Renew when less than this is left (ms); null: the default, 30 days or a third of the
   * certificate's lifetime when that is shorter.
   */
  readonly renewBeforeMs: number | null;
  /** The certificates to obtain, in file order. */
  readonly certificates: readonly AcmeCertificateConfig[];
}

/** The admin endpoint. */
export interface AdminConfig {
  readonly listen: Endpoint;
}

/** The whole configuration. */
export interface Config {
  /** The file it was read from ("<embedded>" for the demo). */
  readonly file: string;
  readonly admin: AdminConfig | null;
  readonly defaults: Defaults;
  /** Certificate files (the `{ cert, key }` entries of `certificates`). */
  readonly certificates: readonly CertificateConfig[];
  /** Automatic certificates; null when the config has no `acme:` block and no `acme` entry. */
  readonly acme: AcmeConfig | null;
  readonly listeners: ReadonlyMap<string, ListenerConfig>;
  readonly backends: ReadonlyMap<string, BackendConfig>;
  /** Worker processes; "auto" = one per core. */
  readonly workers: number | "auto";
  /** Reload when the file changes (`watch: true`, or `run --watch`), as SIGHUP does. */
  readonly watch: boolean;
}

/** Where a problem points: `FILE:LINE:COL` and a key path. */
export interface ProblemSite {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Key path, e.g. "listeners.web.routes[2].to". */
  readonly path: string;
}

/** One problem found in a config file, positioned for `FILE:LINE:COL: message`. */
export interface ConfigProblem extends ProblemSite {
  readonly message: string;
  readonly severity: "error" | "warning";
}
