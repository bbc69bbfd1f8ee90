/**
 * What routes point at: `to:` and `default:` name a backend, or give an address that becomes
 * a one-server backend named after the address text.
 *
 * @module
 */

import { parseEndpoint } from "../net/endpoint.ts";
import { parseIp } from "../net/ip.ts";
import { readString } from "./scalars.ts";
import { didYouMean } from "./suggest.ts";
import type { BackendConfig, Defaults, Endpoint } from "./types.ts";
import type { Entry, Walker } from "./yaml_walk.ts";

/** Backends and settings shared while listeners are read. */
export interface Refs {
  readonly defaults: Defaults;
  /** Declared backends, then those made from addresses in `to:` and `default:`. */
  readonly backends: Map<string, BackendConfig>;
  /** Names under `backends:` (the only ones worth suggesting). */
  readonly declared: ReadonlySet<string>;
  /** Backends some route or default points at. */
  readonly used: Set<string>;
}

/** Default retries: one server down still leaves two more tries with three servers. */
export const DEFAULT_RETRIES = 2;

/** A backend of one server at `address`, with default settings. */
export function addressBackend(name: string, address: Endpoint, defaults: Defaults): BackendConfig {
  return {
    name,
    servers: [{ name, address, weight: 1 }],
    balance: "roundrobin",
    retries: DEFAULT_RETRIES,
    connectTimeoutMs: defaults.connectTimeoutMs,
    proxyProtocol: null,
    tls: null,
    source: null,
    healthCheck: null,
    http2: false,
  };
}

/** The backend name `e` points at (creating an address backend if needed). */
export function readTarget(w: Walker, e: Entry, refs: Refs): string | undefined {
  const text = readString(w, e);
  if (text === undefined) return undefined;
  if (refs.declared.has(text)) {
    refs.used.add(text);
    return text;
  }
  // Backend names cannot contain ":", so anything with one is meant as an address.
  if (text.includes(":")) {
    const address = parseEndpoint(text, { bind: false });
    if (typeof address === "string") {
      w.error(e.node, e.path, address);
      return undefined;
    }
    if (!refs.backends.has(text)) {
      refs.backends.set(text, addressBackend(text, address, refs.defaults));
    }
    refs.used.add(text);
    return text;
  }
  if (parseIp(text) !== null) {
    w.error(e.node, e.path, `"${text}" needs a port to be an address, e.g. "${text}:80"`);
  } else {
    w.error(e.node, e.path, `unknown backend "${text}"${didYouMean(text, refs.declared)}`);
  }
  return undefined;
}
