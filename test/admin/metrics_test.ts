/**
 * renderMetrics: Prometheus text format 0.0.4 for a hand-built MetricsSource.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { renderMetrics } from "../../src/admin/metrics.ts";
import type { BackendConfig } from "../../src/config/types.ts";
import { Balancer } from "../../src/proxy/balancer.ts";
import { bump, type ListenerCounters, newCounters } from "../../src/proxy/context.ts";

function backend(name: string, servers: string[]): BackendConfig {
  return {
    name,
    balance: "roundrobin",
    retries: 0,
    connectTimeoutMs: 1000,
    proxyProtocol: null,
    tls: null,
    source: null,
    healthCheck: null,
    http2: false,
    servers: servers.map((server, i) => ({
      name: server,
      weight: 1,
      address: { host: "127.0.0.1", port: 9000 + i, family: 4, text: `127.0.0.1:${9000 + i}` },
    })),
  };
}

/** One sample line: `name{labels} value`, with the label values unescaped. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the exposition format: throws on any line it does not understand. */
function parse(text: string): { help: string[]; type: Map<string, string>; samples: Sample[] } {
  assert.ok(text.endsWith("\n"), "the text ends with a newline");
  const help: string[] = [];
  const type = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.slice(0, -1).split("\n")) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (m !== null) {
      help.push(m[1]);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$/.exec(line);
    if (m !== null) {
      assert.ok(!type.has(m[1]), `TYPE ${m[1]} appears once`);
      assert.equal(help.at(-1), m[1], `TYPE ${m[1]} follows its HELP`);
      type.set(m[1], m[2]);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (-?[0-9.e+]+)$/.exec(line);
    assert.ok(m !== null, `a sample line: ${JSON.stringify(line)}`);
    assert.ok(type.has(m[1]), `sample ${m[1]} comes after its TYPE`);
    const labels: Record<string, string> = {};
    const rest = m[2].replace(
      /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)",?/g,
      (_, k: string, v: string) => {
        labels[k] = v.replace(/\\(["\\n])/g, (_e, c: string) => (c === "n" ? "\n" : c));
        return "";
      },
    );
    assert.equal(rest, "", `labels parse completely: ${JSON.stringify(m[2])}`);
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { help, type, samples };
}

function value(
  samples: Sample[],
  name: string,
  labels: Record<string, string>,
): number | undefined {
  return samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))
    ?.value;
}

describe("renderMetrics", () => {
  const web: ListenerCounters = newCounters();
  web.active = 3;
  web.accepted = 10;
  web.overLimit = 1;
  web.bytesIn = 1234;
  web.bytesOut = 56789;
  web.routed.set("app", 7);
  web.routed.set("other", 2);
  bump(web.sniffFailures, "inspect_timeout");
  bump(web.sniffFailures, "inspect_timeout");
  bump(web.sniffFailures, "malformed");
  web.httpRequests.set("app\t200", 5);
  web.httpRequests.set("app\t502", 1);
  web.httpRequests.set("\t503", 2);
  // Names are validated by the config loader, but the renderer must not trust them.
  const odd: ListenerCounters = newCounters();
  odd.routed.set('say "hi"\\now\nthen', 1);

  const app = new Balancer(backend("app", ["a1", "a2"]));
  app.servers[1].up = false;
  app.servers[0].active = 4;
  app.servers[0].total = 40;
  app.servers[1].total = 2;

  const now = Date.parse("2030-01-01T00:00:00Z");
  const day = 86400_000;
  const cert = (names: string[], notAfter: number | null, source: "file" | "acme" = "file") => ({
    names,
    source,
    file: source === "file" ? `/certs/${names[0] ?? "none"}.pem` : null,
    notAfter: notAfter === null ? null : new Date(notAfter),
    nextRenewal: null,
    lastError: null,
  });
  const text = renderMetrics({
    listeners: new Map([["web", web], ["odd", odd]]),
    backends: new Map([["app", app]]),
    reloads: { ok: 3, failed: 1 },
    certificates: [
      cert(["a.test", "www.a.test"], now + 30 * day),
      cert(["b.test"], now + 10 * day, "acme"),
      // Another certificate whose first name is b.test, expiring sooner: that one is reported.
      cert(["b.test", "c.test"], now + 2 * day),
      cert(["old.test"], now - 1000),
      cert([], now + day),
      cert(["pending.test"], null, "acme"),
    ],
    acmeOrders: { ok: 4, failed: 2, rate_limited: 1 },
  }, now);
  const { help, type, samples } = parse(text);

  test("HELP and TYPE once per family, before its samples", () => {
    assert.equal(new Set(help).size, help.length, "no HELP repeats");
    assert.deepEqual([...type.keys()], help);
    for (
      const [name, t] of [
        ["switchyard_connections_total", "counter"],
        ["switchyard_connections_active", "gauge"],
        ["switchyard_bytes_total", "counter"],
        ["switchyard_sniff_failures_total", "counter"],
        ["switchyard_http_requests_total", "counter"],
        ["switchyard_backend_server_up", "gauge"],
        ["switchyard_reloads_total", "counter"],
        ["switchyard_certificate_expiry_seconds", "gauge"],
        ["switchyard_acme_orders_total", "counter"],
      ]
    ) assert.equal(type.get(name), t, name);
    // Samples of one family are contiguous (the format requires one group per family).
    const order = samples.map((s) => s.name).filter((n, i, a) => n !== a[i - 1]);
    assert.equal(new Set(order).size, order.length, "each family's samples form one group");
    for (const name of type.keys()) assert.ok(name.startsWith("switchyard_"));
  });

  test("the contract's metrics carry its labels and the counter values", () => {
    const v = (name: string, labels: Record<string, string>) => value(samples, name, labels);
    assert.equal(v("switchyard_connections_total", { listener: "web", backend: "app" }), 7);
    assert.equal(v("switchyard_connections_total", { listener: "web", backend: "other" }), 2);
    assert.equal(v("switchyard_connections_active", { listener: "web" }), 3);
    assert.equal(v("switchyard_connections_active", { listener: "odd" }), 0);
    assert.equal(v("switchyard_connections_accepted_total", { listener: "web" }), 10);
    assert.equal(v("switchyard_connections_refused_total", { listener: "web" }), 1);
    assert.equal(v("switchyard_bytes_total", { listener: "web", direction: "in" }), 1234);
    assert.equal(v("switchyard_bytes_total", { listener: "web", direction: "out" }), 56789);
    assert.equal(
      v("switchyard_sniff_failures_total", { listener: "web", reason: "inspect_timeout" }),
      2,
    );
    assert.equal(v("switchyard_sniff_failures_total", { listener: "web", reason: "malformed" }), 1);
    assert.equal(
      v("switchyard_http_requests_total", { listener: "web", backend: "app", code: "200" }),
      5,
    );
    assert.equal(
      v("switchyard_http_requests_total", { listener: "web", backend: "app", code: "502" }),
      1,
    );
    // An answer no backend gave (no route: 503) has an empty backend label.
    assert.equal(
      v("switchyard_http_requests_total", { listener: "web", backend: "", code: "503" }),
      2,
    );
    assert.equal(v("switchyard_backend_server_up", { backend: "app", server: "a1" }), 1);
    assert.equal(v("switchyard_backend_server_up", { backend: "app", server: "a2" }), 0);
    assert.equal(v("switchyard_backend_server_active", { backend: "app", server: "a1" }), 4);
    assert.equal(
      v("switchyard_backend_server_connections_total", { backend: "app", server: "a1" }),
      40,
    );
    assert.equal(v("switchyard_reloads_total", { result: "ok" }), 3);
    assert.equal(v("switchyard_reloads_total", { result: "failed" }), 1);
  });

  test("certificate expiry: one series per certificate, by its first name", () => {
    const expiry = samples.filter((s) => s.name === "switchyard_certificate_expiry_seconds")
      .map((s) => [s.labels, s.value]);
    assert.deepEqual(expiry, [
      [{ name: "a.test" }, 30 * 86400],
      [{ name: "b.test" }, 2 * 86400],
      [{ name: "old.test" }, -1],
      // No DNS name at all: its file names it.
      [{ name: "/certs/none.pem" }, 86400],
    ]);
  });

  test("ACME orders by result", () => {
    const v = (result: string) => value(samples, "switchyard_acme_orders_total", { result });
    assert.deepEqual([v("ok"), v("failed"), v("rate_limited")], [4, 2, 1]);
  });

  test("label values escape backslash, double quote and newline", () => {
    assert.ok(
      text.includes(
        'switchyard_connections_total{listener="odd",backend="say \\"hi\\"\\\\now\\nthen"} 1\n',
      ),
      text,
    );
    assert.equal(
      value(samples, "switchyard_connections_total", {
        listener: "odd",
        backend: 'say "hi"\\now\nthen',
      }),
      1,
    );
  });

  test("every line is HELP, TYPE or a sample; nothing else", () => {
    const lines = text.trimEnd().split("\n");
    assert.equal(lines.length, help.length * 2 + samples.length);
    assert.ok(!text.includes("\n\n"), "no blank lines");
  });

  test("with nothing counted yet the families are still declared", () => {
    const empty = parse(renderMetrics({
      listeners: new Map(),
      backends: new Map(),
      reloads: { ok: 0, failed: 0 },
    }));
    assert.deepEqual([...empty.type.keys()], [...type.keys()]);
    assert.deepEqual(empty.samples.map((s) => [s.name, s.labels, s.value]), [
      ["switchyard_reloads_total", { result: "ok" }, 0],
      ["switchyard_reloads_total", { result: "failed" }, 0],
      ["switchyard_acme_orders_total", { result: "ok" }, 0],
      ["switchyard_acme_orders_total", { result: "failed" }, 0],
      ["switchyard_acme_orders_total", { result: "rate_limited" }, 0],
    ]);
  });
});
