/**
 * Sniffs a TLS ClientHello out of the first bytes a client sends, for SNI and ALPN routing.
 *
 * The sniffer sees everything received so far and answers again as more arrives, so it
 * reassembles a handshake message that the client split over several TLS records and reports
 * how many bytes of records the hello took. Every length prefix is bounds-checked before it is
 * read; hostile bytes come back as `invalid`, never as an exception.
 *
 * @module
 */

import {
  type Invalid,
  invalid,
  match,
  NEED_MORE,
  NO_MATCH,
  type SniffResult,
} from "../wire/result.ts";

/** What a router needs from a ClientHello. */
export interface ClientHello {
  /** The server_name host_name, lower-cased, trailing dot stripped; `null` when not sent. */
  readonly sni: string | null;
  /** ALPN protocol names in the client's order (one char per byte); empty when not offered. */
  readonly alpn: readonly string[];
  /**
   * The versions from the supported_versions extension exactly as offered (GREASE values
   * included), or `[legacyVersion]` when the extension is absent.
   */
  readonly versions: readonly number[];
  /** The ClientHello's legacy_version field (0x0303 for TLS 1.2 and 1.3 clients). */
  readonly legacyVersion: number;
  /** The version field of the first record header (often 0x0301 for compatibility). */
  readonly recordVersion: number;
}

/**
 * A fatal `unrecognized_name` alert record, for a hello whose SNI matches no route: content type
 * alert, record version 0x0301 (what any client version accepts), length 2, level fatal (2),
 * description unrecognized_name (112). Shared; do not modify.
 */
export const TLS_ALERT_UNRECOGNIZED_NAME: Uint8Array = Uint8Array.of(21, 3, 1, 0, 2, 2, 112);

/**
 * A fatal `handshake_failure` alert record, for a hello the router refuses; laid out as
 * {@link TLS_ALERT_UNRECOGNIZED_NAME} with description handshake_failure (40). Shared; do not
 * modify.
 */
export const TLS_ALERT_HANDSHAKE_FAILURE: Uint8Array = Uint8Array.of(21, 3, 1, 0, 2, 2, 40);

const CONTENT_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 1;
const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
// RFC 8446 allows 2^14 bytes of plaintext per record; the extra 2048 is the ciphertext allowance,
// kept so that an odd but harmless client still gets through.
const MAX_RECORD_LENGTH = 16384 + 2048;
// Post-quantum key shares make real hellos about 2 KB; 64 KiB leaves room and bounds the memory a
// client can make us buffer before we decide.
const MAX_HANDSHAKE_LENGTH = 65536;
const EXT_SERVER_NAME = 0x0000;
const EXT_ALPN = 0x0010;
const EXT_SUPPORTED_VERSIONS = 0x002b;
const NAME_TYPE_HOST_NAME = 0;
const MAX_HOST_NAME = 255;

const NO_ALPN: readonly string[] = Object.freeze([]);

/**
 * Sniffs a TLS ClientHello from `buf`, the bytes received from the client so far (from byte 0).
 *
 * - `no`: the first byte is not a handshake record or the record version major byte is not 3.
 * - `more`: a valid prefix of a ClientHello, including an empty buffer.
 * - `invalid`: TLS records that break the rules; the reason names the field.
 * - `match`: `length` is the byte count of every record up to and including the one in which
 *   the ClientHello message ends.
 *
 * Never throws, never copies unless the hello spans several records.
 */
export function sniffClientHello(buf: Uint8Array): SniffResult<ClientHello> {
  const r = sniffClientHelloMessage(buf);
  if (r.kind !== "match") return r;
  const recordVersion = (buf[1] << 8) | buf[2];
  return parseClientHello(r.value.subarray(HANDSHAKE_HEADER), recordVersion, r.length);
}

/**
 * Finds the ClientHello handshake message (its 4-byte header included) in the records of `buf`,
 * for a server that answers the handshake itself and must hash the message as sent. Results as
 * {@link sniffClientHello}'s, but the body is not parsed. The value is a view into `buf` when
 * the message fits one record, else a copy joined from the fragments.
 */
export function sniffClientHelloMessage(buf: Uint8Array): SniffResult<Uint8Array> {
  const n = buf.length;
  if (n === 0) return NEED_MORE;
  if (buf[0] !== CONTENT_HANDSHAKE) return NO_MATCH;
  if (n < 2) return NEED_MORE;
  if (buf[1] !== 0x03) return NO_MATCH;

  let pos = 0; // start of the current record
  let record = 0; // index of the current record, for reasons
  let got = 0; // handshake bytes carried by the complete records before `pos`
  let msgLength = 0; // the 24-bit handshake length, built up as its bytes arrive
  let need = -1; // header plus body length of the handshake message, once known
  for (;;) {
    if (pos >= n) return NEED_MORE;
    if (record > 0) {
      // The first record was checked above, where a mismatch means "not TLS" rather than "bad".
      const type = buf[pos];
      if (type !== CONTENT_HANDSHAKE) {
        return invalid(
          `ClientHello: record ${record} has content type ${hex8(type)}${contentName(type)} ` +
            `before the ClientHello is complete`,
        );
      }
      if (pos + 1 >= n) return NEED_MORE;
      if (buf[pos + 1] !== 0x03) {
        return invalid(
          `ClientHello: record ${record} version major byte ${hex8(buf[pos + 1])} is not 0x03`,
        );
      }
    }
    if (pos + RECORD_HEADER > n) return NEED_MORE;
    const recordLength = (buf[pos + 3] << 8) | buf[pos + 4];
    if (recordLength === 0) {
      // RFC 8446 §5.1: zero-length handshake fragments are forbidden.
      return invalid(`ClientHello: record ${record} length is 0`);
    }
    if (recordLength > MAX_RECORD_LENGTH) {
      return invalid(
        `ClientHello: record ${record} length ${recordLength} exceeds ${MAX_RECORD_LENGTH}`,
      );
    }
    const fragment = pos + RECORD_HEADER;
    const recordEnd = fragment + recordLength;

    if (need < 0) {
      // The handshake header may itself be split across records, so read whichever of its four
      // bytes this fragment holds, and check each as soon as it is here.
      const avail = (recordEnd < n ? recordEnd : n) - fragment;
      for (let k = got; k < HANDSHAKE_HEADER && k - got < avail; k++) {
        const byte = buf[fragment + k - got];
        if (k === 0) {
          if (byte !== HANDSHAKE_CLIENT_HELLO) {
            return invalid(
              `ClientHello: handshake type ${byte}${handshakeName(byte)} is not client_hello (1)`,
            );
          }
        } else {
          msgLength = (msgLength << 8) | byte;
        }
      }
      if (got + avail >= HANDSHAKE_HEADER) {
        if (msgLength > MAX_HANDSHAKE_LENGTH) {
          return invalid(
            `ClientHello: handshake length ${msgLength} exceeds ${MAX_HANDSHAKE_LENGTH}`,
          );
        }
        need = HANDSHAKE_HEADER + msgLength;
      }
    }

    if (recordEnd > n) return NEED_MORE;
    got += recordLength;
    if (need >= 0 && got >= need) {
      if (got > need) {
        // No handshake message may follow a ClientHello in its record (the client's next one
        // waits for the server's answer), and the router could not say where the hello ends.
        return invalid(
          `ClientHello: record ${record} carries ${got - need} bytes after the ClientHello message`,
        );
      }
      const message = record === 0
        ? buf.subarray(fragment, recordEnd)
        : reassemble(buf, recordEnd, need);
      return match(message, recordEnd);
    }
    pos = recordEnd;
    record++;
  }
}

/** Concatenates the fragments of the records in `buf[0, end)`, which hold `size` bytes. */
function reassemble(buf: Uint8Array, end: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let off = 0;
  for (let pos = 0; pos < end;) {
    const fragmentEnd = pos + RECORD_HEADER + ((buf[pos + 3] << 8) | buf[pos + 4]);
    out.set(buf.subarray(pos + RECORD_HEADER, fragmentEnd), off);
    off += fragmentEnd - pos - RECORD_HEADER;
    pos = fragmentEnd;
  }
  return out;
}

/** Parses a complete ClientHello body (after the handshake header); RFC 8446 §4.1.2. */
function parseClientHello(
  b: Uint8Array,
  recordVersion: number,
  length: number,
): SniffResult<ClientHello> {
  const n = b.length;
  // legacy_version (2), random (32) and the legacy_session_id length byte.
  if (n < 35) {
    return invalid(
      `ClientHello: body length ${n} is too short for legacy_version, random and legacy_session_id`,
    );
  }
  const legacyVersion = (b[0] << 8) | b[1];
  if (b[0] !== 0x03) {
    return invalid(`ClientHello: legacy_version ${hex16(legacyVersion)} is not TLS`);
  }
  let p = 34;
  const sessionIdLength = b[p++];
  if (sessionIdLength > 32) {
    return invalid(`ClientHello: legacy_session_id length ${sessionIdLength} exceeds 32`);
  }
  if (sessionIdLength > n - p) {
    return invalid(
      `ClientHello: legacy_session_id length ${sessionIdLength} overruns message ` +
        `(${n - p} bytes left)`,
    );
  }
  p += sessionIdLength;

  if (n - p < 2) {
    return invalid(`ClientHello: cipher_suites length truncated (${n - p} bytes left)`);
  }
  const suitesLength = (b[p] << 8) | b[p + 1];
  p += 2;
  if (suitesLength === 0) return invalid("ClientHello: cipher_suites is empty");
  if ((suitesLength & 1) !== 0) {
    return invalid(`ClientHello: cipher_suites length ${suitesLength} is odd`);
  }
  if (suitesLength > n - p) {
    return invalid(
      `ClientHello: cipher_suites length ${suitesLength} overruns message (${n - p} bytes left)`,
    );
  }
  p += suitesLength;

  if (n - p < 1) {
    return invalid("ClientHello: legacy_compression_methods length truncated (0 bytes left)");
  }
  const compressionLength = b[p++];
  if (compressionLength === 0) return invalid("ClientHello: legacy_compression_methods is empty");
  if (compressionLength > n - p) {
    return invalid(
      `ClientHello: legacy_compression_methods length ${compressionLength} overruns message ` +
        `(${n - p} bytes left)`,
    );
  }
  p += compressionLength;

  let sni: string | null = null;
  let alpn = NO_ALPN;
  let versions: readonly number[] | null = null;
  // Pre-TLS 1.2 clients may end the hello here: extensions are optional (RFC 5246 §7.4.1.2).
  if (p < n) {
    if (n - p < 2) {
      return invalid(`ClientHello: extensions length truncated (${n - p} bytes left)`);
    }
    const extensionsLength = (b[p] << 8) | b[p + 1];
    p += 2;
    if (extensionsLength > n - p) {
      return invalid(
        `ClientHello: extensions length ${extensionsLength} overruns message (${n - p} bytes left)`,
      );
    }
    if (extensionsLength < n - p) {
      return invalid(
        `ClientHello: ${n - p - extensionsLength} trailing bytes after extensions`,
      );
    }
    // The extensions block runs to the end of the message, so `n` bounds it from here on.
    let seen = 0; // bit per interpreted extension, to reject a second copy of any of them
    while (p < n) {
      if (n - p < 4) {
        return invalid(
          `ClientHello: extension header truncated (${n - p} bytes left in extensions block)`,
        );
      }
      const type = (b[p] << 8) | b[p + 1];
      const dataLength = (b[p + 2] << 8) | b[p + 3];
      p += 4;
      if (dataLength > n - p) {
        return invalid(
          `ClientHello: extension ${hex16(type)}${extensionName(type)} length ${dataLength} ` +
            `overruns extensions block (${n - p} bytes left)`,
        );
      }
      const end = p + dataLength;
      // Only the extensions a route decision reads are parsed; a duplicate of one of those would
      // let the router and the backend disagree about which copy counts.
      switch (type) {
        case EXT_SERVER_NAME: {
          if ((seen & 1) !== 0) return duplicateExtension(type);
          seen |= 1;
          const r = parseServerName(b, p, end);
          if (r !== null && typeof r !== "string") return r;
          sni = r;
          break;
        }
        case EXT_ALPN: {
          if ((seen & 2) !== 0) return duplicateExtension(type);
          seen |= 2;
          const r = parseAlpn(b, p, end);
          if (!Array.isArray(r)) return r;
          alpn = r;
          break;
        }
        case EXT_SUPPORTED_VERSIONS: {
          if ((seen & 4) !== 0) return duplicateExtension(type);
          seen |= 4;
          const r = parseSupportedVersions(b, p, end);
          if (!Array.isArray(r)) return r;
          versions = r;
          break;
        }
      }
      p = end;
    }
  }
  return match({
    sni,
    alpn,
    versions: versions ?? [legacyVersion],
    legacyVersion,
    recordVersion,
  }, length);
}

/** Parses server_name extension data in `b[p, end)` (RFC 6066 §3) to its host_name. */
function parseServerName(b: Uint8Array, p: number, end: number): string | null | Invalid {
  if (end - p < 2) {
    return invalid(
      `ClientHello: server_name extension length ${end - p} is too short for a list length`,
    );
  }
  const listLength = (b[p] << 8) | b[p + 1];
  p += 2;
  if (listLength !== end - p) {
    return invalid(
      `ClientHello: server_name_list length ${listLength} does not match extension data ` +
        `(${end - p} bytes)`,
    );
  }
  if (listLength === 0) return invalid("ClientHello: server_name_list is empty");
  let name: string | null = null;
  while (p < end) {
    if (end - p < 3) {
      return invalid(
        `ClientHello: server_name entry truncated (${end - p} bytes left in server_name_list)`,
      );
    }
    const nameType = b[p];
    const nameLength = (b[p + 1] << 8) | b[p + 2];
    p += 3;
    if (nameLength > end - p) {
      return invalid(
        `ClientHello: server_name entry (name_type ${nameType}) length ${nameLength} overruns ` +
          `server_name_list (${end - p} bytes left)`,
      );
    }
    // Other name types have no defined syntax; skipping them is what RFC 6066 servers do.
    if (nameType === NAME_TYPE_HOST_NAME) {
      if (name !== null) {
        return invalid("ClientHello: server_name_list has more than one host_name");
      }
      const r = decodeHostName(b, p, p + nameLength);
      if (typeof r !== "string") return r;
      name = r;
    }
    p += nameLength;
  }
  return name;
}

/** Checks and decodes the host_name in `b[start, end)`: lower-cased, without a trailing dot. */
function decodeHostName(b: Uint8Array, start: number, end: number): string | Invalid {
  const length = end - start;
  if (length === 0) return invalid("ClientHello: server_name host_name is empty");
  if (length > MAX_HOST_NAME) {
    return invalid(`ClientHello: server_name host_name length ${length} exceeds 255`);
  }
  let upper = false;
  let afterDot = true; // a leading dot is an empty label too
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c === 0x2e) {
      if (afterDot) {
        return invalid(
          `ClientHello: server_name host_name has an empty label at offset ${i - start}`,
        );
      }
      afterDot = true;
      continue;
    }
    afterDot = false;
    if (
      (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f
    ) {
      continue;
    }
    if (c >= 0x41 && c <= 0x5a) {
      upper = true;
      continue;
    }
    return invalid(
      `ClientHello: server_name host_name byte ${hex8(c)} at offset ${i - start} is not a ` +
        `letter, digit, '-', '_' or '.'`,
    );
  }
  // "example.com." is the fully-qualified spelling of the same host; routes are written without
  // the dot. The check above already rejected a name that is only a dot or ends in "..".
  const stop = b[end - 1] === 0x2e ? end - 1 : end;
  const name = String.fromCharCode(...b.subarray(start, stop));
  return upper ? name.toLowerCase() : name;
}

/** Parses application_layer_protocol_negotiation data in `b[p, end)` (RFC 7301 §3.1). */
function parseAlpn(b: Uint8Array, p: number, end: number): string[] | Invalid {
  if (end - p < 2) {
    return invalid(
      `ClientHello: application_layer_protocol_negotiation extension length ${end - p} is too ` +
        `short for a list length`,
    );
  }
  const listLength = (b[p] << 8) | b[p + 1];
  p += 2;
  if (listLength !== end - p) {
    return invalid(
      `ClientHello: protocol_name_list length ${listLength} does not match extension data ` +
        `(${end - p} bytes)`,
    );
  }
  if (listLength === 0) return invalid("ClientHello: protocol_name_list is empty");
  const names: string[] = [];
  while (p < end) {
    const nameLength = b[p++];
    if (nameLength === 0) {
      return invalid(`ClientHello: ALPN protocol name ${names.length} is empty`);
    }
    if (nameLength > end - p) {
      return invalid(
        `ClientHello: ALPN protocol name ${names.length} length ${nameLength} overruns ` +
          `protocol_name_list (${end - p} bytes left)`,
      );
    }
    // Protocol names are opaque bytes; one char per byte keeps even a non-ASCII name exact.
    names.push(String.fromCharCode(...b.subarray(p, p + nameLength)));
    p += nameLength;
  }
  return names;
}

/** Parses supported_versions data in `b[p, end)` (RFC 8446 §4.2.1, ClientHello form). */
function parseSupportedVersions(b: Uint8Array, p: number, end: number): number[] | Invalid {
  if (end - p < 1) return invalid("ClientHello: supported_versions extension is empty");
  const listLength = b[p++];
  if (listLength !== end - p) {
    return invalid(
      `ClientHello: supported_versions list length ${listLength} does not match extension ` +
        `data (${end - p} bytes)`,
    );
  }
  if (listLength === 0) return invalid("ClientHello: supported_versions list is empty");
  if ((listLength & 1) !== 0) {
    return invalid(`ClientHello: supported_versions list length ${listLength} is odd`);
  }
  const versions: number[] = [];
  for (; p < end; p += 2) versions.push((b[p] << 8) | b[p + 1]);
  return versions;
}

function duplicateExtension(type: number): Invalid {
  return invalid(`ClientHello: duplicate extension ${hex16(type)}${extensionName(type)}`);
}

function hex8(v: number): string {
  return "0x" + v.toString(16).padStart(2, "0");
}

function hex16(v: number): string {
  return "0x" + v.toString(16).padStart(4, "0");
}

function contentName(type: number): string {
  switch (type) {
    case 0x14:
      return " (change_cipher_spec)";
    case 0x15:
      return " (alert)";
    case 0x17:
      return " (application_data)";
    default:
      return "";
  }
}

function handshakeName(type: number): string {
  switch (type) {
    case 2:
      return " (server_hello)";
    case 11:
      return " (certificate)";
    case 16:
      return " (client_key_exchange)";
    default:
      return "";
  }
}

function extensionName(type: number): string {
  switch (type) {
    case EXT_SERVER_NAME:
      return " (server_name)";
    case EXT_ALPN:
      return " (application_layer_protocol_negotiation)";
    case EXT_SUPPORTED_VERSIONS:
      return " (supported_versions)";
    default:
      return "";
  }
}
