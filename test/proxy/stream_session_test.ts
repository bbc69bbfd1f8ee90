/**
 * StreamSession in process: a fake client, backends reached through the connect stub, the
 * context built as instance.ts builds it. A tcp listener connects at once and forwards the
 * connection whole, both ways, FINs included; an auto listener holds the first bytes until it
 * knows the protocol, routes on what it found (HTTP Host, TLS SNI, SSH) and forwards whole,
 * sniffed bytes first; what no route takes is answered in its own protocol and closed without
 * a connect.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { guardUntrusted } from "../../src/proxy/proxy_accept.ts";
import { StreamSession } from "../../src/proxy/stream_session.ts";
import type { Conn } from "../../src/runtime/types.ts";
import { TLS_ALERT_UNRECOGNIZED_NAME } from "../../src/tls/client_hello.ts";
import { encodeProxyV1 } from "../../src/proxy_protocol/encode.ts";
import {
  FakeConn,
  latin1,
  listenerContext,
  refused,
  settle,
  until,
  wake,
} from "../helpers/fake_conn.ts";

/** A real ClientHello (Chromium, SNI f.test, 2010 bytes: more than one first read). */
const CHROMIUM_HELLO = new Uint8Array(
  readFileSync(new URL("../fixtures/clienthello/chromium.bin", import.meta.url)),
);

const CONFIG = `listeners:
  raw:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: db
  edge:
    bind: "127.0.0.1:0"
    protocol: auto
    routes:
      - { protocol: [ssh], to: ssh }
      - { sni: f.test, to: tls }
      - { host: app.example, to: app }
  guarded:
    bind: "127.0.0.1:0"
    protocol: tcp
    accept_proxy: { from: [10.0.0.0/8] }
    default: db
backends:
  db: { servers: ["127.0.0.1:5432"], retries: 0 }
  app: { servers: ["127.0.0.1:9001"], retries: 0 }
  ssh: { servers: ["127.0.0.1:2222"], retries: 0 }
  tls: { servers: ["127.0.0.1:9443"], retries: 0 }
`;

/** A session of `listener` for a fake client (wrapped by `wrap`, as instance.ts may), started. */
function session(listener: string, wrap: (c: FakeConn) => Conn = (c) => c) {
  const t = listenerContext(CONFIG, listener);
  const client = new FakeConn({ name: "client" });
  new StreamSession(t.ctx, wrap(client)).start();
  const detail = () =>
    [client.describe(), ...t.stub.attempts.map((a) => a.conn?.describe() ?? "(connect pending)")]
      .join("\n") + `\nlog: ${JSON.stringify(t.log.records)}`;
  return { ...t, client, detail };
}

describe("StreamSession, tcp listener", () => {
  test("connects at once and forwards the connection whole, both ways, FINs included", async () => {
    const s = session("raw");
    const attempt = await s.stub.attempt(0);
    assert.deepEqual(attempt.opts, { host: "127.0.0.1", port: 5432, timeoutMs: 5000 });
    const backend = await s.stub.conn(0);
    s.client.push("early|");
    s.client.push("\x00\x01binary\xff|");
    await until(() => backend.text === "early|\x00\x01binary\xff|", "client bytes", s.detail);
    backend.push("server bytes");
    assert.equal(s.client.text, "server bytes");

    s.client.pushEnd();
    assert.equal(backend.ended, true, "the client's FIN is passed on");
    assert.equal(s.client.closed, false, "half-close: the server may still answer");
    backend.push(" and more");
    backend.pushEnd();
    await until(() => s.log.records.length === 1, "the access record", s.detail);
    assert.equal(s.client.text, "server bytes and more");
    assert.equal(s.client.ended, true);
    assert.equal(s.client.closed, true);
    assert.equal(backend.closed, true);
    const rec = s.log.records[0];
    assert.deepEqual([rec.outcome, rec.backend, rec.server], ["ok", "db", "127.0.0.1:5432"]);
    assert.equal(rec.bytes_in, "early|\x00\x01binary\xff|".length);
    assert.equal(rec.bytes_out, "server bytes and more".length);
    assert.equal(s.ctx.counters.active, 0);
    assert.equal(s.ctx.backends.get("db")!.servers[0].active, 0, "the lease was released");
  });

  test("bytes sent while the connect is pending reach the backend first", async () => {
    const t = listenerContext(CONFIG, "raw");
    t.stub.answer = () => "hold";
    const client = new FakeConn({ name: "client" });
    new StreamSession(t.ctx, client).start();
    const attempt = await t.stub.attempt(0);
    client.push("first|");
    client.push("second|");
    const backend = attempt.accept();
    await until(
      () => backend.text === "first|second|",
      "the early bytes",
      () => backend.describe(),
    );
    client.push("third");
    assert.equal(backend.text, "first|second|third");
    client.fail();
    await until(() => t.log.records.length === 1, "the access record");
    assert.equal(t.log.records[0].outcome, "client_error");
    assert.equal(backend.closed, true);
  });

  test("a backend that refuses: the client gets FIN and close, connect_failed is logged", async () => {
    const t = listenerContext(CONFIG, "raw");
    t.stub.answer = () => refused();
    const client = new FakeConn({ name: "client" });
    new StreamSession(t.ctx, client).start();
    await until(() => client.closed, "the client to be closed", () => client.describe());
    assert.deepEqual(client.calls, ["end", "close"]);
    assert.equal(t.log.records[0].outcome, "connect_failed");
    assert.match(t.log.records[0].reason as string, /Connection refused \(ECONNREFUSED\)/);
  });

  test("accept_proxy, untrusted client: a PROXY header is refused before any connect", async () => {
    const refusals: string[] = [];
    const s = session("guarded", (c) =>
      guardUntrusted(c, (r) => {
        refusals.push(r.outcome);
        wake();
      }));
    s.client.push(encodeProxyV1({
      source: { family: 4, address: "203.0.113.9", port: 1 },
      destination: { family: 4, address: "192.0.2.1", port: 2 },
    }));
    await until(() => s.client.closed, "the client to be closed", s.detail);
    assert.deepEqual(refusals, ["proxy_untrusted"]);
    assert.equal(s.stub.attempts.length, 0, "the backend is never contacted");
    assert.equal(s.log.records.length, 0, "logged where refused, not again by the session");
    assert.equal(s.ctx.counters.active, 0);
  });

  test("accept_proxy, untrusted client: ordinary first bytes connect and arrive unchanged", async () => {
    const s = session("guarded", (c) => guardUntrusted(c, () => {}));
    s.client.push("PRO");
    await settle();
    assert.equal(s.stub.attempts.length, 0, "undecided: not connected yet");
    s.client.push("TOCOL 1\r\n");
    const backend = await s.stub.conn(0);
    await until(() => backend.text === "PROTOCOL 1\r\n", "the first bytes", s.detail);
    s.client.push("next");
    await until(() => backend.text === "PROTOCOL 1\r\nnext", "later bytes", s.detail);
    s.client.fail();
    await until(() => s.log.records.length === 1, "the access record", s.detail);
  });
});

describe("StreamSession, auto listener", () => {
  const REQUEST = "GET /a HTTP/1.1\r\nHost: app.example\r\n\r\n";

  test("an HTTP request is sniffed whole, routed by Host, then the connection forwarded whole", async () => {
    const s = session("edge");
    s.client.push(REQUEST.slice(0, 7));
    s.client.push(REQUEST.slice(7, 25));
    await settle();
    assert.equal(s.stub.attempts.length, 0, "no connect before the head is complete");
    s.client.push(REQUEST.slice(25));
    const backend = await s.stub.conn(0);
    assert.equal(s.stub.attempts[0].opts.port, 9001);
    await until(() => backend.text === REQUEST, "the sniffed bytes, as sent", s.detail);
    // Forwarded whole: a later request for another host goes the same way, unread.
    const next = "GET /b HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n";
    s.client.push(next);
    assert.equal(backend.text, REQUEST + next);
    backend.push("HTTP/1.1 200 OK\r\n\r\n");
    assert.equal(s.client.text, "HTTP/1.1 200 OK\r\n\r\n");
    s.client.pushEnd();
    backend.pushEnd();
    await until(() => s.log.records.length === 1, "the access record", s.detail);
    const rec = s.log.records[0];
    assert.deepEqual(
      [rec.outcome, rec.protocol, rec.host, rec.backend],
      ["ok", "http", "app.example", "app"],
    );
  });

  test("a ClientHello larger than one read is routed by its SNI and forwarded byte for byte", async () => {
    const s = session("edge");
    for (let i = 0; i < CHROMIUM_HELLO.length; i += 512) {
      s.client.push(CHROMIUM_HELLO.subarray(i, i + 512));
    }
    const backend = await s.stub.conn(0);
    assert.equal(s.stub.attempts[0].opts.port, 9443);
    await until(() => backend.written.length === CHROMIUM_HELLO.length, "the hello", s.detail);
    assert.deepEqual(backend.written, CHROMIUM_HELLO);
    s.client.fail();
    await until(() => s.log.records.length === 1, "the access record", s.detail);
    assert.equal(s.log.records[0].sni, "f.test");
  });

  test("an SSH banner is routed to the ssh backend", async () => {
    const s = session("edge");
    s.client.push("SSH-2.0-OpenSSH_9.6\r\n");
    const backend = await s.stub.conn(0);
    assert.equal(s.stub.attempts[0].opts.port, 2222);
    await until(() => backend.text === "SSH-2.0-OpenSSH_9.6\r\n", "the banner", s.detail);
    backend.fail();
    await until(() => s.log.records.length === 1, "the access record", s.detail);
    assert.deepEqual([s.log.records[0].protocol, s.log.records[0].outcome], [
      "ssh",
      "server_error",
    ]);
  });

  test("an HTTP request no route takes gets the 503, and no backend is contacted", async () => {
    const s = session("edge");
    s.client.push("GET / HTTP/1.1\r\nHost: nobody.example\r\n\r\n");
    await until(() => s.client.closed, "the client to be closed", s.detail);
    assert.match(s.client.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.equal(s.stub.attempts.length, 0);
    assert.equal(s.log.records[0].outcome, "no_route");
  });

  test("a ClientHello no route takes gets the unrecognized_name alert, and no connect", async () => {
    const t = listenerContext(
      CONFIG.replace("{ sni: f.test, to: tls }", "{ sni: g.test, to: tls }"),
      "edge",
    );
    const client = new FakeConn({ name: "client" });
    new StreamSession(t.ctx, client).start();
    client.push(CHROMIUM_HELLO);
    await until(() => client.closed, "the client to be closed", () => client.describe());
    assert.equal(latin1(client.written), latin1(TLS_ALERT_UNRECOGNIZED_NAME));
    assert.equal(t.stub.attempts.length, 0);
  });

  test("a malformed HTTP head is answered 400 and refused", async () => {
    const s = session("edge");
    s.client.push("GET / HTTP/1.1\r\nno colon here\r\n\r\n");
    await until(() => s.client.ended, "the client to be ended", s.detail);
    assert.match(s.client.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.equal(s.stub.attempts.length, 0);
    assert.equal(s.log.records[0].outcome, "malformed");
    assert.equal(s.ctx.counters.sniffFailures.get("malformed"), 1);
  });

  test("a client that closes before its first message is complete: client_closed, no connect", async () => {
    const s = session("edge");
    s.client.push("GET / HT");
    s.client.pushEnd();
    await until(() => s.client.closed, "the client to be closed", s.detail);
    assert.equal(s.stub.attempts.length, 0);
    assert.equal(s.log.records[0].outcome, "client_closed");
  });
});
