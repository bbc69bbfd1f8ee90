/**
 * `certificates:`: certificate files (`{ cert, key }`) and certificates to obtain from the ACME
 * CA (`{ acme: [names] }`), side by side in one list.
 *
 * @module
 */

import { resolve } from "node:path";
import { type AcmeEntry, type ListedNames, readAcmeNames } from "./acme.ts";
import * as read from "./scalars.ts";
import type { CertificateConfig, ProblemSite } from "./types.ts";
import type { Entry, Walker } from "./yaml_walk.ts";

const CERTIFICATE_KEYS = ["cert", "key", "acme"];
// Other tools' words for the names of a certificate to obtain.
const CERTIFICATE_HINTS = { domains: "acme", names: "acme" };

/** A complete `{ cert, key }` entry, kept so that its files can be checked after parsing. */
export interface CertificateEntry {
  readonly pair: CertificateConfig;
  /** Where problems about its files point. */
  readonly site: ProblemSite;
  /**
   * How many problems parsing had reported when it reached the entry. Problems sort by
   * position, ties in the order reported: a file problem goes here, as if parsing found it.
   */
  readonly reportedBefore: number;
}

/** The entries of `certificates:`, by kind, in file order. */
export interface Certificates {
  readonly files: CertificateConfig[];
  readonly acme: AcmeEntry[];
}

/**
 * `certificates: [{ cert, key } | { acme: [names] }]`: file paths resolved against `baseDir`
 * (each complete pair also joins `entries`), ACME names checked and unique across entries.
 */
export function readCertificates(
  w: Walker,
  e: Entry | undefined,
  baseDir: string,
  entries: CertificateEntry[],
): Certificates {
  const out: Certificates = { files: [], acme: [] };
  if (e === undefined || e.node === null) return out;
  const listed: ListedNames = new Map();
  for (const item of read.readList(w, e)) {
    const m = w.map(item, CERTIFICATE_KEYS, CERTIFICATE_HINTS);
    if (m === null) continue;
    const acme = m.get("acme");
    if (acme !== undefined) {
      if (m.has("cert") || m.has("key")) {
        const what = `an entry has "cert" and "key" (files) or "acme" (names to obtain), not both`;
        w.error(item.node, item.path, `${what}: split it into two entries`);
      }
      out.acme.push({ certificate: { names: readAcmeNames(w, acme, listed) }, entry: item });
      continue;
    }
    if (!m.has("cert") && !m.has("key")) {
      const what = `"cert" and "key" (PEM files) or "acme" (names to obtain)`;
      w.error(item.node, item.path, `certificate needs ${what}`);
      continue;
    }
    const file = (key: string) => {
      const f = m.get(key);
      if (f === undefined) w.error(item.node, item.path, `certificate needs "${key}": a PEM file`);
      const path = f && read.readString(w, f);
      return path === undefined ? "" : resolve(baseDir, path);
    };
    const pair = { cert: file("cert"), key: file("key") };
    // A pair missing a path already has its error; there are no files to check.
    if (pair.cert !== "" && pair.key !== "") {
      const site = w.site(item.node, item.path);
      entries.push({ pair, site, reportedBefore: w.problems.length });
    }
    out.files.push(pair);
  }
  return out;
}
