/**
 * The certificate and key a self-answered TLS 1.3 handshake presents: one DER certificate and an
 * ECDSA P-256 signing key, loaded once from PEM, and the signature in the DER form TLS sends.
 *
 * @module
 */

import { cryptoBytes } from "../../wire/bytes.ts";

/** A certificate and its ECDSA P-256 private key, ready to sign. */
export interface Identity {
  readonly der: Uint8Array;
  readonly key: CryptoKey;
}

/**
 * Loads `certPem` (its first certificate) and `keyPem` (a PKCS#8 ECDSA P-256 key). Throws with
 * what is wrong: these come from this process (the ACME client), never from the network.
 */
export async function identityFromPem(certPem: string, keyPem: string): Promise<Identity> {
  const der = pemBlock(certPem, "CERTIFICATE");
  const pkcs8 = pemBlock(keyPem, "PRIVATE KEY");
  const key = await crypto.subtle.importKey(
    "pkcs8",
    cryptoBytes(pkcs8),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  return { der, key };
}

/** Signs `data` with ECDSA P-256/SHA-256, as the DER Ecdsa-Sig-Value TLS carries. */
export async function signEcdsa(key: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  const raw = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, cryptoBytes(data)),
  );
  return derSignature(raw);
}

/** WebCrypto's r‖s (IEEE P1363) as DER `SEQUENCE { INTEGER r, INTEGER s }`. */
export function derSignature(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  const r = derInteger(raw.subarray(0, half));
  const s = derInteger(raw.subarray(half));
  const out = new Uint8Array(2 + r.length + s.length);
  out[0] = 0x30;
  out[1] = r.length + s.length; // at most 70 for P-256: the short length form always fits
  out.set(r, 2);
  out.set(s, 2 + r.length);
  return out;
}

/** An unsigned big-endian integer as DER: leading zeros dropped, one kept if the sign bit is set. */
function derInteger(v: Uint8Array): Uint8Array {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const pad = v[i] >= 0x80 ? 1 : 0;
  const out = new Uint8Array(2 + pad + v.length - i);
  out[0] = 0x02;
  out[1] = pad + v.length - i;
  out.set(v.subarray(i), 2 + pad);
  return out;
}

/** The bytes of the first `-----BEGIN <label>-----` block of `pem`. */
function pemBlock(pem: string, label: string): Uint8Array {
  const m = pem.match(new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`));
  if (m === null) throw new Error(`no "${label}" PEM block in ${JSON.stringify(pem.slice(0, 40))}`);
  const bin = atob(m[1].replace(/\s+/g, ""));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
