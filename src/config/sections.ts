/**
 * The small top-level sections: `defaults`, `certificates`, `admin` and `workers`.
 *
 * @module
 */

import { resolve } from "node:path";
import { isScalar } from "yaml";
import { readEndpoint } from "./addresses.ts";
import type { BindUse } from "./binds.ts";
import * as read from "./scalars.ts";
import type { AdminConfig, CertificateConfig, Defaults, ProblemSite } from "./types.ts";
import type { Entry, Walker } from "./yaml_walk.ts";

/** Timeouts when `defaults:` leaves them out. */
export const DEFAULTS: Defaults = Object.freeze({
  connectTimeoutMs: 5_000,
  inspectTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  shutdownTimeoutMs: 30_000,
});

/** `defaults:` timeouts, each falling back to {@link DEFAULTS}. */
export function readDefaults(w: Walker, e: Entry | undefined): Defaults {
  const m = e === undefined || e.node === null ? null : w.map(e, [
    "connect_timeout",
    "inspect_timeout",
    "idle_timeout",
    "shutdown_timeout",
  ]);
  if (m === null) return DEFAULTS;
  // shutdown_timeout 0 is meaningful: exit without waiting for live connections.
  const duration = (key: string, fallback: number, allowZero = false) =>
    read.optional(m, key, (d) => read.readDuration(w, d, allowZero), fallback);
  return {
    connectTimeoutMs: duration("connect_timeout", DEFAULTS.connectTimeoutMs),
    inspectTimeoutMs: duration("inspect_timeout", DEFAULTS.inspectTimeoutMs),
    idleTimeoutMs: duration("idle_timeout", DEFAULTS.idleTimeoutMs),
    shutdownTimeoutMs: duration("shutdown_timeout", DEFAULTS.shutdownTimeoutMs, true),
  };
}

/** A complete `certificates:` entry, kept so that its files can be checked after parsing. */
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

/**
 * `certificates: [{ cert, key }]`, paths resolved against `baseDir`; each complete entry also
 * joins `entries`.
 */
export function readCertificates(
  w: Walker,
  e: Entry | undefined,
  baseDir: string,
  entries: CertificateEntry[],
): CertificateConfig[] {
  if (e === undefined || e.node === null) return [];
  const out: CertificateConfig[] = [];
  for (const item of read.readList(w, e)) {
    const m = w.map(item, ["cert", "key"]);
    if (m === null) continue;
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
    out.push(pair);
  }
  return out;
}

/** `admin: { listen }`; the endpoint joins `binds` for the overlap check. */
export function readAdmin(w: Walker, e: Entry | undefined, binds: BindUse[]): AdminConfig | null {
  if (e === undefined || e.node === null) return null;
  const m = w.map(e, ["listen"]);
  const listenEntry = m?.get("listen");
  if (m !== null && listenEntry === undefined) {
    w.error(e.node, e.path, `admin needs "listen", e.g. listen: 127.0.0.1:9901`);
  }
  const listen = listenEntry && readEndpoint(w, listenEntry, true);
  if (listen === undefined) return null;
  binds.push({ endpoint: listen, entry: listenEntry!, owner: "admin" });
  return { listen };
}

/** `workers: auto` (one per core) or a count. */
export function readWorkers(w: Walker, e: Entry): number | "auto" | undefined {
  if (isScalar(e.node) && e.node.value === "auto") return "auto";
  return read.readInt(w, e, 1, 1024);
}
