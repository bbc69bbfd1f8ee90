/**
 * PROXY protocol v1 (text) and v2 (binary) codec, per HAProxy's doc/proxy-protocol.txt.
 *
 * The sniffer is pure: it never throws on network bytes and reports malformed headers as
 * `invalid` with a reason quoting the offending value. Encoders throw only on programmer error
 * (address text that is not an IP address, ports out of range, oversized TLVs).
 *
 * @module
 */

import { formatIp, isIpv4Mapped, parseIp } from "../net/ip.ts";
import { invalid, match, NEED_MORE, NO_MATCH, type SniffResult } from "./result.ts";

/** One end of a proxied connection. */
export interface ProxyAddress {
  family: 4 | 6;
  /** Canonical text: dotted quad, or RFC 5952 compressed lower-case IPv6. */
  address: string;
  port: number;
}

/** A v2 type-length-value extension, as received. */
export interface ProxyTlv {
  type: number;
  /** A view into the sniffed buffer (not a copy): copy it if the buffer is reused. */
  value: Uint8Array;
}

/** A decoded PROXY header. */
export interface ProxyHeader {
  version: 1 | 2;
  /** `local`: the proxy itself opened the connection (health check); use the real endpoints. */
  command: "proxy" | "local";
  /** `null` for LOCAL, for v2 AF_UNSPEC or v1 UNKNOWN, and for AF_UNIX. */
  source: ProxyAddress | null;
  /** `null` exactly when `source` is. */
  destination: ProxyAddress | null;
  transport: "tcp" | "udp" | "unspec" | "unix";
  /**
   * Every v2 TLV except PP2_TYPE_NOOP padding, in wire order (ALPN and AUTHORITY included, also
   * decoded below; SSL kept raw with its sub-TLVs; CRC32C not verified). Empty for v1.
   */
  tlvs: readonly ProxyTlv[];
  /** PP2_TYPE_ALPN decoded as UTF-8 (e.g. "h2"). */
  alpn?: string;
  /** PP2_TYPE_AUTHORITY decoded as UTF-8: the host name the client asked for (e.g. TLS SNI). */
  authority?: string;
}

/** Registered v2 TLV types (section 2.2 of the spec). */
export const PP2_TYPE = Object.freeze({
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
});

const V1_PREFIX = new TextEncoder().encode("PROXY ");
const V2_SIGNATURE = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);
/** Longest v1 line including CRLF ("PROXY UNKNOWN" followed by two full IPv6 addresses). */
const V1_MAX_LENGTH = 107;
const V2_FIXED_LENGTH = 16;
const CR = 0x0d;
const LF = 0x0a;
const NO_TLVS: readonly ProxyTlv[] = Object.freeze([]);
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/**
 * Detects and decodes a PROXY protocol v1 or v2 header at the start of `buf`.
 *
 * - `no` as soon as the bytes cannot begin "PROXY " or the 12-byte v2 signature;
 * - `more` for any proper prefix of a valid header (and of some invalid ones whose fault is not
 *   visible yet: v2 addresses and TLVs are only checked once the whole header is in);
 * - `invalid` with a reason quoting the bad value;
 * - `match` with `length` = the header length, which the caller strips before the payload.
 */
export function sniffProxyHeader(buf: Uint8Array): SniffResult<ProxyHeader> {
  if (buf.length === 0) return NEED_MORE;
  const signature = buf[0] === V1_PREFIX[0] ? V1_PREFIX : V2_SIGNATURE;
  const seen = Math.min(buf.length, signature.length);
  for (let i = 0; i < seen; i++) if (buf[i] !== signature[i]) return NO_MATCH;
  if (seen < signature.length) return NEED_MORE;
  return signature === V1_PREFIX ? sniffV1(buf) : sniffV2(buf);
}

// ---------------------------------------------------------------------------------------------
// Version 1

const V1_PROTOCOLS = ["TCP4", "TCP6", "UNKNOWN"];

/** Parses the text form; `buf` starts with "PROXY ". */
function sniffV1(buf: Uint8Array): SniffResult<ProxyHeader> {
  // Find the CRLF within the first 107 bytes. Any other CR or LF is an error: the spec forbids
  // accepting a lone CR or LF as the line end.
  let end = -1;
  let seen = Math.min(buf.length, V1_MAX_LENGTH);
  for (let i = 0; i < seen; i++) {
    const b = buf[i];
    if (b === LF) return invalid(`PROXY v1 line has a bare LF at offset ${i}`);
    if (b !== CR) continue;
    if (i === V1_MAX_LENGTH - 1) break; // its LF would be byte 108
    if (i + 1 === buf.length) {
      seen = i; // the LF has not arrived yet
      break;
    }
    if (buf[i + 1] !== LF) return invalid(`PROXY v1 line has a bare CR at offset ${i}`);
    end = i;
    break;
  }
  if (end < 0 && seen === V1_MAX_LENGTH) {
    return invalid(`PROXY v1 line has no CRLF within ${V1_MAX_LENGTH} bytes`);
  }
  const complete = end >= 0;
  const line = String.fromCharCode(...buf.subarray(0, complete ? end : seen));
  const fields = line.split(" ");
  // fields[0] is "PROXY". While the line is incomplete, its last field may still be growing,
  // so it is checked only for characters that could belong to a valid field.
  const last = complete ? fields.length : fields.length - 1;

  const protocol = fields[1];
  if (last < 2) {
    return V1_PROTOCOLS.some((p) => p.startsWith(protocol))
      ? NEED_MORE
      : invalid(`PROXY v1 protocol ${quote(protocol)} is not TCP4, TCP6 or UNKNOWN`);
  }
  if (!V1_PROTOCOLS.includes(protocol)) {
    return invalid(`PROXY v1 protocol ${quote(protocol)} is not TCP4, TCP6 or UNKNOWN`);
  }
  if (protocol === "UNKNOWN") {
    // "the receiver must ignore anything presented before the CRLF"
    if (!complete) return NEED_MORE;
    return match(v1Header(null, null), end + 2);
  }

  const family = protocol === "TCP4" ? 4 : 6;
  const empty = fields.indexOf("", 2);
  if (empty >= 0 && empty < last) {
    return invalid(`PROXY v1 line has an empty field (double space): ${quote(line)}`);
  }
  if (fields.length > 6) {
    return invalid(`PROXY v1 ${protocol} line has more than 6 fields: ${quote(line)}`);
  }
  const names = ["source address", "destination address", "source port", "destination port"];
  const ips: Uint8Array[] = [];
  const ports: number[] = [];
  for (let f = 2; f < fields.length; f++) {
    const text = fields[f];
    const name = names[f - 2];
    const isPort = f >= 4;
    if (f >= last) {
      // Partial field: reject only what no further byte could fix.
      const ok = isPort
        ? /^[0-9]{0,5}$/.test(text)
        : family === 4
        ? /^[0-9.]{0,15}$/.test(text)
        : /^[0-9A-Fa-f:.]{0,45}$/.test(text);
      if (!ok) return invalid(`PROXY v1 ${protocol} ${name} ${quote(text)} is malformed`);
      continue;
    }
    if (isPort) {
      if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) {
        return invalid(`PROXY v1 ${name} ${quote(text)} is not a port number 0..65535`);
      }
      ports.push(Number(text));
    } else {
      const ip = parseIp(text);
      if (ip === null || ip.family !== family) {
        return invalid(
          `PROXY v1 ${protocol} ${name} ${quote(text)} is not an IPv${family} address`,
        );
      }
      ips.push(ip.bytes);
    }
  }
  if (!complete) return NEED_MORE;
  if (fields.length < 6) {
    return invalid(`PROXY v1 ${protocol} line has ${fields.length} fields, not 6: ${quote(line)}`);
  }
  return match(
    v1Header(toAddress(ips[0], ports[0]), toAddress(ips[1], ports[1])),
    end + 2,
  );
}

function v1Header(source: ProxyAddress | null, destination: ProxyAddress | null): ProxyHeader {
  return {
    version: 1,
    command: "proxy",
    source,
    destination,
    transport: source === null ? "unspec" : "tcp",
    tlvs: NO_TLVS,
  };
}

// ---------------------------------------------------------------------------------------------
// Version 2

interface V2Shape {
  transport: ProxyHeader["transport"];
  /** Bytes the family needs before any TLV. */
  addressLength: number;
  /** Name for error messages. */
  name: string;
}

/**
 * The family/transport bytes the spec lists as expected. Other nibble combinations (e.g. 0x10,
 * AF_INET with UNSPEC transport) leave the address block layout undefined, so they are invalid
 * rather than guessed at.
 */
const V2_SHAPES = new Map<number, V2Shape>([
  [0x00, { transport: "unspec", addressLength: 0, name: "AF_UNSPEC" }],
  [0x11, { transport: "tcp", addressLength: 12, name: "TCP over IPv4" }],
  [0x12, { transport: "udp", addressLength: 12, name: "UDP over IPv4" }],
  [0x21, { transport: "tcp", addressLength: 36, name: "TCP over IPv6" }],
  [0x22, { transport: "udp", addressLength: 36, name: "UDP over IPv6" }],
  [0x31, { transport: "unix", addressLength: 216, name: "UNIX stream" }],
  [0x32, { transport: "unix", addressLength: 216, name: "UNIX datagram" }],
]);

/** Parses the binary form; `buf` starts with the 12-byte signature. */
function sniffV2(buf: Uint8Array): SniffResult<ProxyHeader> {
  if (buf.length < 13) return NEED_MORE;
  const versionCommand = buf[12];
  if (versionCommand >> 4 !== 2) {
    return invalid(
      `PROXY v2 version ${versionCommand >> 4} (byte ${hex(versionCommand)}) is not 2`,
    );
  }
  const commandCode = versionCommand & 0x0f;
  if (commandCode > 1) {
    return invalid(
      `PROXY v2 command ${commandCode} (byte ${hex(versionCommand)}) is not LOCAL or PROXY`,
    );
  }
  if (buf.length < 14) return NEED_MORE;
  const familyByte = buf[13];
  const shape = V2_SHAPES.get(familyByte);
  if (shape === undefined) {
    return invalid(`PROXY v2 family/transport byte ${hex(familyByte)} is not supported`);
  }
  if (buf.length < V2_FIXED_LENGTH) return NEED_MORE;
  // A 16-bit field, so the header can never exceed 16 + 65535 bytes.
  const blockLength = (buf[14] << 8) | buf[15];
  if (blockLength < shape.addressLength) {
    return invalid(
      `PROXY v2 length ${blockLength} is shorter than the ${shape.addressLength}-byte ` +
        `${shape.name} address block`,
    );
  }
  const total = V2_FIXED_LENGTH + blockLength;
  if (buf.length < total) return NEED_MORE;

  const command = commandCode === 1 ? "proxy" : "local";
  let source: ProxyAddress | null = null;
  let destination: ProxyAddress | null = null;
  // LOCAL: "the receiver must ... discard the protocol block including the family", but the
  // family still tells where the TLVs start. AF_UNIX paths are not network addresses.
  if (command === "proxy" && (shape.addressLength === 12 || shape.addressLength === 36)) {
    const size = shape.addressLength === 12 ? 4 : 16;
    const a = V2_FIXED_LENGTH;
    const ports = a + 2 * size;
    source = toAddress(buf.subarray(a, a + size), (buf[ports] << 8) | buf[ports + 1]);
    destination = toAddress(
      buf.subarray(a + size, ports),
      (buf[ports + 2] << 8) | buf[ports + 3],
    );
  }

  const header: ProxyHeader = {
    version: 2,
    command,
    source,
    destination,
    transport: shape.transport,
    tlvs: NO_TLVS,
  };
  const tlvs: ProxyTlv[] = [];
  let p = V2_FIXED_LENGTH + shape.addressLength;
  while (p < total) {
    if (total - p < 3) {
      return invalid(`PROXY v2 TLV at offset ${p} is truncated: ${total - p} of 3 header bytes`);
    }
    const type = buf[p];
    const length = (buf[p + 1] << 8) | buf[p + 2];
    const start = p + 3;
    if (start + length > total) {
      return invalid(
        `PROXY v2 TLV ${hex(type)} at offset ${p} declares ${length} bytes ` +
          `but only ${total - start} remain`,
      );
    }
    const value = buf.subarray(start, start + length);
    p = start + length;
    if (type === PP2_TYPE.NOOP) continue;
    tlvs.push({ type, value });
    if (type !== PP2_TYPE.ALPN && type !== PP2_TYPE.AUTHORITY) continue;
    // Two different values for one of these would let the sender pick which one a consumer
    // routes on, so a repeat is an error rather than first- or last-wins.
    const key = type === PP2_TYPE.ALPN ? "alpn" : "authority";
    if (header[key] !== undefined) return invalid(`PROXY v2 has a second ${tlvName(type)} TLV`);
    const text = decodeUtf8(value);
    if (text === null) {
      return invalid(`PROXY v2 ${tlvName(type)} TLV ${hexBytes(value)} is not valid UTF-8`);
    }
    header[key] = text;
  }
  if (tlvs.length > 0) header.tlvs = tlvs;
  return match(header, total);
}

// ---------------------------------------------------------------------------------------------
// Encoders

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
// Helpers

/** Builds a decoded address, reporting IPv4-mapped IPv6 as the IPv4 address it stands for. */
function toAddress(bytes: Uint8Array, port: number): ProxyAddress {
  const ip = isIpv4Mapped(bytes) ? bytes.subarray(12) : bytes;
  return { family: ip.length === 4 ? 4 : 6, address: formatIp(ip), port };
}

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

function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

function tlvName(type: number): string {
  return type === PP2_TYPE.ALPN ? "PP2_TYPE_ALPN" : "PP2_TYPE_AUTHORITY";
}

function hex(byte: number): string {
  return `0x${byte.toString(16).padStart(2, "0")}`;
}

/** Hex dump for reasons, capped so a hostile TLV cannot bloat logs. */
function hexBytes(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < Math.min(bytes.length, 32); i++) {
    out += bytes[i].toString(16).padStart(2, "0");
  }
  return bytes.length > 32 ? `${out}… (${bytes.length} bytes)` : out || "(empty)";
}

/** Quotes untrusted text for a reason: JSON escapes control bytes, the cap bounds its size. */
function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}
