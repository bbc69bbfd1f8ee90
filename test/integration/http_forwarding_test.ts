/**
 * What an http listener forwards is safe for its backend to act on: an h2c upgrade offer never
 * reaches it (the h2c smuggling attack), on plain and terminated connections; a repeated
 * Content-Length is sent once; an absolute-form target's authority replaces Host; framing and
 * routing fields are dropped from trailer sections, both ways. The backends are real: node:http
 * (strict about framing) and raw sockets that act as an h2c-accepting server would.
 */

import assert from "node:assert/strict";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import type { TestServer } from "../helpers/backends.ts";
import { selfSigned, type TestCert } from "../helpers/certs.ts";
import { RawClient } from "../helpers/clients.ts";
import {
  httpBackend,
  type HttpTestServer,
  rawBackend,
  type Report,
  sha256,
} from "../helpers/http_backends.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

/** The h2c upgrade request of the attack, as `printf ... | nc` sends it. */
function h2cUpgrade(host: string, upgrade = "h2c", connection = "Upgrade, HTTP2-Settings") {
  return `GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: ${upgrade}\r\n` +
    `HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: ${connection}\r\n\r\n`;
}

/** The header names of a raw request head, lower-cased, in order. */
function names(head: string): string[] {
  return head.split("\r\n").slice(1).filter((l) => l !== "").map((l) =>
    l.slice(0, l.indexOf(":")).toLowerCase()
  );
}

/** The value of field `name` in a raw head (first occurrence), or null. */
function field(head: string, name: string): string | null {
  for (const line of head.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (line.slice(0, colon).toLowerCase() === name) return line.slice(colon + 1).trim();
  }
  return null;
}

/** Waits for a whole response with Content-Length on `c` and returns head and body. */
async function response(c: RawClient, what: string): Promise<{ head: string; body: string }> {
  const parse = () => {
    const text = c.text;
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) return null;
    const head = text.slice(0, end);
    const length = Number(field(head, "content-length") ?? "0");
    if (text.length < end + 4 + length) return null;
    return { head, body: text.slice(end + 4, end + 4 + length) };
  };
  await c.until(() => parse() !== null || c.ended || c.closed, what);
  const r = parse();
  assert.ok(r !== null, `${what}: connection ended with ${JSON.stringify(c.text)}`);
  return r;
}

describe(`http forwarding safety (router on ${runtimeName})`, () => {
  let strict: HttpTestServer;
  let other: HttpTestServer;
  /** Answers an h2c upgrade offer with 101 (as an h2c server does), anything else with 200 and the head it got. */
  let h2cServer: TestServer & { heads: string[] };
  /** Answers every request with 101 to h2c, offered or not. */
  let rogue: TestServer;
  /** Answers with a chunked body whose trailer section holds framing fields. */
  let trailing: TestServer;
  let router: RouterProcess;
  let web: number;
  let secure: number;
  let cert: TestCert;

  before(async () => {
    cert = selfSigned(["h2c.test", "strict.test"]);
    strict = await httpBackend("strict");
    other = await httpBackend("other");
    const heads: string[] = [];
    const answered = new WeakSet<object>();
    const server = await rawBackend((s, received) => {
      const end = received.indexOf("\r\n\r\n");
      if (end < 0 || answered.has(s)) return;
      answered.add(s);
      const head = received.toString("latin1", 0, end);
      heads.push(head);
      if (/^upgrade:.*h2c/im.test(head)) {
        s.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
      } else {
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${head.length}\r\n\r\n${head}`);
      }
    });
    h2cServer = Object.assign(server, { heads });
    rogue = await rawBackend((s, received) => {
      if (s.writableEnded || !received.includes("\r\n\r\n")) return;
      s.end("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
    });
    trailing = await rawBackend((s, received) => {
      if (s.writableEnded || !received.includes("\r\n\r\n")) return;
      s.end(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
          "5\r\nhello\r\n0\r\nContent-Length: 99\r\nX-Sum: 5\r\nTransfer-Encoding: gzip\r\n\r\n",
      );
    });
    router = await startRouter(`
certificates:
  - { cert: ${cert.certFile}, key: ${cert.keyFile} }
listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    routes:
      - { host: h2c.test, to: h2c }
      - { host: rogue.test, to: rogue }
      - { host: trailing.test, to: trailing }
      - { host: other.test, to: other }
    default: strict
  secure:
    bind: "127.0.0.1:0"
    protocol: tls
    terminate: web
backends:
  h2c: { servers: ["127.0.0.1:${h2cServer.port}"] }
  rogue: { servers: ["127.0.0.1:${rogue.port}"] }
  trailing: { servers: ["127.0.0.1:${trailing.port}"] }
  strict: { servers: ["127.0.0.1:${strict.port}"] }
  other: { servers: ["127.0.0.1:${other.port}"] }
`);
    web = router.port("web");
    secure = router.port("secure");
  });

  after(async () => {
    await router?.stop();
    for (const s of [strict, other, h2cServer, rogue, trailing]) await s?.close();
  });

  /** A TLS connection to the terminating listener with SNI `name`, once its handshake is done. */
  async function tlsConnect(name: string): Promise<tls.TLSSocket> {
    const s = tls.connect({ port: secure, host: "127.0.0.1", servername: name, ca: cert.cert });
    await new Promise<void>((resolve, reject) => {
      s.once("secureConnect", resolve);
      s.once("error", reject);
    });
    return s;
  }

  /** Sends `request` on a new connection to the web listener and returns the response. */
  async function exchange(request: string, what: string) {
    const c = await RawClient.connect(web);
    try {
      await c.write(request);
      return await response(c, what);
    } finally {
      c.destroy();
    }
  }

  test("an h2c upgrade offer is removed: the backend answers plain HTTP/1.1 and never switches", async () => {
    const before = h2cServer.heads.length;
    const r = await exchange(h2cUpgrade("h2c.test"), "the answer to an h2c upgrade offer");
    assert.match(r.head, /^HTTP\/1\.1 200 /, r.head);
    const head = h2cServer.heads[before];
    assert.deepEqual(names(head), ["host"], head);
    assert.equal(r.body, head);
  });

  test("an h2c upgrade offer through TLS termination is removed too", async () => {
    const before = h2cServer.heads.length;
    const s = await tlsConnect("h2c.test");
    try {
      let text = "";
      s.setEncoding("latin1");
      const done = new Promise<void>((resolve, reject) => {
        s.on("data", (d: string) => {
          text += d;
          const end = text.indexOf("\r\n\r\n");
          const length = end < 0 ? -1 : Number(field(text.slice(0, end), "content-length"));
          if (end >= 0 && text.length >= end + 4 + length) resolve();
        });
        s.once("error", reject);
        s.once("end", () => reject(new Error(`closed with ${JSON.stringify(text)}`)));
      });
      s.write(h2cUpgrade("h2c.test"));
      await done;
      assert.match(text, /^HTTP\/1\.1 200 /, text);
      const head = h2cServer.heads[before];
      assert.deepEqual(names(head).filter((n) => !n.startsWith("x-forwarded")), ["host"], head);
    } finally {
      s.destroy();
    }
  });

  test("a WebSocket upgrade offered beside h2c keeps websocket and Connection: Upgrade", async () => {
    const before = h2cServer.heads.length;
    const request = h2cUpgrade("h2c.test", "websocket, h2c", "Upgrade, HTTP2-Settings")
      .replace("\r\n\r\n", "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    const r = await exchange(request, "the answer to a websocket + h2c offer");
    assert.match(r.head, /^HTTP\/1\.1 200 /, r.head);
    const head = h2cServer.heads[before];
    assert.equal(field(head, "upgrade"), "websocket", head);
    assert.equal(field(head, "connection"), "Upgrade", head);
    assert.equal(field(head, "http2-settings"), null, head);
  });

  test("a backend switching to h2c anyway gets the client a 502, logged as bad_response", async () => {
    const since = router.access.length;
    const r = await exchange(h2cUpgrade("rogue.test"), "the answer from a rogue backend");
    assert.match(r.head, /^HTTP\/1\.1 502 /, r.head);
    const rec = await router.waitForAccess((x) => x.host === "rogue.test", "rogue log", since);
    assert.equal(rec.outcome, "bad_response");
    assert.match(String(rec.reason), /switched protocols without an Upgrade request/);
  });

  test("a backend switching to another protocol than the one offered gets a 502", async () => {
    const since = router.access.length;
    const request = "GET / HTTP/1.1\r\nHost: rogue.test\r\nUpgrade: websocket\r\n" +
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    const r = await exchange(request, "the answer to a websocket offer answered with h2c");
    assert.match(r.head, /^HTTP\/1\.1 502 /, r.head);
    const rec = await router.waitForAccess((x) => x.host === "rogue.test", "rogue log", since);
    assert.match(String(rec.reason), /to one not offered \(websocket\)/);
  });

  test("Content-Length sent twice with one value reaches a strict backend once", async () => {
    const r = await exchange(
      "POST /twice HTTP/1.1\r\nHost: strict.test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
      "the answer to a doubled Content-Length",
    );
    assert.match(r.head, /^HTTP\/1\.1 200 /, r.head);
    const rep = JSON.parse(r.body) as Report;
    assert.equal(rep.length, 5);
    assert.equal(rep.sha256, sha256("hello"));
    const lengths = rep.rawHeaders.filter((_, i) => i % 2 === 0 && /^content-length$/i.test(_));
    assert.equal(lengths.length, 1, JSON.stringify(rep.rawHeaders));
  });

  test("an absolute-form target is routed by its authority, and the backend sees that Host", async () => {
    const r = await exchange(
      "GET http://other.test/abs?q=1 HTTP/1.1\r\nHost: strict.test\r\n\r\n",
      "the answer to an absolute-form request",
    );
    const rep = JSON.parse(r.body) as Report;
    assert.equal(rep.name, "other");
    assert.equal(rep.host, "other.test");
    assert.equal(rep.rawHeaders.filter((h) => /^host$/i.test(h)).length, 1);
  });

  test("HTTP/1.0 with an absolute-form target and no Host: the backend gets Host from it", async () => {
    const r = await exchange(
      "GET http://other.test:80/ten HTTP/1.0\r\n\r\n",
      "the answer to an HTTP/1.0 absolute-form request",
    );
    const rep = JSON.parse(r.body) as Report;
    assert.equal(rep.name, "other");
    assert.equal(rep.host, "other.test:80");
  });

  test("Content-Length, Transfer-Encoding and Host in request trailers are dropped; others pass", async () => {
    const r = await exchange(
      "POST /trailers HTTP/1.1\r\nHost: strict.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "5\r\nhello\r\n6\r\n world\r\n0\r\nContent-Length: 11\r\nX-Check: yes\r\n" +
        "transfer-encoding: chunked\r\nHost: other.test\r\n\r\n",
      "the answer to a request with framing trailers",
    );
    assert.match(r.head, /^HTTP\/1\.1 200 /, r.head);
    const rep = JSON.parse(r.body) as Report;
    assert.equal(rep.sha256, sha256("hello world"));
    assert.deepEqual(rep.trailers, ["X-Check", "yes"]);
  });

  test("request trailers split across many writes are still filtered", async () => {
    const c = await RawClient.connect(web);
    try {
      const text =
        "POST /slow HTTP/1.1\r\nHost: strict.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "3\r\nabc\r\n0\r\nX-A: 1\r\nContent-Length: 3\r\nX-B: 2\r\n\r\n";
      for (let i = 0; i < text.length; i += 7) {
        await c.write(text.slice(i, i + 7));
        // One write per turn, so the router reads them apart.
        await new Promise((r) => setImmediate(r));
      }
      const r = await response(c, "the answer to a slowly sent request");
      const rep = JSON.parse(r.body) as Report;
      assert.equal(rep.sha256, sha256("abc"));
      assert.deepEqual(rep.trailers, ["X-A", "1", "X-B", "2"]);
    } finally {
      c.destroy();
    }
  });

  test("every access-log line says where the client connected (dst), terminated or not", async () => {
    const since = router.access.length;
    await exchange("GET /dst HTTP/1.1\r\nHost: strict.test\r\n\r\n", "a plain request");
    const plain = await router.waitForAccess((x) => x.path === "/dst", "plain record", since);
    assert.equal(plain.dst, `127.0.0.1:${web}`);
    const s = await tlsConnect("strict.test");
    try {
      s.end("GET /dst-tls HTTP/1.1\r\nHost: strict.test\r\nConnection: close\r\n\r\n");
      const req = await router.waitForAccess((x) => x.path === "/dst-tls", "tls record", since);
      assert.equal(req.dst, `127.0.0.1:${secure}`);
      const conn = await router.waitForAccess((x) => x.outcome === "terminated", "conn", since);
      assert.equal(conn.dst, `127.0.0.1:${secure}`);
    } finally {
      s.destroy();
    }
  });

  test("a response's trailer section reaches the client without framing fields", async () => {
    const c = await RawClient.connect(web);
    try {
      await c.write("GET / HTTP/1.1\r\nHost: trailing.test\r\n\r\n");
      await c.until(() => c.text.includes("\r\n0\r\n") && c.text.endsWith("\r\n\r\n"), "the body");
      const text = c.text;
      const trailers = text.slice(text.indexOf("\r\n0\r\n") + 5);
      assert.equal(trailers, "X-Sum: 5\r\n\r\n", JSON.stringify(text));
    } finally {
      c.destroy();
    }
  });
});
