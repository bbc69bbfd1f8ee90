/**
 * Checking a config's certificate files, a pass after parsing (which reads no files): each
 * pair must be readable PEM whose key belongs to its certificate; an expired certificate is
 * only a warning, since it still loads.
 *
 * @module
 */

import type { CertificateConfig, ConfigProblem, ProblemSite } from "../config/types.ts";
import { inspectCertificate } from "./inspect.ts";

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
