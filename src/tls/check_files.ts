/**
 * Checking a config's certificate files, a pass after parsing (which reads no files): each
 * pair must be readable PEM whose key belongs to its certificate; an expired certificate is
 * only a warning, since it still loads. The ACME CA file must be readable PEM certificates.
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { CertificateConfig, ConfigProblem, ProblemSite } from "../config/types.ts";
import { inspectCertificate } from "./inspect.ts";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;

/** The problem with `pair`'s files, pointing at `site`; null when the pair can serve. */
export function checkCertificateFiles(
  pair: CertificateConfig,
  site: ProblemSite,
  now = new Date(),
): ConfigProblem | null {
  const r = inspectCertificate(pair.cert, pair.key, now);
  if ("error" in r) return { ...site, message: r.error, severity: "error" };
  if (!r.expired) return null;
  const message = `certificate "${pair.cert}" expired on ${r.ok.notAfter.toISOString()}`;
  return { ...site, message, severity: "warning" };
}

/**
 * The problem with the CA file at `path` (`acme.ca`), pointing at `site`; null when it holds
 * one or more PEM certificates, each of which parses.
 */
export function checkCaFile(path: string, site: ProblemSite): ConfigProblem | null {
  const problem = (message: string): ConfigProblem => ({ ...site, message, severity: "error" });
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return problem(`cannot read CA file "${path}": ${(err as Error).message}`);
  }
  const blocks = text.match(PEM_CERTIFICATE);
  if (blocks === null) {
    return problem(`"${path}" is not a PEM certificate: it has no "-----BEGIN CERTIFICATE-----"`);
  }
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      return problem(`"${path}" is not a PEM certificate: ${(err as Error).message}`);
    }
  }
  return null;
}
