/**
 * One named case per kind of config problem, each asserting the exact FILE:LINE:COL, key path
 * and message the `check` command prints.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { BASE, check, HASH, yaml } from "./problems.ts";

/** BASE with line `n` (1-based) replaced by `lines`. */
function edit(n: number, ...lines: string[]): string {
  return yaml(...BASE.slice(0, n - 1), ...lines, ...BASE.slice(n));
}

test("the base config has no problems", () => {
  assert.deepEqual(check(yaml(...BASE)), []);
});

test("YAML syntax errors stop validation and point at the bad token", () => {
  const problems = check(yaml("listeners:", "  web: [1,", "backends: {}"));
  assert.equal(problems.length > 0, true);
  assert.match(problems[0], /^t\.yaml:\d+:\d+: /);
  assert.deepEqual(check(yaml("a: 1", "---", "b: 2")), [
    "t.yaml:2:1: Source contains multiple documents; please use YAML.parseAllDocuments()",
  ]);
});

test("an empty file and a file that is not a map", () => {
  assert.deepEqual(check(""), ['t.yaml:1:1: the config is empty: it needs at least "listeners"']);
  assert.deepEqual(check("- a\n"), ["t.yaml:1:1: expected a map, got a list"]);
});

test("unknown top-level key, with a suggestion", () => {
  assert.deepEqual(check(yaml(...BASE, "backend:", "  x: 1")), [
    't.yaml:10:1: unknown key "backend" (did you mean "backends"?)',
  ]);
});

test("missing and empty listeners", () => {
  assert.deepEqual(check(yaml("backends: {}")), [
    't.yaml:1:1: no "listeners": define at least one',
  ]);
  assert.deepEqual(check(yaml("listeners: {}")), [
    "t.yaml:1:12: listeners: no listeners: define at least one",
  ]);
  assert.deepEqual(check(yaml("listeners:")), [
    "t.yaml:1:1: listeners: no listeners: define at least one",
  ]);
});

test("unknown listener key, with a suggestion", () => {
  assert.deepEqual(check(edit(4, "    protocl: http")), [
    't.yaml:4:5: listeners.web: unknown key "protocl" (did you mean "protocol"?)',
    't.yaml:6:11: listeners.web.routes[0].host: "host" applies only to http and auto listeners; "web" is tcp',
  ]);
});

test("unknown route key: misspellings and other proxies' words suggest the right key", () => {
  assert.deepEqual(check(edit(6, "      - { host: a.example.com, backnd: app }")), [
    't.yaml:6:9: listeners.web.routes[0]: route needs "to" (a backend name or address), "redirect" or "respond"',
    't.yaml:6:32: listeners.web.routes[0]: unknown key "backnd" (did you mean "to"?)',
  ]);
  assert.deepEqual(check(edit(6, "      - { hots: a.example.com, to: app }")), [
    't.yaml:6:11: listeners.web.routes[0]: unknown key "hots" (did you mean "host"?)',
  ]);
});

test("unknown backend key, with a suggestion", () => {
  assert.deepEqual(check(yaml(...BASE, "    helth_check: true")), [
    't.yaml:10:5: backends.app: unknown key "helth_check" (did you mean "health_check"?)',
  ]);
});

test("duplicate keys name the first one's line", () => {
  assert.deepEqual(check(edit(4, "    protocol: http", "    protocol: tcp")), [
    't.yaml:5:5: listeners.web: duplicate key "protocol" (first at line 4)',
  ]);
});

test("unknown backend in to: and default:, with a suggestion over backend names", () => {
  assert.deepEqual(check(edit(6, "      - { host: a.example.com, to: ap }", "    default: appp")), [
    't.yaml:6:36: listeners.web.routes[0].to: unknown backend "ap" (did you mean "app"?)',
    't.yaml:7:14: listeners.web.default: unknown backend "appp" (did you mean "app"?)',
  ]);
  assert.deepEqual(
    check(edit(6, "      - { host: a.example.com, to: zebra }", "    default: app")),
    [
      't.yaml:6:36: listeners.web.routes[0].to: unknown backend "zebra"',
    ],
  );
});

test("an IP without a port in to: is told to add one", () => {
  assert.deepEqual(
    check(edit(6, "      - { host: a.example.com, to: 10.0.0.1 }", "    default: app")),
    [
      't.yaml:6:36: listeners.web.routes[0].to: "10.0.0.1" needs a port to be an address, e.g. "10.0.0.1:80"',
    ],
  );
});

test("bad addresses: ports, IPv6 brackets, IPv4 syntax, missing host", () => {
  const server = (address: string) => check(edit(9, `    servers: ["${address}"]`));
  assert.deepEqual(server("127.0.0.1:0"), [
    't.yaml:9:15: backends.app.servers[0]: bad address "127.0.0.1:0": the port must be 1 to 65535',
  ]);
  assert.deepEqual(server("127.0.0.1:65536"), [
    't.yaml:9:15: backends.app.servers[0]: bad address "127.0.0.1:65536": the port must be 1 to 65535',
  ]);
  assert.deepEqual(server("127.0.0.1"), [
    't.yaml:9:15: backends.app.servers[0]: bad address "127.0.0.1": missing port, e.g. "127.0.0.1:80"',
  ]);
  assert.deepEqual(server("::1:80"), [
    't.yaml:9:15: backends.app.servers[0]: bad address "::1:80": an IPv6 address goes in brackets before the port, e.g. "[::1]:80"',
  ]);
  assert.deepEqual(server("256.1.1.1:80"), [
    't.yaml:9:15: backends.app.servers[0]: bad address "256.1.1.1:80": "256.1.1.1" is not an IPv4 address',
  ]);
  assert.deepEqual(server(":80"), [
    't.yaml:9:15: backends.app.servers[0]: bad address ":80": missing host',
  ]);
  assert.deepEqual(check(edit(3, '    bind: ":65536"')), [
    't.yaml:3:11: listeners.web.bind: bad address ":65536": the port must be 0 to 65535',
  ]);
});

test("bad durations: bare numbers, spaces, zero", () => {
  const listener = (line: string) => check(edit(4, "    protocol: http", line));
  assert.deepEqual(listener("    idle_timeout: 5"), [
    't.yaml:5:19: listeners.web.idle_timeout: duration 5 needs a unit, e.g. "5s" or "5ms"',
  ]);
  assert.deepEqual(listener("    idle_timeout: 5 s"), [
    't.yaml:5:19: listeners.web.idle_timeout: bad duration "5 s": write e.g. "5s", "250ms", "1m30s" or "2h"',
  ]);
  assert.deepEqual(listener("    inspect_timeout: 0s"), [
    't.yaml:5:22: listeners.web.inspect_timeout: inspect_timeout must be longer than 0, got "0s"',
  ]);
  assert.deepEqual(check(yaml(...BASE, "defaults: { shutdown_timeout: 0s }")), []);
});

test("bad enums: protocol, balance, proxy_protocol, family, forwarded, route protocol", () => {
  assert.deepEqual(check(edit(4, "    protocol: htp")), [
    't.yaml:4:15: listeners.web.protocol: unknown protocol "htp" (did you mean "http"?)',
  ]);
  assert.deepEqual(check(yaml(...BASE, "    balance: rr", "    proxy_protocol: v3")), [
    't.yaml:10:14: backends.app.balance: unknown balance "rr" (expected roundrobin, leastconn, source or first)',
    't.yaml:11:21: backends.app.proxy_protocol: unknown proxy_protocol "v3" (did you mean "v1"?)',
  ]);
  assert.deepEqual(
    check(edit(6, "      - { family: ip4, to: app }", "    forwarded: [x-forwarded-fro]")),
    [
      't.yaml:6:19: listeners.web.routes[0].family: unknown family "ip4" (did you mean "ipv4"?)',
      't.yaml:7:17: listeners.web.forwarded[0]: unknown forwarded "x-forwarded-fro" (did you mean "x-forwarded-for"?)',
    ],
  );
  const auto = edit(4, "    protocol: auto").replace(
    "{ host: a.example.com,",
    "{ protocol: [ssh, rdp],",
  );
  assert.deepEqual(check(auto), [
    't.yaml:6:27: listeners.web.routes[0].protocol[1]: unknown protocol "rdp" (expected tls, http, h2c, ssh or unknown)',
  ]);
});

test("terminate: must name an http listener, only on tls listeners, and needs certificates", () => {
  const tls = ["  secure:", '    bind: ":443"', "    protocol: tls"];
  const cert = ["certificates: [{ cert: c.pem, key: k.pem }]"];
  assert.deepEqual(
    check(yaml(...cert, ...BASE.slice(0, 6), ...tls, "    terminate: webb", ...BASE.slice(6))),
    [
      't.yaml:11:16: listeners.secure.terminate: unknown listener "webb" (did you mean "web"?)',
    ],
  );
  assert.deepEqual(
    check(yaml(...cert, ...BASE.slice(0, 6), ...tls, "    terminate: secure", ...BASE.slice(6))),
    [
      't.yaml:11:16: listeners.secure.terminate: listener "secure" is tls; terminate needs an http listener',
    ],
  );
  assert.deepEqual(
    check(yaml(...BASE.slice(0, 6), ...tls, "    terminate: web", ...BASE.slice(6))),
    [
      't.yaml:10:16: listeners.secure.terminate: terminating TLS needs at least one entry under "certificates"',
    ],
  );
  assert.deepEqual(
    check(edit(6, "      - { host: a.example.com, to: app }", "    terminate: web")),
    [
      't.yaml:7:5: listeners.web.terminate: "terminate" applies only to tls listeners; "web" is http',
    ],
  );
});

test("alpn on a listener: what termination offers, h2 and http/1.1 each once, only with terminate", () => {
  const tls = ["  secure:", '    bind: ":443"', "    protocol: tls"];
  const cert = ["certificates: [{ cert: c.pem, key: k.pem }]"];
  const terminating = (alpn: string) =>
    check(yaml(...cert, ...BASE.slice(0, 6), ...tls, "    terminate: web", alpn, ...BASE.slice(6)));
  assert.deepEqual(terminating("    alpn: [http/1.1]"), []);
  assert.deepEqual(terminating("    alpn: [h2, h3]"), [
    't.yaml:12:16: listeners.secure.alpn[1]: unknown alpn "h3" (did you mean "h2"?)',
  ]);
  assert.deepEqual(terminating("    alpn: [h2, h2]"), [
    't.yaml:12:16: listeners.secure.alpn[1]: duplicate protocol "h2": list each once',
  ]);
  assert.deepEqual(
    check(
      yaml(...BASE.slice(0, 6), ...tls, "    alpn: [h2]", "    default: app", ...BASE.slice(6)),
    ),
    [
      't.yaml:10:5: listeners.secure.alpn: listener "secure": alpn is what termination offers; ' +
      "add terminate: or remove alpn (to route by the client's ALPN, use alpn: in a route)",
    ],
  );
  assert.deepEqual(check(yaml(...BASE.slice(0, 6), "    alpn: [h2]", ...BASE.slice(6))), [
    't.yaml:7:5: listeners.web.alpn: "alpn" applies only to tls listeners; "web" is http',
  ]);
});

test("listener-specific keys: sni/alpn, host/path_prefix/tls, protocol, forwarded, ssh_wait", () => {
  assert.deepEqual(
    check(edit(6, "      - { sni: a.example.com, alpn: h2, protocol: tls, tls: true, to: app }")),
    [
      't.yaml:6:11: listeners.web.routes[0].sni: "sni" applies only to tls and auto listeners; "web" is http',
      't.yaml:6:31: listeners.web.routes[0].alpn: "alpn" applies only to tls and auto listeners; "web" is http',
      't.yaml:6:41: listeners.web.routes[0].protocol: "protocol" applies only to auto listeners; "web" is http',
    ],
  );
  assert.deepEqual(
    check(
      edit(4, "    protocol: tls", "    forwarded: [forwarded]", "    ssh_wait: 1s")
        .replace("{ host: a.example.com,", "{ host: a.example.com, path_prefix: /a, tls: true,"),
    ),
    [
      't.yaml:5:5: listeners.web.forwarded: "forwarded" applies only to http listeners; "web" is tls',
      't.yaml:6:5: listeners.web.ssh_wait: "ssh_wait" applies only to auto listeners; "web" is tls',
      't.yaml:8:11: listeners.web.routes[0].host: "host" applies only to http and auto listeners; "web" is tls',
      't.yaml:8:32: listeners.web.routes[0].path_prefix: "path_prefix" applies only to http and auto listeners; "web" is tls',
      't.yaml:8:49: listeners.web.routes[0].tls: "tls" applies only to http listeners; "web" is tls',
    ],
  );
});

test("duplicate and overlapping binds across listeners and the admin endpoint", () => {
  const second = (bind: string) => ["  other:", `    bind: ${bind}`, "    default: app"];
  assert.deepEqual(check(yaml(...BASE.slice(0, 6), ...second('":80"'), ...BASE.slice(6))), [
    't.yaml:8:11: listeners.other.bind: ":80" is already bound by listener "web" (line 3)',
  ]);
  assert.deepEqual(
    check(yaml(...BASE.slice(0, 6), ...second('["127.0.0.1:81", "0.0.0.0:80"]'), ...BASE.slice(6))),
    [
      't.yaml:8:28: listeners.other.bind[1]: "0.0.0.0:80" overlaps ":80" of listener "web" (line 3)',
    ],
  );
  assert.deepEqual(check(yaml("admin:", '  listen: "127.0.0.1:80"', ...BASE)), [
    't.yaml:5:11: listeners.web.bind: ":80" overlaps "127.0.0.1:80" of admin (line 2)',
  ]);
  // Different ports, and a specific IPv6 address beside 0.0.0.0, do not clash.
  assert.deepEqual(
    check(yaml(...BASE.slice(0, 6), ...second('["0.0.0.0:81", "[::1]:81"]'), ...BASE.slice(6))),
    [],
  );
});

test("accept_proxy: bad CIDRs, bad shapes, host bits", () => {
  const proxy = (value: string) =>
    check(edit(4, "    protocol: http", `    accept_proxy: ${value}`));
  assert.deepEqual(proxy("{ from: [10.0.0.0/33] }"), [
    't.yaml:5:28: listeners.web.accept_proxy.from[0]: bad CIDR "10.0.0.0/33": write e.g. "10.0.0.0/8" or "2001:db8::/32"',
  ]);
  assert.deepEqual(proxy("yes"), [
    't.yaml:5:19: listeners.web.accept_proxy: expected true, false or { from: [CIDR, ...] }, got "yes"',
  ]);
  assert.deepEqual(proxy("{}"), [
    't.yaml:5:19: listeners.web.accept_proxy: expected true, false or { from: [CIDR, ...] }: "from" is missing',
  ]);
  assert.deepEqual(proxy("{ from: 10.1.2.3/8 }"), [
    't.yaml:5:27: warning: listeners.web.accept_proxy.from: "10.1.2.3/8" has host bits set; it means "10.0.0.0/8"',
  ]);
});

test("a listener with no routes and no default gets a warning", () => {
  assert.deepEqual(check(yaml("listeners:", "  web:", '    bind: ":80"')), [
    't.yaml:2:3: warning: listeners.web: listener "web" has no routes and no default: it refuses every connection',
  ]);
  assert.deepEqual(check(yaml("listeners:", "  web:", '    bind: ":80"', "    routes: []")), [
    't.yaml:2:3: warning: listeners.web: listener "web" has no routes and no default: it refuses every connection',
  ]);
});

test("workers: auto, a number, or an error", () => {
  assert.deepEqual(check(yaml(...BASE, "workers: auto")), []);
  assert.deepEqual(check(yaml(...BASE, "workers: 4")), []);
  assert.deepEqual(check(yaml(...BASE, "workers: many")), [
    't.yaml:10:10: workers: expected a whole number from 1 to 1024, got "many"',
  ]);
});

test("missing required keys and values", () => {
  assert.deepEqual(check(yaml("listeners:", "  web:", "    default: app", ...BASE.slice(6))), [
    't.yaml:2:3: listeners.web: listener "web" needs "bind", e.g. bind: ":80"',
  ]);
  assert.deepEqual(check(edit(9, "    balance: first")), [
    't.yaml:8:3: backends.app: backend "app" needs "servers"',
  ]);
  assert.deepEqual(check(edit(9, "    servers: [{ weight: 2 }]")), [
    't.yaml:9:15: backends.app.servers[0]: server needs "address", e.g. address: "10.0.0.1:8080"',
  ]);
  assert.deepEqual(check(edit(6, "      - host: a.example.com", "        to:")), [
    "t.yaml:7:9: listeners.web.routes[0].to: missing value",
  ]);
  assert.deepEqual(check(yaml("certificates:", "  - { cert: c.pem }", ...BASE)), [
    't.yaml:2:5: certificates[0]: certificate needs "key": a PEM file',
  ]);
  assert.deepEqual(check(yaml("admin: { port: 9901 }", ...BASE)), [
    't.yaml:1:8: admin: admin needs "listen", e.g. listen: 127.0.0.1:9901',
    't.yaml:1:10: admin: unknown key "port"',
  ]);
});

test("route names: bad patterns and paths", () => {
  assert.deepEqual(
    check(
      edit(6, '      - { host: ["*", "a.*.com", "-a.com", "a.com:8080", "*.b.com."], to: app }'),
    ),
    [
      't.yaml:6:18: listeners.web.routes[0].host[0]: "*" matches every name: leave the key out instead',
      't.yaml:6:23: listeners.web.routes[0].host[1]: bad name "a.*.com": expected a host name, e.g. "app.example.com" or "*.example.com"',
      't.yaml:6:34: listeners.web.routes[0].host[2]: bad name "-a.com": expected a host name, e.g. "app.example.com" or "*.example.com"',
    ],
  );
  assert.deepEqual(check(edit(6, "      - { path_prefix: api, to: app }")), [
    't.yaml:6:24: listeners.web.routes[0].path_prefix: path prefix "api" must start with "/"',
  ]);
});

test("servers: duplicate names, weights, all-zero warning", () => {
  assert.deepEqual(check(edit(9, '    servers: ["127.0.0.1:3000", "127.0.0.1:3000"]')), [
    't.yaml:9:33: backends.app.servers[1]: duplicate server "127.0.0.1:3000" (give one a different name:)',
  ]);
  assert.deepEqual(check(edit(9, "    servers: [{ address: 127.0.0.1:3000, weight: 0 }]")), [
    "t.yaml:9:5: warning: backends.app.servers: every server has weight 0: the backend never gets traffic",
  ]);
});

test("booleans are true or false, not yes/no", () => {
  assert.deepEqual(check(edit(4, "    protocol: http", "    transparent: yes")), [
    't.yaml:5:18: listeners.web.transparent: expected true or false, got "yes"',
  ]);
});

test("routes after a catch-all route get a warning", () => {
  assert.deepEqual(
    check(edit(6, "      - { to: app }", "      - { host: a.example.com, to: app }")),
    [
      "t.yaml:7:9: warning: listeners.web.routes[1]: never matches: listeners.web.routes[0] above matches every connection",
    ],
  );
});

test("bad listener and backend names", () => {
  assert.deepEqual(
    check(yaml("listeners:", "  we b:", '    bind: ":80"', "    default: app", ...BASE.slice(6))),
    [
      't.yaml:2:3: listeners.we b: bad listener name "we b": use letters, digits, ".", "-" and "_"',
    ],
  );
  assert.deepEqual(check(edit(8, '  "a:b":')), [
    't.yaml:6:36: listeners.web.routes[0].to: unknown backend "app"',
    't.yaml:8:3: backends.a:b: bad backend name "a:b": use letters, digits, ".", "-" and "_"',
  ]);
});

test("wrong shapes: a map where a list or value belongs", () => {
  const routesMap = yaml(...BASE.slice(0, 4), "    routes: { host: a }", ...BASE.slice(6));
  assert.deepEqual(check(routesMap), [
    "t.yaml:5:13: listeners.web.routes: routes must be a list, got a map",
  ]);
  assert.deepEqual(check(edit(4, "    protocol: [http]")), [
    "t.yaml:4:15: listeners.web.protocol: expected a single value, got a list",
  ]);
});

test("many problems are all reported, in file order", () => {
  const problems = check(yaml(
    "listeners:",
    "  web:",
    '    bind: ":80"',
    "    protocol: htp",
    "    routes:",
    "      - { hots: a, to: nope }",
    "backends:",
    "  app: { servers: [x], balance: rr }",
  ));
  assert.deepEqual(problems.map((p) => p.split(": ")[0]), [
    "t.yaml:4:15",
    "t.yaml:6:11",
    "t.yaml:6:24",
    "t.yaml:8:20",
    "t.yaml:8:33",
  ]);
});

test("aliases are followed", () => {
  assert.deepEqual(
    check(
      yaml(...BASE, "  app2:", '    servers: &s ["127.0.0.1:3001"]', "  app3:", "    servers: *s"),
    ),
    [
      't.yaml:10:3: warning: backends.app2: backend "app2" is not used by any route or default',
      't.yaml:12:3: warning: backends.app3: backend "app3" is not used by any route or default',
    ],
  );
});

test("backend tls, source and health_check: nested keys and values", () => {
  assert.deepEqual(check(yaml(...BASE, "    tls: { sni: '*.x', verfy: true }")), [
    't.yaml:10:17: backends.app.tls.sni: bad host name "*.x"',
    't.yaml:10:24: backends.app.tls: unknown key "verfy" (did you mean "verify"?)',
  ]);
  assert.deepEqual(check(yaml(...BASE, "    source: { usesrc: clients, address: 10.0.0.300 }")), [
    't.yaml:10:23: backends.app.source.usesrc: bad IP address "clients"',
    't.yaml:10:41: backends.app.source.address: bad IP address "10.0.0.300"',
  ]);
  assert.deepEqual(check(yaml(...BASE, "    source: { address: 10.0.0.1 }")), [
    't.yaml:10:13: backends.app.source: source needs "usesrc": client, clientip or an IP address',
  ]);
  assert.deepEqual(
    check(
      yaml(
        ...BASE,
        "    health_check: { interval: 1s, timeout: 2s, rise: 0, http: { path: healthz, expect: 700 } }",
      ),
    ),
    [
      "t.yaml:10:44: warning: backends.app.health_check.timeout: timeout is longer than interval: checks will overlap",
      "t.yaml:10:54: backends.app.health_check.rise: expected a whole number from 1 to 100, got 0",
      't.yaml:10:71: backends.app.health_check.http.path: path "healthz" must start with "/"',
      "t.yaml:10:88: backends.app.health_check.http.expect: expected a whole number from 100 to 599, got 700",
    ],
  );
});

test("a yaml tag the schema does not know is a warning", () => {
  assert.deepEqual(
    check(yaml(...BASE.slice(0, 3), "    protocol: !weird http", ...BASE.slice(4))),
    [
      "t.yaml:4:15: warning: Unresolved tag: !weird",
    ],
  );
});

// Route actions (issue #18): http routes only; each rule, one case.

/** BASE with its route (line 6) replaced by `route`. */
function route(route: string): string[] {
  return check(edit(6, `      - ${route}`));
}

test("route actions apply only to http listeners; tcp and tls routes still need to:", () => {
  assert.deepEqual(
    check(
      edit(4, "    protocol: tcp", "    response_headers: { set: { X-A: b } }").replace(
        "{ host: a.example.com, to: app }",
        "{ redirect: https, strip_prefix: true, rate_limit: { requests: 1 } }",
      ),
    ),
    [
      't.yaml:5:5: listeners.web.response_headers: "response_headers" applies only to http listeners; "web" is tcp',
      't.yaml:7:9: listeners.web.routes[0]: route needs "to": a backend name or address',
      't.yaml:7:11: listeners.web.routes[0].redirect: "redirect" applies only to http listeners; "web" is tcp',
      't.yaml:7:28: listeners.web.routes[0].strip_prefix: "strip_prefix" applies only to http listeners; "web" is tcp',
      't.yaml:7:48: listeners.web.routes[0].rate_limit: "rate_limit" applies only to http listeners; "web" is tcp',
    ],
  );
  assert.deepEqual(
    check(
      edit(4, "    protocol: tls").replace(
        "{ host: a.example.com, to: app }",
        "{ sni: a.example.com, to: app, allow: 10.0.0.0/8 }",
      ),
    ),
    [
      't.yaml:6:40: listeners.web.routes[0].allow: "allow" applies only to http listeners; "web" is tls',
    ],
  );
});

test("an http route has exactly one of to, redirect and respond", () => {
  assert.deepEqual(route("{ host: a.example.com }"), [
    't.yaml:6:9: listeners.web.routes[0]: route needs "to" (a backend name or address), "redirect" or "respond"',
  ]);
  assert.deepEqual(route("{ host: a.example.com, to: app, redirect: https }"), [
    't.yaml:6:41: listeners.web.routes[0]: route has both "to" and "redirect": keep one (a route forwards to a backend, redirects or responds)',
  ]);
  assert.deepEqual(
    route("{ respond: { status: 404 }, host: a.example.com, to: app, redirect: https }"),
    [
      't.yaml:6:58: listeners.web.routes[0]: route has "respond", "to" and "redirect": keep one (a route forwards to a backend, redirects or responds)',
    ],
  );
});

test("strip_prefix, request_headers and forward_auth_header need to:, not redirect or respond", () => {
  const auth = `auth: { basic: { realm: r, users: { a: "${HASH}" } } }`;
  assert.deepEqual(
    route(
      "{ path_prefix: /a/, redirect: https, strip_prefix: true, request_headers: { remove: [X-A] }, " +
        `forward_auth_header: true, ${auth} }`,
    ),
    [
      't.yaml:6:46: listeners.web.routes[0].strip_prefix: "strip_prefix" changes the request forwarded to a backend, but this route redirects: it needs "to"',
      't.yaml:6:66: listeners.web.routes[0].request_headers: "request_headers" changes the request forwarded to a backend, but this route redirects: it needs "to"',
      't.yaml:6:102: listeners.web.routes[0].forward_auth_header: "forward_auth_header" changes the request forwarded to a backend, but this route redirects: it needs "to"',
    ],
  );
  assert.deepEqual(route("{ respond: {}, request_headers: { remove: [X-A] } }"), [
    't.yaml:6:24: listeners.web.routes[0].request_headers: "request_headers" changes the request forwarded to a backend, but this route responds: it needs "to"',
  ]);
  // Access control and response headers combine with every answer.
  assert.deepEqual(
    route(
      "{ redirect: 'https://x{uri}', response_headers: { set: { A: b } }, allow: 10.0.0.0/8, " +
        "deny: 10.1.0.0/16, rate_limit: { requests: 5 } }",
    ),
    ['t.yaml:8:3: warning: backends.app: backend "app" is not used by any route or default'],
  );
});

test("redirect: the target is https, a URL or a path", () => {
  assert.deepEqual(route("{ host: a.example.com, redirect: http }"), [
    't.yaml:6:42: listeners.web.routes[0].redirect: redirect target "http" must be https, a URL starting with http:// or https://, or a path starting with "/"',
  ]);
  assert.deepEqual(route("{ host: a.example.com, redirect: { to: 'https://x y/' } }"), [
    't.yaml:6:48: listeners.web.routes[0].redirect.to: redirect target "https://x y/" must be printable ASCII without spaces (percent-encode the rest)',
  ]);
  assert.deepEqual(check(edit(6, "      - host: a.example.com", "        redirect:")), [
    "t.yaml:7:9: listeners.web.routes[0].redirect: missing value",
  ]);
  assert.deepEqual(route("{ host: a.example.com, redirect: { status: 301, code: 302 } }"), [
    't.yaml:6:42: listeners.web.routes[0].redirect: redirect needs "to": https, or a URL such as "https://example.com{uri}"',
    't.yaml:6:57: listeners.web.routes[0].redirect: unknown key "code" (did you mean "status"?)',
  ]);
});

test("redirect: placeholders are {host} {path} {query} {uri}, braces match", () => {
  assert.deepEqual(
    route("{ host: a.example.com, redirect: { to: 'https://{hots}{url}/{x}', status: 301 } }"),
    [
      't.yaml:6:48: listeners.web.routes[0].redirect.to: unknown placeholder "{hots}" in redirect target (did you mean "{host}"?): use {host}, {path}, {query} or {uri}',
      't.yaml:6:48: listeners.web.routes[0].redirect.to: unknown placeholder "{url}" in redirect target (did you mean "{uri}"?): use {host}, {path}, {query} or {uri}',
      't.yaml:6:48: listeners.web.routes[0].redirect.to: unknown placeholder "{x}" in redirect target: use {host}, {path}, {query} or {uri}',
    ],
  );
  assert.deepEqual(route("{ host: a.example.com, redirect: { to: 'https://x{uri' } }"), [
    't.yaml:6:48: listeners.web.routes[0].redirect.to: unmatched brace in redirect target "https://x{uri": placeholders are {host}, {path}, {query} and {uri}',
  ]);
});

test("redirect: status is 301, 302, 303, 307 or 308", () => {
  assert.deepEqual(route("{ host: a.example.com, redirect: { to: https, status: 200 } }"), [
    "t.yaml:6:63: listeners.web.routes[0].redirect.status: expected 301, 302, 303, 307 or 308, got 200",
  ]);
});

test("respond: status, body and headers", () => {
  assert.deepEqual(
    route(
      "{ host: a.example.com, respond: { status: 700, body: 42, headers: { 'Bad Name': x, " +
        'Content-Length: "3", X-A: 5, X-B: "a\\nb" } } }',
    ),
    [
      "t.yaml:6:51: listeners.web.routes[0].respond.status: expected a whole number from 200 to 599, got 700",
      't.yaml:6:62: listeners.web.routes[0].respond.body: expected text, got 42 (quote it: "42")',
      't.yaml:6:77: listeners.web.routes[0].respond.headers.Bad Name: bad header name "Bad Name": use letters, digits and !#$%&\'*+-.^_`|~ (no spaces or ":")',
      't.yaml:6:92: listeners.web.routes[0].respond.headers.Content-Length: cannot set "Content-Length": Switchyard frames each message itself',
      't.yaml:6:118: listeners.web.routes[0].respond.headers.X-A: expected text, got 5 (quote it: "5")',
      't.yaml:6:126: listeners.web.routes[0].respond.headers.X-B: the value of "X-B" must be printable ASCII: no line breaks, control or non-ASCII characters',
    ],
  );
  // 1xx is no final answer.
  assert.deepEqual(route("{ host: a.example.com, respond: { status: 101 } }"), [
    "t.yaml:6:51: listeners.web.routes[0].respond.status: expected a whole number from 200 to 599, got 101",
  ]);
  assert.deepEqual(route("{ host: a.example.com, respond: [503] }"), [
    "t.yaml:6:41: listeners.web.routes[0].respond: expected a map, got a list",
  ]);
});

test("respond: 204, 205 and 304 have no body", () => {
  assert.deepEqual(route("{ host: a.example.com, respond: { status: 204, body: hi } }"), [
    't.yaml:6:56: listeners.web.routes[0].respond.body: a 204 response has no body: remove "body" or use another status',
  ]);
});

test("strip_prefix: true or false, and true needs path_prefix", () => {
  assert.deepEqual(route("{ host: a.example.com, strip_prefix: true, to: app }"), [
    't.yaml:6:32: listeners.web.routes[0].strip_prefix: strip_prefix needs "path_prefix" on the same route: it removes the prefix that matched',
  ]);
  assert.deepEqual(route("{ host: a.example.com, strip_prefix: yes, to: app }"), [
    't.yaml:6:46: listeners.web.routes[0].strip_prefix: expected true or false, got "yes"',
  ]);
});

test("header actions cannot set or remove framing, hop-by-hop, Host or forwarded headers", () => {
  assert.deepEqual(
    route(
      "{ host: a.example.com, to: app, request_headers: { set: { Host: x, X-Forwarded-For: y, " +
        "Connection: close, Upgrade: h2c }, remove: [Transfer-Encoding, content-length, TE, " +
        "Keep-Alive, Proxy-Connection, Forwarded, X-Forwarded-Proto, x-forwarded-host] } }",
    ),
    [
      't.yaml:6:67: listeners.web.routes[0].request_headers.set.Host: cannot set "Host": routing matched it, and the backend receives it as the client sent it',
      't.yaml:6:76: listeners.web.routes[0].request_headers.set.X-Forwarded-For: cannot set "X-Forwarded-For": the listener\'s "forwarded" key controls it',
      't.yaml:6:96: listeners.web.routes[0].request_headers.set.Connection: cannot set "Connection": hop-by-hop headers belong to each connection, which Switchyard manages',
      't.yaml:6:115: listeners.web.routes[0].request_headers.set.Upgrade: cannot set "Upgrade": hop-by-hop headers belong to each connection, which Switchyard manages',
      't.yaml:6:140: listeners.web.routes[0].request_headers.remove[0]: cannot remove "Transfer-Encoding": Switchyard frames each message itself',
      't.yaml:6:159: listeners.web.routes[0].request_headers.remove[1]: cannot remove "content-length": Switchyard frames each message itself',
      't.yaml:6:175: listeners.web.routes[0].request_headers.remove[2]: cannot remove "TE": hop-by-hop headers belong to each connection, which Switchyard manages',
      't.yaml:6:179: listeners.web.routes[0].request_headers.remove[3]: cannot remove "Keep-Alive": hop-by-hop headers belong to each connection, which Switchyard manages',
      't.yaml:6:191: listeners.web.routes[0].request_headers.remove[4]: cannot remove "Proxy-Connection": hop-by-hop headers belong to each connection, which Switchyard manages',
      't.yaml:6:209: listeners.web.routes[0].request_headers.remove[5]: cannot remove "Forwarded": the listener\'s "forwarded" key controls it',
      't.yaml:6:220: listeners.web.routes[0].request_headers.remove[6]: cannot remove "X-Forwarded-Proto": the listener\'s "forwarded" key controls it',
      't.yaml:6:239: listeners.web.routes[0].request_headers.remove[7]: cannot remove "x-forwarded-host": the listener\'s "forwarded" key controls it',
    ],
  );
});

test("header actions: names are tokens, values printable ASCII", () => {
  assert.deepEqual(
    route(
      '{ host: a.example.com, to: app, response_headers: { set: { X-A: "caf\\u00e9", ' +
        "X-C: \"a\\rb\" }, remove: ['a b', 'X:y'] } }",
    ),
    [
      't.yaml:6:73: listeners.web.routes[0].response_headers.set.X-A: the value of "X-A" must be printable ASCII: no line breaks, control or non-ASCII characters',
      't.yaml:6:91: listeners.web.routes[0].response_headers.set.X-C: the value of "X-C" must be printable ASCII: no line breaks, control or non-ASCII characters',
      't.yaml:6:110: listeners.web.routes[0].response_headers.remove[0]: bad header name "a b": use letters, digits and !#$%&\'*+-.^_`|~ (no spaces or ":")',
      't.yaml:6:117: listeners.web.routes[0].response_headers.remove[1]: bad header name "X:y": use letters, digits and !#$%&\'*+-.^_`|~ (no spaces or ":")',
    ],
  );
});

test("header actions: something to set or remove, each name once, set or removed", () => {
  assert.deepEqual(route("{ host: a.example.com, to: app, request_headers: {} }"), [
    't.yaml:6:58: listeners.web.routes[0].request_headers: expected "set: { Name: value }" and/or "remove: [Name]"',
  ]);
  assert.deepEqual(
    route("{ host: a.example.com, to: app, request_headers: { set: {}, remove: [] } }"),
    [
      "t.yaml:6:58: listeners.web.routes[0].request_headers: no header to set or remove: list some, or leave the key out",
    ],
  );
  assert.deepEqual(
    route(
      "{ host: a.example.com, to: app, response_headers: { set: { X-A: '1', x-a: '2' }, " +
        "remove: [X-B, x-b] } }",
    ),
    [
      't.yaml:6:78: listeners.web.routes[0].response_headers.set.x-a: "x-a" is already set (line 6): names ignore case',
      't.yaml:6:104: listeners.web.routes[0].response_headers.remove[1]: "x-b" is listed twice',
    ],
  );
  assert.deepEqual(
    route("{ host: a.example.com, to: app, response_headers: { set: { X-A: '1' }, remove: x-a } }"),
    [
      't.yaml:6:88: listeners.web.routes[0].response_headers.remove: "X-A" is both set and removed: setting it already replaces it',
    ],
  );
  assert.deepEqual(
    route(
      "{ host: a.example.com, to: app, response_headers: { add: { X-A: b }, remove: { X-A: b } } }",
    ),
    [
      't.yaml:6:61: listeners.web.routes[0].response_headers: unknown key "add" (did you mean "set"?)',
      "t.yaml:6:86: listeners.web.routes[0].response_headers.remove: expected a single value, got a map",
    ],
  );
});

test("listener response_headers: the same checks as a route's", () => {
  assert.deepEqual(
    check(
      edit(
        4,
        "    protocol: http",
        "    response_headers: { set: { Server: x }, remove: Content-Length }",
      ),
    ),
    [
      't.yaml:5:53: listeners.web.response_headers.remove: cannot remove "Content-Length": Switchyard frames each message itself',
    ],
  );
  assert.deepEqual(check(edit(4, "    protocol: http", "    headers: { set: { Server: x } }")), [
    't.yaml:5:5: listeners.web: unknown key "headers" (did you mean "response_headers"?)',
  ]);
});

test("allow and deny: CIDR lists", () => {
  assert.deepEqual(route("{ host: a.example.com, to: app, allow: [10.0.0.0/33], deny: [] }"), [
    't.yaml:6:49: listeners.web.routes[0].allow[0]: bad CIDR "10.0.0.0/33": write e.g. "10.0.0.0/8" or "2001:db8::/32"',
    "t.yaml:6:69: listeners.web.routes[0].deny: deny must not be empty",
  ]);
});

test("auth: realm, user names and bcrypt hashes (never quoted back)", () => {
  const users = [
    `'a:b': "${HASH}"`,
    "bob: hunter2",
    `carol: "${HASH.replace("$04$", "$03$")}"`,
    `dave: "${HASH.replace("$2b$", "$2x$")}"`,
  ];
  assert.deepEqual(
    route(
      `{ host: a.example.com, to: app, auth: { basic: { realm: 'a"b', users: { ${
        users.join(", ")
      } } } } }`,
    ),
    [
      't.yaml:6:65: listeners.web.routes[0].auth.basic.realm: realm must be printable ASCII without " or \\ (it is sent quoted in WWW-Authenticate)',
      't.yaml:6:81: listeners.web.routes[0].auth.basic.users.a:b: bad user name "a:b": no ":" (Basic auth splits user and password at the first ":") and no control characters',
      't.yaml:6:157: listeners.web.routes[0].auth.basic.users.bob: expected a bcrypt hash ($2a$, $2b$ or $2y$, a cost from 04 to 31, "$" and 53 characters), not a password: make one with "switchyard hash-password"',
      't.yaml:6:173: listeners.web.routes[0].auth.basic.users.carol: expected a bcrypt hash ($2a$, $2b$ or $2y$, a cost from 04 to 31, "$" and 53 characters), not a password: make one with "switchyard hash-password"',
      't.yaml:6:243: listeners.web.routes[0].auth.basic.users.dave: expected a bcrypt hash ($2a$, $2b$ or $2y$, a cost from 04 to 31, "$" and 53 characters), not a password: make one with "switchyard hash-password"',
    ],
  );
});

test("auth: basic with a realm and at least one user", () => {
  assert.deepEqual(route("{ host: a.example.com, to: app, auth: {} }"), [
    't.yaml:6:47: listeners.web.routes[0].auth: auth needs "basic": { realm: NAME, users: { USER: BCRYPT-HASH } }',
  ]);
  assert.deepEqual(route("{ host: a.example.com, to: app, auth: { basic: {} } }"), [
    't.yaml:6:56: listeners.web.routes[0].auth.basic: basic needs "realm": the name browsers show when they ask for the password',
    't.yaml:6:56: listeners.web.routes[0].auth.basic: basic needs "users": { USER: BCRYPT-HASH }',
  ]);
  assert.deepEqual(
    route("{ host: a.example.com, to: app, auth: { basic: { realm: r, users: {} } } }"),
    [
      "t.yaml:6:75: listeners.web.routes[0].auth.basic.users: users must not be empty: add USER: BCRYPT-HASH",
    ],
  );
});

test("forward_auth_header: true or false, only with auth", () => {
  assert.deepEqual(route("{ host: a.example.com, to: app, forward_auth_header: true }"), [
    't.yaml:6:41: listeners.web.routes[0].forward_auth_header: forward_auth_header needs "auth" on the same route: without it the Authorization header is always forwarded',
  ]);
  assert.deepEqual(route("{ host: a.example.com, to: app, forward_auth_header: keep }"), [
    't.yaml:6:62: listeners.web.routes[0].forward_auth_header: expected true or false, got "keep"',
  ]);
});

test("rate_limit: requests >= 1, per > 0, burst >= requests", () => {
  const limit = (value: string) => route(`{ host: a.example.com, to: app, rate_limit: ${value} }`);
  assert.deepEqual(limit("{ requests: 0, per: 0s, burst: 1.5 }"), [
    "t.yaml:6:65: listeners.web.routes[0].rate_limit.requests: expected a whole number from 1 to 1000000000, got 0",
    't.yaml:6:73: listeners.web.routes[0].rate_limit.per: per must be longer than 0, got "0s"',
    "t.yaml:6:84: listeners.web.routes[0].rate_limit.burst: expected a whole number from 1 to 1000000000, got 1.5",
  ]);
  assert.deepEqual(limit("{ requests: 20, per: 1, burst: 40 }"), [
    't.yaml:6:74: listeners.web.routes[0].rate_limit.per: duration 1 needs a unit, e.g. "1s" or "1ms"',
  ]);
  assert.deepEqual(limit("{ requests: 20, burst: 10 }"), [
    "t.yaml:6:76: listeners.web.routes[0].rate_limit.burst: burst must be at least requests (20), got 10",
  ]);
  assert.deepEqual(limit("{ average: 20, period: 1s }"), [
    't.yaml:6:53: listeners.web.routes[0].rate_limit: rate_limit needs "requests", e.g. { requests: 20, per: 1s }',
    't.yaml:6:55: listeners.web.routes[0].rate_limit: unknown key "average" (did you mean "requests"?)',
    't.yaml:6:68: listeners.web.routes[0].rate_limit: unknown key "period" (did you mean "per"?)',
  ]);
  assert.deepEqual(limit("20"), [
    "t.yaml:6:53: listeners.web.routes[0].rate_limit: expected a map, got 20",
  ]);
});

test("misspelled action keys and other proxies' words suggest the right key", () => {
  assert.deepEqual(
    route(
      "{ host: a.example.com, to: app, redirct: https, rate_limt: {}, basicauth: {}, " +
        "stripprefix: true, ipallowlist: [], header_up: {}, return: 404, headers: {} }",
    ),
    [
      't.yaml:6:41: listeners.web.routes[0]: unknown key "redirct" (did you mean "redirect"?)',
      't.yaml:6:57: listeners.web.routes[0]: unknown key "rate_limt" (did you mean "rate_limit"?)',
      't.yaml:6:72: listeners.web.routes[0]: unknown key "basicauth" (did you mean "auth"?)',
      't.yaml:6:87: listeners.web.routes[0]: unknown key "stripprefix" (did you mean "strip_prefix"?)',
      't.yaml:6:106: listeners.web.routes[0]: unknown key "ipallowlist" (did you mean "allow"?)',
      't.yaml:6:123: listeners.web.routes[0]: unknown key "header_up" (did you mean "request_headers"?)',
      't.yaml:6:138: listeners.web.routes[0]: unknown key "return" (did you mean "respond"?)',
      't.yaml:6:151: listeners.web.routes[0]: unknown key "headers" (did you mean "response_headers"?)',
    ],
  );
});
