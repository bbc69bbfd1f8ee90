/**
 * The small top-level sections: `defaults`, `admin` and `workers`.
 *
 * @module
 */

import { isScalar } from "yaml";
import { readEndpoint } from "./addresses.ts";
import type { BindUse } from "./binds.ts";
import * as read from "./scalars.ts";
import type { AdminConfig, Defaults } from "./types.ts";
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
    read.optional(m, key, (d) => read.readDuration(w, d, { allowZero }), fallback);
  return {
    connectTimeoutMs: duration("connect_timeout", DEFAULTS.connectTimeoutMs),
    inspectTimeoutMs: duration("inspect_timeout", DEFAULTS.inspectTimeoutMs),
    idleTimeoutMs: duration("idle_timeout", DEFAULTS.idleTimeoutMs),
    shutdownTimeoutMs: duration("shutdown_timeout", DEFAULTS.shutdownTimeoutMs, true),
  };
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
