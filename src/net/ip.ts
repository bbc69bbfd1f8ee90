/**
 * Strict IP address text <-> bytes conversion.
 *
 * Parsing is deliberately strict because these addresses come from the network (PROXY headers,
 * Host headers) and feed access control and routing: one address must have one accepted
 * spelling family-wise, so IPv4 allows no leading zeros, no shorthand (`1.2.3`), no hex or
 * octal; IPv6 allows no zone id (`%eth0`) and no brackets. Functions here never throw on bad
 * text; they return `null` instead.
 *
 * @module
 */

/** A parsed address: its family and its 4 (IPv4) or 16 (IPv6) bytes in network order. */
export interface ParsedIp {
  family: 4 | 6;
  bytes: Uint8Array;
}

// The longest accepted text: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255". Checking it first
// bounds the work done on hostile input.
const MAX_TEXT_LENGTH = 45;

const COLON = 0x3a;
const DOT = 0x2e;

/**
 * Parses IPv4 dotted-quad or IPv6 text.
 *
 * IPv4: exactly four decimal numbers 0..255 separated by single dots, no leading zeros.
 * IPv6: RFC 4291 section 2.2 text, 1..4 hex digits per group (either case), at most one `::`
 * standing for one or more zero groups, optionally ending in an embedded dotted quad.
 * Zone ids, brackets, prefixes and whitespace are rejected.
 *
 * @returns the family and bytes, or `null` when `text` is not such an address.
 */
export function parseIp(text: string): ParsedIp | null {
  if (text.length > MAX_TEXT_LENGTH) return null;
  if (text.indexOf(":") < 0) {
    const bytes = new Uint8Array(4);
    return parseIpv4(text, 0, bytes, 0) ? { family: 4, bytes } : null;
  }
  const bytes = parseIpv6(text);
  return bytes === null ? null : { family: 6, bytes };
}

/**
 * Formats 4 or 16 network-order bytes as text: IPv4 as a dotted quad, IPv6 in the RFC 5952
 * canonical form (lower case, no leading zeros, the first longest run of two or more zero groups
 * compressed to `::`, and IPv4-mapped addresses in mixed notation `::ffff:a.b.c.d` as RFC 5952
 * section 5 recommends).
 *
 * @throws RangeError when `bytes` is neither 4 nor 16 bytes long (a programmer error: callers
 * pass fixed-size views).
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) {
    throw new RangeError(`formatIp: expected 4 or 16 bytes, got ${bytes.length}`);
  }
  if (isIpv4Mapped(bytes)) return `::ffff:${formatIp(bytes.subarray(12))}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // RFC 5952 section 4.2: compress the longest run of zero groups (the first one on a tie), but
  // never a lone zero group.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}

/**
 * Tells whether 16 address bytes are an IPv4-mapped IPv6 address (`::ffff:0:0/96`, RFC 4291
 * section 2.5.5.2), i.e. an IPv4 peer seen through a dual-stack socket.
 */
export function isIpv4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * Turns IPv4-mapped IPv6 text (`::ffff:1.2.3.4`, `::FFFF:102:304`, `0:0:0:0:0:ffff:1.2.3.4`, ...)
 * into the plain dotted quad `1.2.3.4`; returns any other text (other IPv6 addresses, IPv4,
 * host names, garbage, bracketed literals) unchanged.
 *
 * Every spelling of a mapped address contains the group `ffff`, so text without it is returned
 * without parsing: this runs on every accepted connection's peer address.
 */
export function normalizeMapped(text: string): string {
  if (!/ffff/i.test(text)) return text;
  const ip = parseIp(text);
  if (ip === null || !isIpv4Mapped(ip.bytes)) return text;
  return formatIp(ip.bytes.subarray(12));
}

/**
 * Parses a strict dotted quad spanning `text` from `start` to its end into `out[offset..+4]`.
 * @returns whether the text was a valid dotted quad.
 */
function parseIpv4(text: string, start: number, out: Uint8Array, offset: number): boolean {
  let i = start;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (text.charCodeAt(i) !== DOT) return false;
      i++;
    }
    const first = i;
    let value = 0;
    while (i < text.length && i - first < 3) {
      const digit = text.charCodeAt(i) - 0x30;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
      i++;
    }
    const digits = i - first;
    // A leading zero would read as octal to inet_aton(), so "010" must not mean 10 here.
    if (digits === 0 || value > 255 || (digits > 1 && text.charCodeAt(first) === 0x30)) {
      return false;
    }
    out[offset + part] = value;
  }
  return i === text.length;
}

/** Parses IPv6 text (already known to contain a colon) into 16 bytes, or `null`. */
function parseIpv6(text: string): Uint8Array | null {
  const n = text.length;
  const groups: number[] = [];
  let gap = -1; // index in `groups` where "::" stands, or -1
  let i = 0;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return null;
    gap = 0;
    i = 2;
  }
  let tail: Uint8Array | null = null;
  while (i < n) {
    const start = i;
    let value = 0;
    while (i < n) {
      const digit = hexValue(text.charCodeAt(i));
      if (digit < 0) break;
      value = (value << 4) | digit;
      i++;
      if (i - start > 4) return null;
    }
    if (i < n && text.charCodeAt(i) === DOT) {
      // The embedded dotted quad fills the last 32 bits, so it must end the text.
      tail = new Uint8Array(4);
      if (!parseIpv4(text, start, tail, 0)) return null;
      break;
    }
    if (i === start) return null;
    groups.push(value);
    if (i === n) break;
    if (text.charCodeAt(i) !== COLON) return null;
    i++;
    if (text.charCodeAt(i) === COLON) {
      if (gap >= 0) return null;
      gap = groups.length;
      i++;
    } else if (i === n) {
      return null; // a single trailing colon
    }
  }
  if (tail !== null) groups.push((tail[0] << 8) | tail[1], (tail[2] << 8) | tail[3]);
  // "::" stands for at least one zero group (RFC 4291 section 2.2).
  if (gap < 0 ? groups.length !== 8 : groups.length > 7) return null;
  const bytes = new Uint8Array(16);
  const after = gap < 0 ? 0 : groups.length - gap;
  for (let g = 0; g < groups.length; g++) {
    const slot = gap >= 0 && g >= gap ? 8 - after + (g - gap) : g;
    bytes[slot * 2] = groups[g] >> 8;
    bytes[slot * 2 + 1] = groups[g] & 0xff;
  }
  return bytes;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
