/**
 * Backend settings that are maps: `tls`, `source` and `health_check`.
 *
 * @module
 */

import { resolve } from "node:path";
import { isScalar } from "yaml";
import { isDnsName } from "../net/endpoint.ts";
import { readIp } from "./addresses.ts";
import * as read from "./scalars.ts";
import type { BackendTls, HealthCheckConfig, SourceConfig } from "./types.ts";
import type { Entry, Walker } from "./yaml_walk.ts";

/** Health check timing when not given: HAProxy's rise/fall, a check every five seconds. */
export const HEALTH_DEFAULTS = { intervalMs: 5000, timeoutMs: 2000, rise: 2, fall: 3 } as const;

/** `true`/`false` as shorthand for "on with defaults"/"off"; undefined for anything else. */
function toggle(e: Entry): boolean | undefined {
  return isScalar(e.node) && typeof e.node.value === "boolean" ? e.node.value : undefined;
}

function readHostName(w: Walker, e: Entry): string | undefined {
  const text = read.readString(w, e);
  if (text === undefined) return undefined;
  if (isDnsName(text.toLowerCase())) return text.toLowerCase();
  w.error(e.node, e.path, `bad host name "${text}"`);
  return undefined;
}

/** `tls: true` or `{ sni: host | NAME, ca: system | FILE, verify: true }`. */
export function readBackendTls(w: Walker, e: Entry, baseDir: string): BackendTls | null {
  const on = toggle(e);
  if (on !== undefined) return on ? { sni: "host", ca: "system", verify: true } : null;
  const m = w.map(e, ["sni", "ca", "verify"]);
  if (m === null) return null;
  const sni = read.optional(m, "sni", (s) => {
    if (isScalar(s.node) && s.node.value === "host") return "host";
    return readHostName(w, s);
  }, "host");
  const ca = read.optional(m, "ca", (c) => read.readString(w, c), "system");
  return {
    sni,
    ca: ca === "system" ? ca : resolve(baseDir, ca),
    verify: read.optional(m, "verify", (v) => read.readBool(w, v), true),
  };
}

/** `source: { usesrc: client | clientip | IP, address: IP }` (transparent proxying). */
export function readSource(w: Walker, e: Entry): SourceConfig | null {
  const m = w.map(e, ["usesrc", "address"]);
  if (m === null) return null;
  const usesrc = m.get("usesrc");
  if (usesrc === undefined) {
    w.error(e.node, e.path, `source needs "usesrc": client, clientip or an IP address`);
    return null;
  }
  const mode =
    isScalar(usesrc.node) && (usesrc.node.value === "client" || usesrc.node.value === "clientip")
      ? usesrc.node.value
      : readIp(w, usesrc);
  const address = m.has("address") ? readIp(w, m.get("address")!) : undefined;
  return { usesrc: mode ?? "client", ...(address === undefined ? {} : { address }) };
}

function readHttpCheck(w: Walker, e: Entry): HealthCheckConfig["http"] {
  if (toggle(e) === true) return { path: "/", expect: 200 };
  const m = w.map(e, ["path", "expect", "host"]);
  if (m === null) return undefined;
  const path = read.optional(m, "path", (p) => read.readString(w, p), "/");
  const pathEntry = m.get("path");
  if (!path.startsWith("/") && pathEntry) {
    w.error(pathEntry.node, pathEntry.path, `path "${path}" must start with "/"`);
  }
  const host = m.has("host") ? readHostName(w, m.get("host")!) : undefined;
  return {
    path,
    expect: read.optional(m, "expect", (x) => read.readInt(w, x, 100, 599), 200),
    ...(host === undefined ? {} : { host }),
  };
}

/** `health_check: true` (TCP connect checks) or `{ interval, timeout, rise, fall, http }`. */
export function readHealthCheck(w: Walker, e: Entry): HealthCheckConfig | null {
  const on = toggle(e);
  if (on !== undefined) return on ? { ...HEALTH_DEFAULTS } : null;
  const m = w.map(e, ["interval", "timeout", "rise", "fall", "http"]);
  if (m === null) return null;
  const duration = (key: "intervalMs" | "timeoutMs", name: string) =>
    read.optional(m, name, (d) => read.readDuration(w, d), HEALTH_DEFAULTS[key]);
  const count = (key: "rise" | "fall") =>
    read.optional(m, key, (n) => read.readInt(w, n, 1, 100), HEALTH_DEFAULTS[key]);
  const http = m.has("http") ? readHttpCheck(w, m.get("http")!) : undefined;
  const check: HealthCheckConfig = {
    intervalMs: duration("intervalMs", "interval"),
    timeoutMs: duration("timeoutMs", "timeout"),
    rise: count("rise"),
    fall: count("fall"),
    ...(http === undefined ? {} : { http }),
  };
  const timeout = m.get("timeout");
  if (check.timeoutMs > check.intervalMs && timeout !== undefined) {
    w.warn(timeout.node, timeout.path, "timeout is longer than interval: checks will overlap");
  }
  return check;
}
