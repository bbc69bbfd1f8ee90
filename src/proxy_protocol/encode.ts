/**
 * PROXY protocol v1 (text) and v2 (binary) encoders, per HAProxy's doc/proxy-protocol.txt.
 * They throw only on programmer error (address text that is not an IP address, ports out of
 * range, oversized TLVs).
 *
 * @module
 */

import { formatIp, isIpv4Mapped, parseIp } from "../net/ip.ts";
import { PP2_TYPE, type ProxyAddress, quote, V2_FIXED_LENGTH, V2_SIGNATURE } from "./header.ts";

const encoder = new TextEncoder();

/**
 * Encodes a v1 (text) header for a TCP connection: "PROXY TCP4|TCP6 src dst sport dport\r\n",
 * or "PROXY UNKNOWN\r\n" for `null`.
 *
 * Addresses are written canonically (RFC 5952 for IPv6), and IPv4-mapped IPv6 text (a dual-stack
 * socket's view of an IPv4 peer) is written as plain IPv4.
 *
 * Mixed families (one side IPv4, the other IPv6, e.g. a NAT64 path) produce "PROXY UNKNOWN\r\n":
 * a v1 line carries one family, and the spec provides UNKNOWN exactly for "when it is not
 * possible to correctly fill the PROXY line" (receivers then use the real connection's
 * endpoints). Writing the IPv4 side as `::ffff:a.b.c.d` under TCP6 would instead hand the
 * receiver an address that is not the one its ACLs and logs know, so it is never emitted.
 *
 * @throws TypeError when an address is not IP text of its `family`; RangeError when a port is
 * not an integer in 0..65535 (both programmer errors).
 */
export function encodeProxyV1(
  h: { source: ProxyAddress; destination: ProxyAddress } | null,
): Uint8Array {
  if (h === null) return encoder.encode("PROXY UNKNOWN\r\n");
  const source = resolve(h.source, "source");
  const destination = resolve(h.destination, "destination");
  if (source.family !== destination.family) return encoder.encode("PROXY UNKNOWN\r\n");
  return encoder.encode(
    `PROXY TCP${source.family} ${formatIp(source.bytes)} ${formatIp(destination.bytes)} ` +
      `${source.port} ${destination.port}\r\n`,
  );
}

/**
 * Encodes a v2 (binary) header, with PP2_TYPE_ALPN then PP2_TYPE_AUTHORITY TLVs when given.
 *
 * - `local` (health checks): family AF_UNSPEC and no address block, as the spec asks of
 *   senders; `source`/`destination` are ignored. The length covers the TLVs only (0 without).
 * - `proxy` with both addresses of one family: TCP over IPv4 (0x11) or IPv6 (0x21).
 *   IPv4-mapped IPv6 text counts as IPv4.
 * - `proxy` with mixed families (one IPv4, one IPv6): PROXY command with AF_UNSPEC and no
 *   address block. The spec has the receiver "use the real connection endpoints" for UNSPEC,
 *   which is right when the line cannot be filled correctly; an IPv4-mapped (`::ffff:`) address
 *   is never emitted because the receiver's ACLs and logs would see a different address.
 * - `proxy` without addresses: likewise AF_UNSPEC.
 *
 * @throws TypeError for an unknown command, only one of source/destination, or address text that
 * is not IP text of its `family`; RangeError for a port outside 0..65535 or TLVs that overflow
 * the 16-bit length (all programmer errors).
 */
export function encodeProxyV2(h: {
  command: "proxy" | "local";
  source?: ProxyAddress;
  destination?: ProxyAddress;
  alpn?: string;
  authority?: string;
}): Uint8Array {
  if (h.command !== "proxy" && h.command !== "local") {
    throw new TypeError(`encodeProxyV2: unknown command ${quote(String(h.command))}`);
  }
  let familyByte = 0x00;
  let addressBlock = new Uint8Array(0);
  if (h.command === "proxy" && (h.source !== undefined || h.destination !== undefined)) {
    if (h.source === undefined || h.destination === undefined) {
      throw new TypeError("encodeProxyV2: give both source and destination, or neither");
    }
    const source = resolve(h.source, "source");
    const destination = resolve(h.destination, "destination");
    if (source.family === destination.family) {
      const size = source.bytes.length;
      familyByte = source.family === 4 ? 0x11 : 0x21;
      addressBlock = new Uint8Array(2 * size + 4);
      addressBlock.set(source.bytes, 0);
      addressBlock.set(destination.bytes, size);
      writeUint16(addressBlock, 2 * size, source.port);
      writeUint16(addressBlock, 2 * size + 2, destination.port);
    }
  }
  const tlvs: [number, Uint8Array][] = [];
  if (h.alpn !== undefined) tlvs.push([PP2_TYPE.ALPN, encoder.encode(h.alpn)]);
  if (h.authority !== undefined) tlvs.push([PP2_TYPE.AUTHORITY, encoder.encode(h.authority)]);
  let blockLength = addressBlock.length;
  for (const [, value] of tlvs) blockLength += 3 + value.length;
  if (blockLength > 0xffff) {
    throw new RangeError(`encodeProxyV2: header block of ${blockLength} bytes exceeds 65535`);
  }
  const out = new Uint8Array(V2_FIXED_LENGTH + blockLength);
  out.set(V2_SIGNATURE, 0);
  out[12] = 0x20 | (h.command === "proxy" ? 1 : 0);
  out[13] = familyByte;
  writeUint16(out, 14, blockLength);
  out.set(addressBlock, V2_FIXED_LENGTH);
  let p = V2_FIXED_LENGTH + addressBlock.length;
  for (const [type, value] of tlvs) {
    out[p] = type;
    writeUint16(out, p + 1, value.length);
    out.set(value, p + 3);
    p += 3 + value.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

/** Validates an encoder argument; IPv4-mapped IPv6 text becomes IPv4. */
function resolve(
  a: ProxyAddress,
  role: string,
): { family: 4 | 6; bytes: Uint8Array; port: number } {
  const ip = parseIp(a.address);
  if (ip === null || (ip.family !== a.family && !isIpv4Mapped(ip.bytes))) {
    throw new TypeError(`PROXY ${role} address ${quote(a.address)} is not IPv${a.family} text`);
  }
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) {
    throw new RangeError(`PROXY ${role} port ${a.port} is not an integer in 0..65535`);
  }
  return isIpv4Mapped(ip.bytes)
    ? { family: 4, bytes: ip.bytes.subarray(12), port: a.port }
    : { family: ip.family, bytes: ip.bytes, port: a.port };
}

function writeUint16(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >> 8;
  out[offset + 1] = value & 0xff;
}
