/**
 * struct sockaddr_in / sockaddr_in6 as bytes, for bind(2), connect(2) and getsockname(2).
 *
 * The family field is in host byte order, the port in network order. An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is refused: Switchyard never puts one on the wire (contract
 * invariant); an IPv4 address is encoded as sockaddr_in.
 *
 * @module
 */

import { HOST_LITTLE_ENDIAN } from "../runtime/ffi.ts";
import { formatIp, isIpv4Mapped, parseIp } from "../net/ip.ts";

export const AF_INET = 2;
export const AF_INET6 = 10;

/** sizeof(struct sockaddr_in). */
export const SOCKADDR_IN_SIZE = 16;
/** sizeof(struct sockaddr_in6). */
export const SOCKADDR_IN6_SIZE = 28;
/** Large enough for either (getsockname's buffer). */
export const SOCKADDR_MAX_SIZE = SOCKADDR_IN6_SIZE;

/** An IP socket address as text. */
export interface SockAddr {
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** The address family constant (AF_INET, AF_INET6) for 4 or 6. */
export function afOf(family: 4 | 6): number {
  return family === 4 ? AF_INET : AF_INET6;
}

/**
 * Encodes `host` (an IP literal, no brackets, no zone) and `port` (0 to 65535).
 * Throws a RangeError naming the problem for anything else, IPv4-mapped addresses included.
 */
export function encodeSockaddr(host: string, port: number): Uint8Array {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port ${port} is out of range 0-65535`);
  }
  const ip = parseIp(host);
  if (ip === null) throw new RangeError(`"${host}" is not an IP address`);
  if (ip.family === 6 && isIpv4Mapped(ip.bytes)) {
    throw new RangeError(`"${host}" is an IPv4-mapped IPv6 address; use the IPv4 address`);
  }
  const out = new Uint8Array(ip.family === 4 ? SOCKADDR_IN_SIZE : SOCKADDR_IN6_SIZE);
  const view = new DataView(out.buffer);
  view.setUint16(0, afOf(ip.family), HOST_LITTLE_ENDIAN);
  view.setUint16(2, port, false);
  // sockaddr_in: sin_addr at 4. sockaddr_in6: sin6_flowinfo at 4 (0), sin6_addr at 8,
  // sin6_scope_id at 24 (0).
  out.set(ip.bytes, ip.family === 4 ? 4 : 8);
  return out;
}

/**
 * Decodes a sockaddr_in or sockaddr_in6 (as filled by getsockname); an IPv4-mapped IPv6
 * address comes back as the IPv4 address. Throws a RangeError for another family or a short
 * buffer.
 */
export function decodeSockaddr(bytes: Uint8Array): SockAddr {
  if (bytes.length < 2) throw new RangeError("sockaddr shorter than its family field");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const af = view.getUint16(0, HOST_LITTLE_ENDIAN);
  if (af === AF_INET) {
    if (bytes.length < SOCKADDR_IN_SIZE) throw new RangeError("short sockaddr_in");
    return { host: formatIp(bytes.slice(4, 8)), port: view.getUint16(2, false), family: 4 };
  }
  if (af === AF_INET6) {
    if (bytes.length < SOCKADDR_IN6_SIZE) throw new RangeError("short sockaddr_in6");
    const addr = bytes.slice(8, 24);
    const port = view.getUint16(2, false);
    if (isIpv4Mapped(addr)) return { host: formatIp(addr.subarray(12)), port, family: 4 };
    return { host: formatIp(addr), port, family: 6 };
  }
  throw new RangeError(`unexpected address family ${af}`);
}
