/**
 * dial() in process, against a runtime whose connect is under the test's control: a lease
 * counts once however often it is released, and a connection that completes after its owner
 * left is closed and released by dial itself.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { BackendConfig } from "../../src/config/types.ts";
import { Balancer } from "../../src/proxy/balancer.ts";
import { dial } from "../../src/proxy/dial.ts";
import type { Addr, Conn, ConnectOptions, Runtime } from "../../src/runtime/types.ts";

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

function backend(): Balancer {
  const config: BackendConfig = {
    name: "b",
    balance: "roundrobin",
    retries: 0,
    connectTimeoutMs: 1000,
    proxyProtocol: null,
    tls: null,
    source: null,
    healthCheck: null,
    servers: [{
      name: "s0",
      weight: 1,
      address: { host: "127.0.0.1", port: 1000, family: 4, text: "127.0.0.1:1000" },
    }],
  };
  return new Balancer(config);
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
});
