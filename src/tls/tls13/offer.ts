/**
 * What a ClientHello offers for a TLS 1.3 handshake that this process answers itself (the
 * TLS-ALPN-01 validation, see answer.ts): the one cipher suite, key share and signature
 * algorithm it can use. Pure; every length prefix is bounds-checked before it is read, and a hello
 * that offers nothing usable comes back as `invalid` with what was missing.
 *
 * @module
 */

import { type Invalid, invalid } from "../../wire/result.ts";

/** TLS_AES_128_GCM_SHA256, the suite every TLS 1.3 client must offer (RFC 8446 §9.1). */
export const TLS_AES_128_GCM_SHA256 = 0x1301;
/** ecdsa_secp256r1_sha256, the signature every TLS 1.3 client must accept (RFC 8446 §9.1). */
export const ECDSA_SECP256R1_SHA256 = 0x0403;
export const GROUP_X25519 = 0x001d;
export const GROUP_SECP256R1 = 0x0017;
export const TLS13 = 0x0304;

const EXT_SUPPORTED_VERSIONS = 0x002b;
const EXT_SIGNATURE_ALGORITHMS = 0x000d;
const EXT_KEY_SHARE = 0x0033;
const HANDSHAKE_HEADER = 4;

/** The parts of a ClientHello a TLS 1.3 server answer depends on. */
export interface Offer {
  /** legacy_session_id, echoed in the ServerHello. */
  readonly sessionId: Uint8Array;
  /** The key share to answer: X25519 when offered, else secp256r1 (uncompressed point). */
  readonly group: number;
  readonly publicKey: Uint8Array;
}

/**
 * Reads the offer from `message`, a whole ClientHello handshake message (header included) that
 * the sniffer already accepted. Invalid, in this order, when the client does not offer TLS 1.3,
 * AES-128-GCM, ECDSA P-256 signatures, or a key share for X25519 or P-256 (this answer sends no
 * HelloRetryRequest: every TLS 1.3 client in use sends one of those shares).
 */
export function readOffer(message: Uint8Array): Offer | Invalid {
  const b = message.subarray(HANDSHAKE_HEADER);
  const n = b.length;
  let p = 34; // legacy_version and random
  if (n < p + 1) return invalid("ClientHello: truncated before legacy_session_id");
  const sessionIdLength = b[p++];
  if (sessionIdLength > 32 || n - p < sessionIdLength + 2) {
    return invalid(`ClientHello: legacy_session_id length ${sessionIdLength} overruns message`);
  }
  const sessionId = b.subarray(p, p + sessionIdLength);
  p += sessionIdLength;
  const suitesLength = (b[p] << 8) | b[p + 1];
  p += 2;
  if (n - p < suitesLength + 1) return invalid("ClientHello: cipher_suites overrun message");
  const aes128 = hasU16(b, p, p + suitesLength, TLS_AES_128_GCM_SHA256);
  p += suitesLength;
  p += 1 + b[p]; // legacy_compression_methods
  if (n - p < 2) return invalid("ClientHello: no extensions (TLS 1.3 needs them)");
  const extensionsEnd = p + 2 + ((b[p] << 8) | b[p + 1]);
  if (extensionsEnd > n) return invalid("ClientHello: extensions overrun message");
  p += 2;
  let tls13 = false;
  let ecdsa = false;
  let share: { group: number; publicKey: Uint8Array } | null = null;
  while (p < extensionsEnd) {
    if (extensionsEnd - p < 4) return invalid("ClientHello: extension header truncated");
    const type = (b[p] << 8) | b[p + 1];
    const end = p + 4 + ((b[p + 2] << 8) | b[p + 3]);
    if (end > extensionsEnd) return invalid(`ClientHello: extension ${type} overruns extensions`);
    const body = p + 4;
    if (type === EXT_SUPPORTED_VERSIONS && end > body) {
      tls13 = body + 1 + b[body] <= end && hasU16(b, body + 1, body + 1 + b[body], TLS13);
    } else if (type === EXT_SIGNATURE_ALGORITHMS && end - body >= 2) {
      const listEnd = body + 2 + ((b[body] << 8) | b[body + 1]);
      ecdsa = listEnd <= end && hasU16(b, body + 2, listEnd, ECDSA_SECP256R1_SHA256);
    } else if (type === EXT_KEY_SHARE) {
      const r = pickShare(b, body, end);
      if (r !== null && "kind" in r) return r;
      share = r;
    }
    p = end;
  }
  if (!tls13) return invalid("ClientHello: TLS 1.3 not offered in supported_versions");
  if (!aes128) return invalid("ClientHello: TLS_AES_128_GCM_SHA256 (0x1301) not offered");
  if (!ecdsa) return invalid("ClientHello: ecdsa_secp256r1_sha256 (0x0403) not offered");
  if (share === null) return invalid("ClientHello: no key share for X25519 or secp256r1");
  return { sessionId, ...share };
}

/** The X25519 (preferred) or P-256 entry of a key_share extension in `b[p, end)`. */
function pickShare(
  b: Uint8Array,
  p: number,
  end: number,
): { group: number; publicKey: Uint8Array } | Invalid | null {
  if (end - p < 2) return invalid("ClientHello: key_share list length truncated");
  const listEnd = p + 2 + ((b[p] << 8) | b[p + 1]);
  if (listEnd > end) return invalid("ClientHello: key_share list overruns extension");
  let found: { group: number; publicKey: Uint8Array } | null = null;
  for (p += 2; p < listEnd;) {
    if (listEnd - p < 4) return invalid("ClientHello: key_share entry truncated");
    const group = (b[p] << 8) | b[p + 1];
    const keyEnd = p + 4 + ((b[p + 2] << 8) | b[p + 3]);
    if (keyEnd > listEnd) return invalid(`ClientHello: key_share for group ${group} overruns list`);
    const publicKey = b.subarray(p + 4, keyEnd);
    if (group === GROUP_X25519 && publicKey.length === 32) return { group, publicKey };
    if (group === GROUP_SECP256R1 && publicKey.length === 65 && publicKey[0] === 4) {
      found = { group, publicKey };
    }
    p = keyEnd;
  }
  return found;
}

/** Whether the list of 16-bit values in `b[p, end)` holds `value`. */
function hasU16(b: Uint8Array, p: number, end: number, value: number): boolean {
  for (; p + 1 < end; p += 2) if (((b[p] << 8) | b[p + 1]) === value) return true;
  return false;
}
