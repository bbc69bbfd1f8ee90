/**
 * Test certificates made with the openssl CLI at test time (nothing to expire in the repo).
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A self-signed certificate (its own CA): PEM texts and file paths. */
export interface TestCert {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

/** Makes a self-signed P-256 pair for `names` (the first is the CN) at `cert` / `key`. */
export function makePair(cert: string, key: string, names: string[], days = 2): void {
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    String(days),
    "-subj",
    `/CN=${names[0]}`,
    "-addext",
    `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}`,
  ], { stdio: "ignore" });
}

/** Makes a self-signed P-256 certificate for `names` (the first is the CN), valid 2 days. */
export function selfSigned(names: string[]): TestCert {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-cert-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  makePair(certFile, keyFile, names);
  return {
    cert: readFileSync(certFile, "utf8"),
    key: readFileSync(keyFile, "utf8"),
    certFile,
    keyFile,
  };
}
