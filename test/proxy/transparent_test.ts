/**
 * Transparent proxying decisions, no privileges needed: which source a backend connection
 * binds (usesrc client / clientip / an IP, a local client proxied plainly, `address:`), the
 * balancer's family filter, and the `dst` route key on the original destination.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../../src/config/load.ts";
import type { BackendConfig, SourceConfig } from "../../src/config/types.ts";
import { parseIp } from "../../src/net/ip.ts";
import { Balancer } from "../../src/proxy/balancer.ts";
import { interfaceOf, sourceRoute } from "../../src/proxy/transparent.ts";
import { compileRouter } from "../../src/route/router.ts";
import type { Addr } from "../../src/runtime/types.ts";

const v4client: Addr = { host: "198.51.100.2", port: 40000, family: 4 };
const v6client: Addr = { host: "2001:db8:1::2", port: 40001, family: 6 };
const src = (usesrc: string, address?: string): SourceConfig =>
  address === undefined ? { usesrc } : { usesrc, address };

describe("transparent source routes", () => {
  test("no source: connect as usual", () => {
    assert.equal(sourceRoute(null, v4client), null);
    assert.equal(sourceRoute(src("client"), undefined), null);
  });

  test("usesrc client binds the client's address and port, in its family", () => {
    assert.deepEqual(sourceRoute(src("client"), v4client), {
      family: 4,
      source: { host: "198.51.100.2", port: 40000 },
      transparent: true,
      device: null,
    });
    assert.deepEqual(sourceRoute(src("client"), v6client), {
      family: 6,
      source: { host: "2001:db8:1::2", port: 40001 },
      transparent: true,
      device: null,
    });
  });

  test("usesrc clientip leaves the port to the kernel", () => {
    assert.deepEqual(sourceRoute(src("clientip"), v6client)?.source, {
      host: "2001:db8:1::2",
      port: 0,
    });
  });

  test("usesrc with an IP binds it, and the server family follows that IP", () => {
    const r = sourceRoute(src("2001:db8::77"), v4client);
    assert.deepEqual(r, {
      family: 6,
      source: { host: "2001:db8::77", port: 0 },
      transparent: true,
      device: null,
    });
  });

  test("a client on this host is proxied plainly (from address: when of its family)", () => {
    for (
      const c of [{ host: "127.0.0.1", port: 5, family: 4 }, {
        host: "::1",
        port: 5,
        family: 6,
      }] as Addr[]
    ) {
      const r = sourceRoute(src("client"), c);
      assert.deepEqual(r, { family: c.family, source: null, transparent: false, device: null });
    }
    const withAddress = sourceRoute(src("clientip", "127.0.0.1"), {
      host: "127.0.0.5",
      port: 9,
      family: 4,
    });
    assert.deepEqual(withAddress?.source, { host: "127.0.0.1", port: 0 });
    assert.equal(withAddress?.transparent, false);
    const otherFamily = sourceRoute(src("client", "127.0.0.1"), {
      host: "::1",
      port: 9,
      family: 6,
    });
    assert.equal(otherFamily?.source, null);
  });

  test("address: the connection leaves through the interface holding it", () => {
    const lo = interfaceOf("127.0.0.1");
    assert.ok(lo !== null, "127.0.0.1 is on an interface");
    assert.equal(sourceRoute(src("client", "127.0.0.1"), v4client)?.device, lo);
    // Of another family than the source: not used.
    assert.equal(sourceRoute(src("client", "127.0.0.1"), v6client)?.device, null);
    assert.equal(interfaceOf("192.0.2.254"), null);
  });
});

describe("balancer family filter", () => {
  const backend: BackendConfig = {
    name: "b",
    balance: "roundrobin",
    retries: 0,
    connectTimeoutMs: 1000,
    proxyProtocol: null,
    tls: null,
    source: { usesrc: "client" },
    healthCheck: null,
    http2: false,
    servers: [
      { name: "v4", weight: 1, address: { host: "203.0.113.2", port: 1, family: 4, text: "a" } },
      { name: "v6", weight: 1, address: { host: "2001:db8::2", port: 1, family: 6, text: "b" } },
      { name: "dns", weight: 1, address: { host: "backend.test", port: 1, family: 0, text: "c" } },
    ],
  };
  const picks = (b: Balancer, family: 4 | 6 | null) =>
    Array.from({ length: 6 }, () => b.pick(null, null, family)?.config.name);

  test("only servers of the family (or named) are picked", () => {
    const b = new Balancer(backend);
    assert.deepEqual(new Set(picks(b, 4)), new Set(["v4", "dns"]));
    assert.deepEqual(new Set(picks(b, 6)), new Set(["v6", "dns"]));
    assert.deepEqual(new Set(picks(b, null)), new Set(["v4", "v6", "dns"]));
  });

  test("no server of the family: null, even with others up", () => {
    const b = new Balancer({ ...backend, servers: backend.servers.slice(0, 1) });
    assert.equal(b.pick(null, null, 6), null);
    assert.equal(b.pick(null, null, 4)?.config.name, "v4");
  });
});

describe("dst route key", () => {
  const { config, problems } = parseConfig(
    `listeners:
  tp:
    bind: ["0.0.0.0:7010"]
    transparent: true
    routes:
      - { dst: [198.51.100.200/32, "2001:db8:ff::/48"], to: a }
    default: b
backends:
  a: { servers: ["203.0.113.2:9000"] }
  b: { servers: ["203.0.113.2:9001"] }
`,
    "t.yaml",
  );

  test("parses as CIDRs and routes on the original destination", () => {
    assert.deepEqual(problems.filter((p) => p.severity === "error"), []);
    const l = config!.listeners.get("tp")!;
    assert.equal(l.transparent, true);
    const router = compileRouter(l);
    const at = (dst: string | null) =>
      router.match({
        src: parseIp("198.51.100.2")!,
        local: false,
        dst: dst === null ? null : parseIp(dst),
      })
        ?.to ?? router.default;
    assert.equal(at("198.51.100.200"), "a");
    assert.equal(at("2001:db8:ff:1::5"), "a");
    assert.equal(at("198.51.100.201"), "b");
    assert.equal(at(null), "b");
  });

  test("destination is suggested as dst", () => {
    const r = parseConfig(
      `listeners: { l: { bind: [":1"], routes: [{ destination: 10.0.0.0/8, to: "127.0.0.1:1" }] } }\n`,
      "t.yaml",
    );
    assert.ok(r.problems.some((p) => /dst/.test(p.message)), JSON.stringify(r.problems));
  });
});
