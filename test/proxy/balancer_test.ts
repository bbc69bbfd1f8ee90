import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { BackendConfig, Balance } from "../../src/config/types.ts";
import { Balancer } from "../../src/proxy/balancer.ts";

function backend(balance: Balance, weights: number[]): BackendConfig {
  return {
    name: "b",
    balance,
    retries: 0,
    connectTimeoutMs: 1000,
    proxyProtocol: null,
    tls: null,
    source: null,
    healthCheck: null,
    http2: false,
    servers: weights.map((weight, i) => ({
      name: `s${i}`,
      weight,
      address: { host: "127.0.0.1", port: 1000 + i, family: 4, text: `127.0.0.1:${1000 + i}` },
    })),
  };
}

const names = (b: Balancer, n: number, client: Uint8Array | null = null) =>
  Array.from({ length: n }, () => b.pick(client, null)?.config.name ?? "-");

describe("balancer", () => {
  test("roundrobin spreads by weight and interleaves (smooth weighted)", () => {
    const b = new Balancer(backend("roundrobin", [1, 2, 1]));
    assert.deepEqual(names(b, 8), ["s1", "s0", "s2", "s1", "s1", "s0", "s2", "s1"]);
  });

  test("a server that is down or weight 0 gets nothing", () => {
    const b = new Balancer(backend("roundrobin", [1, 0, 1]));
    b.servers[0].up = false;
    assert.deepEqual(names(b, 3), ["s2", "s2", "s2"]);
    b.servers[2].up = false;
    assert.equal(b.pick(null, null), null);
  });

  test("exclude moves a retry to a server not tried yet", () => {
    const b = new Balancer(backend("first", [1, 1, 1]));
    const tried = new Set([b.servers[0], b.servers[1]]);
    assert.equal(b.pick(null, tried)?.config.name, "s2");
    tried.add(b.servers[2]);
    assert.equal(b.pick(null, tried), null);
  });

  test("leastconn picks the fewest active connections per weight", () => {
    const b = new Balancer(backend("leastconn", [1, 2]));
    b.servers[0].active = 1;
    b.servers[1].active = 1;
    assert.equal(b.pick(null, null)?.config.name, "s1");
    b.servers[1].active = 3;
    assert.equal(b.pick(null, null)?.config.name, "s0");
  });

  test("source keeps a client on one server and spreads clients", () => {
    const b = new Balancer(backend("source", [1, 1, 1, 1]));
    const seen = new Set<string>();
    for (let i = 0; i < 64; i++) {
      const ip = Uint8Array.of(10, 0, i, 1);
      const first = b.pick(ip, null)!.config.name;
      assert.equal(b.pick(ip, null)!.config.name, first);
      seen.add(first);
    }
    assert.equal(seen.size, 4);
  });

  test("first always takes the first server up", () => {
    const b = new Balancer(backend("first", [1, 1]));
    assert.deepEqual(names(b, 3), ["s0", "s0", "s0"]);
    b.servers[0].up = false;
    assert.deepEqual(names(b, 2), ["s1", "s1"]);
  });
});
