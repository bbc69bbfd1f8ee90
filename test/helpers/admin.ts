/**
 * Talking to a running router the way an operator does: its event lines, its admin endpoint
 * (/metrics, /status), signals. Shared by the operations, workers and fuzz tests.
 */

import assert from "node:assert/strict";
import process from "node:process";
import type { RouterProcess } from "./router.ts";

/** The router's event lines (stderr JSON). */
export function events(r: RouterProcess): Record<string, unknown>[] {
  return r.stderrLines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

/** The admin port from the "listening" event. */
export function adminPort(r: RouterProcess): number {
  const ev = events(r).find((e) => e.msg === "listening");
  assert.ok(ev !== undefined && typeof ev.admin === "string", "the listening event names admin");
  const admin = ev.admin as string;
  return Number(admin.slice(admin.lastIndexOf(":") + 1));
}

/**
 * Re-evaluates `f` (e.g. a /metrics scrape) until it returns something truthy. The admin
 * endpoint has no events to wait on, so this polls.
 */
export async function until<T>(
  f: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** GET http://127.0.0.1:port/path with fetch(); the whole body as text. */
export async function get(
  port: number,
  path: string,
): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return {
    status: res.status,
    type: res.headers.get("content-type") ?? "",
    body: await res.text(),
  };
}

/** GET /status, checked to be 200 JSON. */
export async function status<T>(port: number): Promise<T> {
  const res = await get(port, "/status");
  assert.equal(res.status, 200);
  assert.match(res.type, /application\/json/);
  return JSON.parse(res.body) as T;
}

/** One Prometheus sample. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text; every non-comment line must be a sample. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$/.exec(line);
    assert.ok(m !== null, `a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k] = v.replace(/\\(.)/g, (_e, c: string) => (c === "n" ? "\n" : c));
    }
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** A scrape, with lookups by name and exact label set. */
export class Metrics {
  readonly samples: Sample[];
  constructor(readonly text: string) {
    this.samples = parseMetrics(text);
  }
  /** The sample with exactly `labels`, or undefined. */
  get(name: string, labels: Record<string, string>): number | undefined {
    const want = Object.entries(labels).sort();
    return this.samples.find((s) =>
      s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(want)
    )?.value;
  }
  /** Like get, 0 when absent (a counter not yet incremented). */
  n(name: string, labels: Record<string, string> = {}): number {
    return this.get(name, labels) ?? 0;
  }
  /** Every sample of `name` added up, whatever its labels. */
  sum(name: string): number {
    let total = 0;
    for (const s of this.samples) if (s.name === name) total += s.value;
    return total;
  }
}

/** Scrapes /metrics. */
export async function scrape(port: number): Promise<Metrics> {
  const res = await get(port, "/metrics");
  assert.equal(res.status, 200);
  return new Metrics(res.body);
}

/** Scrapes /metrics until `listener` has no active connection; returns that scrape. */
export function idleScrape(port: number, listener: string, timeoutMs?: number): Promise<Metrics> {
  return until(
    async () => {
      const m = await scrape(port);
      return m.n("switchyard_connections_active", { listener }) === 0 && m;
    },
    `every connection of ${listener} to end`,
    timeoutMs,
  );
}

/**
 * Sends `sig` to the router. process.kill, not child.kill: Deno's ChildProcess.kill signals a
 * child only once (later calls do nothing) and then reports the signal instead of the exit code.
 */
export function signal(r: RouterProcess, sig: "SIGHUP" | "SIGTERM"): void {
  process.kill(r.child.pid!, sig);
}
