/**
 * The top level of a config file: checking what spans sections (binds, `terminate:`, unused
 * backends, listeners for ACME challenges) and assembling one frozen {@link Config}.
 *
 * @module
 */

import { dirname } from "node:path";
import { type AcmePath, checkChallengeListeners, readAcme } from "./acme.ts";
import { readBackends } from "./backends.ts";
import { type BindUse, checkBinds } from "./binds.ts";
import { type CertificateEntry, readCertificates } from "./certificates.ts";
import { deepFreeze, frozenMap } from "./freeze.ts";
import { type ListenerChecks, readListeners } from "./listeners.ts";
import * as read from "./scalars.ts";
import { readAdmin, readDefaults, readWorkers } from "./sections.ts";
import { didYouMean } from "./suggest.ts";
import type { Refs } from "./targets.ts";
import type { BackendConfig, Config, ListenerConfig } from "./types.ts";
import type { Entry, Walker } from "./yaml_walk.ts";

const TOP_KEYS = [
  "admin",
  "defaults",
  "certificates",
  "acme",
  "listeners",
  "backends",
  "workers",
  "watch",
];
const TOP_HINTS = {
  frontends: "listeners",
  entrypoints: "listeners",
  services: "backends",
  // Traefik's name for the block that configures ACME, and the CA most users mean by it.
  certificatesresolvers: "acme",
  letsencrypt: "acme",
  // What users call reloading on a change elsewhere (Traefik's file provider, Caddy's flag and
  // nodemon all say watch).
  reload: "watch",
  auto_reload: "watch",
};

/** What a config names on disk, kept so that it can be checked after parsing. */
export interface FileUses {
  readonly certificates: CertificateEntry[];
  readonly acme: AcmePath[];
}

/** `terminate:` must name an http listener, and decrypting needs certificates (files or acme). */
function checkTerminates(
  w: Walker,
  checks: ListenerChecks,
  listeners: ReadonlyMap<string, ListenerConfig>,
  certificates: number,
): void {
  for (const { target, entry } of checks.terminates) {
    const l = listeners.get(target);
    if (l === undefined) {
      w.error(
        entry.node,
        entry.path,
        `unknown listener "${target}"${didYouMean(target, listeners.keys())}`,
      );
    } else if (l.protocol !== "http") {
      w.error(
        entry.node,
        entry.path,
        `listener "${target}" is ${l.protocol}; terminate needs an http listener`,
      );
    } else if (certificates === 0) {
      w.error(
        entry.node,
        entry.path,
        `terminating TLS needs at least one entry under "certificates"`,
      );
    }
  }
}

/**
 * Builds the frozen config from the document's root; null when the root is not a map. What
 * it names on disk (certificate files, ACME storage and CA) joins `files`.
 */
export function readDocument(
  w: Walker,
  root: Entry,
  file: string,
  files: FileUses,
): Config | null {
  if (root.node === null) {
    w.error(null, "", `the config is empty: it needs at least "listeners"`);
    return null;
  }
  const top = w.map(root, TOP_KEYS, TOP_HINTS);
  if (top === null) return null;
  const baseDir = dirname(file);
  const binds: BindUse[] = [];
  const defaults = readDefaults(w, top.get("defaults"));
  const certificates = readCertificates(w, top.get("certificates"), baseDir, files.certificates);
  const acme = readAcme(w, top.get("acme"), certificates.acme, baseDir, files.acme);
  const admin = readAdmin(w, top.get("admin"), binds);
  const declared = readBackends(w, top.get("backends"), defaults, baseDir);
  const backends = new Map<string, BackendConfig>([...declared].map(([n, d]) => [n, d.backend]));
  const refs: Refs = { defaults, backends, declared: new Set(declared.keys()), used: new Set() };
  const listenersEntry = top.get("listeners");
  if (listenersEntry === undefined) w.error(root.node, "", `no "listeners": define at least one`);
  const { listeners, checks } = listenersEntry === undefined
    ? { listeners: new Map(), checks: { binds: [], terminates: [] } }
    : readListeners(w, listenersEntry, refs);
  checkBinds(w, [...binds, ...checks.binds]);
  checkTerminates(w, checks, listeners, certificates.files.length + certificates.acme.length);
  const workers = read.optional(top, "workers", (e) => readWorkers(w, e), 1);
  const watch = read.optional(top, "watch", (e) => read.readBool(w, e), false);
  // With errors, an unused backend is most likely the one a misspelled `to:` meant.
  const clean = w.problems.every((p) => p.severity === "warning");
  for (const [name, { entry }] of clean ? declared : []) {
    if (!refs.used.has(name)) {
      w.warn(entry.key, entry.path, `backend "${name}" is not used by any route or default`);
    }
  }
  // Likewise, the listener that would answer challenges may be one that has an error.
  if (clean && acme !== null) {
    checkChallengeListeners(w, acme, certificates.acme, listeners.values());
  }
  return deepFreeze<Config>({
    file,
    admin,
    defaults,
    certificates: certificates.files,
    acme,
    listeners: frozenMap(listeners),
    backends: frozenMap(backends),
    workers,
    watch,
  });
}
