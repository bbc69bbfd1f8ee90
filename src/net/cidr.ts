/**
 * Address prefixes (CIDRs) and fast membership tests over sets of them.
 *
 * Addresses tested are expected to be normalized already (an IPv4-mapped IPv6 client is
 * presented as IPv4), as everywhere a routing decision is made.
 *
 * @module
 */

import { formatIp, isIpv4Mapped, parseIp } from "./ip.ts";

/** An address prefix such as 10.0.0.0/8 or 2001:db8::/32. */
export interface Cidr {
  readonly family: 4 | 6;
  /** Network address bytes (4 or 16), host bits zeroed. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
  /** Canonical text, e.g. "10.0.0.0/8". */
  readonly text: string;
}

/** An IP address as bytes (4 for IPv4, 16 for IPv6). */
export interface IpBytes {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/**
 * Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128). Host bits are
 * zeroed ("10.1.2.3/8" is 10.0.0.0/8). An IPv4-mapped prefix of /96 or longer becomes the
 * IPv4 prefix it covers, since clients are never seen as mapped addresses. Returns null for
 * anything else.
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (ip === null) return null;
  const max = ip.family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return null;
  let prefix = Number(prefixText);
  let family = ip.family;
  let bytes = ip.bytes.slice();
  if (family === 6 && prefix >= 96 && isIpv4Mapped(bytes)) {
    family = 4;
    bytes = bytes.slice(12);
    prefix -= 96;
  }
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  }
  return { family, bytes, prefix, text: `${formatIp(bytes)}/${prefix}` };
}

/** Whether `ip` lies inside `c` (never across families). */
export function cidrContains(c: Cidr, ip: IpBytes): boolean {
  if (c.family !== ip.family) return false;
  const whole = c.prefix >> 3;
  for (let i = 0; i < whole; i++) if (c.bytes[i] !== ip.bytes[i]) return false;
  const rest = c.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip.bytes[whole] & mask) === c.bytes[whole];
}

/**
 * A set of prefixes compiled for `has()`: IPv4 prefixes become 32-bit network/mask pairs
 * so the common case is a few integer comparisons; IPv6 prefixes are scanned byte-wise.
 */
export class CidrSet {
  readonly #v4: Uint32Array;
  readonly #v6: readonly Cidr[];

  constructor(cidrs: Iterable<Cidr>) {
    const v4: number[] = [];
    const v6: Cidr[] = [];
    for (const c of cidrs) {
      if (c.family === 6) {
        v6.push(c);
        continue;
      }
      const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
      v4.push(toU32(c.bytes) & mask, mask);
    }
    this.#v4 = Uint32Array.from(v4);
    this.#v6 = v6;
  }

  /** Whether any prefix of the set contains `ip`. */
  has(ip: IpBytes): boolean {
    if (ip.family === 4) {
      const a = toU32(ip.bytes);
      const v4 = this.#v4;
      for (let i = 0; i < v4.length; i += 2) if (((a & v4[i + 1]) >>> 0) === v4[i]) return true;
      return false;
    }
    for (const c of this.#v6) if (cidrContains(c, ip)) return true;
    return false;
  }
}

function toU32(b: Uint8Array): number {
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}
