/**
 * Operations end to end: the admin endpoint (/healthz, /readyz, /status, /metrics), active
 * health checks, SIGHUP reload (new routes at once, live transfers untouched, invalid files
 * ignored, removed listeners closed), 1,000 connections across reloads, and an admin address
 * that cannot be had. (SIGTERM drain: drain_test.ts, with and without workers.) The router runs as a subprocess under the test's runtime;
 * the tests wait on its events and poll /status or /metrics, never on fixed sleeps.
 */

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  adminPort,
  events,
  get,
  idleScrape,
  scrape,
  signal,
  status,
  until,
} from "../helpers/admin.ts";
import { namedSink, SinkClient, type TestServer } from "../helpers/backends.ts";
import { exec, freePort, RawClient, tryConnect } from "../helpers/clients.ts";
import { pattern as bytes, sha256 } from "../helpers/http_backends.ts";
import { routerCommand, type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

/** What /status answers (the parts these tests read). */
interface Status {
  ready: boolean;
  draining: boolean;
  config: string;
  listeners: {
    name: string;
    protocol: string;
    bind: string[];
    active: number;
    accepted: number;
    routes: Record<string, unknown>[];
    default: string | null;
  }[];
  backends: {
    name: string;
    balance: string;
    health_check: boolean;
    servers: {
      name: string;
      address: string;
      up: boolean;
      active: number;
      total: number;
      last_failure: string | null;
    }[];
  }[];
}

function server(s: Status, backend: string, name: string) {
  const b = s.backends.find((x) => x.name === backend);
  assert.ok(b, `backend ${backend} in /status`);
  const srv = b.servers.find((x) => x.name === name);
  assert.ok(srv, `server ${backend}/${name} in /status`);
  return srv;
}

const isReloadEvent = (e: Record<string, unknown>) =>
  e.msg === "reloaded" || String(e.msg).startsWith("reload failed");

/**
 * Writes `yaml` over the router's config file (when given), sends SIGHUP and resolves with the
 * "reloaded" or "reload failed" event that follows.
 */
async function reload(r: RouterProcess, yaml?: string): Promise<Record<string, unknown>> {
  const before = events(r).filter(isReloadEvent).length;
  if (yaml !== undefined) writeFileSync(r.configFile, yaml);
  signal(r, "SIGHUP");
  return await r.waitFor(() => events(r).filter(isReloadEvent)[before], "a reload event");
}

/** One whole exchange with a sink through the router; resolves with the sink's name. */
async function exchange(port: number, payload: Uint8Array, localAddress?: string): Promise<string> {
  const s = await SinkClient.open(port, localAddress);
  await s.send(payload);
  await s.finish();
  return s.name;
}

/** A node:http test backend: `/healthz` answers `health.status`, anything else its name. */
interface WebBackend extends TestServer {
  health: { status: number };
  /** Health check requests seen: path and User-Agent. */
  checks: { path: string; agent: string }[];
  /** Other requests answered. */
  readonly served: number;
}

async function webBackend(name: string, healthStatus = 200): Promise<WebBackend> {
  const health = { status: healthStatus };
  const checks: { path: string; agent: string }[] = [];
  let accepted = 0;
  let served = 0;
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/healthz") {
        checks.push({ path: req.url, agent: String(req.headers["user-agent"]) });
        res.writeHead(health.status, { "content-type": "text/plain", connection: "close" });
        res.end(health.status === 200 ? "ok\n" : "broken\n");
        return;
      }
      served++;
      res.writeHead(200, { "content-type": "text/plain", connection: "close" });
      res.end(`${name}\n`);
    });
  });
  server.on("connection", (s: net.Socket) => {
    accepted++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port))
  );
  return {
    port,
    health,
    checks,
    get accepted() {
      return accepted;
    },
    get served() {
      return served;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** GET / through the router's http listener with the given Host; status and body. */
function httpGet(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: "127.0.0.1", port, path: "/", headers: { host }, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
  });
}

// ---------------------------------------------------------------------------------------------

describe(`admin endpoint (router on ${runtimeName})`, () => {
  let sinkA: TestServer;
  let web: WebBackend;
  let router: RouterProcess;
  let admin: number;

  before(async () => {
    sinkA = await namedSink("A");
    web = await webBackend("W");
    router = await startRouter(`
admin: { listen: "127.0.0.1:0" }
listeners:
  plain:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: one
  web:
    bind: "127.0.0.1:0"
    protocol: http
    routes:
      - { host: a.test, to: webapp }
  secure:
    bind: "127.0.0.1:0"
    protocol: tls
    inspect_timeout: 5s
    default: one
backends:
  one:
    servers: [{ address: "127.0.0.1:${sinkA.port}", name: A }]
  webapp:
    servers: [{ address: "127.0.0.1:${web.port}", name: W }]
`);
    admin = adminPort(router);
  });

  after(async () => {
    assert.equal(await router?.stop(), 0);
    await sinkA?.close();
    await web?.close();
  });

  test("/healthz answers 200, /readyz 200 once listening, anything else 404", async () => {
    const h = await get(admin, "/healthz");
    assert.equal(h.status, 200);
    assert.equal(h.body, "ok\n");
    const r = await get(admin, "/readyz");
    assert.equal(r.status, 200);
    assert.equal(r.body, "ready\n");
    const n = await get(admin, "/nope");
    assert.equal(n.status, 404);
  });

  test("/status lists listeners with binds and routes, backends and servers with health and live connections", async () => {
    const s0 = await status<Status>(admin);
    assert.equal(s0.ready, true);
    assert.equal(s0.draining, false);
    assert.equal(s0.config, router.configFile);
    assert.deepEqual(s0.listeners.map((l) => l.name), ["plain", "web", "secure"]);
    for (const l of s0.listeners) {
      assert.deepEqual(l.bind, [`127.0.0.1:${router.port(l.name)}`], l.name);
    }
    const webL = s0.listeners.find((l) => l.name === "web")!;
    assert.equal(webL.protocol, "http");
    assert.equal(webL.default, null);
    assert.equal(webL.routes.length, 1);
    assert.deepEqual(webL.routes[0].host, ["a.test"]);
    assert.equal(webL.routes[0].to, "webapp");
    assert.equal(s0.listeners.find((l) => l.name === "plain")!.default, "one");
    assert.deepEqual(s0.backends.map((b) => b.name), ["one", "webapp"]);
    const a0 = server(s0, "one", "A");
    assert.equal(a0.address, `127.0.0.1:${sinkA.port}`);
    assert.equal(a0.up, true);
    assert.equal(a0.last_failure, null);

    // A live connection shows on its listener and on its server while it lasts.
    const c = await SinkClient.open(router.port("plain"));
    const live = await until(async () => {
      const s = await status<Status>(admin);
      const ok = s.listeners.find((l) => l.name === "plain")!.active === 1 &&
        server(s, "one", "A").active === 1;
      return ok && s;
    }, "the live connection in /status");
    assert.ok(server(live, "one", "A").total >= 1);
    await c.send(bytes(1000));
    await c.finish();
    await until(async () => {
      const s = await status<Status>(admin);
      return s.listeners.find((l) => l.name === "plain")!.active === 0 &&
        server(s, "one", "A").active === 0;
    }, "the connection to leave /status");
  });

  test("/metrics is Prometheus text with the contract's metrics and labels", async () => {
    // Traffic of every kind, so every family has samples.
    assert.equal(await exchange(router.port("plain"), bytes(100)), "A");
    assert.deepEqual(await httpGet(router.port("web"), "a.test"), { status: 200, body: "W\n" });
    assert.equal((await httpGet(router.port("web"), "other.test")).status, 503);
    const junk = await RawClient.connect(router.port("secure"));
    await junk.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await junk.until(() => junk.ended || junk.closed, "the refusal");
    junk.destroy();

    const m = await until(async () => {
      const m = await scrape(admin);
      const shown =
        m.n("switchyard_sniff_failures_total", { listener: "secure", reason: "not_tls" }) > 0 &&
        m.n("switchyard_http_requests_total", { listener: "web", backend: "", code: "503" }) > 0 &&
        m.get("switchyard_connections_active", { listener: "plain" }) === 0;
      return shown && m;
    }, "every counter to show");
    const res = await get(admin, "/metrics");
    assert.match(res.type, /^text\/plain; version=0\.0\.4/);
    for (
      const [name, type] of [
        ["switchyard_connections_total", "counter"],
        ["switchyard_connections_active", "gauge"],
        ["switchyard_bytes_total", "counter"],
        ["switchyard_sniff_failures_total", "counter"],
        ["switchyard_http_requests_total", "counter"],
        ["switchyard_backend_server_up", "gauge"],
        ["switchyard_reloads_total", "counter"],
      ]
    ) {
      assert.equal(res.body.split(`# TYPE ${name} ${type}\n`).length, 2, `one TYPE for ${name}`);
      assert.equal(res.body.split(`# HELP ${name} `).length, 2, `one HELP for ${name}`);
    }
    assert.ok(m.n("switchyard_connections_total", { listener: "plain", backend: "one" }) >= 1);
    assert.ok(m.n("switchyard_connections_total", { listener: "web", backend: "webapp" }) >= 1);
    assert.equal(m.get("switchyard_connections_active", { listener: "plain" }), 0);
    assert.equal(m.get("switchyard_connections_active", { listener: "secure" }), 0);
    for (const direction of ["in", "out"]) {
      assert.ok(m.n("switchyard_bytes_total", { listener: "plain", direction }) > 0, direction);
    }
    assert.ok(
      m.n("switchyard_http_requests_total", { listener: "web", backend: "webapp", code: "200" }) >=
        1,
    );
    assert.equal(m.get("switchyard_backend_server_up", { backend: "one", server: "A" }), 1);
    assert.equal(m.get("switchyard_backend_server_up", { backend: "webapp", server: "W" }), 1);
    assert.equal(m.get("switchyard_reloads_total", { result: "ok" }), 0);
    assert.equal(m.get("switchyard_reloads_total", { result: "failed" }), 0);
  });

  test("metrics counts rise with traffic, by exactly what went through", async () => {
    const m0 = await scrape(admin);
    const n = 5;
    const size = 3000;
    let reports = 0;
    for (let i = 0; i < n; i++) {
      const payload = bytes(size, i + 7);
      assert.equal(await exchange(router.port("plain"), payload), "A");
      reports += `${size} ${sha256(payload)}\n`.length;
    }
    for (let i = 0; i < 3; i++) {
      assert.equal((await httpGet(router.port("web"), "a.test")).status, 200);
    }
    for (let i = 0; i < 2; i++) {
      const junk = await RawClient.connect(router.port("secure"));
      await junk.write("SSH-2.0-not-tls\r\n");
      await junk.until(() => junk.ended || junk.closed, "the refusal");
      junk.destroy();
    }
    const routed = { listener: "plain", backend: "one" };
    const m1 = await until(async () => {
      const m = await scrape(admin);
      return m.n("switchyard_connections_active", { listener: "plain" }) === 0 &&
        m.n("switchyard_connections_total", routed) ===
          m0.n("switchyard_connections_total", routed) + n &&
        m.n("switchyard_sniff_failures_total", { listener: "secure", reason: "not_tls" }) ===
          m0.n("switchyard_sniff_failures_total", { listener: "secure", reason: "not_tls" }) +
            2 &&
        m;
    }, "the counters to rise");
    const delta = (name: string, labels: Record<string, string>) =>
      m1.n(name, labels) - m0.n(name, labels);
    assert.equal(delta("switchyard_bytes_total", { listener: "plain", direction: "in" }), n * size);
    // Out: each exchange's greeting ("A\n") and the sink's report line.
    assert.equal(
      delta("switchyard_bytes_total", { listener: "plain", direction: "out" }),
      n * 2 + reports,
    );
    assert.equal(
      delta("switchyard_http_requests_total", { listener: "web", backend: "webapp", code: "200" }),
      3,
    );
    assert.equal(delta("switchyard_connections_total", { listener: "web", backend: "webapp" }), 3);
    assert.ok(delta("switchyard_bytes_total", { listener: "web", direction: "out" }) > 0);
    assert.ok(
      delta("switchyard_backend_server_connections_total", { backend: "one", server: "A" }) >= n,
    );
  });
});

describe(`health checks (router on ${runtimeName})`, () => {
  let sinkA: TestServer;
  let sinkB: TestServer;
  let good: WebBackend;
  let bad: WebBackend;
  let router: RouterProcess;
  let admin: number;

  before(async () => {
    sinkA = await namedSink("A");
    sinkB = await namedSink("B");
    good = await webBackend("good");
    bad = await webBackend("bad", 500);
    router = await startRouter(config(true));
    admin = adminPort(router);
  });

  const webCheck =
    "health_check: { interval: 100ms, timeout: 1s, rise: 2, fall: 1, http: { path: /healthz, expect: 200 } }";
  const config = (checkWeb: boolean) => `
admin: { listen: "127.0.0.1:0" }
listeners:
  pair:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: pair
  web:
    bind: "127.0.0.1:0"
    protocol: http
    default: web
backends:
  pair:
    servers:
      - { address: "127.0.0.1:${sinkA.port}", name: A }
      - { address: "127.0.0.1:${sinkB.port}", name: B }
    balance: roundrobin
    health_check: { interval: 100ms, timeout: 1s, rise: 1, fall: 2 }
  web:
    servers:
      - { address: "127.0.0.1:${good.port}", name: good }
      - { address: "127.0.0.1:${bad.port}", name: bad }
    balance: roundrobin
    ${checkWeb ? webCheck : ""}
`;

  after(async () => {
    assert.equal(await router?.stop(), 0);
    for (const s of [sinkA, sinkB, good, bad]) await s?.close();
  });

  test("an HTTP check expecting 200 marks a server answering 500 down; traffic goes to the other", async () => {
    await until(async () => {
      const m = await scrape(admin);
      return m.get("switchyard_backend_server_up", { backend: "web", server: "bad" }) === 0;
    }, "the 500 server to be down");
    const s = await status<Status>(admin);
    const b = s.backends.find((x) => x.name === "web")!;
    assert.equal(b.health_check, true);
    assert.equal(server(s, "web", "good").up, true);
    assert.equal(server(s, "web", "bad").up, false);
    assert.match(server(s, "web", "bad").last_failure ?? "", /500/);
    await router.waitFor(
      () =>
        events(router).find((e) =>
          e.msg === "server down" && e.backend === "web" && e.server === "bad"
        ),
      "the server down event",
    );
    assert.ok(bad.checks.length >= 1);
    assert.deepEqual(bad.checks[0], { path: "/healthz", agent: "switchyard-health" });
    for (let i = 0; i < 6; i++) {
      assert.deepEqual(await httpGet(router.port("web"), "x.test"), {
        status: 200,
        body: "good\n",
      });
    }
    // Only health checks reached the broken server.
    assert.equal(bad.served, 0);
    assert.equal(good.served, 6);
    await until(async () => {
      const m = await scrape(admin);
      return m.n("switchyard_http_requests_total", {
        listener: "web",
        backend: "web",
        code: "200",
      }) ===
        6;
    }, "six answers from web counted");
  });

  test("a server whose check passes `rise` times comes back up and takes traffic again", async () => {
    bad.health.status = 200;
    await until(async () => {
      const m = await scrape(admin);
      return m.get("switchyard_backend_server_up", { backend: "web", server: "bad" }) === 1;
    }, "the recovered server to be up");
    const bodies = new Set<string>();
    for (let i = 0; i < 4; i++) bodies.add((await httpGet(router.port("web"), "x.test")).body);
    assert.deepEqual([...bodies].sort(), ["bad\n", "good\n"]);
  });

  test("a reload that removes health_check puts a server marked down back into rotation", async () => {
    bad.health.status = 500;
    await until(async () => {
      const m = await scrape(admin);
      return m.get("switchyard_backend_server_up", { backend: "web", server: "bad" }) === 0;
    }, "the 500 server to be down again");
    const ev = await reload(router, config(false));
    assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
    // Nothing checks it any more, so nothing may keep it down.
    const s = await status<Status>(admin);
    assert.equal(s.backends.find((b) => b.name === "web")!.health_check, false);
    assert.equal(server(s, "web", "bad").up, true);
    const served = bad.served;
    for (let i = 0; i < 4; i++) await httpGet(router.port("web"), "x.test");
    assert.ok(bad.served > served, "the server takes requests again");
  });

  test("a server stopped mid-test is marked down by its check and traffic moves to the other", async () => {
    await until(async () => {
      const m = await scrape(admin);
      return m.get("switchyard_backend_server_up", { backend: "pair", server: "A" }) === 1 &&
        m.get("switchyard_backend_server_up", { backend: "pair", server: "B" }) === 1;
    }, "both servers up");
    const names: string[] = [];
    for (let i = 0; i < 4; i++) names.push(await exchange(router.port("pair"), bytes(10, i)));
    assert.deepEqual(names.sort(), ["A", "A", "B", "B"]);

    await sinkB.close();
    await until(async () => {
      const m = await scrape(admin);
      return m.get("switchyard_backend_server_up", { backend: "pair", server: "B" }) === 0;
    }, "B to be marked down");
    const s = await status<Status>(admin);
    assert.equal(server(s, "pair", "A").up, true);
    assert.equal(server(s, "pair", "B").up, false);
    assert.ok(server(s, "pair", "B").last_failure, "B's last failure is reported");
    await router.waitFor(
      () =>
        events(router).find((e) =>
          e.msg === "server down" && e.backend === "pair" && e.server === "B"
        ),
      "the server down event",
    );
    const m0 = await scrape(admin);
    for (let i = 0; i < 6; i++) {
      assert.equal(await exchange(router.port("pair"), bytes(100, i)), "A");
    }
    const m1 = await idleScrape(admin, "pair");
    const routed = { listener: "pair", backend: "pair" };
    assert.equal(
      m1.n("switchyard_connections_total", routed) - m0.n("switchyard_connections_total", routed),
      6,
    );
    const outcomes = router.access.filter((r) => r.listener === "pair").map((r) => r.outcome);
    assert.ok(outcomes.every((o) => o === "ok"), `every connection ok: ${outcomes}`);
  });
});

describe(`reload (router on ${runtimeName})`, () => {
  let sinkA: TestServer;
  let sinkB: TestServer;
  let router: RouterProcess;
  let admin: number;
  let mainPort: number;
  let extraPort: number;

  const config = (mainRoutes: string, extra: boolean, mainBind = `"127.0.0.1:0"`) => `
admin: { listen: "127.0.0.1:0" }
listeners:
  main:
    bind: ${mainBind}
    protocol: tcp
    routes: [${mainRoutes}]
    default: a
${
    extra
      ? `  extra:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: a
`
      : ""
  }backends:
  a: { servers: [{ address: "127.0.0.1:${sinkA.port}", name: A }] }
  b: { servers: [{ address: "127.0.0.1:${sinkB.port}", name: B }] }
`;
  const withRoute = `{ src: 127.0.0.2/32, to: b }`;

  before(async () => {
    sinkA = await namedSink("A");
    sinkB = await namedSink("B");
    router = await startRouter(config("", true));
    admin = adminPort(router);
    mainPort = router.port("main");
    extraPort = router.port("extra");
  });

  after(async () => {
    assert.equal(await router?.stop(), 0);
    for (const s of [sinkA, sinkB]) await s?.close();
  });

  test("a reload adds a route that works at once; a transfer begun before it completes byte-exact", async () => {
    const payload = bytes(4 << 20, 3);
    const half = payload.length >> 1;
    // Begun under the old config, from the address the new route will match.
    const early = await SinkClient.open(mainPort, "127.0.0.2");
    assert.equal(early.name, "A");
    await early.send(payload.subarray(0, half));

    const ev = await reload(router, config(withRoute, true));
    assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
    // The same sockets: the ports did not change.
    const s = await status<Status>(admin);
    assert.deepEqual(s.listeners.find((l) => l.name === "main")!.bind, [`127.0.0.1:${mainPort}`]);
    assert.equal(s.listeners.find((l) => l.name === "main")!.routes.length, 1);

    assert.equal(await exchange(mainPort, bytes(1000), "127.0.0.2"), "B");
    assert.equal(await exchange(mainPort, bytes(1000), "127.0.0.1"), "A");

    await early.send(payload.subarray(half));
    await early.finish();
    const m = await scrape(admin);
    assert.equal(m.get("switchyard_reloads_total", { result: "ok" }), 1);
    assert.equal(m.get("switchyard_reloads_total", { result: "failed" }), 0);
  });

  test("an invalid reload is logged and the old config keeps serving", async () => {
    const ev = await reload(router, config(`{ src: 127.0.0.2/32, to: nowhere }`, true));
    assert.equal(ev.msg, "reload failed: the old config keeps serving");
    const problems = ev.problems as string[];
    assert.ok(Array.isArray(problems) && problems.length >= 1, JSON.stringify(ev));
    assert.ok(
      problems.some((p) => p.startsWith(`${router.configFile}:`) && p.includes("nowhere")),
      JSON.stringify(problems),
    );
    // Still the config of the last good reload: its route, its listeners, its ports.
    assert.equal(await exchange(mainPort, bytes(500), "127.0.0.2"), "B");
    assert.equal(await exchange(mainPort, bytes(500), "127.0.0.1"), "A");
    assert.equal(await exchange(extraPort, bytes(500)), "A");
    const m = await scrape(admin);
    assert.equal(m.get("switchyard_reloads_total", { result: "ok" }), 1);
    assert.equal(m.get("switchyard_reloads_total", { result: "failed" }), 1);
    assert.equal((await get(admin, "/readyz")).status, 200);
  });

  test("a reload that cannot bind changes nothing", async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const ev = await reload(
        router,
        config(withRoute, true, `["127.0.0.1:0", "127.0.0.1:${port}"]`),
      );
      assert.equal(ev.msg, "reload failed: the old config keeps serving");
      assert.match(
        String(ev.error),
        new RegExp(`^listener "main": cannot bind 127\\.0\\.0\\.1:${port}: `),
      );
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
    assert.equal(await exchange(mainPort, bytes(500), "127.0.0.2"), "B");
    assert.equal(await exchange(extraPort, bytes(500)), "A");
    const s = await status<Status>(admin);
    assert.deepEqual(s.listeners.find((l) => l.name === "main")!.bind, [`127.0.0.1:${mainPort}`]);
    const m = await scrape(admin);
    assert.equal(m.get("switchyard_reloads_total", { result: "failed" }), 2);
  });

  test("a reload whose new listener cannot bind leaves no series of it in /metrics", async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as net.AddressInfo).port;
    const fresh =
      `  fresh:\n    bind: "127.0.0.1:${port}"\n    protocol: tcp\n    default: a\nbackends:`;
    try {
      const ev = await reload(router, config(withRoute, true).replace("backends:", fresh));
      assert.equal(ev.msg, "reload failed: the old config keeps serving");
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
    const m = await scrape(admin);
    assert.ok(!m.text.includes('listener="fresh"'), m.text);
    assert.equal(m.get("switchyard_connections_active", { listener: "extra" }), 0);
  });

  test("a removed listener stops accepting after reload; its live connection still finishes", async () => {
    const live = await SinkClient.open(extraPort);
    await live.send(bytes(2000, 5));
    const ev = await reload(router, config(withRoute, false));
    assert.equal(ev.msg, "reloaded", JSON.stringify(ev));
    assert.equal(await tryConnect(extraPort), "refused");
    const s = await status<Status>(admin);
    assert.deepEqual(s.listeners.map((l) => l.name), ["main"]);
    assert.equal(await exchange(mainPort, bytes(100)), "A");
    const during = await scrape(admin);
    assert.equal(during.get("switchyard_connections_active", { listener: "extra" }), 1);
    await live.send(bytes(3000, 6));
    await live.finish();
    // Its series leave /metrics with its last connection.
    const m = await until(async () => {
      const m = await scrape(admin);
      return m.get("switchyard_connections_active", { listener: "extra" }) === undefined && m;
    }, "the removed listener's series to go");
    assert.ok(!m.text.includes('listener="extra"'), m.text);
    assert.equal(m.get("switchyard_connections_active", { listener: "main" }), 0);
    assert.equal(m.get("switchyard_reloads_total", { result: "ok" }), 2);
  });
});

describe(`1,000 connections across reloads (router on ${runtimeName})`, () => {
  let sinkA: TestServer;
  let sinkB: TestServer;
  let router: RouterProcess;
  let admin: number;

  const config = (routes: string) => `
admin: { listen: "127.0.0.1:0" }
listeners:
  load:
    bind: "127.0.0.1:0"
    protocol: tcp
    routes: [${routes}]
    default: pair
backends:
  pair:
    servers: ["127.0.0.1:${sinkA.port}", "127.0.0.1:${sinkB.port}"]
    balance: roundrobin
  later:
    servers: ["127.0.0.1:${sinkA.port}", "127.0.0.1:${sinkB.port}"]
    balance: leastconn
`;

  before(async () => {
    sinkA = await namedSink("A");
    sinkB = await namedSink("B");
    router = await startRouter(config(""));
    admin = adminPort(router);
  });

  after(async () => {
    assert.equal(await router?.stop(), 0);
    for (const s of [sinkA, sinkB]) await s?.close();
  });

  test("1,000 short connections, 20 at a time, see zero errors while two reloads happen", async () => {
    const total = 1000;
    const concurrency = 20;
    const port = router.port("load");
    let started = 0;
    let done = 0;
    const errors: string[] = [];
    const names = new Map<string, number>();
    const doneAtReload: number[] = [];
    let progress: (() => void) | null = null;

    const worker = async () => {
      while (started < total) {
        const i = started++;
        try {
          const name = await exchange(port, bytes(200 + (i * 37) % 3000, i + 1));
          names.set(name, (names.get(name) ?? 0) + 1);
        } catch (err) {
          errors.push(`#${i}: ${(err as Error).message}`);
        }
        done++;
        progress?.();
      }
    };
    const reached = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (done >= n) {
            progress = null;
            resolve();
          } else progress = check;
        };
        check();
      });
    const reloads = (async () => {
      await reached(250);
      const first = await reload(router); // the same file again
      doneAtReload.push(done);
      assert.equal(first.msg, "reloaded", JSON.stringify(first));
      await reached(600);
      // Every connection from 127.0.0.1 now takes another backend (same servers).
      const second = await reload(router, config(`{ src: 127.0.0.1/32, to: later }`));
      doneAtReload.push(done);
      assert.equal(second.msg, "reloaded", JSON.stringify(second));
    })();
    await Promise.all([...Array.from({ length: concurrency }, worker), reloads]);

    assert.deepEqual(errors, []);
    assert.equal(done, total);
    assert.ok(doneAtReload.every((n) => n < total), `reloads happened under load: ${doneAtReload}`);
    assert.ok((names.get("A") ?? 0) > 0 && (names.get("B") ?? 0) > 0, JSON.stringify([...names]));

    const m = await idleScrape(admin, "load");
    const before = m.n("switchyard_connections_total", { listener: "load", backend: "pair" });
    const afterReload = m.n("switchyard_connections_total", { listener: "load", backend: "later" });
    assert.equal(before + afterReload, total);
    assert.ok(before >= 600 && afterReload > 0, `pair ${before}, later ${afterReload}`);
    assert.equal(m.get("switchyard_reloads_total", { result: "ok" }), 2);
    assert.equal(m.n("switchyard_connections_refused_total", { listener: "load" }), 0);
    const bad = router.access.filter((r) => r.listener === "load" && r.outcome !== "ok");
    assert.deepEqual(bad, []);
  });
});

describe(`address conflicts (router on ${runtimeName})`, () => {
  const write = (yaml: string) => {
    const file = join(mkdtempSync(join(tmpdir(), "switchyard-test-")), "switchyard.yaml");
    writeFileSync(file, yaml);
    return file;
  };

  test("an admin address that a listener also binds: check exits 2 naming both, run refuses to start", async () => {
    const port = await freePort();
    const file = write(`
admin:
  listen: "127.0.0.1:${port}"
listeners:
  web:
    bind: ":${port}"
    protocol: tcp
    default: "127.0.0.1:9"
`);
    const want =
      `${file}:6:11: listeners.web.bind: ":${port}" overlaps "127.0.0.1:${port}" of admin (line 3)`;
    const checked = await exec(...routerCommand(["check", "-c", file]));
    assert.equal(checked.code, 2, checked.stderr);
    assert.ok(checked.stderr.includes(want), checked.stderr);

    const ran = await exec(...routerCommand(["run", "-c", file]));
    assert.equal(ran.code, 2, ran.stderr);
    assert.ok(ran.stderr.includes(want), ran.stderr);
    assert.ok(!ran.stderr.includes(`"listening"`), ran.stderr);
  });

  test("an admin address taken by another process: run exits 1 with a message naming it", async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const file = write(`
admin: { listen: "127.0.0.1:${port}" }
listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: "127.0.0.1:9"
`);
      const ran = await exec(...routerCommand(["run", "-c", file]));
      assert.equal(ran.code, 1, ran.stderr);
      const ev = ran.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
        .find((e) => e.level === "error");
      assert.ok(ev, ran.stderr);
      assert.match(ev.msg, new RegExp(`^admin: cannot listen on 127\\.0\\.0\\.1:${port}: `));
      assert.ok(!ran.stderr.includes(`"listening"`), ran.stderr);
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });

  test("a listener address taken by another process: run exits 1 with a message naming it", async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const file = write(`
admin: { listen: "127.0.0.1:0" }
listeners:
  web:
    bind: "127.0.0.1:${port}"
    protocol: tcp
    default: "127.0.0.1:9"
`);
      const ran = await exec(...routerCommand(["run", "-c", file]));
      assert.equal(ran.code, 1, ran.stderr);
      const ev = ran.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
        .find((e) => e.level === "error");
      assert.ok(ev, ran.stderr);
      assert.match(ev.msg, new RegExp(`^listener "web": cannot bind 127\\.0\\.0\\.1:${port}: `));
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });
});
