/**
 * The top level of a config file: checking what spans sections (binds, `terminate:`, unused
 * backends) and assembling one frozen {@link Config}.
 *
 * @module
 */

import { dirname } from "node:path";
import { readBackends } from "./backends.ts";
import { type BindUse, checkBinds } from "./binds.ts";
import { deepFreeze, frozenMap } from "./freeze.ts";
import { type ListenerChecks, readListeners } from "./listeners.ts";
import * as read from "./scalars.ts";
import {
  type CertificateEntry,
  readAdmin,
  readCertificates,
  readDefaults,
  readWorkers,
} from "./sections.ts";
import { didYouMean } from "./suggest.ts";
import type { Refs } from "./targets.ts";
import type { BackendConfig, Config, ListenerConfig } from "./types.ts";
import type { Entry, Walker } from "./yaml_walk.ts";

const TOP_KEYS = ["admin", "defaults", "certificates", "listeners", "backends", "workers"];
const TOP_HINTS = { frontends: "listeners", entrypoints: "listeners", services: "backends" };

/** `terminate:` must name an http listener, and decrypting needs certificates. */
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
 * Builds the frozen config from the document's root; null when the root is not a map. The
 * certificate entries whose files are to be checked join `certificateEntries`.
 */
export function readDocument(
  w: Walker,
  root: Entry,
  file: string,
  certificateEntries: CertificateEntry[],
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
  const certificates = readCertificates(w, top.get("certificates"), baseDir, certificateEntries);
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
  checkTerminates(w, checks, listeners, certificates.length);
  const workers = read.optional(top, "workers", (e) => readWorkers(w, e), 1);
  // With errors, an unused backend is most likely the one a misspelled `to:` meant.
  const clean = w.problems.every((p) => p.severity === "warning");
  for (const [name, { entry }] of clean ? declared : []) {
    if (!refs.used.has(name)) {
      w.warn(entry.key, entry.path, `backend "${name}" is not used by any route or default`);
    }
  }
  return deepFreeze<Config>({
    file,
    admin,
    defaults,
    certificates,
    listeners: frozenMap(listeners),
    backends: frozenMap(backends),
    workers,
  });
}
