/**
 * The server's TLS 1.3 handshake messages (RFC 8446 §4), as bytes: ServerHello,
 * EncryptedExtensions with one ALPN protocol, Certificate with one certificate,
 * CertificateVerify and Finished. Nothing else is needed to answer one handshake.
 *
 * @module
 */

import { concat } from "../../wire/bytes.ts";
import { ECDSA_SECP256R1_SHA256, TLS13, TLS_AES_128_GCM_SHA256 } from "./offer.ts";

const SERVER_HELLO = 2;
const ENCRYPTED_EXTENSIONS = 8;
const CERTIFICATE = 11;
const CERTIFICATE_VERIFY = 15;
export const FINISHED = 20;
const EXT_ALPN = 0x0010;
const EXT_SUPPORTED_VERSIONS = 0x002b;
const EXT_KEY_SHARE = 0x0033;

/** The bytes that precede the transcript hash in a server CertificateVerify (RFC 8446 §4.4.3). */
export const SERVER_VERIFY_PREFIX: Uint8Array = (() => {
  const label = new TextEncoder().encode("TLS 1.3, server CertificateVerify");
  const out = new Uint8Array(64 + label.length + 1).fill(0x20, 0, 64);
  out.set(label, 64);
  return out;
})();

/** A ServerHello choosing TLS 1.3, TLS_AES_128_GCM_SHA256 and the key share `group`/`key`. */
export function serverHello(
  random: Uint8Array,
  sessionId: Uint8Array,
  group: number,
  key: Uint8Array,
): Uint8Array {
  const extensions = concat([
    u16(EXT_SUPPORTED_VERSIONS),
    u16(2),
    u16(TLS13),
    u16(EXT_KEY_SHARE),
    u16(4 + key.length),
    u16(group),
    u16(key.length),
    key,
  ]);
  return handshake(
    SERVER_HELLO,
    concat([
      u16(0x0303),
      random,
      Uint8Array.of(sessionId.length),
      sessionId,
      u16(TLS_AES_128_GCM_SHA256),
      Uint8Array.of(0),
      u16(extensions.length),
      extensions,
    ]),
  );
}

/** EncryptedExtensions selecting the ALPN protocol `protocol`. */
export function encryptedExtensions(protocol: string): Uint8Array {
  const name = new TextEncoder().encode(protocol);
  const alpn = concat([
    u16(EXT_ALPN),
    u16(3 + name.length),
    u16(1 + name.length),
    Uint8Array.of(name.length),
    name,
  ]);
  return handshake(ENCRYPTED_EXTENSIONS, concat([u16(alpn.length), alpn]));
}

/** A Certificate message with the one DER certificate `der` and no extensions. */
export function certificate(der: Uint8Array): Uint8Array {
  const entry = concat([u24(der.length), der, u16(0)]);
  return handshake(CERTIFICATE, concat([Uint8Array.of(0), u24(entry.length), entry]));
}

/** A CertificateVerify carrying the DER ECDSA P-256/SHA-256 signature `signature`. */
export function certificateVerify(signature: Uint8Array): Uint8Array {
  return handshake(
    CERTIFICATE_VERIFY,
    concat([u16(ECDSA_SECP256R1_SHA256), u16(signature.length), signature]),
  );
}

/** A Finished message. */
export function finished(verifyData: Uint8Array): Uint8Array {
  return handshake(FINISHED, verifyData);
}

/** A handshake message: type, 24-bit length, body. */
function handshake(type: number, body: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(type), u24(body.length), body]);
}

function u16(v: number): Uint8Array {
  return Uint8Array.of(v >> 8, v & 0xff);
}

function u24(v: number): Uint8Array {
  return Uint8Array.of(v >> 16, (v >> 8) & 0xff, v & 0xff);
}
