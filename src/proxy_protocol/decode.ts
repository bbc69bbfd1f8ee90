/**
 * PROXY protocol v1 (text) and v2 (binary) decoder, per HAProxy's doc/proxy-protocol.txt.
 *
 * Pure: it never throws on network bytes and reports malformed headers as `invalid` with a
 * reason quoting the offending value.
 *
 * @module
 */

import { formatIp, isIpv4Mapped, parseIp } from "../net/ip.ts";
import { invalid, match, NEED_MORE, NO_MATCH, type SniffResult } from "../wire/result.ts";
import {
  PP2_TYPE,
  type ProxyAddress,
  type ProxyHeader,
  type ProxyTlv,
  quote,
  V2_FIXED_LENGTH,
  V2_SIGNATURE,
} from "./header.ts";

const V1_PREFIX = new TextEncoder().encode("PROXY ");
/** Longest v1 line including CRLF ("PROXY UNKNOWN" followed by two full IPv6 addresses). */
const V1_MAX_LENGTH = 107;
const CR = 0x0d;
const LF = 0x0a;
const NO_TLVS: readonly ProxyTlv[] = Object.freeze([]);
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

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
// Helpers

/** Builds a decoded address, reporting IPv4-mapped IPv6 as the IPv4 address it stands for. */
function toAddress(bytes: Uint8Array, port: number): ProxyAddress {
  const ip = isIpv4Mapped(bytes) ? bytes.subarray(12) : bytes;
  return { family: ip.length === 4 ? 4 : 6, address: formatIp(ip), port };
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
