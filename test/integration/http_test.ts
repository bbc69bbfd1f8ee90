/**
 * http listeners end to end: the router runs as a subprocess under the test's runtime, curl and
 * raw sockets are the clients, and node:http backends report exactly what reached them (Host,
 * forwarded headers, body length and SHA-256), so routing and byte-exact delivery are proven
 * from the far side. Every refusal is checked for its status, its logged reason, and that the
 * backend behind the listener never saw a connection.
 */

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { TestServer } from "../helpers/backends.ts";
import { exec, freePort, RawClient } from "../helpers/clients.ts";
import {
  CHUNKED_PIECES,
  closeDelimitedBackend,
  httpBackend,
  type HttpTestServer,
  pattern,
  rawBackend,
  type Report,
  sha256,
  wsAccept,
  wsEchoBackend,
  wsEncode,
  wsFrame,
} from "../helpers/http_backends.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

/** Whether this host can listen on ::1 (IPv6 loopback configured). */
function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(0, "::1", () => s.close(() => resolve(true)));
  });
}

/** One HTTP response parsed off a raw stream. */
interface Response {
  status: number;
  /** Header fields, names lower-cased, repeats joined by ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

/** Bytes of `c` so far. */
function bytesOf(c: RawClient): Buffer {
  return Buffer.concat(c.received);
}

/**
 * Parses the responses to requests with `methods` from the start of `buf`: interim (1xx other
 * than 101) responses are returned too but answer no request. `null` until all are complete;
 * a body without length is complete only once the stream has `ended`.
 */
function parseResponses(buf: Buffer, methods: string[], ended: boolean): Response[] | null {
  const out: Response[] = [];
  let o = 0;
  for (let i = 0; i < methods.length;) {
    const end = buf.indexOf("\r\n\r\n", o, "latin1");
    if (end < 0) return null;
    const [statusLine, ...lines] = buf.subarray(o, end).toString("latin1").split("\r\n");
    const status = Number(statusLine.split(" ")[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    o = end + 4;
    let body: Buffer;
    if (status < 200 || status === 204 || status === 304 || methods[i] === "HEAD") {
      body = Buffer.alloc(0);
    } else if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = buf.indexOf("\r\n", o, "latin1");
        if (lineEnd < 0) return null;
        const size = parseInt(buf.subarray(o, lineEnd).toString("latin1").split(";")[0], 16);
        o = lineEnd + 2;
        if (size === 0) {
          // Trailers, then the empty line.
          const t = buf.indexOf("\r\n", o, "latin1") === o ? o : buf.indexOf("\r\n\r\n", o);
          if (t < 0) return null;
          o = t === o ? o + 2 : t + 4;
          break;
        }
        if (buf.length < o + size + 2) return null;
        parts.push(buf.subarray(o, o + size));
        o += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers["content-length"] !== undefined) {
      const n = Number(headers["content-length"]);
      if (buf.length < o + n) return null;
      body = buf.subarray(o, o + n);
      o += n;
    } else {
      if (!ended) return null;
      body = buf.subarray(o);
      o = buf.length;
    }
    out.push({ status, headers, body });
    if (status >= 200 || status === 101) i++;
  }
  return out;
}

/** Waits until `c` holds complete responses to `methods` and returns them. */
async function responses(c: RawClient, methods: string[], what: string): Promise<Response[]> {
  let got: Response[] | null = null;
  await c.until(() => {
    got = parseResponses(bytesOf(c), methods, c.ended || c.closed);
    return got !== null || c.ended || c.closed;
  }, what);
  assert.ok(got !== null, `${what}: connection ended with ${JSON.stringify(c.text)}`);
  return got;
}

/** The backend's report from a JSON response body. */
function report(r: Response): Report {
  assert.equal(r.status, 200, r.body.toString());
  return JSON.parse(r.body.toString()) as Report;
}

/** GET `path` with `host` as a request head (extra header lines optional). */
function get(host: string, path: string, extra = "", method = "GET"): string {
  return `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;
}

describe(`http listener (router on ${runtimeName})`, () => {
  let a: HttpTestServer;
  let b: HttpTestServer;
  let fallback: HttpTestServer;
  let victim: HttpTestServer;
  let ws: TestServer & { heads: string[] };
  let closer: TestServer;
  let split: TestServer;
  let conflicting: TestServer;
  let late: TestServer;
  /** The late backend's socket once an Upgrade request reached it (it waits for the test). */
  let upgradeHeld: Promise<net.Socket>;
  let holdUpgrade: (s: net.Socket) => void;
  const closeBody = pattern(300_000, 7);
  let router: RouterProcess;
  let web: number;
  let web6: number | null = null;
  let tmp: string;

  /** Where each connection's access records start in the router's log. */
  const marks = new WeakMap<RawClient, number>();

  /** Connects to 127.0.0.1:`port`, noting where the router's log stood. */
  async function connect(port: number): Promise<RawClient> {
    const since = router.access.length;
    const c = await RawClient.connect(port);
    marks.set(c, since);
    return c;
  }

  /**
   * Waits for the access record of `c` (made by {@link connect}) that also matches `pred`:
   * only records logged since it connected count, as its client port may have served an
   * earlier connection to another listener.
   */
  function logOf(
    c: RawClient,
    what: string,
    pred: (r: Record<string, unknown>) => boolean = () => true,
  ) {
    const client = `127.0.0.1:${c.port}`;
    return router.waitForAccess((x) => x.client === client && pred(x), what, marks.get(c));
  }

  /** curl to the web listener with a Host header; -sS, 10 s cap. */
  const curl = (host: string, path: string, extra: string[] = []) =>
    exec("curl", [
      "-sS",
      "--max-time",
      "10",
      "-H",
      `Host: ${host}`,
      ...extra,
      `http://127.0.0.1:${web}${path}`,
    ]);

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "switchyard-http-"));
    a = await httpBackend("a");
    b = await httpBackend("b");
    fallback = await httpBackend("fallback");
    victim = await httpBackend("victim");
    ws = await wsEchoBackend();
    closer = await closeDelimitedBackend(closeBody);
    // Both framing headers on a response: Transfer-Encoding wins (RFC 9112 section 6.3).
    // Answers plain requests at once (keep-alive); an Upgrade request only when the test
    // writes the 101 itself. Closes on the router's FIN (allowHalfOpen is off).
    upgradeHeld = new Promise((r) => holdUpgrade = r);
    const answered = new WeakMap<net.Socket, number>();
    late = await rawBackend((s, received) => {
      const heads = received.toString("latin1").split("\r\n\r\n");
      const done = answered.get(s) ?? 0;
      if (heads.length - 1 <= done) return;
      answered.set(s, heads.length - 1);
      if (/\r\nupgrade:/i.test(heads[heads.length - 2])) holdUpgrade(s);
      else s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    conflicting = await rawBackend((s, received) => {
      if (s.writableEnded || !received.includes("\r\n\r\n")) return;
      s.end(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" +
          "3\r\nabc\r\n0\r\n\r\n",
      );
    });
    // 100 Continue with the start of the final head in the same write; the rest of the head
    // once the whole body arrived.
    const interimSent = new WeakSet<net.Socket>();
    split = await rawBackend((s, received) => {
      const end = received.indexOf("\r\n\r\n");
      if (end < 0 || s.writableEnded) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(received.toString("latin1", 0, end));
      if (!interimSent.has(s)) {
        interimSent.add(s);
        s.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Le");
      }
      if (received.length >= end + 4 + Number(length?.[1] ?? 0)) s.end("ngth: 2\r\n\r\nok");
    });
    const dead = await freePort();
    const v6 = await ipv6Loopback();
    router = await startRouter(`
listeners:
  web:
    bind: ["127.0.0.1:0"${v6 ? `, "[::1]:0"` : ""}]
    protocol: http
    forwarded: [x-forwarded-for, x-forwarded-proto, forwarded]
    routes:
      - { host: a.test, to: a }
      - { host: b.test, to: b }
      - { host: ws.test, to: ws }
      - { host: close.test, to: closer }
      - { host: down.test, to: down }
      - { host: split.test, to: split }
      - { host: conflicting.test, to: conflicting }
      - { host: late.test, to: late }
    default: fallback
  dual:
    bind: ":0"
    protocol: http
    forwarded: [x-forwarded-for, forwarded]
    default: a
  nodefault:
    bind: "127.0.0.1:0"
    protocol: http
    routes:
      - { host: a.test, to: a }
  guarded:
    bind: "127.0.0.1:0"
    protocol: http
    default: victim
  stall:
    bind: "127.0.0.1:0"
    protocol: http
    inspect_timeout: 500ms
    default: victim
backends:
  a: { servers: ["127.0.0.1:${a.port}"] }
  b: { servers: ["127.0.0.1:${b.port}"] }
  fallback: { servers: ["127.0.0.1:${fallback.port}"] }
  victim: { servers: ["127.0.0.1:${victim.port}"] }
  ws: { servers: ["127.0.0.1:${ws.port}"] }
  closer: { servers: ["127.0.0.1:${closer.port}"] }
  down: { servers: ["127.0.0.1:${dead}"] }
  split: { servers: ["127.0.0.1:${split.port}"] }
  conflicting: { servers: ["127.0.0.1:${conflicting.port}"] }
  late: { servers: ["127.0.0.1:${late.port}"] }
`);
    web = router.port("web");
    if (v6) {
      // The listening event lists "web=127.0.0.1:P" and "web=[::1]:P"; take the IPv6 one.
      const line = router.stderrLines.find((l) => l.includes('"listening"'))!;
      const entry = (JSON.parse(line).listeners as string[]).find((e) =>
        e.startsWith("web=[::1]:")
      );
      web6 = Number(entry!.slice(entry!.lastIndexOf(":") + 1));
    }
  });

  after(async () => {
    await router?.stop();
    for (const s of [a, b, fallback, victim, ws, closer, split, conflicting, late]) {
      await s?.close();
    }
  });

  test("curl: Host routing ignores case, port and a trailing dot; the Host reaches the backend as sent", async () => {
    const cases: [string, string][] = [
      ["a.test", "a"],
      ["B.Test:8080", "b"],
      ["a.test.", "a"],
      ["A.TEST:80", "a"],
    ];
    for (const [host, name] of cases) {
      const r = await curl(host, "/route");
      assert.equal(r.code, 0, r.stderr);
      const rep = JSON.parse(r.stdout) as Report;
      assert.equal(rep.name, name, `Host ${host}`);
      assert.equal(rep.host, host);
      assert.equal(rep.url, "/route");
    }
    const rec = await router.waitForAccess(
      (x) => x.listener === "web" && x.host === "b.test" && x.path === "/route",
      "the access log of the B.Test:8080 request",
    );
    assert.equal(rec.backend, "b");
    assert.equal(rec.status, 200);
    assert.equal(rec.outcome, "ok");
    assert.equal(rec.method, "GET");
  });

  test("an unknown Host goes to the default; with no default the router answers 503 and logs it", async () => {
    const r = await curl("unknown.test", "/dflt");
    assert.equal((JSON.parse(r.stdout) as Report).name, "fallback");
    const before = a.accepted;
    const n = await exec("curl", [
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-H",
      "Host: nowhere.test",
      `http://127.0.0.1:${router.port("nodefault")}/none`,
    ]);
    assert.equal(n.stdout, "503");
    const rec = await router.waitForAccess(
      (x) => x.listener === "nodefault" && x.host === "nowhere.test",
      "the no_route log",
    );
    assert.equal(rec.status, 503);
    assert.equal(rec.outcome, "no_route");
    assert.equal(rec.backend, null);
    assert.equal(a.accepted, before);
  });

  test("two different Hosts on one keep-alive connection reach their own backends", async () => {
    const c = await connect(web);
    const aBefore = a.seen.length;
    const bBefore = b.seen.length;
    await c.write(get("a.test", "/ka-1"));
    const [first] = await responses(c, ["GET"], "the first response");
    assert.equal(report(first).name, "a");
    await c.write(get("b.test", "/ka-2"));
    const [, second] = await responses(c, ["GET", "GET"], "the second response");
    assert.equal(report(second).name, "b");
    assert.equal(report(second).url, "/ka-2");
    assert.ok(!c.ended && !c.closed, "the connection stays open");
    assert.equal(a.seen.length, aBefore + 1);
    assert.equal(b.seen.length, bBefore + 1);
    c.end();
    await c.until(() => c.ended, "the router's FIN");
    await logOf(c, "the second request's log", (x) => x.host === "b.test");
    const recs = router.access.slice(marks.get(c)).filter((x) =>
      x.client === `127.0.0.1:${c.port}`
    );
    assert.deepEqual(recs.map((x) => [x.host, x.backend, x.status]), [
      ["a.test", "a", 200],
      ["b.test", "b", 200],
    ]);
  });

  test("pipelined requests in one write are answered in order", async () => {
    const c = await connect(web);
    await c.write(get("a.test", "/p1") + get("a.test", "/p2") + get("a.test", "/p3"));
    const rs = await responses(c, ["GET", "GET", "GET"], "three responses");
    assert.deepEqual(rs.map((r) => report(r).url), ["/p1", "/p2", "/p3"]);
    // The connection still reads: a request sent after the pipelined ones is answered.
    await c.write(get("a.test", "/p4"));
    const all = await responses(c, ["GET", "GET", "GET", "GET"], "the fourth response");
    assert.equal(report(all[3]).url, "/p4");
    c.destroy();
  });

  test("pipelined requests, then the client's FIN: every response, then the router's FIN", async () => {
    const c = await connect(web);
    await c.write(get("a.test", "/f1") + get("b.test", "/f2") + get("a.test", "/f3"));
    c.end();
    await c.until(() => c.ended, "the router's FIN");
    const rs = parseResponses(bytesOf(c), ["GET", "GET", "GET"], true);
    assert.ok(rs !== null, `three complete responses, got ${JSON.stringify(c.text)}`);
    assert.deepEqual(rs.map((r) => report(r).url), ["/f1", "/f2", "/f3"]);
    c.destroy();
  });

  test("a pipelined request cut short by the client's FIN: the first is answered, then 400", async () => {
    const c = await connect(web);
    await c.write(get("a.test", "/whole") + "GET /cut HTTP/1.1\r\nHost: a.te");
    c.end();
    await c.until(() => c.ended, "the router's FIN");
    const rs = parseResponses(bytesOf(c), ["GET", "GET"], true);
    assert.ok(rs !== null, `two complete responses, got ${JSON.stringify(c.text)}`);
    assert.equal(report(rs[0]).url, "/whole");
    assert.equal(rs[1].status, 400);
    assert.match(rs[1].body.toString(), /client closed inside a request/);
    c.destroy();
  });

  test("a FIN after a pipelined request whose body never came: the first is answered, then 400", async () => {
    const c = await connect(web);
    // A first exchange, so that the next requests reuse the backend connection and the
    // router does not stop reading to connect.
    await c.write(get("a.test", "/warm"));
    await responses(c, ["GET"], "the first response");
    const cut = "POST /cut HTTP/1.1\r\nHost: a.test\r\nContent-Length: 10\r\n\r\nabc";
    await c.write(get("a.test", "/first") + cut);
    c.end();
    await c.until(() => c.ended, "the router's FIN", 5000);
    const rs = parseResponses(bytesOf(c), ["GET", "GET", "POST"], true);
    assert.ok(rs !== null, `three complete responses, got ${JSON.stringify(c.text)}`);
    assert.equal(report(rs[1]).url, "/first");
    assert.equal(rs[2].status, 400);
    assert.match(rs[2].body.toString(), /client closed inside a request/);
  });

  test("a FIN sent before the 101 reaches the backend through the tunnel", async () => {
    const c = await connect(web);
    await c.write(get("late.test", "/plain"));
    await responses(c, ["GET"], "the plain response");
    // On the same backend connection, so the router does not stop reading to connect.
    await c.write(get("late.test", "/up", "Connection: Upgrade\r\nUpgrade: test\r\n"));
    c.end();
    const s = await upgradeHeld;
    s.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n");
    // The backend closes once our FIN reached it; its FIN comes back through the tunnel.
    await c.until(() => c.ended, "the backend's FIN through the tunnel", 5000);
    assert.match(c.text, /HTTP\/1\.1 101 Switching Protocols\r\n/);
    c.destroy();
  });

  test("2,000 pipelined requests in one write (over 64 KiB) are all answered in order", async () => {
    const c = await connect(web);
    const paths = Array.from({ length: 2000 }, (_, i) => `/many/${i}`);
    // The last asks to close: the router's FIN then marks the end, parsed once.
    const wire = paths.map((p, i) => get("a.test", p, i === 1999 ? "Connection: close\r\n" : ""));
    assert.ok(wire.join("").length > 65536, "more than the router keeps before pausing the client");
    await c.write(wire.join(""));
    await c.until(() => c.ended, "the FIN after the last response");
    const rs = parseResponses(bytesOf(c), paths.map(() => "GET"), true);
    assert.ok(rs !== null, "2,000 complete responses");
    assert.deepEqual(rs.map((r) => report(r).url), paths);
    c.destroy();
  });

  test("pipelined requests to two different backends are answered in order", async () => {
    const c = await connect(web);
    const hosts = ["a.test", "b.test", "a.test", "b.test", "unknown.test"];
    await c.write(hosts.map((h, i) => get(h, `/mix${i}`)).join(""));
    const rs = await responses(c, hosts.map(() => "GET"), "five responses");
    assert.deepEqual(
      rs.map((r) => [report(r).name, report(r).url]),
      [["a", "/mix0"], ["b", "/mix1"], ["a", "/mix2"], ["b", "/mix3"], ["fallback", "/mix4"]],
    );
    c.destroy();
  });

  test("curl: a 1 MiB chunked upload arrives byte-exact", async () => {
    const data = pattern(1 << 20, 3);
    const file = join(tmp, "upload.bin");
    writeFileSync(file, data);
    const r = await curl("a.test", "/upload", [
      "-H",
      "Transfer-Encoding: chunked",
      "--data-binary",
      `@${file}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as Report;
    assert.equal(rep.te, "chunked");
    assert.equal(rep.length, data.length);
    assert.equal(rep.sha256, sha256(data));
    const rec = await router.waitForAccess(
      (x) => x.listener === "web" && x.path === "/upload",
      "the upload's log",
    );
    assert.ok((rec.bytes_in as number) > data.length, `bytes_in ${rec.bytes_in}`);
  });

  test("raw: a chunked upload split at awkward places, then a request after it, arrive exact", async () => {
    const sizes = [1, 0x10, 4095, 65537, 3];
    const data = pattern(sizes.reduce((s, n) => s + n, 0), 5);
    const parts: Buffer[] = [];
    let o = 0;
    for (const n of sizes) {
      parts.push(Buffer.from(`${n.toString(16)};ext=1\r\n`), Buffer.from(data.subarray(o, o + n)));
      parts.push(Buffer.from("\r\n"));
      o += n;
    }
    parts.push(Buffer.from("0\r\nX-Trailer: t\r\n\r\n"));
    const wire = Buffer.concat([
      Buffer.from(get("a.test", "/chunks", "Transfer-Encoding: chunked\r\n", "POST")),
      ...parts,
      Buffer.from(get("a.test", "/after-chunks")),
    ]);
    const c = await connect(web);
    // Odd write boundaries: inside the head, inside size lines, inside CRLFs.
    const steps = [7, 1, 3001, 2, 65536];
    for (let p = 0, i = 0; p < wire.length; i++) {
      const step = steps[i % steps.length];
      await c.write(wire.subarray(p, p + step));
      p += step;
    }
    const [up, next] = await responses(c, ["POST", "GET"], "both responses");
    assert.equal(report(up).length, data.length);
    assert.equal(report(up).sha256, sha256(data));
    assert.equal(report(next).url, "/after-chunks");
    c.destroy();
  });

  test("Expect: 100-continue: the backend's 100 reaches the client before the body is sent", async () => {
    const data = pattern(300_000, 9);
    const c = await connect(web);
    await c.write(
      get("a.test", "/expect", `Content-Length: ${data.length}\r\nExpect: 100-continue\r\n`, "PUT"),
    );
    await c.until(() => c.text.includes("\r\n\r\n"), "the interim response");
    assert.match(c.text, /^HTTP\/1\.1 100 Continue\r\n/);
    assert.ok(!c.text.includes("HTTP/1.1 200"), "no final response before the body");
    await c.write(data);
    const rs = await responses(c, ["PUT"], "the final response");
    assert.deepEqual(rs.map((r) => r.status), [100, 200]);
    const rep = report(rs[1]);
    assert.equal(rep.expect, "100-continue");
    assert.equal(rep.length, data.length);
    assert.equal(rep.sha256, sha256(data));
    c.destroy();

    // curl sends Expect: 100-continue for a large upload and waits for the 100.
    const big = pattern(2 << 20, 11);
    const file = join(tmp, "expect.bin");
    writeFileSync(file, big);
    const r = await curl("a.test", "/expect-curl", ["-v", "--data-binary", `@${file}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /> Expect: 100-continue/);
    assert.match(r.stderr, /< HTTP\/1\.1 100 Continue/);
    const curlRep = JSON.parse(r.stdout) as Report;
    assert.equal(curlRep.length, big.length);
    assert.equal(curlRep.sha256, sha256(big));
  });

  test("a 100 Continue arriving together with the start of the final head is forwarded once", async () => {
    const c = await connect(web);
    await c.write(
      get("split.test", "/split", "Content-Length: 5\r\nExpect: 100-continue\r\n", "PUT"),
    );
    await c.until(() => c.text.includes("\r\n\r\n"), "the interim response");
    await c.write("hello");
    const rs = await responses(c, ["PUT"], "the final response");
    assert.deepEqual(rs.map((r) => r.status), [100, 200]);
    assert.equal(rs[1].body.toString(), "ok");
    c.destroy();
  });

  test("HEAD and 304 responses carry no body, and the next response on the connection is intact", async () => {
    const c = await connect(web);
    await c.write(
      get("a.test", "/head", "", "HEAD") + get("a.test", "/304", 'If-None-Match: "v1"\r\n') +
        get("a.test", "/after-304"),
    );
    const [head, notModified, last] = await responses(c, ["HEAD", "GET", "GET"], "3 responses");
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers["content-length"]) > 0, "HEAD keeps the GET's Content-Length");
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.etag, '"v1"');
    // Had the HEAD's Content-Length been taken as a body, the router would still be waiting
    // for it, or the parse of the next two responses would have gone wrong.
    assert.equal(report(last).url, "/after-304");
    c.destroy();

    const r = await curl("a.test", "/head-curl", ["-I"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/1\.1 200/);
  });

  test("a chunked response reaches the client chunked and whole", async () => {
    const c = await connect(web);
    await c.write(get("a.test", "/chunked") + get("a.test", "/after-chunked"));
    const [chunked, next] = await responses(c, ["GET", "GET"], "both responses");
    assert.equal(chunked.headers["transfer-encoding"], "chunked");
    assert.equal(chunked.headers["content-length"], undefined);
    assert.equal(chunked.body.toString(), CHUNKED_PIECES.join(""));
    assert.equal(report(next).url, "/after-chunked");
    c.destroy();
    const r = await curl("a.test", "/chunked");
    assert.equal(r.stdout, CHUNKED_PIECES.join(""));
  });

  test("a response delimited by the backend's close reaches the client whole, then the client is closed", async () => {
    const c = await connect(web);
    await c.write(get("close.test", "/close-delimited"));
    await c.until(() => c.ended, "the router's FIN after the body", 20_000);
    const [r] = parseResponses(bytesOf(c), ["GET"], true)!;
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-length"], undefined);
    assert.equal(r.body.length, closeBody.length);
    assert.equal(sha256(r.body), sha256(closeBody));
    c.destroy();
    const rec = await router.waitForAccess(
      (x) => x.path === "/close-delimited",
      "the close-delimited log",
    );
    assert.equal(rec.outcome, "ok");
    assert.equal(rec.status, 200);

    const file = join(tmp, "closed.bin");
    const cr = await curl("close.test", "/close-curl", ["-o", file, "-w", "%{size_download}"]);
    assert.equal(cr.code, 0, cr.stderr);
    assert.equal(Number(cr.stdout), closeBody.length);
  });

  test("a response with Content-Length and Transfer-Encoding loses its Content-Length, then the client is closed", async () => {
    const c = await connect(web);
    await c.write(get("conflicting.test", "/both") + get("a.test", "/never"));
    await c.until(() => c.ended, "the router's FIN after the response");
    const [r] = parseResponses(bytesOf(c), ["GET"], true)!;
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-length"], undefined, "Content-Length removed");
    assert.equal(r.headers["transfer-encoding"], "chunked");
    assert.equal(r.body.toString(), "abc");
    assert.equal(bytesOf(c).toString("latin1").match(/HTTP\/1\.1 /g)?.length, 1, "one response");
    c.destroy();
  });

  test("a WebSocket echo works through the router", async () => {
    const key = Buffer.from(pattern(16, 13)).toString("base64");
    const c = await connect(web);
    await c.write(
      get(
        "ws.test",
        "/chat",
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
          `Sec-WebSocket-Key: ${key}\r\n`,
      ),
    );
    await c.until(() => c.text.includes("\r\n\r\n"), "the 101");
    const headEnd = c.text.indexOf("\r\n\r\n") + 4;
    const head = c.text.slice(0, headEnd);
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, new RegExp(`\r\nSec-WebSocket-Accept: ${escape(wsAccept(key))}\r\n`, "i"));
    const message = new TextEncoder().encode("hello through the router ✓");
    await c.write(wsEncode(0x1, message, Uint8Array.from([1, 2, 3, 4])));
    let frame: ReturnType<typeof wsFrame> = null;
    await c.until(() => (frame = wsFrame(bytesOf(c).subarray(headEnd))) !== null, "the echo");
    const echo = frame!;
    assert.equal(echo.opcode, 0x1);
    assert.equal(echo.fin, true);
    assert.equal(echo.masked, false);
    assert.equal(new TextDecoder().decode(echo.payload), "hello through the router ✓");
    assert.match(ws.heads.at(-1)!, /\r\nX-Forwarded-For: 127\.0\.0\.1(\r\n|$)/);
    // A close frame: the echo answers it and closes; our FIN then ends the tunnel.
    await c.write(wsEncode(0x8, Uint8Array.from([0x03, 0xe8]), Uint8Array.from([9, 9, 9, 9])));
    await c.until(() => c.ended, "the backend's FIN through the tunnel");
    c.end();
    const rec = await logOf(c, "the upgraded log", (x) => x.host === "ws.test");
    assert.equal(rec.status, 101);
    assert.equal(rec.outcome, "upgraded");
    c.destroy();
  });

  test("X-Forwarded-For, X-Forwarded-Proto and Forwarded for an IPv4 client", async () => {
    const plain = JSON.parse((await curl("a.test", "/fwd4")).stdout) as Report;
    assert.equal(plain.xff, "127.0.0.1");
    assert.equal(plain.xfp, "http");
    assert.equal(plain.forwarded, "for=127.0.0.1;proto=http;host=a.test");
    // A client's chain is appended to; its X-Forwarded-Proto is replaced, never trusted.
    const chained = JSON.parse(
      (await curl("a.test:8080", "/fwd4-chain", [
        "-H",
        "X-Forwarded-For: 203.0.113.9",
        "-H",
        "X-Forwarded-Proto: https",
        "-H",
        "Forwarded: for=198.51.100.1",
      ])).stdout,
    ) as Report;
    assert.equal(chained.xff, "203.0.113.9, 127.0.0.1");
    assert.equal(chained.xfp, "http");
    assert.equal(
      chained.forwarded,
      'for=198.51.100.1, for=127.0.0.1;proto=http;host="a.test:8080"',
    );
  });

  test("X-Forwarded-For and Forwarded for an IPv6 client", async (t) => {
    if (web6 === null) {
      t.skip("IPv6 loopback (::1) is not available on this host");
      return;
    }
    const r = await exec("curl", [
      "-sS",
      "--max-time",
      "10",
      "-g",
      "-H",
      "Host: a.test",
      `http://[::1]:${web6}/fwd6`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as Report;
    assert.equal(rep.xff, "::1");
    assert.equal(rep.xfp, "http");
    assert.equal(rep.forwarded, 'for="[::1]";proto=http;host=a.test');
    const rec = await router.waitForAccess((x) => x.path === "/fwd6", "the IPv6 request's log");
    assert.match(rec.client as string, /^\[::1\]:\d+$/);
  });

  test("a dual-stack listener reports an IPv4 client as IPv4, never as ::ffff:127.0.0.1", async () => {
    const dual = router.port("dual");
    const r = await exec("curl", ["-sS", "-H", "Host: a.test", `http://127.0.0.1:${dual}/dual4`]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as Report;
    assert.equal(rep.xff, "127.0.0.1");
    assert.equal(rep.forwarded, "for=127.0.0.1;proto=http;host=a.test");
    const rec = await router.waitForAccess((x) => x.path === "/dual4", "the dual-stack log");
    assert.match(rec.client as string, /^127\.0\.0\.1:\d+$/);
    if (web6 === null) return;
    const r6 = await exec("curl", [
      "-sS",
      "-g",
      "-H",
      "Host: a.test",
      `http://[::1]:${dual}/dual6`,
    ]);
    assert.equal((JSON.parse(r6.stdout) as Report).xff, "::1", r6.stderr);
  });

  test("a backend that is down: 502, logged as connect_failed", async () => {
    const c = await connect(web);
    await c.write(get("down.test", "/down"));
    const [r] = await responses(c, ["GET"], "the 502");
    assert.equal(r.status, 502);
    assert.equal(r.headers.connection, "close");
    await c.until(() => c.ended, "the router's FIN");
    const rec = await logOf(c, "the 502 log");
    assert.equal(rec.status, 502);
    assert.equal(rec.outcome, "connect_failed");
    assert.equal(rec.backend, "down");
    // Both runtimes' messages differ; the code is there in both.
    assert.match(rec.reason as string, /^connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });

  test("an idle keep-alive connection is closed with a FIN at inspect_timeout", async () => {
    const c = await connect(router.port("stall"));
    await c.write(get("a.test", "/then-idle"));
    const [r] = await responses(c, ["GET"], "the response");
    assert.equal(report(r).name, "victim");
    await c.until(() => c.ended || c.closed, "the router to close the idle connection");
    assert.equal(c.ended, true, `a FIN, not ${c.error?.message ?? "a bare close"}`);
    assert.equal(c.error, null);
    c.destroy();
  });

  describe("refusals: answered with their status, logged, and the backend never contacted", () => {
    /** Sends `wire` to `listener`; returns the response and the access record. */
    async function refused(listener: string, wire: string | Uint8Array) {
      const before = victim.accepted;
      const c = await connect(router.port(listener));
      // Not awaited: the router may close before it has read everything (EPIPE/ECONNRESET).
      c.socket.write(wire);
      await c.until(() => c.ended || c.closed, "the router to close");
      const rs = parseResponses(bytesOf(c), ["GET"], true);
      assert.ok(rs !== null, `a complete response, got ${JSON.stringify(c.text.slice(0, 200))}`);
      const rec = await logOf(c, "the refusal log");
      assert.equal(victim.accepted, before, "the backend was never contacted");
      c.destroy();
      return { res: rs[0], rec };
    }

    const cases: { name: string; wire: string; status: number; reason: RegExp }[] = [
      {
        name: "Content-Length together with Transfer-Encoding",
        wire: "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n" +
          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        status: 400,
        reason: /Content-Length and Transfer-Encoding together/,
      },
      {
        name: "differing duplicate Content-Length",
        wire: "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n" +
          "hello!",
        status: 400,
        reason: /differing Content-Length values/,
      },
      {
        name: "Transfer-Encoding with chunked not last",
        wire: "POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" +
          "0\r\n\r\n",
        status: 400,
        reason: /chunked is not the last transfer coding/,
      },
      {
        name: "Transfer-Encoding without chunked",
        wire: "POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip\r\n\r\n",
        status: 400,
        reason: /chunked is not the last transfer coding/,
      },
      {
        name: "chunked twice",
        wire: "POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n" +
          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        status: 400,
        reason: /chunked is not the last transfer coding/,
      },
      {
        name: "an unknown transfer coding",
        wire: "POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: identity\r\n\r\n",
        status: 501,
        reason: /unsupported transfer coding "identity"/,
      },
      {
        name: "an invalid header name",
        wire: "GET / HTTP/1.1\r\nHost: a.test\r\nBad(Name): x\r\n\r\n",
        status: 400,
        reason: /invalid header name/,
      },
      {
        name: "whitespace between a header name and its colon",
        wire: "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length : 5\r\n\r\nhello",
        status: 400,
        reason: /whitespace between header name and colon/,
      },
      {
        name: "a NUL in a header value",
        wire: "GET / HTTP/1.1\r\nHost: a.test\r\nX-Test: a\x00b\r\n\r\n",
        status: 400,
        reason: /invalid character 0x00 in header "X-Test" value/,
      },
      {
        name: "obs-fold",
        wire: "GET / HTTP/1.1\r\nHost: a.test\r\nX-Test: a\r\n  folded\r\n\r\n",
        status: 400,
        reason: /obsolete line folding/,
      },
      {
        name: "several Host headers",
        wire: "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
        status: 400,
        reason: /several Host headers/,
      },
      {
        name: "a bare LF line end",
        wire: "GET / HTTP/1.1\r\nHost: a.test\nX-Smuggle: 1\r\n\r\n",
        status: 400,
        reason: /bare LF/,
      },
      {
        name: "a request line over the limit",
        wire: `GET /${"a".repeat(9000)} HTTP/1.1\r\nHost: a.test\r\n\r\n`,
        status: 414,
        reason: /request line longer than 8192 bytes/,
      },
    ];
    for (const k of cases) {
      test(`${k.name}: ${k.status}`, async () => {
        const { res, rec } = await refused("guarded", k.wire);
        assert.equal(res.status, k.status, res.body.toString());
        assert.equal(res.headers.connection, "close");
        assert.equal(rec.status, k.status);
        assert.equal(rec.outcome, "malformed");
        assert.match(rec.reason as string, k.reason);
      });
    }

    test("64 KiB of headers: 431, and the router keeps serving", async () => {
      let wire = "GET / HTTP/1.1\r\nHost: a.test\r\n";
      for (let i = 0; wire.length < 64 << 10; i++) wire += `X-Filler-${i}: ${"f".repeat(100)}\r\n`;
      const { res, rec } = await refused("guarded", wire + "\r\n");
      assert.equal(res.status, 431);
      assert.equal(rec.status, 431);
      assert.match(rec.reason as string, /request head (over|longer than) 32768 bytes/);
      // The same through curl, one 64 KiB header.
      const r = await exec("curl", [
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        `X-Big: ${"b".repeat(64 << 10)}`,
        `http://127.0.0.1:${router.port("guarded")}/big`,
      ]);
      assert.equal(r.stdout, "431", r.stderr);
      assert.equal(router.child.exitCode, null, "the router is still running");
      const ok = await curl("a.test", "/after-431");
      assert.equal((JSON.parse(ok.stdout) as Report).url, "/after-431");
    });

    test("a client that stalls inside the head: 408 after inspect_timeout", async () => {
      const t0 = Date.now();
      const { res, rec } = await refused("stall", "GET /slow HTTP/1.1\r\nHost: a.test\r\n");
      assert.ok(Date.now() - t0 >= 400, `answered after ${Date.now() - t0} ms`);
      assert.equal(res.status, 408);
      assert.equal(rec.status, 408);
      assert.equal(rec.outcome, "inspect_timeout");
      assert.match(rec.reason as string, /inspect_timeout/);
    });
  });
});

/** Escapes `s` for a RegExp. */
function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
