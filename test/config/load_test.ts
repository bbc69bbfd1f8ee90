/** Values, defaults, frozenness and the contract's example config. */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { formatProblem, loadConfigFile, parseConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/types.ts";
import { BASE, completedIssue18, HASH, ISSUE_18, yaml } from "./problems.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CONTRACT = join(ROOT, "test/fixtures/config/contract_example.yaml");

function parse(text: string): Config {
  const { config, problems } = parseConfig(text, "/etc/switchyard/t.yaml");
  assert.deepEqual(problems.map(formatProblem), []);
  assert.ok(config);
  return config;
}

test("defaults fill every key left out", () => {
  const config = parse(yaml(...BASE));
  assert.deepEqual(config.defaults, {
    connectTimeoutMs: 5000,
    inspectTimeoutMs: 10_000,
    idleTimeoutMs: 300_000,
    shutdownTimeoutMs: 30_000,
  });
  assert.equal(config.admin, null);
  assert.deepEqual(config.certificates, []);
  assert.equal(config.workers, 1);
  const web = config.listeners.get("web")!;
  assert.deepEqual(web.bind, [{ host: "", port: 80, family: 0, text: ":80" }]);
  assert.equal(web.acceptProxy, null);
  assert.equal(web.transparent, false);
  assert.deepEqual(web.forwarded, []);
  assert.equal(web.maxConnections, 10_000);
  assert.equal(web.default, undefined);
  assert.equal(web.terminate, undefined);
  assert.equal(web.fronting, "deny");
  assert.deepEqual(web.alpn, ["h2", "http/1.1"]);
  assert.equal(web.sshWaitMs, 2000);
  assert.equal(web.inspectTimeoutMs, 10_000);
  assert.equal(web.idleTimeoutMs, 300_000);
  assert.deepEqual(web.routes, [{ index: 0, host: ["a.example.com"], to: "app" }]);
  const app = config.backends.get("app")!;
  assert.deepEqual(app, {
    name: "app",
    servers: [{
      name: "127.0.0.1:3000",
      address: { host: "127.0.0.1", port: 3000, family: 4, text: "127.0.0.1:3000" },
      weight: 1,
    }],
    balance: "roundrobin",
    retries: 2,
    connectTimeoutMs: 5000,
    proxyProtocol: null,
    tls: null,
    source: null,
    healthCheck: null,
    http2: false,
  });
});

test("listener and backend settings override defaults", () => {
  const config = parse(yaml(
    "defaults: { connect_timeout: 2s, inspect_timeout: 3s, idle_timeout: 1m, shutdown_timeout: 0s }",
    "listeners:",
    "  mux:",
    '    bind: ["127.0.0.1:8443", "[::1]:8443", "localhost:9000"]',
    "    protocol: auto",
    "    ssh_wait: 500ms",
    "    inspect_timeout: 1m30s",
    "    accept_proxy: true",
    "    max_connections: 5",
    "    routes:",
    "      - { protocol: [ssh], src: [10.0.0.0/8, 2001:db8::/32], family: ipv4, local: false, to: ssh }",
    "      - { sni: [A.Example.COM., '*.b.example.com'], alpn: [h2, http/1.1], to: web }",
    "    default: '[::1]:8080'",
    "backends:",
    "  ssh:",
    "    servers: [{ address: '[::ffff:10.0.0.1]:22', weight: 0, name: one }, { address: h.example:22, weight: 256 }]",
    "    balance: first",
    "    retries: 0",
    "    connect_timeout: 250ms",
    "    proxy_protocol: v1",
    "    source: { usesrc: clientip }",
    "  web:",
    "    servers: [127.0.0.1:80]",
    "    tls: true",
    "    health_check: { http: true }",
  ));
  assert.deepEqual(config.defaults, {
    connectTimeoutMs: 2000,
    inspectTimeoutMs: 3000,
    idleTimeoutMs: 60_000,
    shutdownTimeoutMs: 0,
  });
  const mux = config.listeners.get("mux")!;
  assert.deepEqual(mux.bind.map((b) => [b.host, b.port, b.family]), [
    ["127.0.0.1", 8443, 4],
    ["::1", 8443, 6],
    ["localhost", 9000, 0],
  ]);
  assert.equal(mux.sshWaitMs, 500);
  assert.equal(mux.inspectTimeoutMs, 90_000);
  assert.equal(mux.idleTimeoutMs, 60_000);
  assert.equal(mux.maxConnections, 5);
  assert.deepEqual(mux.acceptProxy?.from.map((c) => c.text), ["127.0.0.0/8", "::1/128"]);
  assert.deepEqual(mux.routes[0].src?.map((c) => c.text), ["10.0.0.0/8", "2001:db8::/32"]);
  assert.equal(mux.routes[0].family, "ipv4");
  assert.equal(mux.routes[0].local, false);
  assert.deepEqual(mux.routes[0].protocol, ["ssh"]);
  assert.deepEqual(mux.routes[1].sni, ["a.example.com", "*.b.example.com"]);
  assert.deepEqual(mux.routes[1].alpn, ["h2", "http/1.1"]);
  assert.equal(mux.default, "[::1]:8080");
  const ssh = config.backends.get("ssh")!;
  assert.deepEqual(ssh.servers.map((s) => [s.name, s.address.host, s.address.family, s.weight]), [
    ["one", "10.0.0.1", 4, 0],
    ["h.example:22", "h.example", 0, 256],
  ]);
  assert.equal(ssh.balance, "first");
  assert.equal(ssh.retries, 0);
  assert.equal(ssh.connectTimeoutMs, 250);
  assert.equal(ssh.proxyProtocol, "v1");
  assert.deepEqual(ssh.source, { usesrc: "clientip" });
  const web = config.backends.get("web")!;
  assert.deepEqual(web.tls, { sni: "host", ca: "system", verify: true });
  assert.deepEqual(web.healthCheck, {
    intervalMs: 5000,
    timeoutMs: 2000,
    rise: 2,
    fall: 3,
    http: { path: "/", expect: 200 },
  });
  // The address in default: became a one-server backend named after it, with defaults.
  const implicit = config.backends.get("[::1]:8080")!;
  assert.deepEqual(implicit.servers.map((s) => [s.name, s.address.host, s.address.port]), [
    ["[::1]:8080", "::1", 8080],
  ]);
  assert.equal(implicit.connectTimeoutMs, 2000);
  assert.equal(implicit.retries, 2);
  assert.deepEqual([...config.backends.keys()], ["ssh", "web", "[::1]:8080"]);
});

test("certificate and CA paths resolve against the config file's folder", () => {
  const config = parse(yaml(
    "certificates:",
    "  - { cert: certs/a.pem, key: /abs/key.pem }",
    ...BASE,
    "    tls: { ca: ca/root.pem, sni: API.example.com, verify: false }",
  ));
  assert.deepEqual(config.certificates, [{
    cert: "/etc/switchyard/certs/a.pem",
    key: "/abs/key.pem",
  }]);
  assert.deepEqual(config.backends.get("app")!.tls, {
    sni: "api.example.com",
    ca: "/etc/switchyard/ca/root.pem",
    verify: false,
  });
});

test("the config and everything in it is frozen", () => {
  const config = parse(readFileSync(CONTRACT, "utf8"));
  const seen = new Set<unknown>();
  const walk = (v: unknown, path: string) => {
    if (typeof v !== "object" || v === null || seen.has(v) || ArrayBuffer.isView(v)) return;
    seen.add(v);
    assert.ok(Object.isFrozen(v), `${path} is not frozen`);
    const children = Symbol.iterator in v && !Array.isArray(v)
      ? [...(v as Iterable<[string, unknown]>)]
      : Object.entries(v);
    for (const [k, child] of children) walk(child, `${path}.${k}`);
  };
  walk(config, "config");
  assert.ok(seen.size > 50);
  assert.equal((config.listeners as unknown as { set?: unknown }).set, undefined);
  assert.throws(() => {
    (config.listeners.get("web")!.routes as RouteList).push({ index: 9, to: "x" });
  }, TypeError);
  assert.throws(() => {
    (config as { workers: unknown }).workers = 2;
  }, TypeError);
});

type RouteList = { index: number; to: string }[];

test("the contract's example config parses with no problems", () => {
  const { config, problems } = loadConfigFile(CONTRACT);
  assert.deepEqual(problems.map(formatProblem), []);
  assert.ok(config);
  assert.deepEqual([...config.listeners.keys()], ["web", "secure", "mux"]);
  const web = config.listeners.get("web")!;
  assert.equal(web.protocol, "http");
  assert.deepEqual(web.forwarded, ["x-forwarded-for", "x-forwarded-proto", "forwarded"]);
  assert.deepEqual(web.routes.map((r) => r.to), ["app1-tls", "app1", "app2", "192.0.2.40:8080"]);
  assert.equal(web.routes[0].tls, true);
  assert.equal(web.default, "fallback");
  const secure = config.listeners.get("secure")!;
  assert.equal(secure.terminate, "web");
  assert.deepEqual(secure.routes[1].alpn, ["acme-tls/1"]);
  assert.deepEqual(config.listeners.get("mux")!.routes[0], {
    index: 0,
    protocol: ["ssh"],
    to: "127.0.0.1:22",
  });
  const app1 = config.backends.get("app1")!;
  assert.deepEqual(app1.servers.map((s) => [s.name, s.address.host, s.weight]), [
    ["192.0.2.10:3000", "192.0.2.10", 1],
    ["192.0.2.11:3000", "192.0.2.11", 2],
    ["[2001:db8::10]:3000", "2001:db8::10", 1],
  ]);
  assert.equal(app1.proxyProtocol, "v2");
  assert.deepEqual(app1.source, { usesrc: "client", address: "192.168.127.1" });
  assert.deepEqual(app1.healthCheck, {
    intervalMs: 5000,
    timeoutMs: 2000,
    rise: 2,
    fall: 3,
    http: { path: "/healthz", expect: 200 },
  });
  assert.deepEqual(config.admin?.listen.text, "127.0.0.1:9901");
  assert.equal(config.certificates[0].cert, join(ROOT, "test/fixtures/config/certs/fullchain.pem"));
});

test("the contract's example verbatim only lacks the backends it does not define", () => {
  const verbatim = readFileSync(CONTRACT, "utf8").split("# --- not in the contract")[0];
  const { config, problems } = parseConfig(verbatim, "c.yaml");
  assert.equal(config, null);
  assert.deepEqual(problems.map((p) => p.message), [
    'unknown backend "app1-tls" (did you mean "app1"?)',
    'unknown backend "app2" (did you mean "app1"?)',
    'unknown backend "fallback"',
    'unknown backend "app1-tls" (did you mean "app1"?)',
    'unknown backend "acme"',
    'unknown backend "app1-tls" (did you mean "app1"?)',
  ]);
});

test("routes/example.yaml (what npm start runs) is valid and loopback-only", () => {
  const { config, problems } = loadConfigFile(join(ROOT, "routes/example.yaml"));
  assert.deepEqual(problems.map(formatProblem), []);
  assert.ok(config);
  const endpoints = [
    config.admin!.listen,
    ...[...config.listeners.values()].flatMap((l) => l.bind),
    ...[...config.backends.values()].flatMap((b) => b.servers.map((s) => s.address)),
  ];
  for (const e of endpoints) assert.equal(e.host, "127.0.0.1", e.text);
});

test("an unreadable file is one problem at 1:1", () => {
  const { config, problems } = loadConfigFile(join(ROOT, "test/fixtures/config/missing.yaml"));
  assert.equal(config, null);
  assert.equal(problems.length, 1);
  assert.match(formatProblem(problems[0]), /^.*missing\.yaml:1:1: cannot read the config file: /);
});

test("formatProblem: FILE:LINE:COL: path: message, warnings marked", () => {
  const base = { file: "f.yaml", line: 3, col: 7, path: "listeners.web", message: "bad" } as const;
  assert.equal(formatProblem({ ...base, severity: "error" }), "f.yaml:3:7: listeners.web: bad");
  assert.equal(
    formatProblem({ ...base, severity: "warning" }),
    "f.yaml:3:7: warning: listeners.web: bad",
  );
  assert.equal(formatProblem({ ...base, path: "", severity: "error" }), "f.yaml:3:7: bad");
});

test("a config with only warnings is returned", () => {
  const { config, problems } = parseConfig(
    yaml(...BASE, "  spare:", "    servers: [127.0.0.1:1]"),
    "t.yaml",
  );
  assert.ok(config);
  assert.deepEqual(problems.map((p) => p.severity), ["warning"]);
});

test("route actions: issue #18's example verbatim lacks only a bind, backends and a real hash", () => {
  const { config, problems } = parseConfig(ISSUE_18, "c.yaml");
  assert.equal(config, null);
  assert.deepEqual(problems.map(formatProblem), [
    'c.yaml:6:58: listeners.web.routes[0].to: unknown backend "acme"',
    'c.yaml:8:3: listeners.site: listener "site" needs "bind", e.g. bind: ":80"',
    'c.yaml:20:13: listeners.site.routes[1].to: unknown backend "api"',
    "c.yaml:23:56: listeners.site.routes[2].auth.basic.users.alice: expected a bcrypt hash " +
    '($2a$, $2b$ or $2y$, a cost from 04 to 31, "$" and 53 characters), not a password: ' +
    'make one with "switchyard hash-password"',
    'c.yaml:24:13: listeners.site.routes[2].to: unknown backend "admin"',
  ]);
});

test("route actions: issue #18's example, completed, gives the expected objects", () => {
  const config = parse(completedIssue18());
  const web = config.listeners.get("web")!;
  assert.equal(web.responseHeaders, null);
  assert.deepEqual(web.routes, [
    { index: 0, pathPrefix: ["/.well-known/acme-challenge/"], to: "acme" },
    { index: 1, to: null, redirect: { to: "https", status: 308 } },
  ]);
  const site = config.listeners.get("site")!;
  assert.deepEqual(site.responseHeaders, {
    set: [["Strict-Transport-Security", "max-age=31536000"]],
    remove: [],
  });
  const [old, app, admin, down] = site.routes;
  assert.deepEqual(old, {
    index: 0,
    host: ["old.example.com"],
    to: null,
    redirect: { to: "https://new.example.com{uri}", status: 301 },
  });
  assert.deepEqual(app, {
    index: 1,
    host: ["app.example.com"],
    pathPrefix: ["/api/"],
    to: "api",
    stripPrefix: true,
    requestHeaders: { set: [["X-Env", "prod"]], remove: ["x-debug"] },
    responseHeaders: { set: [["X-Frame-Options", "DENY"]], remove: ["server", "x-powered-by"] },
    rateLimit: { requests: 20, perMs: 1000, burst: 40 },
  });
  const { allow, auth, ...rest } = admin;
  assert.deepEqual(rest, { index: 2, host: ["admin.example.com"], to: "admin" });
  assert.deepEqual(allow?.map((c) => [c.text, c.family, c.prefix]), [
    ["203.0.113.0/24", 4, 24],
    ["2001:db8::/32", 6, 32],
  ]);
  assert.equal(auth?.realm, "admin");
  assert.deepEqual([...auth!.users], [["alice", HASH]]);
  assert.deepEqual(down, {
    index: 3,
    host: ["down.example.com"],
    to: null,
    respond: { status: 503, body: "Back soon\n", headers: [["Retry-After", "600"]] },
  });
});

test("route actions: defaults, shorthands, case and order of header names, frozen users", () => {
  const { config, problems } = parseConfig(
    yaml(
      "listeners:",
      "  web:",
      '    bind: ":80"',
      "    protocol: http",
      "    response_headers: { remove: [Server] }",
      "    routes:",
      '      - { host: a.test, redirect: "https://b.test{path}?x=1&{query}" }',
      '      - { host: b.test, redirect: { to: "/moved{uri}", status: 307 } }',
      "      - { host: c.test, respond: {} }",
      "      - { host: d.test, respond: { status: 204, headers: { X-Empty: '' } } }",
      "      - host: e.test",
      "        to: app",
      "        strip_prefix: false",
      "        request_headers: { set: { x-b: '2', X-A: '1' } }",
      "        response_headers: { remove: X-Powered-By }",
      "        deny: 10.0.0.0/8",
      "        rate_limit: { requests: 5 }",
      `        auth: { basic: { realm: "Staff only", users: { bob: "${HASH}", alice: "${HASH}" } } }`,
      "        forward_auth_header: true",
      "      - { allow: [192.0.2.0/24], respond: { status: 403 } }",
      "      - { host: f.test, to: app }",
      "backends:",
      '  app: { servers: ["127.0.0.1:3000"] }',
    ),
    "t.yaml",
  );
  // allow is no match key: the route above it still catches every request.
  assert.deepEqual(problems.map(formatProblem), [
    "t.yaml:21:9: warning: listeners.web.routes[6]: never matches: listeners.web.routes[5] " +
    "above matches every connection",
  ]);
  const web = config!.listeners.get("web")!;
  assert.deepEqual(web.responseHeaders, { set: [], remove: ["server"] });
  const r = web.routes;
  assert.deepEqual(r[0].redirect, { to: "https://b.test{path}?x=1&{query}", status: 308 });
  assert.deepEqual(r[1].redirect, { to: "/moved{uri}", status: 307 });
  assert.deepEqual(r[2], {
    index: 2,
    host: ["c.test"],
    to: null,
    respond: { status: 200, body: "", headers: [] },
  });
  assert.deepEqual(r[3].respond, { status: 204, body: "", headers: [["X-Empty", ""]] });
  assert.equal(r[4].stripPrefix, false);
  assert.deepEqual(r[4].requestHeaders, { set: [["x-b", "2"], ["X-A", "1"]], remove: [] });
  assert.deepEqual(r[4].responseHeaders, { set: [], remove: ["x-powered-by"] });
  assert.deepEqual(r[4].deny?.map((c) => c.text), ["10.0.0.0/8"]);
  assert.deepEqual(r[4].rateLimit, { requests: 5, perMs: 1000, burst: 5 });
  assert.equal(r[4].auth?.realm, "Staff only");
  assert.deepEqual([...r[4].auth!.users.keys()], ["bob", "alice"]);
  assert.equal(r[4].forwardAuthHeader, true);
  assert.equal((r[4].auth!.users as unknown as { set?: unknown }).set, undefined);
  assert.ok(Object.isFrozen(r[4].requestHeaders!.set[0]));
  assert.deepEqual(r[5].allow?.map((c) => c.text), ["192.0.2.0/24"]);
  assert.equal(r[5].to, null);
});
