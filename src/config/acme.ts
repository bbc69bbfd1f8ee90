/**
 * Automatic certificates (ACME): the `acme:` settings, the names of `- acme: [...]` entries
 * under `certificates`, and whether any listener can answer the CA's challenges.
 *
 * @module
 */

import { resolve } from "node:path";
import { isDnsName } from "../net/endpoint.ts";
import { parseIp } from "../net/ip.ts";
import * as read from "./scalars.ts";
import { didYouMean } from "./suggest.ts";
import type {
  AcmeCertificateConfig,
  AcmeChallenge,
  AcmeConfig,
  ListenerConfig,
  ListenerProtocol,
  ProblemSite,
} from "./types.ts";
import type { Entry, Walker } from "./yaml_walk.ts";

/** The directories `directory:` knows by name. */
export const ACME_DIRECTORIES: Readonly<Record<string, string>> = Object.freeze({
  letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
});

/** What `acme:` settings default to (`storage` is resolved against the config's folder). */
export const ACME_DEFAULTS = Object.freeze({
  directory: ACME_DIRECTORIES.letsencrypt,
  storage: "./switchyard-data",
  challenges: Object.freeze(["http-01", "tls-alpn-01"]) as readonly AcmeChallenge[],
});

const ACME_KEYS = ["email", "directory", "ca", "storage", "challenges", "renew_before"];
// Traefik's, Caddy's and certbot's words for these settings.
const ACME_HINTS = {
  caserver: "directory",
  acme_ca: "directory",
  server: "directory",
  contact: "email",
  acme_ca_root: "ca",
};

const CHALLENGES: readonly AcmeChallenge[] = ACME_DEFAULTS.challenges;

/** The listeners able to answer each challenge, and the port the CA connects to for it. */
const ANSWERED_BY: Readonly<
  Record<AcmeChallenge, { protocols: readonly ListenerProtocol[]; port: number; text: string }>
> = {
  "http-01": { protocols: ["http", "auto"], port: 80, text: "an http or auto listener" },
  "tls-alpn-01": { protocols: ["tls", "auto"], port: 443, text: "a tls or auto listener" },
};

/** One `- acme: [names]` entry of `certificates:`. */
export interface AcmeEntry {
  readonly certificate: AcmeCertificateConfig;
  /** The list item, where problems about the certificate point. */
  readonly entry: Entry;
}

/** Every ACME name read so far, with where it was first listed. */
export type ListedNames = Map<string, { readonly path: string; readonly line: number }>;

/** A path `acme:` names, kept so that it can be checked after parsing (which reads no files). */
export interface AcmePath {
  /** "storage": a folder to write in; "ca": a PEM file to read. */
  readonly kind: "storage" | "ca";
  readonly path: string;
  /** Where problems about it point. */
  readonly site: ProblemSite;
  /** Problems reported before it, as for certificate files (see `CertificateEntry`). */
  readonly reportedBefore: number;
}

/** Why `value` (lower-cased, trailing dot dropped: `name`) cannot be ordered; null if it can. */
function nameProblem(value: string, name: string): string | null {
  if (name.startsWith("*.")) {
    const why = "wildcard certificates need the DNS-01 challenge, which Switchyard does not do";
    return `"${value}": ${why}: list each name`;
  }
  if (parseIp(name.replace(/^\[(.*)\]$/, "$1")) !== null) {
    return `"${value}" is an IP address: Switchyard obtains certificates for DNS names, e.g. "app.example.com"`;
  }
  // isDnsName lets "_" through for internal names; no CA issues a certificate for one.
  if (!isDnsName(name) || name.includes("_")) {
    return `bad name "${value}": expected a DNS name, e.g. "app.example.com"`;
  }
  return null;
}

/**
 * The names of an `acme:` certificate entry (one name or a list): lower-cased, without a
 * trailing dot. A name already in `listed` is an error: each belongs to one certificate.
 */
export function readAcmeNames(w: Walker, e: Entry, listed: ListedNames): string[] {
  const out: string[] = [];
  for (const { value, entry } of read.readStrings(w, e)) {
    const name = value.toLowerCase().replace(/\.$/, "");
    const problem = nameProblem(value, name);
    const first = listed.get(name);
    if (problem !== null) {
      w.error(entry.node, entry.path, problem);
    } else if (first !== undefined) {
      const where = `${first.path} (line ${first.line})`;
      w.error(
        entry.node,
        entry.path,
        `"${value}" is already listed at ${where}: list each name once`,
      );
    } else {
      listed.set(name, { path: entry.path, line: w.lineOf(entry.node ?? entry.key) });
      out.push(name);
    }
  }
  return out;
}

/** `email:`: an address, one "@" and no spaces. */
function readEmail(w: Walker, e: Entry): string | undefined {
  const v = read.readString(w, e);
  if (v === undefined) return undefined;
  if (/^mailto:/i.test(v)) {
    w.error(e.node, e.path, `email "${v}": write the address alone, e.g. "${v.slice(7)}"`);
  } else if (!/^[^\s@]+@[^\s@]+$/.test(v)) {
    w.error(e.node, e.path, `bad email "${v}": write an address such as "ops@example.com"`);
  } else {
    return v;
  }
  return undefined;
}

/** `directory:`: a name from {@link ACME_DIRECTORIES} or an https:// URL. */
function readDirectory(w: Walker, e: Entry): string | undefined {
  const v = read.readString(w, e);
  if (v === undefined) return undefined;
  if (Object.hasOwn(ACME_DIRECTORIES, v)) return ACME_DIRECTORIES[v];
  const expected = "letsencrypt, letsencrypt-staging or an https:// URL";
  if (!v.includes("://")) {
    const hint = didYouMean(v, Object.keys(ACME_DIRECTORIES));
    w.error(e.node, e.path, `unknown directory "${v}"${hint || ` (expected ${expected})`}`);
    return undefined;
  }
  let https = false;
  try {
    https = new URL(v).protocol === "https:";
  } catch {
    // Not a URL: reported below, like any other scheme.
  }
  if (https) return v;
  const eg = `e.g. "https://acme.example.com/directory"`;
  w.error(e.node, e.path, `bad directory "${v}": expected ${expected}, ${eg}`);
  return undefined;
}

/** `ca:`: a PEM file, resolved against `baseDir`. */
function readCa(w: Walker, e: Entry, baseDir: string): string | undefined {
  const v = read.readString(w, e);
  if (v === undefined) return undefined;
  // Caddy's acme_ca is the directory URL; here that goes in `directory`.
  if (v.includes("://")) {
    const what = `ca is a PEM file to trust for the directory's TLS`;
    w.error(e.node, e.path, `ca "${v}" is a URL; ${what}: put the URL in "directory"`);
    return undefined;
  }
  return resolve(baseDir, v);
}

/** `challenges:`: http-01 and/or tls-alpn-01, in order of preference, each once. */
function readChallenges(w: Walker, e: Entry): AcmeChallenge[] | undefined {
  const out: AcmeChallenge[] = [];
  for (const item of read.readList(w, e)) {
    const v = read.readString(w, item);
    if (v === undefined) continue;
    if (/^dns/i.test(v)) {
      const why = "DNS-01 is out of scope: Switchyard answers challenges itself and edits no DNS";
      w.error(item.node, item.path, `"${v}": ${why}; use http-01 or tls-alpn-01`);
    } else if (!(CHALLENGES as readonly string[]).includes(v)) {
      const hint = didYouMean(v, CHALLENGES) || " (expected http-01 or tls-alpn-01)";
      w.error(item.node, item.path, `unknown challenge "${v}"${hint}`);
    } else if (out.includes(v as AcmeChallenge)) {
      w.error(item.node, item.path, `duplicate challenge "${v}": list each once`);
    } else {
      out.push(v as AcmeChallenge);
    }
  }
  return out.length > 0 ? out : undefined;
}

/**
 * `acme:` with its defaults filled in, holding the `certificates` to obtain; null when there
 * is neither the block `e` nor an acme certificate. The storage folder and the CA file join
 * `paths`, to be checked after parsing.
 */
export function readAcme(
  w: Walker,
  e: Entry | undefined,
  certificates: readonly AcmeEntry[],
  baseDir: string,
  paths: AcmePath[],
): AcmeConfig | null {
  if (e === undefined && certificates.length === 0) return null;
  const m = e === undefined || e.node === null
    ? new Map<string, Entry>()
    : w.map(e, ACME_KEYS, ACME_HINTS) ?? new Map<string, Entry>();
  if (e !== undefined && certificates.length === 0) {
    const add = `add one under "certificates", e.g. - acme: [app.example.com]`;
    w.warn(e.key, e.path, `nothing to obtain: no certificate entry has "acme"; ${add}`);
  }
  const storageEntry = m.get("storage");
  const storageText = storageEntry === undefined
    ? ACME_DEFAULTS.storage
    : read.readString(w, storageEntry);
  const storage = resolve(baseDir, storageText ?? ACME_DEFAULTS.storage);
  if (storageText !== undefined) {
    // Without `storage:`, a problem with the default folder points at what asked for ACME.
    const site = storageEntry !== undefined
      ? w.site(storageEntry.node, storageEntry.path)
      : e !== undefined
      ? w.site(e.key, e.path)
      : w.site(certificates[0].entry.node, certificates[0].entry.path);
    paths.push({ kind: "storage", path: storage, site, reportedBefore: w.problems.length });
  }
  const caEntry = m.get("ca");
  const ca = caEntry === undefined ? undefined : readCa(w, caEntry, baseDir);
  if (ca !== undefined) {
    const site = w.site(caEntry!.node, caEntry!.path);
    paths.push({ kind: "ca", path: ca, site, reportedBefore: w.problems.length });
  }
  return {
    email: read.optional<string | null>(m, "email", (x) => readEmail(w, x), null),
    directory: read.optional(m, "directory", (x) => readDirectory(w, x), ACME_DEFAULTS.directory),
    ca: ca ?? null,
    storage,
    challenges: read.optional(m, "challenges", (x) => readChallenges(w, x), CHALLENGES),
    renewBeforeMs: read.optional<number | null>(
      m,
      "renew_before",
      (x) => read.readDuration(w, x, { days: true }),
      null,
    ),
    certificates: certificates.map((c) => c.certificate),
  };
}

/**
 * Warns at the first acme certificate when no listener can answer any of the challenges
 * `acme` allows: the CA could validate no name, so no certificate would ever be obtained.
 */
export function checkChallengeListeners(
  w: Walker,
  acme: AcmeConfig,
  certificates: readonly AcmeEntry[],
  listeners: Iterable<ListenerConfig>,
): void {
  if (certificates.length === 0) return;
  const all = [...listeners];
  const answers = (c: AcmeChallenge) =>
    all.some((l) =>
      ANSWERED_BY[c].protocols.includes(l.protocol) &&
      l.bind.some((b) => b.port === ANSWERED_BY[c].port)
    );
  if (acme.challenges.some(answers)) return;
  const add = acme.challenges
    .map((c) => `${ANSWERED_BY[c].text} bound to port ${ANSWERED_BY[c].port} (${c})`)
    .join(" or ");
  const { entry } = certificates[0];
  const what = "no listener can answer ACME challenges, so no certificate can be obtained";
  w.warn(entry.node, entry.path, `${what}: add ${add}`);
}
