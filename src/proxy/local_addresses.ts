/**
 * Which addresses belong to this host, for the `local` route key and for transparent mode
 * (a client on this host cannot be impersonated, so it is proxied plainly).
 *
 * @module
 */

import os from "node:os";
import { normalizeMapped } from "../net/ip.ts";

/** Returns a predicate over normalized address text, from the interfaces seen now. */
export function localAddressTest(): (host: string) => boolean {
  const own = new Set<string>(["::1"]);
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) own.add(normalizeMapped(a.address.toLowerCase()));
  }
  // All of 127/8 is loopback, not just the addresses configured on lo.
  return (host) => host.startsWith("127.") || own.has(host);
}
