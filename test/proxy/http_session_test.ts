/**
 * HttpSession in process, through its public API only (`new HttpSession(ctx, client, tls)
 * .start(initial)`): a fake client, backends reached through the connect stub, the context
 * built as instance.ts builds it. A routed request reaches its backend and the response comes
 * back byte for byte; keep-alive reuses the backend connection; a request with no route gets
 * the 503 and a malformed one the 400 without any connect; a chunked response passes through
 * exactly however the backend's writes split it; a client FIN while a response is pending lets
 * that response finish before the connection closes.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HttpSession } from "../../src/proxy/http_session.ts";
import { CLIENT, FakeConn, listenerContext, refused, settle, until } from "../helpers/fake_conn.ts";

const CONFIG = `listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    routes:
      - { host: app.example, to: app }
backends:
  app:
    servers: ["127.0.0.1:9001"]
    retries: 0
`;

/** A session on the `web` listener with a fake client, started. */
function session(initial: string | null = null, config = CONFIG) {
  const t = listenerContext(config, "web");
  const client = new FakeConn({ name: "client" });
  new HttpSession(t.ctx, client).start(initial === null ? null : new TextEncoder().encode(initial));
  const detail = () =>
    [client.describe(), ...t.stub.attempts.map((a) => a.conn?.describe() ?? "(connect pending)")]
      .join("\n") + `\nlog: ${JSON.stringify(t.log.records)}`;
  return { ...t, client, detail };
}

type Session = ReturnType<typeof session>;

/** The client sends FIN between requests; the session ends both connections. */
async function hangUp(s: Session): Promise<void> {
  s.client.pushEnd();
  await until(() => s.client.closed, "the client to be closed", s.detail);
  assert.equal(s.ctx.counters.active, 0, "the session is no longer counted");
}

const GET_X = "GET /x HTTP/1.1\r\nHost: app.example\r\nUser-Agent: t\r\n\r\n";
const GET_Y = "GET /y HTTP/1.1\r\nHost: app.example\r\n\r\n";
const OK_HELLO = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const OK_WORLD = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nworld";

describe("HttpSession", () => {
  test("a routed request reaches its backend through connect; the response comes back whole", async () => {
    const s = session();
    s.client.push(GET_X);
    const backend = await s.stub.conn(0);
    assert.deepEqual(s.stub.attempts[0].opts, { host: "127.0.0.1", port: 9001, timeoutMs: 5000 });
    await until(() => backend.text === GET_X, "the request at the backend", s.detail);
    backend.push(OK_HELLO);
    await until(() => s.client.text === OK_HELLO, "the response at the client", s.detail);
    await until(() => s.log.records.length === 1, "the access record", s.detail);
    const rec = s.log.records[0];
    assert.equal(rec.outcome, "ok");
    assert.equal(rec.status, 200);
    assert.equal(rec.backend, "app");
    assert.equal(rec.server, "127.0.0.1:9001");
    assert.equal(rec.path, "/x");
    assert.equal(rec.client, `${CLIENT.host}:${CLIENT.port}`);
    assert.equal(s.client.closed, false, "keep-alive: the connection stays open");
    await hangUp(s);
    assert.equal(backend.closed, true, "the backend connection goes with the session");
    assert.equal(s.ctx.backends.get("app")!.servers[0].active, 0, "the lease was released");
  });

  test("bytes the caller already read (initial) are the start of the first request", async () => {
    const s = session(GET_X.slice(0, 10));
    s.client.push(GET_X.slice(10));
    const backend = await s.stub.conn(0);
    await until(() => backend.text === GET_X, "the request at the backend", s.detail);
    backend.push(OK_HELLO);
    await until(() => s.client.text === OK_HELLO, "the response", s.detail);
    await hangUp(s);
  });

  test("keep-alive: two requests in turn share one backend connection", async () => {
    const s = session();
    s.client.push(GET_X);
    const backend = await s.stub.conn(0);
    await until(() => backend.text === GET_X, "request 1 at the backend", s.detail);
    backend.push(OK_HELLO);
    await until(() => s.client.text === OK_HELLO, "response 1", s.detail);

    s.client.push(GET_Y);
    await until(() => backend.text === GET_X + GET_Y, "request 2 on the same connection", s.detail);
    backend.push(OK_WORLD);
    await until(() => s.client.text === OK_HELLO + OK_WORLD, "response 2", s.detail);
    assert.equal(s.stub.attempts.length, 1, "one connect for both requests");
    assert.deepEqual(s.log.records.map((r) => [r.path, r.status, r.outcome]), [
      ["/x", 200, "ok"],
      ["/y", 200, "ok"],
    ]);
    await hangUp(s);
  });

  test("pipelined requests: the second goes upstream only after the first response is complete", async () => {
    const s = session();
    s.client.push(GET_X + GET_Y);
    const backend = await s.stub.conn(0);
    await until(() => backend.text.length > 0, "request 1 at the backend", s.detail);
    assert.equal(backend.text, GET_X, "only the first request goes out");
    backend.push(OK_HELLO.slice(0, 20));
    await settle();
    assert.equal(backend.text, GET_X, "nor while its response is incomplete");
    backend.push(OK_HELLO.slice(20));
    await until(() => backend.text === GET_X + GET_Y, "request 2 after response 1", s.detail);
    backend.push(OK_WORLD);
    await until(() => s.client.text === OK_HELLO + OK_WORLD, "both responses in order", s.detail);
    await hangUp(s);
  });

  test("a request no route matches gets the 503, and no backend is contacted", async () => {
    const s = session();
    s.client.push("GET / HTTP/1.1\r\nHost: other.example\r\n\r\n");
    await until(() => s.client.closed, "the client to be closed", s.detail);
    assert.match(s.client.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(s.client.text, /\r\n\r\n503 Service Unavailable: no route for this host\n$/);
    assert.ok(s.client.calls.indexOf("end") < s.client.calls.indexOf("close"), "FIN, then close");
    assert.equal(s.stub.attempts.length, 0);
    assert.deepEqual(
      s.log.records.map((r) => [r.outcome, r.status, r.host]),
      [["no_route", 503, "other.example"]],
    );
    assert.equal(s.ctx.counters.active, 0);
  });

  test("a HEAD no route matches gets the 503 head with the GET's length and no body (RFC 9110 9.3.2)", async () => {
    const s = session();
    s.client.push("HEAD / HTTP/1.1\r\nHost: other.example\r\n\r\n");
    await until(() => s.client.closed, "the client to be closed", s.detail);
    assert.match(s.client.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(s.client.text, /\r\nContent-Length: [1-9]\d*\r\n/);
    assert.ok(s.client.text.endsWith("\r\n\r\n"), "nothing after the head");
    assert.equal(s.log.records[0]?.proto, "http/1.1");
  });

  test("a malformed request gets the 400 with the reason, and no backend is contacted", async () => {
    const s = session();
    s.client.push("GET / HTTP/1.1\r\nHost: app.example\r\nno colon here\r\n\r\n");
    await until(() => s.client.closed, "the client to be closed", s.detail);
    assert.match(s.client.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(
      s.client.text,
      /\r\n\r\n400 Bad Request: .*header line without colon "no colon here"\n$/,
    );
    assert.equal(s.client.ended, true, "FIN before the close");
    assert.equal(s.stub.attempts.length, 0);
    assert.deepEqual(s.log.records.map((r) => [r.outcome, r.status]), [["malformed", 400]]);
  });

  test("bytes that are not HTTP/1 get the 400 too", async () => {
    const s = session();
    s.client.push("\x16\x03\x01\x00\x05hello");
    await until(() => s.client.closed, "the client to be closed", s.detail);
    assert.match(s.client.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.equal(s.log.records[0].outcome, "not_http");
  });

  test("a backend that refuses the connect: 502 naming the server", async () => {
    const s = session();
    s.stub.answer = () => refused();
    s.client.push(GET_X);
    await until(() => s.client.closed, "the client to be closed", s.detail);
    assert.match(s.client.text, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.match(s.client.text, /connect to 127\.0\.0\.1:9001: Connection refused/);
    assert.equal(s.ctx.backends.get("app")!.servers[0].active, 0);
  });

  const CHUNKED = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n";

  test("a chunked response passes through exactly, split at every position", async () => {
    for (let cut = 1; cut < CHUNKED.length; cut++) {
      const s = session();
      s.client.push(GET_X);
      const backend = await s.stub.conn(0);
      await until(() => backend.text === GET_X, "the request", s.detail);
      backend.push(CHUNKED.slice(0, cut));
      backend.push(CHUNKED.slice(cut));
      await until(() => s.log.records.length === 1, `the exchange to end, cut at ${cut}`, s.detail);
      assert.equal(s.client.text, CHUNKED, `cut at ${cut}`);
      assert.equal(s.log.records[0].outcome, "ok");
      // The body ended where its last chunk did: the backend connection is kept for another.
      s.client.push(GET_Y);
      await until(() => backend.text === GET_X + GET_Y, `request 2, cut at ${cut}`, s.detail);
      backend.push(OK_WORLD);
      await until(() => s.client.text === CHUNKED + OK_WORLD, "response 2", s.detail);
      assert.equal(s.stub.attempts.length, 1);
      await hangUp(s);
    }
  });

  test("a client FIN while a response is pending: the response finishes, then FIN and close", async () => {
    const s = session();
    s.client.push(GET_X);
    const backend = await s.stub.conn(0);
    backend.push(OK_HELLO);
    await until(() => s.client.text === OK_HELLO, "response 1", s.detail);
    // Request 2 goes out on the kept connection while the client keeps reading: its FIN
    // reaches the session while the response is pending.
    s.client.push(GET_Y);
    s.client.pushEnd();
    await until(() => backend.text === GET_X + GET_Y, "request 2 at the backend", s.detail);
    assert.equal(s.client.endDelivered, true, "the session was told of the FIN");
    await settle();
    assert.equal(s.client.ended, false, "no FIN to the client while its response is pending");
    assert.equal(s.client.closed, false);
    assert.equal(backend.closed, false, "the backend is not dropped");

    backend.push(OK_WORLD.slice(0, 30));
    backend.push(OK_WORLD.slice(30));
    await until(() => s.client.closed, "the client to be closed", s.detail);
    assert.equal(s.client.text, OK_HELLO + OK_WORLD, "the pending response arrived whole");
    const calls = s.client.calls;
    const lastWrite = calls.findLastIndex((c) => c.startsWith("write"));
    assert.ok(lastWrite < calls.indexOf("end"), `FIN after the last byte: ${calls}`);
    assert.ok(calls.indexOf("end") < calls.indexOf("close"), `FIN, then close: ${calls}`);
    assert.equal(backend.closed, true);
    assert.deepEqual(s.log.records.map((r) => [r.path, r.outcome]), [["/x", "ok"], ["/y", "ok"]]);
    assert.equal(s.ctx.counters.active, 0);
  });

  test("a client FIN right after its first request: the response still comes, then close", async () => {
    const s = session();
    s.client.push(GET_X);
    s.client.pushEnd();
    const backend = await s.stub.conn(0);
    await until(() => backend.text === GET_X, "the request", s.detail);
    assert.equal(s.client.closed, false);
    backend.push(OK_HELLO);
    await until(() => s.client.closed, "the client to be closed", s.detail);
    assert.equal(s.client.text, OK_HELLO);
    assert.equal(s.client.ended, true);
    assert.equal(s.log.records[0].outcome, "ok");
  });

  test("a client that stops reading pauses the backend; its drain resumes it", async () => {
    const s = session();
    s.client.push(GET_X);
    const backend = await s.stub.conn(0);
    await until(() => backend.text === GET_X, "the request", s.detail);
    s.client.backpressure = true;
    const body = "x".repeat(100);
    backend.push(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 40)}`);
    assert.equal(backend.paused, true, "the backend is paused while the client's write is queued");
    backend.push(body.slice(40));
    assert.equal(backend.unread, 60, "nothing more is read from it");
    s.client.backpressure = false;
    s.client.drain();
    await until(() => s.log.records.length === 1, "the exchange to end", s.detail);
    assert.match(s.client.text, new RegExp(`\r\n\r\n${body}$`));
    await hangUp(s);
  });
});
