/**
 * Reading a certificate/key pair from PEM files and checking that it can serve: readable,
 * parseable, the key belongs to the certificate, not expired. Used by the check of a parsed
 * config's files (`check_files.ts`, so `check` reports problems) and when building the
 * certificate store.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

/** A usable pair. */
export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
  /** SAN DNS names, lower-case (wildcards kept as "*.example.com"). */
  readonly names: readonly string[];
  readonly notAfter: Date;
}

/** The pair, or why it cannot be used (`expired` is a warning: it still loads). */
export type Inspection =
  | { readonly ok: CertificateFiles; readonly expired: boolean }
  | { readonly error: string };

function read(path: string, what: string): string | { error: string } {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    return { error: `cannot read ${what} "${path}": ${(err as Error).message}` };
  }
}

/** Reads and checks the pair at `certPath` / `keyPath`. */
export function inspectCertificate(
  certPath: string,
  keyPath: string,
  now = new Date(),
): Inspection {
  const cert = read(certPath, "certificate");
  if (typeof cert !== "string") return cert;
  const key = read(keyPath, "key");
  if (typeof key !== "string") return key;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    return { error: `"${certPath}" is not a PEM certificate: ${(err as Error).message}` };
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    return { error: `"${keyPath}" is not a PEM private key: ${(err as Error).message}` };
  }
  if (!matches) return { error: `key "${keyPath}" does not belong to certificate "${certPath}"` };
  const names = (x509.subjectAltName ?? "").split(",").map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:")).map((s) => s.slice(4).toLowerCase());
  const notAfter = new Date(x509.validTo);
  return { ok: { cert, key, names, notAfter }, expired: notAfter.getTime() < now.getTime() };
}
