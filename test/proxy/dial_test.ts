/**
 * dial() in process, against a runtime whose connect is under the test's control: a lease
 * counts once however often it is released, a connection that completes after its owner
 * left is closed and released by dial itself, a backend with `proxy_protocol` gets the PROXY
 * header as the first bytes of the connection, and a failed connect moves on to a server not
 * tried yet. pickIdle() takes a pooled connection without a promise, and when there is none
 * dial() connects to the server it picked, not to the next one.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { BackendConfig } from "../../src/config/types.ts";
import { Balancer } from "../../src/proxy/balancer.ts";
import { dial, Lease, pickIdle } from "../../src/proxy/dial.ts";
import { putIdle } from "../../src/proxy/idle_pool.ts";
import type { Addr, Conn, ConnectOptions, Runtime } from "../../src/runtime/types.ts";
import { sniffProxyHeader } from "../../src/proxy_protocol/decode.ts";
import { ConnectStub, refused } from "../helpers/fake_conn.ts";

const ADDR: Addr = { host: "127.0.0.1", port: 1, family: 4 };

/** A connection that only records whether it was closed. */
class RecordingConn implements Conn {
  readonly local = ADDR;
  readonly remote = ADDR;
  closed = false;
  start(): void {}
  pause(): void {}
  resume(): void {}
  write(): boolean {
    return true;
  }
  end(): void {}
  close(): void {
    this.closed = true;
  }
}

/** A runtime whose connect resolves (or fails) when the test says so. */
function controlledRuntime() {
  const pending: { resolve: (c: Conn) => void; reject: (e: Error) => void }[] = [];
  const rt = {
    connect: (_o: ConnectOptions) =>
      new Promise<Conn>((resolve, reject) => pending.push({ resolve, reject })),
  } as unknown as Runtime;
  return { rt, pending };
}

function backend(over: Partial<BackendConfig> = {}): Balancer {
  const config: BackendConfig = {
    name: "b",
    balance: "roundrobin",
    retries: 0,
    connectTimeoutMs: 1000,
    proxyProtocol: null,
    tls: null,
    source: null,
    healthCheck: null,
    http2: false,
    servers: [{
      name: "s0",
      weight: 1,
      address: { host: "127.0.0.1", port: 1000, family: 4, text: "127.0.0.1:1000" },
    }],
    ...over,
  };
  return new Balancer(config);
}

/** A backend of two servers, s0 on port 1000 and s1 on 1001. */
function twoServers(over: Partial<BackendConfig> = {}): Balancer {
  return backend({
    servers: [0, 1].map((i) => ({
      name: `s${i}`,
      weight: 1,
      address: {
        host: "127.0.0.1",
        port: 1000 + i,
        family: 4 as const,
        text: `127.0.0.1:${1000 + i}`,
      },
    })),
    ...over,
  });
}

/** Lets the promise callbacks queued so far run. */
const settle = () => new Promise((r) => setImmediate(r));

describe("dial", () => {
  test("a lease counts the server's connection once, however often it is released", async () => {
    const { rt, pending } = controlledRuntime();
    const b = backend();
    const result = dial(rt, b, null);
    await settle();
    const server = b.servers[0];
    assert.equal(server.active, 1, "counted from the attempt on");
    const conn = new RecordingConn();
    pending[0].resolve(conn);
    const r = await result;
    assert.ok(r.ok);
    assert.equal(r.conn, conn);
    r.release();
    r.release();
    assert.equal(server.active, 0);
  });

  test("an owner gone before the connect completes: the connection is closed and released", async () => {
    const { rt, pending } = controlledRuntime();
    const b = backend();
    let alive = true;
    const result = dial(rt, b, null, undefined, () => alive);
    await settle();
    alive = false;
    const conn = new RecordingConn();
    pending[0].resolve(conn);
    const r = await result;
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.gone);
    assert.equal(conn.closed, true);
    assert.equal(b.servers[0].active, 0);
  });

  test("a failed connect is a failure with the reason, and nothing stays counted", async () => {
    const { rt, pending } = controlledRuntime();
    const b = backend();
    const result = dial(rt, b, null);
    await settle();
    pending[0].reject(Object.assign(new Error("connect refused"), { code: "ECONNREFUSED" }));
    const r = await result;
    assert.ok(!r.ok && r.gone === undefined);
    assert.match(r.reason, /connect to s0: connect refused \(ECONNREFUSED\)/);
    assert.equal(b.servers[0].active, 0);
  });

  const WHO = {
    client: { host: "203.0.113.7", port: 51000, family: 4 as const },
    local: { host: "198.51.100.1", port: 443, family: 4 as const },
  };

  for (const v of ["v1", "v2"] as const) {
    test(`proxy_protocol ${v}: the PROXY header for the client is the connection's first write`, async () => {
      const stub = new ConnectStub();
      const r = await dial(stub.runtime(), backend({ proxyProtocol: v }), null, WHO);
      assert.ok(r.ok);
      const conn = stub.attempts[0].conn!;
      assert.equal(r.conn, conn);
      assert.equal(conn.writes.length, 1, "one write, before the owner has the connection");
      const h = sniffProxyHeader(conn.writes[0]);
      assert.equal(h.kind, "match", JSON.stringify(h));
      if (h.kind !== "match") return;
      assert.equal(h.length, conn.writes[0].length, "the header and nothing else");
      assert.equal(h.value.version, v === "v1" ? 1 : 2);
      assert.deepEqual(h.value.source, { family: 4, address: "203.0.113.7", port: 51000 });
      assert.deepEqual(h.value.destination, { family: 4, address: "198.51.100.1", port: 443 });
      r.release();
    });
  }

  test("without proxy_protocol nothing is written before the owner writes", async () => {
    const stub = new ConnectStub();
    const r = await dial(stub.runtime(), backend(), null, WHO);
    assert.ok(r.ok);
    assert.deepEqual(stub.attempts[0].conn!.writes, []);
    r.release();
  });

  test("a refused connect moves on to a server not tried yet, and counts the failure", async () => {
    const stub = new ConnectStub();
    stub.answer = (_o, n) => n === 0 ? refused() : "accept";
    // "first" would pick the refused server again if dial did not exclude it.
    const b = twoServers({ balance: "first", retries: 1 });
    const r = await dial(stub.runtime(), b, null);
    assert.ok(r.ok);
    const ports = stub.attempts.map((a) => a.opts.port);
    assert.equal(new Set(ports).size, 2, `two different servers tried: ${ports}`);
    assert.equal(r.server.config.address.port, ports[1]);
    const failed = b.servers.find((s) => s.config.address.port === ports[0])!;
    assert.equal(failed.failures, 1);
    assert.equal(failed.active, 0);
    assert.equal(r.server.active, 1);
    r.release();
  });

  test("pickIdle: an idle connection of the server picked comes back leased, at once", () => {
    const b = twoServers();
    const picked = pickIdle(b, null);
    assert.ok(picked !== null && !(picked instanceof Lease), "no idle connection yet");
    picked.active++;
    const conn = new RecordingConn();
    assert.equal(putIdle(new Lease(conn, picked)), true);
    // Round robin moves on: the other server has no idle connection.
    const other = pickIdle(b, null);
    assert.ok(other !== null && !(other instanceof Lease) && other !== picked);
    const again = pickIdle(b, null);
    assert.ok(again instanceof Lease, "the picked server's idle connection");
    assert.equal(again.conn, conn);
    assert.deepEqual([picked.active, picked.idle], [1, 0]);
    again.release();
  });

  test("dial() with the server pickIdle() picked connects to that server, picking no other", async () => {
    const stub = new ConnectStub();
    const b = twoServers();
    const picked = pickIdle(b, null);
    assert.ok(picked !== null && !(picked instanceof Lease));
    const r = await dial(stub.runtime(), b, null, { ...WHO, reuse: true, picked });
    assert.ok(r.ok);
    assert.equal(r.server, picked);
    assert.equal(stub.attempts[0].opts.port, picked.config.address.port);
    r.release();
    // Round robin was asked once for that request: the next pick is the other server.
    const next = pickIdle(b, null);
    assert.ok(next !== null && !(next instanceof Lease) && next !== picked);
  });

  test("pickIdle with no server up: null, and dial() says why", async () => {
    const b = backend();
    b.servers[0].up = false;
    assert.equal(pickIdle(b, null), null);
    const r = await dial(new ConnectStub().runtime(), b, null, { ...WHO, reuse: true });
    assert.ok(!r.ok);
    assert.match(r.reason, /no server up/);
  });
});
