/**
 * tcp listeners end to end: exact bytes, half-close in both directions, load balancing and
 * failover, with the router as a subprocess under the test's runtime.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { echoServer, namedSink, type TestServer } from "../helpers/backends.ts";
import { freePort, RawClient } from "../helpers/clients.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

describe(`tcp listener (router on ${runtimeName})`, () => {
  let sinkA: TestServer;
  let sinkB: TestServer;
  let echo: TestServer;
  let router: RouterProcess;
  let early: net.Server;
  let earlyGot: Promise<string>;

  before(async () => {
    sinkA = await namedSink("A");
    sinkB = await namedSink("B");
    echo = await echoServer();
    const dead = await freePort();
    earlyGot = new Promise((resolve) => {
      early = net.createServer({ allowHalfOpen: true }, (s) => {
        let got = "";
        s.end("bye\n");
        s.on("data", (b) => (got += b));
        s.on("end", () => resolve(got));
      });
    });
    await new Promise<void>((r) => early.listen(0, "127.0.0.1", r));
    const earlyPort = (early.address() as net.AddressInfo).port;
    router = await startRouter(`
listeners:
  bulk:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: echo
  rr:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: pair
  failover:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: flaky
  early:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: "127.0.0.1:${earlyPort}"
  limited:
    bind: "127.0.0.1:0"
    protocol: tcp
    max_connections: 1
    default: "127.0.0.1:${sinkA.port}"
  idle:
    bind: "127.0.0.1:0"
    protocol: tcp
    idle_timeout: 300ms
    default: "127.0.0.1:${sinkA.port}"
  bysrc:
    bind: "127.0.0.1:0"
    protocol: tcp
    routes:
      - { src: 127.0.0.2/32, to: "127.0.0.1:${sinkB.port}" }
    default: "127.0.0.1:${sinkA.port}"
backends:
  echo: { servers: ["127.0.0.1:${echo.port}"] }
  pair:
    servers: ["127.0.0.1:${sinkA.port}", "127.0.0.1:${sinkB.port}"]
    balance: roundrobin
  flaky:
    servers: ["127.0.0.1:${dead}", "127.0.0.1:${sinkB.port}"]
    balance: first
    retries: 1
`);
  });

  after(async () => {
    await router?.stop();
    for (const s of [sinkA, sinkB, echo]) await s?.close();
    early?.close();
  });

  test("32 MiB through an echo backend arrive byte for byte", async () => {
    const size = 32 << 20;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) data[i] = (i >> 12) & 255;
    data[size - 1] = 42;
    const c = await RawClient.connect(router.port("bulk"));
    const h = createHash("sha256");
    let got = 0;
    c.socket.on("data", (b: Uint8Array) => {
      h.update(b);
      got += b.length;
    });
    c.socket.write(data);
    c.end();
    await c.until(() => c.ended, "the echo to end", 60_000);
    assert.equal(got, size);
    assert.equal(h.digest("hex"), createHash("sha256").update(data).digest("hex"));
    c.received.length = 0;
    const rec = await router.waitForAccess(
      (x) => x.listener === "bulk" && x.bytes_in === size,
      "bulk log",
    );
    assert.equal(rec.bytes_out, size);
    assert.equal(rec.outcome, "ok");
  });

  test("half-close: the client's FIN reaches the backend, which can still answer", async () => {
    const c = await RawClient.connect(router.port("rr"));
    await c.until(() => c.text.includes("\n"), "greeting");
    await c.write("some bytes");
    c.end();
    // The sink answers only after it saw our FIN, so the report proves the FIN got through
    // while the other direction stayed open.
    await c.until(() => c.ended, "the sink's report and FIN");
    const [, report] = c.text.split("\n");
    assert.equal(report, `10 ${createHash("sha256").update("some bytes").digest("hex")}`);
  });

  test("half-close the other way: the backend's FIN reaches the client, which can still send", async () => {
    const c = await RawClient.connect(router.port("early"));
    // The backend greets and half-closes at once; our bytes must still reach it afterwards.
    await c.until(() => c.ended, "the backend's FIN");
    assert.equal(c.text, "bye\n");
    await c.write("after your FIN");
    c.end();
    assert.equal(await earlyGot, "after your FIN");
  });

  test("round robin alternates between the two servers", async () => {
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await RawClient.connect(router.port("rr"));
      await c.until(() => c.text.includes("\n"), "greeting");
      names.push(c.text.trim());
      c.destroy();
    }
    assert.deepEqual(names.sort(), ["A", "A", "B", "B"]);
  });

  test("a server that refuses is skipped: the retry reaches the live one", async () => {
    const c = await RawClient.connect(router.port("failover"));
    await c.until(() => c.text.includes("\n"), "greeting");
    assert.equal(c.text, "B\n");
    c.destroy();
  });

  test("src routes pick by the client address", async () => {
    const fromB = await RawClient.connect(router.port("bysrc"), "127.0.0.2");
    await fromB.until(() => fromB.text.includes("\n"), "greeting");
    assert.equal(fromB.text, "B\n");
    fromB.destroy();
    const fromA = await RawClient.connect(router.port("bysrc"), "127.0.0.1");
    await fromA.until(() => fromA.text.includes("\n"), "greeting");
    assert.equal(fromA.text, "A\n");
    fromA.destroy();
  });

  test("at max_connections a new connection is closed at once, and accepted again later", async () => {
    const first = await RawClient.connect(router.port("limited"));
    await first.until(() => first.text === "A\n", "greeting");
    const second = await RawClient.connect(router.port("limited"));
    await second.until(() => second.ended || second.closed, "immediate close");
    assert.equal(second.text, "");
    await router.waitForAccess(
      (x) => x.listener === "limited" && x.outcome === "over_limit",
      "over_limit log",
    );
    first.end();
    await first.until(() => first.ended, "first to finish");
    await router.waitForAccess((x) => x.listener === "limited" && x.outcome === "ok", "first ok");
    const third = await RawClient.connect(router.port("limited"));
    await third.until(() => third.text === "A\n", "greeting after capacity freed");
    third.destroy();
  });

  test("a connection idle past idle_timeout is closed and logged", async () => {
    const c = await RawClient.connect(router.port("idle"));
    await c.until(() => c.text === "A\n", "greeting");
    const t0 = Date.now();
    await c.until(() => c.ended || c.closed, "idle close", 5000);
    assert.ok(Date.now() - t0 >= 250);
    await router.waitForAccess(
      (x) => x.listener === "idle" && x.outcome === "idle_timeout",
      "idle log",
    );
  });
});
