/**
 * Readers for address-like values: endpoints, CIDR lists and single IP literals.
 *
 * @module
 */

import { parseCidr } from "../net/cidr.ts";
import { parseEndpoint } from "../net/endpoint.ts";
import { formatIp, normalizeMapped, parseIp } from "../net/ip.ts";
import { readList, readString } from "./scalars.ts";
import type { Cidr, Endpoint } from "./types.ts";
import type { Entry, Walker } from "./yaml_walk.ts";

/** A `host:port` endpoint; only binds may use ":PORT" for every address. */
export function readEndpoint(
  w: Walker,
  e: Entry,
  bind: boolean,
): Endpoint | undefined {
  const text = readString(w, e);
  if (text === undefined) return undefined;
  const ep = parseEndpoint(text, { bind });
  if (typeof ep === "string") {
    w.error(e.node, e.path, ep);
    return undefined;
  }
  return ep;
}

/** A CIDR or a list of them. A prefix with host bits set gets a warning, not an error. */
export function readCidrs(w: Walker, e: Entry): Cidr[] {
  const out: Cidr[] = [];
  for (const item of readList(w, e)) {
    const text = readString(w, item);
    if (text === undefined) continue;
    const cidr = parseCidr(text);
    if (cidr === null) {
      w.error(
        item.node,
        item.path,
        `bad CIDR "${text}": write e.g. "10.0.0.0/8" or "2001:db8::/32"`,
      );
      continue;
    }
    const address = parseCidr(text.split("/")[0]);
    if (address !== null && address.bytes.some((b, i) => b !== cidr.bytes[i])) {
      w.warn(item.node, item.path, `"${text}" has host bits set; it means "${cidr.text}"`);
    }
    out.push(cidr);
  }
  return out;
}

/** An IP literal (no port), in canonical form with IPv4-mapped addresses as IPv4. */
export function readIp(w: Walker, e: Entry): string | undefined {
  const text = readString(w, e);
  if (text === undefined) return undefined;
  const ip = parseIp(normalizeMapped(text));
  if (ip === null) {
    w.error(e.node, e.path, `bad IP address "${text}"`);
    return undefined;
  }
  return formatIp(ip.bytes);
}
