/**
 * HTTP/2 through TLS termination, end to end with real clients: curl --http2, nghttp, h2load
 * and a node:http2 client that sends several authorities on one connection. Each stream is
 * routed on its own to an HTTP/1.1 backend (node:http servers that report what they got), and
 * each is logged once with proto h2.
 */

import assert from "node:assert/strict";
import http from "node:http";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import { exec, freePort } from "../helpers/clients.ts";
import { chromiumNextHop } from "../helpers/h2_clients.ts";
import { selfSigned, type TestCert } from "../helpers/certs.ts";
import type { TestServer } from "../helpers/backends.ts";
import {
  httpBackend,
  type HttpTestServer,
  pattern,
  rawBackend,
  type Report,
  sha256,
} from "../helpers/http_backends.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

/** One response on an HTTP/2 session. */
interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** Sends one request on `session` and collects its response. */
function h2Send(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Uint8Array,
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    const parts: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => (head = h));
    req.on("data", (c: Buffer) => parts.push(c));
    req.on(
      "end",
      () => resolve({ status: Number(head[":status"]), headers: head, body: Buffer.concat(parts) }),
    );
    req.on("error", reject);
    if (body !== undefined) req.end(body);
  });
}

describe(`HTTP/2 through TLS termination (router on ${runtimeName})`, () => {
  let a: HttpTestServer;
  let b: HttpTestServer;
  let big: http.Server;
  let bigPort: number;
  let router: RouterProcess;
  let port: number;
  let h1only: number;
  let silent: TestServer;
  let cert: TestCert;
  let ca: string;
  const payload = pattern(4 * 1024 * 1024 + 13, 7);

  /** curl to https://NAME:PORT/PATH through the router, trusting the test certificate. */
  const curl = (name: string, path: string, extra: string[] = [], p = port) =>
    exec("curl", [
      "-sS",
      "--max-time",
      "20",
      "--cacert",
      ca,
      "--resolve",
      `${name}:${p}:127.0.0.1`,
      "-w",
      "\n%{http_version} %{response_code}",
      ...extra,
      `https://${name}:${p}${path}`,
    ]);

  const connect = () =>
    http2.connect(`https://127.0.0.1:${port}`, { ca: cert.cert, servername: "a.test" });

  before(async () => {
    cert = selfSigned(["a.test", "b.test", "pass.test", "none.test"]);
    ca = cert.certFile;
    a = await httpBackend("a");
    b = await httpBackend("b");
    big = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-length": String(payload.length) });
        res.end(payload);
      });
    });
    await new Promise<void>((r) => big.listen(0, "127.0.0.1", r));
    bigPort = (big.address() as { port: number }).port;
    const dead = await freePort();
    // Reads requests and never answers.
    silent = await rawBackend(() => {});
    router = await startRouter(`
certificates:
  - { cert: ${cert.certFile}, key: ${cert.keyFile} }
listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    forwarded: [x-forwarded-for, x-forwarded-proto]
    routes:
      - { host: a.test, path_prefix: /big, to: big }
      - { host: a.test, path_prefix: /down, to: down }
      - { host: a.test, to: a }
      - { host: b.test, to: b }
  secure:
    bind: "127.0.0.1:0"
    protocol: tls
    routes:
      - { sni: pass.test, to: a }
    terminate: web
  secure_h1:
    bind: "127.0.0.1:0"
    protocol: tls
    terminate: web
    alpn: [http/1.1]
  slow:
    bind: "127.0.0.1:0"
    protocol: http
    idle_timeout: 300ms
    default: silent
  secure_slow:
    bind: "127.0.0.1:0"
    protocol: tls
    terminate: slow
backends:
  a: { servers: ["127.0.0.1:${a.port}"] }
  b: { servers: ["127.0.0.1:${b.port}"] }
  big: { servers: ["127.0.0.1:${bigPort}"] }
  down: { servers: ["127.0.0.1:${dead}"], retries: 0 }
  silent: { servers: ["127.0.0.1:${silent.port}"] }
`);
    port = router.port("secure");
    h1only = router.port("secure_h1");
  });

  after(async () => {
    await router?.stop();
    await a?.close();
    await b?.close();
    big?.close();
    await silent?.close();
  });

  test("curl --http2 speaks HTTP/2 and the backend gets HTTP/1.1 with the forwarded headers", async () => {
    const r = await curl("a.test", "/hello?x=1", ["--http2"]);
    assert.equal(r.code, 0, r.stderr);
    const [body, status] = r.stdout.split("\n");
    assert.equal(status, "2 200");
    const report = JSON.parse(body) as Report;
    assert.equal(report.name, "a");
    assert.equal(report.url, "/hello?x=1");
    assert.equal(report.host, `a.test:${port}`);
    assert.equal(report.xff, "127.0.0.1");
    assert.equal(report.xfp, "https");
    const line = await router.waitForAccess(
      (l) => l.path === "/hello" && l.proto === "h2",
      "the h2 line",
    );
    assert.equal(line.status, 200);
    assert.equal(line.backend, "a");
    assert.equal(line.listener, "web");
  });

  test("curl --http2 with its own forwarded headers: X-Forwarded-For extended, -Proto replaced", async () => {
    const r = await curl("a.test", "/fwd", [
      "--http2",
      "-H",
      "X-Forwarded-For: 203.0.113.9",
      "-H",
      "X-Forwarded-Proto: http",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [body, status] = r.stdout.split("\n");
    assert.equal(status, "2 200");
    const report = JSON.parse(body) as Report;
    assert.equal(report.xff, "203.0.113.9, 127.0.0.1");
    assert.equal(report.xfp, "https");
  });

  test("a client that offers only http/1.1, and a listener with alpn: [http/1.1], get HTTP/1.1", async () => {
    const only = await curl("a.test", "/h1", ["--http1.1"]);
    assert.match(only.stdout, /\n1\.1 200$/);
    const line = await router.waitForAccess((l) => l.path === "/h1", "the HTTP/1.1 line");
    assert.equal(line.proto, "http/1.1");
    const listener = await curl("a.test", "/", ["--http2"], h1only);
    assert.match(listener.stdout, /\n1\.1 200$/, listener.stderr);
  });

  test("node:http2: each stream on one connection is routed by its own :authority; others get 421", async () => {
    const session = connect();
    try {
      const [ra, rb, other, pass] = await Promise.all([
        h2Send(session, { ":path": "/one", ":authority": "a.test" }),
        h2Send(session, { ":path": "/two", ":authority": "b.test" }),
        h2Send(session, { ":path": "/three", ":authority": "c.test" }),
        h2Send(session, { ":path": "/four", ":authority": "pass.test" }),
      ]);
      assert.equal(ra.status, 200);
      assert.equal((JSON.parse(ra.body.toString()) as Report).name, "a");
      // b.test is on the certificate and this listener terminates it: same connection.
      assert.equal(rb.status, 200);
      assert.equal((JSON.parse(rb.body.toString()) as Report).name, "b");
      // Not on the certificate, and passed through by SNI: a connection of their own.
      assert.equal(other.status, 421);
      assert.equal(pass.status, 421);
      assert.match(other.body.toString(), /c\.test/);
    } finally {
      session.close();
    }
  });

  test("nghttp: several streams on one connection", async () => {
    const urls = ["/n1", "/n2", "/n3", "/n4"].map((p) => `https://a.test:${port}${p}`);
    const r = await exec("nghttp", [
      "-n",
      "-s",
      "--no-verify-peer",
      ...urls.map((u) => u.replace("a.test", "127.0.0.1")),
    ]);
    assert.equal(r.code, 0, r.stderr);
    // No SNI for an IP literal, and no route for the authority 127.0.0.1: 503 on each stream.
    assert.equal((r.stdout.match(/ 503 /g) ?? []).length, 4, r.stdout);
    const named = await exec("nghttp", [
      "-n",
      "-s",
      "--no-verify-peer",
      "-H",
      ":authority: a.test",
      ...urls.map((u) => u.replace("a.test", "127.0.0.1")),
    ]);
    assert.equal((named.stdout.match(/ 200 /g) ?? []).length, 4, named.stdout + named.stderr);
  });

  test("nghttp -v: a response of known length ends its stream on its last DATA frame", async () => {
    const r = await exec("nghttp", [
      "-v",
      "--no-verify-peer",
      "-H",
      ":authority: a.test",
      `https://127.0.0.1:${port}/frames`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    // One request: every DATA frame received is its response's.
    const frames = [...r.stdout.matchAll(/recv DATA frame <length=(\d+), flags=0x([0-9a-f]+)/g)];
    assert.equal(frames.length, 1, r.stdout);
    const [, length, flags] = frames[0];
    assert.ok(Number(length) > 0, r.stdout);
    assert.equal(
      Number.parseInt(flags, 16) & 0x1,
      0x1,
      `END_STREAM on the body's frame: ${r.stdout}`,
    );
  });

  test("h2load: 4 connections x 10 streams, every request answered", async () => {
    const r = await exec("h2load", [
      "-n",
      "400",
      "-c",
      "4",
      "-m",
      "10",
      "-H",
      ":authority: a.test",
      `https://127.0.0.1:${port}/load`,
    ], 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /requests: 400 total, 400 started, 400 done, 400 succeeded, 0 failed, 0 errored/,
    );
    assert.match(r.stdout, /status codes: 400 2xx/);
  });

  test("a 4 MiB response and a 1 MiB upload arrive byte-exact, within flow control", async () => {
    const session = connect();
    try {
      const down = await h2Send(session, { ":path": "/big", ":authority": "a.test" });
      assert.equal(down.status, 200);
      assert.equal(down.body.length, payload.length);
      assert.equal(sha256(down.body), sha256(payload));
      const upload = pattern(1024 * 1024 + 7, 3);
      const up = await h2Send(session, {
        ":path": "/up",
        ":method": "POST",
        ":authority": "a.test",
      }, upload);
      const report = JSON.parse(up.body.toString()) as Report;
      assert.equal(report.length, upload.length);
      assert.equal(report.sha256, sha256(upload));
      // No content-length from the client: the backend got the body chunked.
      assert.equal(report.te, "chunked");
      const sized = await h2Send(session, {
        ":path": "/sized",
        ":method": "POST",
        ":authority": "a.test",
        "content-length": String(upload.length),
      }, upload);
      const sizedReport = JSON.parse(sized.body.toString()) as Report;
      assert.equal(sizedReport.te, null);
      assert.equal(sizedReport.sha256, sha256(upload));
    } finally {
      session.close();
    }
  });

  test("no route: 503; a server that refuses: 502; HEAD: the head only; each logged", async () => {
    const session = connect();
    try {
      const [none, down, head] = await Promise.all([
        h2Send(session, { ":path": "/", ":authority": "none.test" }),
        h2Send(session, { ":path": "/down", ":authority": "a.test" }),
        h2Send(session, { ":path": "/", ":authority": "b.test", ":method": "HEAD" }),
      ]);
      assert.equal(none.status, 503);
      assert.equal(down.status, 502);
      assert.match(down.body.toString(), /502 Bad Gateway/);
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.ok(Number(head.headers["content-length"]) > 0);
      const line = await router.waitForAccess((l) => l.path === "/down", "the 502 line");
      assert.equal(line.status, 502);
      assert.equal(line.outcome, "connect_failed");
    } finally {
      session.close();
    }
  });

  test("a stream the client resets mid-response ends its backend exchange; the connection goes on", async () => {
    const session = connect();
    try {
      await new Promise<void>((resolve, reject) => {
        const req = session.request({ ":path": "/big", ":authority": "a.test" });
        req.once("data", () => {
          req.close(http2.constants.NGHTTP2_CANCEL);
          resolve();
        });
        req.on("error", reject);
      });
      const line = await router.waitForAccess(
        (l) => l.path === "/big" && l.outcome === "client_closed",
        "the reset stream's line",
      );
      assert.match(String(line.reason), /CANCEL/);
      const after = await h2Send(session, { ":path": "/after", ":authority": "a.test" });
      assert.equal(after.status, 200);
    } finally {
      session.close();
    }
  });

  test("the HTTP/1 head limits per stream: a long :path gets 414, a large head 431; the connection goes on", async () => {
    const session = connect();
    try {
      const long = await h2Send(session, {
        ":path": "/" + "p".repeat(9000),
        ":authority": "a.test",
      });
      assert.equal(long.status, 414);
      const big = await h2Send(session, {
        ":path": "/",
        ":authority": "a.test",
        "x-big-1": "v".repeat(12000),
        "x-big-2": "v".repeat(12000),
        "x-big-3": "v".repeat(12000),
      });
      assert.equal(big.status, 431);
      const fine = await h2Send(session, { ":path": "/fine", ":authority": "a.test" });
      assert.equal(fine.status, 200);
    } finally {
      session.close();
    }
  });

  test("a backend that sends no response head within idle_timeout: 504 on the stream", async () => {
    const session = http2.connect(`https://127.0.0.1:${router.port("secure_slow")}`, {
      ca: cert.cert,
      servername: "a.test",
    });
    try {
      const r = await h2Send(session, { ":path": "/wait", ":authority": "a.test" });
      assert.equal(r.status, 504);
      const line = await router.waitForAccess((l) => l.path === "/wait", "the 504 line");
      assert.equal(line.outcome, "server_timeout");
    } finally {
      session.close();
    }
  });

  // Chromium is a real browser: it negotiates h2 and keeps one connection for the names the
  // certificate covers. Skipped (with the reason printed) where it is not installed.
  test(
    "Chromium headless loads a page through termination over h2",
    { timeout: 60_000 },
    async () => {
      const r = await chromiumNextHop(`https://a.test:${port}/page`, {
        hostResolverRules: "MAP a.test 127.0.0.1",
        caFile: cert.certFile,
      });
      if (r.protocol === null && r.reason?.startsWith("no chromium")) {
        console.log(`skipped: ${r.reason}`);
        return;
      }
      assert.equal(r.protocol, "h2", r.reason ?? "");
      const line = await router.waitForAccess((l) => l.path === "/page", "the page's line");
      assert.equal(line.proto, "h2");
      assert.equal(line.status, 200);
    },
  );
});
