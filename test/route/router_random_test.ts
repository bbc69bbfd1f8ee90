/**
 * The indexed router against a plain "try every route in order" reference, on seeded random
 * route tables and connections drawn from the same small alphabet of names.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Cidr, ListenerConfig, RouteConfig } from "../../src/config/types.ts";
import { cidrContains, parseCidr } from "../../src/net/cidr.ts";
import { parseIp } from "../../src/net/ip.ts";
import { compileRouter, type RouteInput } from "../../src/route/router.ts";

const NAMES = ["a.test", "b.a.test", "c.b.a.test", "test", "x.test", "a.other", "b.other"];
const PATTERNS = [...NAMES, "*.test", "*.a.test", "*.b.a.test", "*.other"];
const ALPN = ["h2", "http/1.1", "acme-tls/1"];
const CIDRS = ["10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32"].map((c) => parseCidr(c)!);
const SOURCES = ["10.1.2.3", "10.2.0.1", "192.0.2.1", "2001:db8::1", "::1"].map((s) => parseIp(s)!);

function random(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return Math.floor((seed / 2 ** 32) * n);
  };
}

function some<T>(pick: (n: number) => number, from: readonly T[]): T[] {
  const out = from.filter(() => pick(3) === 0);
  return out.length > 0 ? out : [from[pick(from.length)]];
}

function nameMatches(patterns: readonly string[], name: string | null | undefined): boolean {
  if (name == null) return false;
  return patterns.some((p) =>
    p.startsWith("*.") ? name.endsWith(p.slice(1)) && name.length > p.length - 1 : p === name
  );
}

/** The obvious implementation: every route in order, every key checked. */
function reference(routes: readonly RouteConfig[], c: RouteInput): RouteConfig | null {
  for (const r of routes) {
    if (r.sni && !nameMatches(r.sni, c.sni)) continue;
    if (r.host && !nameMatches(r.host, c.host)) continue;
    if (r.alpn && !r.alpn.some((p) => c.alpn?.includes(p))) continue;
    if (r.src && !r.src.some((s: Cidr) => cidrContains(s, c.src))) continue;
    if (r.family && (r.family === "ipv4" ? 4 : 6) !== c.src.family) continue;
    if (r.local !== undefined && r.local !== c.local) continue;
    return r;
  }
  return null;
}

function randomRoute(pick: (n: number) => number, index: number): RouteConfig {
  const route: Record<string, unknown> = { index, to: `r${index}` };
  if (pick(2) === 0) route.sni = some(pick, PATTERNS);
  if (pick(3) === 0) route.host = some(pick, PATTERNS);
  if (pick(4) === 0) route.alpn = some(pick, ALPN);
  if (pick(5) === 0) route.src = some(pick, CIDRS);
  if (pick(8) === 0) route.family = pick(2) === 0 ? "ipv4" : "ipv6";
  if (pick(8) === 0) route.local = pick(2) === 0;
  return route as unknown as RouteConfig;
}

test("indexed matching equals the reference on 500 random tables x 200 connections", () => {
  const pick = random(42);
  for (let t = 0; t < 500; t++) {
    const routes = Array.from({ length: 1 + pick(12) }, (_, i) => randomRoute(pick, i));
    const l = { name: "l", routes } as unknown as ListenerConfig;
    const router = compileRouter(l);
    for (let i = 0; i < 200; i++) {
      const c: RouteInput = {
        sni: pick(5) === 0 ? null : NAMES[pick(NAMES.length)],
        host: pick(3) === 0 ? undefined : NAMES[pick(NAMES.length)],
        alpn: pick(3) === 0 ? undefined : some(pick, ALPN),
        src: SOURCES[pick(SOURCES.length)],
        local: pick(2) === 0,
      };
      const want = reference(routes, c);
      assert.equal(router.match(c), want, `table ${t}: ${JSON.stringify({ routes, c })}`);
    }
  }
});
