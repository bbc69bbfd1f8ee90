/**
 * Transparent proxying, the router's side: which source a backend connection uses
 * (`source: { usesrc, address }`), making that connection through src/sys/ and handing it to
 * the runtime, the start-up check that the process may do it at all, and listening sockets
 * with IP_TRANSPARENT (`transparent: true`).
 *
 * - `usesrc: client` binds the client's IP and port, `clientip` its IP (the kernel picks the
 *   port at connect time), an IP literal that address; all with IP_TRANSPARENT.
 * - The server is of the source's family (the client's, or the literal's): no IPv4-mapped
 *   address is ever bound. `dial` filters the balancer's pick by that family.
 * - A client on this host (loopback or one of its addresses) cannot be impersonated (its own
 *   socket holds that address and port): it is proxied plainly, from `address` when that is of
 *   its family, else from whatever the kernel picks.
 * - `address`: the connection leaves through the interface that holds this local address
 *   (SO_BINDTODEVICE), e.g. `lo` for the seed's loopback-alias set-up.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import os from "node:os";
import type { Config, ListenerConfig, SourceConfig } from "../config/types.ts";
import { parseIp } from "../net/ip.ts";
import type { Addr, Conn, ListenOptions, Runtime } from "../runtime/types.ts";
import { closeFd, localAddress } from "../sys/socket.ts";
import { connectFrom, listenTransparent, probeTransparent } from "../sys/transparent.ts";
import { localAddresses } from "./local_addresses.ts";

/** How one backend connection is made. */
export interface SourceRoute {
  /** The family the server must have. */
  readonly family: 4 | 6;
  /** The address (port 0: the kernel's choice) to bind before connecting; null: none. */
  readonly source: { readonly host: string; readonly port: number } | null;
  /** Bind with IP_TRANSPARENT / IPV6_TRANSPARENT (the source is the client's, or foreign). */
  readonly transparent: boolean;
  /** SO_BINDTODEVICE; null: any interface. */
  readonly device: string | null;
}

/** The interface that holds `address`, or null when no interface does. */
export function interfaceOf(address: string): string | null {
  for (const [name, list] of Object.entries(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.address.toLowerCase() === address) return name;
  }
  return null;
}

function familyOf(ip: string): 4 | 6 {
  return parseIp(ip)?.family ?? (ip.includes(":") ? 6 : 4);
}

/**
 * The source plan for a connection on behalf of `client` to a backend with `source`; null
 * when the backend has no `source` (or the client is unknown): connect as usual.
 */
export function sourceRoute(
  src: SourceConfig | null,
  client: Addr | undefined,
): SourceRoute | null {
  if (src === null || client === undefined) return null;
  const address = src.address ?? null;
  const literal = src.usesrc !== "client" && src.usesrc !== "clientip";
  if (!literal && localAddresses.has(client.host)) {
    const family = client.family;
    const from = address !== null && familyOf(address) === family ? address : null;
    return {
      family,
      source: from === null ? null : { host: from, port: 0 },
      transparent: false,
      device: null,
    };
  }
  const family = literal ? familyOf(src.usesrc) : client.family;
  const source = src.usesrc === "client"
    ? { host: client.host, port: client.port }
    : { host: literal ? src.usesrc : client.host, port: 0 };
  const device = address !== null && familyOf(address) === family ? interfaceOf(address) : null;
  return { family, source, transparent: true, device };
}

/** An IP literal of `family` for `host` (names are looked up, literals returned as they are). */
async function resolve(host: string, family: 4 | 6): Promise<string> {
  if (parseIp(host) !== null) return host;
  return (await lookup(host, { family })).address;
}

/**
 * Connects to `host:port` as `route` says. A plain route goes through `rt.connect`; any other
 * is made through src/sys/ (socket, setsockopt, bind, non-blocking connect awaited off the
 * event loop) and the connected fd is adopted by the runtime.
 */
export async function dialFrom(
  rt: Runtime,
  route: SourceRoute,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<Conn> {
  if (route.source === null && !route.transparent && route.device === null) {
    return await rt.connect({ host, port, timeoutMs });
  }
  const ip = await resolve(host, route.family);
  const fd = await connectFrom({
    host: ip,
    port,
    source: route.source,
    transparent: route.transparent,
    device: route.device,
    timeoutMs,
  });
  try {
    return await rt.adopt(fd);
  } catch (err) {
    closeFd(fd);
    throw err;
  }
}

/**
 * Checks, before anything listens, that every backend with `source` can work here: the
 * process may set IP_TRANSPARENT (CAP_NET_ADMIN) for the families it needs, and each `address`
 * is an address of this host. Throws an Error naming the backend and what is missing.
 */
export function checkTransparent(config: Config): void {
  const probed = new Map<4 | 6, true | Error>();
  for (const b of config.backends.values()) {
    const src = b.source;
    if (src === null) continue;
    const what = `backend "${b.name}": source usesrc ${src.usesrc}`;
    if (src.address !== undefined && interfaceOf(src.address) === null) {
      throw new Error(`${what}: address ${src.address} is not an address of this host`);
    }
    const families = new Set<4 | 6>();
    if (src.usesrc !== "client" && src.usesrc !== "clientip") families.add(familyOf(src.usesrc));
    else {
      for (const s of b.servers) {
        if (s.address.family === 0) families.add(4).add(6);
        else families.add(s.address.family);
      }
    }
    for (const f of families) {
      if (!probed.has(f)) {
        try {
          // false: the family is not available here (IPv6 disabled); connects to it fail alone.
          probeTransparent(f);
          probed.set(f, true);
        } catch (err) {
          probed.set(f, err as Error);
        }
      }
      const r = probed.get(f)!;
      if (r !== true) throw new Error(`${what}: ${r.message}`);
    }
  }
}

/**
 * `opts` for `l`'s bind, with `fd` set to a listening socket made with IP_TRANSPARENT when
 * the listener is `transparent: true` (the runtime adopts it instead of binding).
 */
export function withTransparent(l: ListenerConfig, opts: ListenOptions): ListenOptions {
  if (!l.transparent) return opts;
  const fd = listenTransparent(opts.host, opts.port, opts.reusePort ?? false);
  // The bound port (port 0: the kernel's pick), for runtimes that cannot ask the fd.
  return { ...opts, port: localAddress(fd).port, fd };
}
