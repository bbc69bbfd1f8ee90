/**
 * h2c (HTTP/2 with prior knowledge) on an http listener end to end: the router's HTTP/2 engine
 * routes each stream by its own :authority, to `http2: true` backends over HTTP/2 (node:http2
 * servers that report which authority reached them and the exact body they got) or to HTTP/1.1
 * backends. curl --http2-prior-knowledge, nghttp and node:http2 are the clients.
 */

import assert from "node:assert/strict";
import http2 from "node:http2";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { TestServer } from "../helpers/backends.ts";
import { exec, freePort, RawClient } from "../helpers/clients.ts";
import {
  h2cBackend,
  httpBackend,
  type HttpTestServer,
  pattern,
  sha256,
} from "../helpers/http_backends.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

const EMPTY_SHA = sha256("");

/** One request on an HTTP/2 session; resolves with the response body as text. */
function h2Request(
  session: http2.ClientHttp2Session,
  path: string,
  authority: string,
  body?: Uint8Array,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ":method": body ? "POST" : "GET",
      ":path": path,
      ":authority": authority,
    });
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (text += c));
    req.on("end", () => resolve(text));
    req.on("error", reject);
    req.end(body);
  });
}

describe(`h2c on an http listener (router on ${runtimeName})`, () => {
  let h2a: TestServer & { authorities: string[] };
  let h2b: TestServer & { authorities: string[] };
  let h1: HttpTestServer;
  let router: RouterProcess;
  let port: number;
  let tmp: string;
  /** A port nothing listens on. */
  let dead: number;

  /** curl with prior knowledge to http://NAME:PORT/PATH, NAME resolved to 127.0.0.1. */
  const curlH2 = (name: string, path = "/", extra: string[] = [], listener = "web") => {
    const p = router.port(listener);
    return exec("curl", [
      "-sS",
      "--max-time",
      "10",
      "--http2-prior-knowledge",
      "--resolve",
      `${name}:${p}:127.0.0.1`,
      ...extra,
      `http://${name}:${p}${path}`,
    ]);
  };

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "switchyard-h2c-"));
    const v = await exec("curl", ["-V"]);
    assert.match(v.stdout, /\bHTTP2\b/, "curl is built with HTTP/2 support");
    h2a = await h2cBackend("h2a");
    h2b = await h2cBackend("h2b");
    h1 = await httpBackend("h1");
    dead = await freePort();
    router = await startRouter(`
listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    routes:
      - { host: h2a.test, to: h2a }
      - { host: "*.b.test", to: h2b }
      - { host: h1.test, to: h1 }
      - { host: down.test, to: down }
  fallback:
    bind: "127.0.0.1:0"
    protocol: http
    routes:
      - { host: h2a.test, to: h2a }
    default: h2b
backends:
  h2a: { servers: ["127.0.0.1:${h2a.port}"], http2: true }
  h2b: { servers: ["127.0.0.1:${h2b.port}"], http2: true }
  h1: { servers: ["127.0.0.1:${h1.port}"] }
  down: { servers: ["127.0.0.1:${dead}"], retries: 0 }
`);
    port = router.port("web");
  });

  after(async () => {
    await router?.stop();
    for (const s of [h2a, h2b, h1]) await s?.close();
  });

  test("curl --http2-prior-knowledge is routed by :authority to its h2c backend", async () => {
    const a = await curlH2("h2a.test", "/one", ["-w", "%{http_version}"]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, `h2a h2a.test:${port} 0 ${EMPTY_SHA}\n2`);
    const b = await curlH2("x.b.test", "/two");
    assert.equal(b.stdout, `h2b x.b.test:${port} 0 ${EMPTY_SHA}\n`, b.stderr);
    const rec = await router.waitForAccess(
      (x) => x.listener === "web" && x.host === "h2a.test",
      "the h2c log",
    );
    assert.equal(rec.outcome, "ok");
    assert.equal(rec.proto, "h2");
    assert.equal(rec.status, 200);
    assert.equal(rec.backend, "h2a");
    assert.equal(rec.path, "/one");
    assert.ok((rec.bytes_out as number) > 0);
  });

  test("the authority matches case-insensitively and without its port", async () => {
    const r = await curlH2("H2A.Test", "/case");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^h2a /);
  });

  // curl 7.88 cannot reuse a prior-knowledge connection (curl/curl#10634), so a node:http2
  // client, which also sends a request body without waiting for the server's SETTINGS.
  test("node:http2: several streams on one connection, with bodies sent at once, all reach the backend over one connection", async () => {
    const before = h2a.accepted;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const failed = new Promise<never>((_, reject) => session.on("error", reject));
    const bodies = [pattern(60_000, 31), pattern(0), pattern(200_000, 32)];
    const answers = await Promise.race([
      failed,
      Promise.all(bodies.map((b, i) => h2Request(session, `/stream${i}`, "h2a.test", b))),
    ]);
    assert.deepEqual(
      answers,
      bodies.map((b) => `h2a h2a.test ${b.length} ${sha256(b)}\n`),
    );
    // A later stream on the same connection.
    assert.equal(
      await h2Request(session, "/later", "h2a.test"),
      `h2a h2a.test 0 ${EMPTY_SHA}\n`,
    );
    session.close();
    assert.equal(h2a.accepted, before + 1, "one backend connection for every stream");
  });

  test("a 1 MiB h2c upload arrives byte-exact", async () => {
    const data = pattern(1 << 20, 21);
    const file = join(tmp, "h2-upload.bin");
    writeFileSync(file, data);
    const r = await curlH2("h2a.test", "/upload", ["--data-binary", `@${file}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `h2a h2a.test:${port} ${data.length} ${sha256(data)}\n`);
  });

  test("h2load with prior knowledge: 4 connections x 10 streams to an HTTP/1.1 backend, every request answered", async () => {
    const r = await exec("h2load", [
      "-n",
      "400",
      "-c",
      "4",
      "-m",
      "10",
      "-H",
      ":authority: h1.test",
      `http://127.0.0.1:${port}/load`,
    ], 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /requests: 400 total, 400 started, 400 done, 400 succeeded, 0 failed/);
    assert.match(r.stdout, /status codes: 400 2xx/);
  });

  test("HTTP/1 and h2c share the listener", async () => {
    const r = await exec("curl", [
      "-sS",
      "--max-time",
      "10",
      "-H",
      "Host: h1.test",
      `http://127.0.0.1:${port}/h1`,
    ]);
    assert.equal(JSON.parse(r.stdout).name, "h1", r.stderr);
  });

  test("an unmatched authority goes to the default backend", async () => {
    const r = await curlH2("other.test", "/dflt", [], "fallback");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^h2b other\.test:\d+ /);
  });

  test("an unmatched authority with no default: an HTTP/2 503, logged", async () => {
    const before = h2a.accepted + h2b.accepted + h1.accepted;
    const r = await curlH2("nowhere.test", "/none", ["-w", "%{http_code} %{http_version}"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "503 Service Unavailable: no route for this host\n503 2");
    const rec = await router.waitForAccess(
      (x) => x.listener === "web" && x.host === "nowhere.test",
      "the no_route log",
    );
    assert.equal(rec.outcome, "no_route");
    assert.equal(rec.status, 503);
    assert.equal(rec.proto, "h2");
    assert.equal(rec.backend, null);
    assert.equal(h2a.accepted + h2b.accepted + h1.accepted, before, "no backend contacted");
  });

  test("HEAD with no route: the 503 without a body", async () => {
    const r = await curlH2("nowhere.test", "/head", ["-I", "-w", "%{http_code}"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/2 503 \r\n/);
    assert.match(r.stdout, /\r\n\r\n503$/, "no body after the head");
  });

  test("a backend that refuses: an HTTP/2 502 naming the failure, logged", async () => {
    const r = await curlH2("down.test", "/down", ["-w", "%{http_code} %{http_version}"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^502 Bad Gateway: connect to 127\.0\.0\.1:\d+: .+\n502 2$/);
    const rec = await router.waitForAccess((x) => x.host === "down.test", "the 502 log");
    assert.equal(rec.outcome, "connect_failed");
    assert.equal(rec.status, 502);
    assert.equal(rec.server, `127.0.0.1:${dead}`);
  });

  test("nghttp, whose request is on stream 13: the 503 comes on that stream", async () => {
    const r = await exec("nghttp", ["-v", `http://127.0.0.1:${port}/n`]);
    assert.match(r.stdout, /recv \(stream_id=13\) :status: 503/);
    assert.match(r.stdout, /recv DATA frame <length=\d+, flags=0x01, stream_id=13>/);
  });

  test("a connection that is not HTTP/2 after the preface gets GOAWAY PROTOCOL_ERROR and is closed", async () => {
    const before = h2a.accepted + h2b.accepted + h1.accepted;
    const since = router.access.length;
    const c = await RawClient.connect(port);
    // The preface, then a WINDOW_UPDATE where the client's SETTINGS must come.
    c.socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x08\x00\x00\x00\x00\x00junk");
    await c.until(() => c.ended || c.closed, "the router to close");
    // The server's SETTINGS first, then (after a WINDOW_UPDATE) GOAWAY with the reason.
    const got = c.bytes;
    assert.equal(got[3], 0x4, "SETTINGS first");
    let at = 0;
    let goaway: Buffer | null = null;
    while (at + 9 <= got.length) {
      const length = got.readUIntBE(at, 3);
      if (got[at + 3] === 0x7) goaway = got.subarray(at + 9, at + 9 + length);
      at += 9 + length;
    }
    assert.ok(goaway !== null, "a GOAWAY frame");
    assert.equal(goaway.readUInt32BE(0), 0, "last stream 0");
    assert.equal(goaway.readUInt32BE(4), 1, "PROTOCOL_ERROR");
    assert.match(goaway.subarray(8).toString(), /WINDOW_UPDATE before the client's SETTINGS/);
    const rec = await router.waitForAccess(
      (x) => x.outcome === "malformed",
      "the refusal log",
      since,
    );
    assert.match(rec.reason as string, /WINDOW_UPDATE before the client's SETTINGS/);
    assert.equal(rec.proto, "h2");
    assert.equal(h2a.accepted + h2b.accepted + h1.accepted, before);
    c.destroy();
  });
});
