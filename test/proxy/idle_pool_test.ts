import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { BackendConfig } from "../../src/config/types.ts";
import { ServerState } from "../../src/proxy/balancer.ts";
import { putIdle, shareable, takeIdle } from "../../src/proxy/idle_pool.ts";
import { Lease } from "../../src/proxy/lease.ts";
import { FakeConn, settle } from "../helpers/fake_conn.ts";

const ADDRESS = { host: "127.0.0.1", port: 8080, family: 4 as const, text: "127.0.0.1:8080" };

function server(): ServerState {
  return new ServerState({ name: "s", address: ADDRESS, weight: 1 });
}

/** A lease as dial() makes one: counted in `active`. */
function leased(s: ServerState, conn = new FakeConn({ name: "backend" })): Lease {
  s.active++;
  return new Lease(conn, s);
}

describe("idle pool", () => {
  test("a kept connection counts as idle, not active, and comes back leased", () => {
    const s = server();
    const conn = new FakeConn({ name: "backend" });
    assert.equal(putIdle(leased(s, conn)), true);
    assert.deepEqual([s.active, s.idle], [0, 1]);
    const again = takeIdle(s);
    assert.equal(again?.conn, conn);
    assert.deepEqual([s.active, s.idle], [1, 0]);
    assert.equal(takeIdle(s), null);
    again!.release();
    assert.equal(s.active, 0);
    assert.equal(conn.closeCalls, 0);
  });

  test("the most recently kept connection is taken first", () => {
    const s = server();
    const a = leased(s);
    const b = leased(s);
    putIdle(a);
    putIdle(b);
    assert.equal(takeIdle(s)?.conn, b.conn);
    assert.equal(takeIdle(s)?.conn, a.conn);
  });

  for (const event of ["bytes", "a FIN", "an error"] as const) {
    test(`an idle connection that gets ${event} is closed and forgotten`, async () => {
      const s = server();
      const conn = new FakeConn({ name: "backend" });
      putIdle(leased(s, conn));
      if (event === "bytes") conn.push("HTTP/1.1 408 Request Timeout\r\n\r\n");
      else if (event === "a FIN") conn.pushEnd();
      else conn.fail();
      await settle();
      assert.equal(conn.closeCalls, 1);
      assert.equal(s.idle, 0);
      assert.equal(takeIdle(s), null);
    });
  }

  test("past 256 idle connections a server's pool refuses (the caller closes)", () => {
    const s = server();
    for (let i = 0; i < 256; i++) assert.equal(putIdle(leased(s)), true);
    const extra = leased(s);
    assert.equal(putIdle(extra), false);
    assert.deepEqual([s.active, s.idle], [1, 256]);
  });

  test("connections that speak for one client are not shared", () => {
    const base: BackendConfig = {
      name: "b",
      servers: [],
      balance: "roundrobin",
      retries: 0,
      connectTimeoutMs: 1000,
      proxyProtocol: null,
      tls: null,
      source: null,
      healthCheck: null,
      http2: false,
    };
    assert.equal(shareable(base), true);
    assert.equal(shareable({ ...base, proxyProtocol: "v2" }), false);
    assert.equal(
      shareable({ ...base, source: { usesrc: "client" } }),
      false,
    );
    assert.equal(shareable({ ...base, tls: { sni: "host", ca: "system", verify: true } }), false);
    assert.equal(
      shareable({ ...base, tls: { sni: "api.test", ca: "system", verify: true } }),
      true,
    );
  });
});
