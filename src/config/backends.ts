/**
 * The `backends:` map: named groups of servers and how to reach them.
 *
 * @module
 */

import { isMap, isScalar } from "yaml";
import { readEndpoint } from "./addresses.ts";
import { readBackendTls, readHealthCheck, readSource } from "./backend_options.ts";
import { checkName } from "./names.ts";
import * as read from "./scalars.ts";
import { DEFAULT_RETRIES } from "./targets.ts";
import type { BackendConfig, Balance, Defaults, ServerConfig } from "./types.ts";
import type { Entry, Walker } from "./yaml_walk.ts";

const BACKEND_KEYS = [
  "servers",
  "balance",
  "retries",
  "connect_timeout",
  "proxy_protocol",
  "tls",
  "source",
  "health_check",
  "http2",
];

const BACKEND_HINTS = {
  server: "servers",
  algorithm: "balance",
  lb_method: "balance",
  send_proxy: "proxy_protocol",
  "send-proxy": "proxy_protocol",
  check: "health_check",
};

const BALANCES: readonly Balance[] = ["roundrobin", "leastconn", "source", "first"];

/** One server: "host:port" or `{ address, weight, name }`. */
function readServer(w: Walker, e: Entry): ServerConfig | undefined {
  if (!isMap(e.node)) {
    const address = readEndpoint(w, e, false);
    return address && { name: address.text, address, weight: 1 };
  }
  const m = w.map(e, ["address", "weight", "name"]);
  const addressEntry = m?.get("address");
  if (m === null || addressEntry === undefined) {
    if (m !== null) {
      w.error(e.node, e.path, `server needs "address", e.g. address: "10.0.0.1:8080"`);
    }
    return undefined;
  }
  const address = readEndpoint(w, addressEntry, false);
  if (address === undefined) return undefined;
  return {
    name: read.optional(m, "name", (n) => read.readString(w, n), address.text),
    address,
    // 0 keeps a server configured but out of rotation, as in HAProxy.
    weight: read.optional(m, "weight", (n) => read.readInt(w, n, 0, 256), 1),
  };
}

/** `v1`, `v2`, or `false` for none. */
function readProxyProtocol(w: Walker, e: Entry): "v1" | "v2" | null | undefined {
  if (isScalar(e.node) && e.node.value === false) return null;
  return read.readEnum(w, e, ["v1", "v2"] as const);
}

function readServers(w: Walker, e: Entry): ServerConfig[] {
  const servers: ServerConfig[] = [];
  for (const item of read.readList(w, e)) {
    const server = readServer(w, item);
    if (server === undefined) continue;
    if (servers.some((s) => s.name === server.name)) {
      w.error(
        item.node,
        item.path,
        `duplicate server "${server.name}" (give one a different name:)`,
      );
    } else servers.push(server);
  }
  return servers;
}

function readBackend(w: Walker, e: Entry, name: string, defaults: Defaults, baseDir: string) {
  const m = w.map(e, BACKEND_KEYS, BACKEND_HINTS);
  if (m === null) return undefined;
  const servers = m.get("servers");
  if (servers === undefined) w.error(e.key, e.path, `backend "${name}" needs "servers"`);
  const backend: BackendConfig = {
    name,
    servers: servers === undefined ? [] : readServers(w, servers),
    balance: read.optional(m, "balance", (b) => read.readEnum(w, b, BALANCES), "roundrobin"),
    retries: read.optional(m, "retries", (n) => read.readInt(w, n, 0, 100), DEFAULT_RETRIES),
    connectTimeoutMs: read.optional(
      m,
      "connect_timeout",
      (d) => read.readDuration(w, d),
      defaults.connectTimeoutMs,
    ),
    proxyProtocol: read.optional(m, "proxy_protocol", (p) => readProxyProtocol(w, p), null),
    tls: read.optional(m, "tls", (t) => readBackendTls(w, t, baseDir), null),
    source: read.optional(m, "source", (s) => readSource(w, s), null),
    healthCheck: read.optional(m, "health_check", (h) => readHealthCheck(w, h), null),
    http2: read.optional(m, "http2", (b) => read.readBool(w, b), false),
  };
  if (backend.servers.length > 0 && backend.servers.every((s) => s.weight === 0)) {
    w.warn(
      servers!.key,
      servers!.path,
      "every server has weight 0: the backend never gets traffic",
    );
  }
  return backend;
}

/** Every backend of the `backends:` map, in order, with the key node of each for messages. */
export function readBackends(
  w: Walker,
  e: Entry | undefined,
  defaults: Defaults,
  baseDir: string,
): Map<string, { backend: BackendConfig; entry: Entry }> {
  const out = new Map<string, { backend: BackendConfig; entry: Entry }>();
  const m = e === undefined || e.node === null ? null : w.map(e, null);
  for (const [name, entry] of m ?? []) {
    if (!checkName(w, entry.key, entry.path, "backend", name)) continue;
    const backend = readBackend(w, entry, name, defaults, baseDir);
    if (backend !== undefined) out.set(name, { backend, entry });
  }
  return out;
}
