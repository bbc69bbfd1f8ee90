/**
 * `host:port` endpoints as written in the config: ":80", "0.0.0.0:80", "[::]:80",
 * "127.0.0.1:8080", "localhost:8080".
 *
 * @module
 */

import { formatIp, normalizeMapped, parseIp } from "./ip.ts";

/** A host:port pair; `host` is an IP literal (no brackets), a DNS name, or "" for "all addresses". */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
  /** 4 or 6 for IP literals, 0 for names and for "" (all addresses). */
  readonly family: 0 | 4 | 6;
  /** The text as written in the config, for messages. */
  readonly text: string;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;

/**
 * Whether `name` (already lower-case, no trailing dot) is a DNS host name: dot-separated
 * labels of letters, digits, "-" and "_" (used by internal names), at most 63 characters
 * each and 253 in all.
 */
export function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => label.length <= 63 && LABEL.test(label));
}

/** Options for {@link parseEndpoint}. */
export interface EndpointOptions {
  /**
   * The endpoint is something to listen on: accept ":80" (and "*:80") meaning every local
   * address, and port 0 meaning a port the kernel picks (the bound port is logged at start,
   * which is how tests and side-by-side instances find it).
   */
  readonly bind: boolean;
}

/**
 * Parses `host:port`. An IPv6 host must be bracketed ("[::1]:80"); an IPv4-mapped IPv6
 * literal is stored as the IPv4 address; names are lower-cased. The port must be 1 to 65535
 * (0 too for binds). Returns an error message quoting `text`
 * when it is not a valid endpoint.
 */
export function parseEndpoint(text: string, options: EndpointOptions): Endpoint | string {
  const bad = `bad address "${text}"`;
  let host: string;
  let port: string;
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) return `${bad}: missing "]"`;
    host = text.slice(1, end);
    if (text[end + 1] !== ":") return `${bad}: missing ":PORT" after "]"`;
    port = text.slice(end + 2);
    if (parseIp(host)?.family !== 6) return `${bad}: "${host}" is not an IPv6 address`;
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) return `${bad}: missing port, e.g. "${text}:80"`;
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(":")) {
      return `${bad}: an IPv6 address goes in brackets before the port, e.g. "[::1]:80"`;
    }
  }
  const min = options.bind ? 0 : 1;
  if (!/^\d{1,5}$/.test(port) || Number(port) < min || Number(port) > 65535) {
    return `${bad}: the port must be ${min} to 65535`;
  }
  const p = Number(port);
  if (host === "" || host === "*") {
    if (!options.bind) return `${bad}: missing host`;
    return { host: "", port: p, family: 0, text };
  }
  const ip = parseIp(normalizeMapped(host));
  if (ip !== null) return { host: formatIp(ip.bytes), port: p, family: ip.family, text };
  if (/^[0-9.]+$/.test(host)) return `${bad}: "${host}" is not an IPv4 address`;
  const name = host.toLowerCase();
  if (!isDnsName(name)) return `${bad}: "${host}" is not an IP address or host name`;
  return { host: name, port: p, family: 0, text };
}

/** `host:port` text for an endpoint: ":80", "10.0.0.1:80", "[2001:db8::1]:443". */
export function formatEndpoint(e: Endpoint): string {
  return hostPort(e.host, e.port);
}

/** `host:port` text for an address: ":80" (every address), "10.0.0.1:80", "[::1]:443". */
export function hostPort(host: string, port: number): string {
  if (host === "") return `:${port}`;
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
