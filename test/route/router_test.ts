import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfig } from "../../src/config/load.ts";
import type { ListenerConfig, RouteConfig } from "../../src/config/types.ts";
import { parseIp } from "../../src/net/ip.ts";
import { compileRouter, type RouteInput } from "../../src/route/router.ts";

const V4 = parseIp("192.0.2.1")!;
const V6 = parseIp("2001:db8::1")!;

/** A listener with `routes` (hand-built, as a test of the router alone). */
function listener(
  routes: Omit<RouteConfig, "index">[],
  extra: Partial<ListenerConfig> = {},
): ListenerConfig {
  return {
    name: "l",
    bind: [],
    protocol: "auto",
    acceptProxy: null,
    transparent: false,
    forwarded: [],
    maxConnections: 1,
    routes: routes.map((r, index) => ({ index, ...r })),
    fronting: "deny",
    alpn: ["h2", "http/1.1"],
    responseHeaders: null,
    sshWaitMs: 1,
    inspectTimeoutMs: 1,
    idleTimeoutMs: 1,
    ...extra,
  };
}

function to(l: ListenerConfig, input: Partial<RouteInput>): string | null {
  return compileRouter(l).match({ src: V4, local: false, ...input })?.to ?? null;
}

test("exact names, wildcards strictly below their suffix, any depth", () => {
  const l = listener([
    { sni: ["app.example.com"], to: "exact" },
    { sni: ["*.example.com"], to: "wild" },
  ]);
  assert.equal(to(l, { sni: "app.example.com" }), "exact");
  assert.equal(to(l, { sni: "b.example.com" }), "wild");
  assert.equal(to(l, { sni: "a.b.example.com" }), "wild");
  assert.equal(to(l, { sni: "example.com" }), null);
  assert.equal(to(l, { sni: "badexample.com" }), null);
  assert.equal(to(l, { sni: "example.com.evil" }), null);
  assert.equal(to(l, { sni: null }), null);
  assert.equal(to(l, {}), null);
});

test("first match wins across exact, wildcard and keyless routes", () => {
  const l = listener([
    {
      src: [{ family: 4, bytes: Uint8Array.of(10, 0, 0, 0), prefix: 8, text: "10.0.0.0/8" }],
      to: "internal",
    },
    { sni: ["*.example.com"], to: "wild" },
    { sni: ["app.example.com"], to: "exact-shadowed" },
    { alpn: ["acme-tls/1"], to: "acme" },
    { sni: ["app.example.com", "other.example.org"], alpn: ["h2"], to: "h2-never-for-app" },
    { sni: ["other.example.org"], to: "other" },
  ]);
  assert.equal(to(l, { sni: "app.example.com" }), "wild");
  assert.equal(to(l, { sni: "app.example.com", src: parseIp("10.1.1.1")! }), "internal");
  assert.equal(to(l, { sni: "app.example.com", alpn: ["acme-tls/1"] }), "wild");
  assert.equal(to(l, { sni: "other.example.org", alpn: ["acme-tls/1"] }), "acme");
  assert.equal(to(l, { sni: "other.example.org", alpn: ["http/1.1", "h2"] }), "h2-never-for-app");
  assert.equal(to(l, { sni: "other.example.org", alpn: ["http/1.1"] }), "other");
  assert.equal(to(l, { sni: "nothing.test" }), null);
});

test("keys AND together, list entries OR", () => {
  const l = listener([
    { sni: ["a.test", "b.test"], alpn: ["h2", "h3"], family: "ipv6", to: "both" },
    { protocol: ["ssh", "unknown"], local: true, to: "local-ssh" },
    { host: ["www.test"], pathPrefix: ["/api/", "/v2/"], to: "api" },
    { host: ["www.test"], tls: true, to: "secure-www" },
    { host: ["www.test"], to: "www" },
  ]);
  assert.equal(to(l, { sni: "b.test", alpn: ["h3"], src: V6 }), "both");
  assert.equal(to(l, { sni: "b.test", alpn: ["h3"], src: V4 }), null);
  assert.equal(to(l, { sni: "b.test", src: V6 }), null);
  assert.equal(to(l, { protocol: "ssh", local: true }), "local-ssh");
  assert.equal(to(l, { protocol: "unknown", local: true }), "local-ssh");
  assert.equal(to(l, { protocol: "ssh", local: false }), null);
  assert.equal(to(l, { protocol: "tls", local: true }), null);
  assert.equal(to(l, { host: "www.test", path: "/v2/x" }), "api");
  assert.equal(to(l, { host: "www.test", path: "/v3" }), "www");
  assert.equal(to(l, { host: "www.test", path: "/v3", tls: true }), "secure-www");
  assert.equal(to(l, { host: "www.test", tls: false }), "www");
});

test("config names are normalized at compile; inputs are compared as given", () => {
  const l = listener([{ host: ["WWW.Example.COM.", "*.Apps.Test"], to: "x" }]);
  assert.equal(to(l, { host: "www.example.com" }), "x");
  assert.equal(to(l, { host: "a.apps.test" }), "x");
  // Normalizing inputs is the sniffers' job (normalizeName): the router does not redo it.
  assert.equal(to(l, { host: "WWW.example.com" }), null);
});

test("a route with both sni and host needs both", () => {
  const l = listener([{ sni: ["a.test"], host: ["*.b.test"], to: "both" }, {
    host: ["x.b.test"],
    to: "host",
  }]);
  assert.equal(to(l, { sni: "a.test", host: "x.b.test" }), "both");
  assert.equal(to(l, { sni: "c.test", host: "x.b.test" }), "host");
  assert.equal(to(l, { sni: "a.test" }), null);
});

test("default is exposed and matching leaves it to the caller", () => {
  const router = compileRouter(listener([{ sni: ["a.test"], to: "a" }], { default: "fallback" }));
  assert.equal(router.default, "fallback");
  assert.equal(router.match({ sni: "b.test", src: V4, local: false }), null);
  assert.equal(compileRouter(listener([])).default, undefined);
  assert.equal(compileRouter(listener([])).match({ src: V4, local: false }), null);
});

test("match returns the configured route object", () => {
  const l = listener([{ sni: ["a.test"], to: "a" }, { to: "rest" }]);
  const router = compileRouter(l);
  assert.equal(router.match({ sni: "a.test", src: V4, local: false }), l.routes[0]);
  assert.equal(router.match({ sni: "zzz", src: V4, local: false }), l.routes[1]);
});

test("routes from a parsed config, as the contract's example routes them", () => {
  const { config } = parseConfig(
    [
      "listeners:",
      "  web:",
      '    bind: ":80"',
      "    protocol: http",
      "    routes:",
      "      - { host: app1.example.com, tls: true, to: app1-tls }",
      "      - { host: app1.example.com, to: app1 }",
      '      - { host: "*.example.org", to: app2 }',
      '      - { host: app3.example.com, to: "192.0.2.40:8080" }',
      "    default: fallback",
      "backends:",
      "  app1: { servers: [192.0.2.1:80] }",
      "  app1-tls: { servers: [192.0.2.1:443] }",
      "  app2: { servers: [192.0.2.2:80] }",
      "  fallback: { servers: [192.0.2.3:80] }",
    ].join("\n"),
    "t.yaml",
  );
  const web = config!.listeners.get("web")!;
  assert.equal(to(web, { host: "app1.example.com", tls: true }), "app1-tls");
  assert.equal(to(web, { host: "app1.example.com" }), "app1");
  assert.equal(to(web, { host: "x.y.example.org" }), "app2");
  assert.equal(to(web, { host: "example.org" }), null);
  assert.equal(to(web, { host: "app3.example.com" }), "192.0.2.40:8080");
  assert.equal(compileRouter(web).default, "fallback");
});

test("decide: the matching route and its backend, else the default, else no backend", () => {
  const routes = [{ host: ["a.test"], to: "a" }];
  const withDefault = compileRouter(listener(routes, { default: "fb" }));
  const hit = withDefault.decide({ src: V4, local: false, host: "a.test" });
  assert.equal(hit.route?.to, "a");
  assert.equal(hit.backend, "a");
  // The same frozen object every time: deciding allocates nothing per request.
  assert.equal(withDefault.decide({ src: V4, local: false, host: "a.test" }), hit);
  const miss = withDefault.decide({ src: V4, local: false, host: "b.test" });
  assert.deepEqual({ ...miss }, { route: null, backend: "fb" });
  const none = compileRouter(listener(routes)).decide({ src: V4, local: false, host: "b.test" });
  assert.deepEqual({ ...none }, { route: null, backend: null });
});
