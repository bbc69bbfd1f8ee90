/**
 * The network fuzzer at CI size (the long run is `deno task fuzz:net`), and the faults it
 * found, each as its own regression test.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { netFuzz } from "../fuzz/net_fuzz.ts";
import { httpBackend, type HttpTestServer } from "../helpers/http_backends.ts";
import { selfSigned } from "../helpers/certs.ts";
import { RawClient } from "../helpers/clients.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

describe(`network fuzzer (router on ${runtimeName})`, () => {
  test("900 mutated ClientHellos, HTTP heads and PROXY headers: no crash, none hangs, none leaks", {
    timeout: 120_000,
  }, async () => {
    const r = await netFuzz({ perKind: 300, seed: 20261126, concurrency: 64 });
    assert.equal(r.crashed, null, `router exited:\n${r.stderrTail.join("\n")}`);
    assert.deepEqual(r.failures, []);
    assert.equal(r.cases, 900);
    assert.equal(r.activeAfter, 0);
    assert.ok(r.fdsAfter <= r.fdsBefore, `fds ${r.fdsBefore} -> ${r.fdsAfter}`);
  });
});

describe(`faults the network fuzzer found (router on ${runtimeName})`, () => {
  let web: HttpTestServer;
  let router: RouterProcess;

  before(async () => {
    const cert = selfSigned(["example.com"]);
    web = await httpBackend("web");
    router = await startRouter(`
defaults:
  inspect_timeout: 1s
certificates:
  - { cert: ${cert.certFile}, key: ${cert.keyFile} }
listeners:
  term:
    bind: "127.0.0.1:0"
    protocol: tls
    terminate: web
  web:
    bind: "127.0.0.1:0"
    protocol: http
    default: "127.0.0.1:${web.port}"
`);
  });

  after(async () => {
    await router?.stop();
    await web?.close();
  });

  /** Connects to `listener`, noting where the router's log stood. */
  async function connect(listener: string): Promise<{ c: RawClient; since: number }> {
    const since = router.access.length;
    return { c: await RawClient.connect(router.port(listener)), since };
  }

  /** The access record of `c`, logged since it connected. */
  function recordOf({ c, since }: { c: RawClient; since: number }) {
    const client = `127.0.0.1:${c.port}`;
    return router.waitForAccess((a) => a.client === client, `the record of ${client}`, since);
  }

  /** One request through the http listener, proving the router still serves. */
  async function stillServes(): Promise<void> {
    const c = await RawClient.connect(router.port("web"));
    await c.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await c.until(() => c.ended || c.closed, "the response");
    assert.match(c.text, /^HTTP\/1\.1 200 /);
  }

  test("a ClientHello that TLS rejects on its first read does not kill the router", async () => {
    // Deno's node:tls read its nulled handle after start() destroyed the socket: an uncaught
    // TypeError (see guardTlsStart in src/runtime/deno.ts).
    const hello = readFileSync(
      new URL("../fixtures/regress/tls_start_crash.bin", import.meta.url),
    );
    const conn = await connect("term");
    const { c } = conn;
    await c.write(hello);
    await c.until(() => c.ended || c.closed, "the router to close");
    const rec = await recordOf(conn);
    assert.equal(rec.outcome, "tls_failed");
    await stillServes();
    assert.equal(router.child.exitCode, null);
  });

  test("an HTTP connection closed before any request is logged once", async () => {
    const conn = await connect("web");
    const { c } = conn;
    c.end();
    await c.until(() => c.ended, "the router's FIN");
    const rec = await recordOf(conn);
    assert.equal(rec.outcome, "client_closed");
    assert.equal(rec.reason, "closed before sending a request");
    const mine = router.access.slice(conn.since).filter((a) => a.client === rec.client);
    assert.equal(mine.length, 1);
  });

  test("a silent HTTP connection is logged at inspect_timeout", async () => {
    const conn = await connect("web");
    const { c } = conn;
    await c.until(() => c.ended || c.closed, "the router to close", 5000);
    const rec = await recordOf(conn);
    assert.equal(rec.outcome, "inspect_timeout");
    assert.equal(rec.reason, "no request");
  });
});
