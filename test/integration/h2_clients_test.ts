/**
 * The HTTP/2 client helpers (test/helpers/h2_clients.ts) against a real HTTP/2 server, nginx,
 * so that what they parse is real tool output before they judge the router: TLS with ALPN h2,
 * h2c with prior knowledge, and a TLS server without h2 (what a client meets where HTTP/2 is
 * off). Skipped when nginx (with its HTTP/2 module) is missing.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { selfSigned, type TestCert } from "../helpers/certs.ts";
import { freePort, tryConnect } from "../helpers/clients.ts";
import { chromiumNextHop, curlH2, h2load, h2Requests, nghttpGet } from "../helpers/h2_clients.ts";
import { runtimeName } from "../helpers/runtime.ts";

const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => existsSync(p)) ?? null;

/** What `nginx ARG` prints: nginx writes -v and -V to stderr. */
function nginxSays(arg: string): string {
  return spawnSync(NGINX!, [arg], { encoding: "utf8" }).stderr ?? "";
}

/** Why these tests cannot run here, or null. */
function unavailable(): string | null {
  if (NGINX === null) return "nginx is not installed (apt-get install nginx)";
  return nginxSays("-V").includes("--with-http_v2_module")
    ? null
    : "nginx is built without http_v2_module";
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe(`HTTP/2 client helpers against nginx (tests on ${runtimeName})`, () => {
  const skip = unavailable();
  let dir: string;
  let cert: TestCert;
  let otherCert: TestCert;
  let nginx: ChildProcess;
  let exited: Promise<void>;
  /** TLS with ALPN h2; TLS with http/1.1 only; h2c with prior knowledge; h2c, 2 streams at once. */
  let tlsPort: number;
  let h1Port: number;
  let h2cPort: number;
  let limitPort: number;
  const blob = randomBytes(300_000);

  before(async () => {
    if (skip !== null) {
      // deno test reports a node:test skip as "ok": say it too.
      console.log(`skipped: HTTP/2 client helper tests: ${skip}`);
      return;
    }
    dir = mkdtempSync(join(tmpdir(), "switchyard-nginx-h2-"));
    // Run as root, nginx's workers are "nobody": they must reach the files and write to dav/.
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, "www/dav"), { recursive: true });
    chmodSync(join(dir, "www"), 0o755);
    chmodSync(join(dir, "www/dav"), 0o777);
    writeFileSync(join(dir, "www/dav/blob.bin"), blob, { mode: 0o644 });
    cert = selfSigned(["a.test", "b.test"]);
    otherCert = selfSigned(["a.test"]);
    [tlsPort, h1Port, h2cPort, limitPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const [major, minor, patch] =
      (/nginx\/(\d+)\.(\d+)\.(\d+)/.exec(nginxSays("-v")) ?? [0, 0, 0, 0])
        .slice(1).map(Number);
    // `listen ... http2` gave way to the `http2` directive in 1.25.1.
    const directive = major * 1e6 + minor * 1e3 + patch >= 1_025_001;
    const h2 = (listen: string) =>
      directive ? `listen ${listen};\n    http2 on;` : `listen ${listen} http2;`;
    // $connection in every body: the tests can tell one connection from several.
    const answer = '"conn=$connection host=$host sni=$ssl_server_name uri=$request_uri\\n"';
    writeFileSync(
      join(dir, "nginx.conf"),
      `worker_processes 1;
events { worker_connections 256; }
http {
  access_log off;
  default_type text/plain;
  client_max_body_size 16m;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  ssl_certificate ${cert.certFile};
  ssl_certificate_key ${cert.keyFile};
  # nginx before 1.23.4 leaves TLS 1.3 out by default.
  ssl_protocols TLSv1.2 TLSv1.3;

  server {
    ${h2(`127.0.0.1:${tlsPort} ssl`)}
    location / {
      add_trailer x-trailer "t-$uri";
      return 200 ${answer};
    }
    location = /no-newline { return 200 "no newline"; }
    location = /reset { return 444; } # HTTP/2: RST_STREAM
    location /dav/ {
      root ${dir}/www;
      dav_methods PUT;
    }
  }
  server {
    listen 127.0.0.1:${h1Port} ssl;
    location / { return 200 "http/1.1 only\\n"; }
  }
  server {
    ${h2(`127.0.0.1:${h2cPort}`)}
    location / {
      add_trailer x-trailer "t-$uri";
      return 200 ${answer};
    }
  }
  server {
    ${h2(`127.0.0.1:${limitPort}`)}
    # Two at a time: a client must queue the rest (SETTINGS_MAX_CONCURRENT_STREAMS).
    http2_max_concurrent_streams 2;
    location / { return 200 ${answer}; }
  }
}
`,
    );
    nginx = spawn(NGINX!, [
      "-p",
      dir,
      "-c",
      join(dir, "nginx.conf"),
      "-e",
      join(dir, "error.log"),
      "-g",
      `daemon off; pid ${dir}/nginx.pid;`,
    ], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    for (const s of [nginx.stdout!, nginx.stderr!]) s.on("data", (c) => (output += c));
    exited = new Promise((resolve) => nginx.on("exit", () => resolve()));
    const deadline = Date.now() + 5_000;
    for (const port of [tlsPort, h1Port, h2cPort, limitPort]) {
      while (await tryConnect(port) === "refused") {
        if (nginx.exitCode !== null || Date.now() > deadline) {
          throw new Error(`nginx did not listen on ${port}:\n${output}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });

  after(async () => {
    if (skip !== null) return;
    // SIGTERM: nginx stops its worker itself.
    if (nginx !== undefined && nginx.exitCode === null) nginx.kill("SIGTERM");
    await exited;
    // Also after a failed start: what was made so far.
    const dirs = [dir, ...[cert, otherCert].map((c) => c && join(c.certFile, ".."))];
    for (const d of dirs) if (d) rmSync(d, { recursive: true, force: true });
  });

  test("curlH2: TLS with ALPN h2, --resolve and --cacert", async (t) => {
    if (skip !== null) return t.skip(skip);
    const r = await curlH2(`https://b.test:${tlsPort}/x?y=1`, {
      resolve: `b.test:${tlsPort}:127.0.0.1`,
      cacert: cert.certFile,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.httpVersion, "2");
    assert.equal(r.status, 200);
    assert.match(r.body, /^conn=\d+ host=b\.test sni=b\.test uri=\/x\?y=1\n$/);
    assert.deepEqual(r.headers["content-type"], ["text/plain"]);
    assert.equal(r.stderr, "");
  });

  test("curlH2: h2c with prior knowledge; http/1.1 where the server has no h2; a refused port", async (t) => {
    if (skip !== null) return t.skip(skip);
    const h2c = await curlH2(`http://127.0.0.1:${h2cPort}/c`, { priorKnowledge: true });
    assert.equal(h2c.httpVersion, "2", h2c.stderr);
    assert.match(h2c.body, /host=127\.0\.0\.1 sni= uri=\/c\n$/);
    const h1 = await curlH2(`https://a.test:${h1Port}/`, {
      resolve: `a.test:${h1Port}:127.0.0.1`,
      insecure: true,
    });
    assert.equal(h1.httpVersion, "1.1", h1.stderr);
    assert.equal(h1.body, "http/1.1 only\n");
    const dead = await freePort();
    const refused = await curlH2(`https://a.test:${dead}/`, {
      resolve: `a.test:${dead}:127.0.0.1`,
      insecure: true,
    });
    assert.equal(refused.code, 7);
    assert.equal(refused.status, 0);
    assert.equal(refused.httpVersion, "0");
    assert.match(refused.stderr, /^curl: \(7\) Failed to connect/);
  });

  test("nghttpGet: several streams on one TLS connection, each with its status, body, trailers or reset", async (t) => {
    if (skip !== null) return t.skip(skip);
    const base = `https://127.0.0.1:${tlsPort}`;
    const urls = ["/one", "/no-newline", "/dav/blob.bin", "/reset", "/dav/missing", "/two?q=1"]
      .map((p) => base + p);
    const r = await nghttpGet(urls, { authority: `a.test:${tlsPort}` });
    assert.deepEqual(r.negotiated, ["h2"]);
    assert.deepEqual(r.errors, [], r.stdout.slice(0, 4000));
    const [one, noNewline, download, reset, missing, two] = r.responses;
    assert.deepEqual(r.responses.map((x) => x.url), urls);
    assert.deepEqual(new Set(r.responses.map((x) => x.connection)), new Set([0]));
    assert.equal(new Set(r.responses.map((x) => x.streamId)).size, urls.length);
    assert.equal(one.status, 200);
    const conn = /^conn=(\d+) host=a\.test sni=a\.test uri=\/one\n$/.exec(one.body.toString());
    assert.ok(conn, one.body.toString());
    assert.equal(two.body.toString(), `conn=${conn[1]} host=a.test sni=a.test uri=/two?q=1\n`);
    assert.deepEqual(one.trailers, { "x-trailer": ["t-/one"] });
    assert.deepEqual(one.headers["content-type"], ["text/plain"]);
    assert.equal(noNewline.body.toString(), "no newline");
    // 300 kB over a 64 KiB window: nghttp logs WINDOW_UPDATEs between pieces of DATA frames.
    assert.equal(download.status, 200);
    assert.equal(download.body.length, blob.length);
    assert.equal(sha256(download.body), sha256(blob));
    assert.equal(reset.status, null);
    assert.match(reset.error!, /^RST_STREAM /);
    assert.equal(missing.status, 404);
    assert.equal(missing.error, null);
  });

  test("nghttpGet: h2c with prior knowledge; a peer that is not HTTP/2", async (t) => {
    if (skip !== null) return t.skip(skip);
    const urls = [1, 2, 3, 4, 5].map((i) => `http://127.0.0.1:${h2cPort}/s${i}`);
    const r = await nghttpGet(urls);
    assert.deepEqual(r.negotiated, []);
    assert.deepEqual(r.responses.map((x) => x.status), [200, 200, 200, 200, 200], r.stdout);
    const conns = r.responses.map((x) => /^conn=(\d+) /.exec(x.body.toString())?.[1]);
    assert.equal(new Set(conns).size, 1, `one connection: ${conns}`);
    // h2c to the TLS port: nghttp gives up, with no response on the stream it sent.
    const bad = await nghttpGet([`http://127.0.0.1:${tlsPort}/`]);
    assert.equal(bad.responses[0].error, "no response");
    assert.match(bad.errors.join("\n"), /\[ERROR\] .*HTTP\/2/);
  });

  test("h2load: 10 connections × 10 streams over TLS 1.3 and h2c; http/1.1 where the server has no h2", async (t) => {
    if (skip !== null) return t.skip(skip);
    const tls = await h2load(`https://a.test:${tlsPort}/`, {
      clients: 10,
      streams: 10,
      requests: 1000,
      connectTo: `127.0.0.1:${tlsPort}`,
    });
    assert.equal(tls.succeeded, 1000, tls.stdout);
    assert.equal(tls.failed + tls.errored + tls.timeout, 0);
    assert.deepEqual(tls.statusCounts, { "2xx": 1000, "3xx": 0, "4xx": 0, "5xx": 0 });
    assert.equal(tls.protocol, "h2");
    assert.equal(tls.tlsProtocol, "TLSv1.3");
    assert.ok(tls.reqPerSec > 0);
    const h2c = await h2load(`http://127.0.0.1:${h2cPort}/`, {
      clients: 2,
      streams: 10,
      requests: 200,
      h2c: true,
    });
    assert.equal(h2c.succeeded, 200, h2c.stdout);
    assert.equal(h2c.protocol, "h2c");
    assert.equal(h2c.tlsProtocol, null);
    const h1 = await h2load(`https://127.0.0.1:${h1Port}/`, {
      clients: 1,
      streams: 1,
      requests: 5,
    });
    assert.equal(h1.protocol, "http/1.1");
    assert.equal(h1.succeeded, 5);
    const dead = await h2load(`https://127.0.0.1:${await freePort()}/`, {
      clients: 1,
      streams: 1,
      requests: 3,
    });
    assert.equal(dead.errored, 3);
    assert.equal(dead.protocol, null);
  });

  test("h2Requests: one TLS session, a different :authority per stream, bodies both ways, trailers, a reset", async (t) => {
    if (skip !== null) return t.skip(skip);
    const url = `https://127.0.0.1:${tlsPort}`;
    const opts = { ca: cert.cert, servername: "a.test" };
    const upload = randomBytes(200_000);
    const first = await h2Requests(url, [
      { authority: "a.test", path: "/a" },
      { authority: `b.test:${tlsPort}`, path: "/b", headers: { "x-extra": "1" } },
      { authority: "c.test", path: "/dav/up.bin", method: "PUT", body: upload },
      { authority: "a.test", path: "/reset" },
    ], opts);
    const [a, b, put, reset] = first;
    assert.equal(a.status, 200, a.error ?? "");
    const conn = /^conn=(\d+) host=a\.test sni=a\.test uri=\/a\n$/.exec(a.body.toString());
    assert.ok(conn, a.body.toString());
    assert.equal(b.body.toString(), `conn=${conn[1]} host=b.test sni=a.test uri=/b\n`);
    assert.equal(a.trailers["x-trailer"], "t-/a");
    assert.equal(a.headers["content-type"], "text/plain");
    assert.equal(put.status, 201, put.error ?? "");
    assert.equal(reset.status, 0);
    assert.match(reset.error!, /PROTOCOL_ERROR/);
    const [back] = await h2Requests(url, [{ authority: "a.test", path: "/dav/up.bin" }], opts);
    assert.equal(sha256(back.body), sha256(upload));
  });

  test("h2Requests: h2c, 20 streams where the server allows 2 at a time", async (t) => {
    if (skip !== null) return t.skip(skip);
    const rs = await h2Requests(
      `http://127.0.0.1:${limitPort}`,
      Array.from({ length: 20 }, (_, i) => ({ authority: `h${i}.test`, path: `/${i}` })),
    );
    assert.deepEqual(rs.map((r) => r.error), Array(20).fill(null));
    const bodies = rs.map((r) => r.body.toString().replace(/^conn=\d+ /, ""));
    assert.deepEqual(bodies, rs.map((_, i) => `host=h${i}.test sni= uri=/${i}\n`));
    assert.equal(new Set(rs.map((r) => /^conn=(\d+)/.exec(r.body.toString())![1])).size, 1);
  });

  test("h2Requests rejects: no ALPN h2, an untrusted certificate, a refused port", async (t) => {
    if (skip !== null) return t.skip(skip);
    const req = [{ authority: "a.test", path: "/" }];
    await assert.rejects(
      h2Requests(`https://127.0.0.1:${h1Port}`, req, { ca: cert.cert, servername: "a.test" }),
      /NO_APPLICATION_PROTOCOL|NoApplicationProtocol/i,
    );
    await assert.rejects(
      h2Requests(`https://127.0.0.1:${tlsPort}`, req, { ca: otherCert.cert, servername: "a.test" }),
      /self[- ]signed/,
    );
    await assert.rejects(h2Requests(`https://127.0.0.1:${await freePort()}`, req), /ECONNREFUSED/);
  });

  // About 1.5 s of CPU per Chromium run: three take ~5 s on 2 cores, bun test's default limit.
  const chromiumTimeout = { timeout: 30_000 };
  test(
    "chromiumNextHop: h2 with ALPN, http/1.1 without, a certificate with another key fails",
    chromiumTimeout,
    async (t) => {
      if (skip !== null) return t.skip(skip);
      const rules = "MAP a.test 127.0.0.1";
      const [h2, h1, wrong] = await Promise.all([
        chromiumNextHop(`https://a.test:${tlsPort}/`, {
          hostResolverRules: rules,
          caFile: cert.certFile,
        }),
        chromiumNextHop(`https://a.test:${h1Port}/`, { hostResolverRules: rules }),
        chromiumNextHop(`https://a.test:${tlsPort}/`, {
          hostResolverRules: rules,
          caFile: otherCert.certFile,
        }),
      ]);
      if (h2.reason?.startsWith("no chromium")) {
        console.log(`skipped: chromiumNextHop: ${h2.reason}`);
        return t.skip(h2.reason);
      }
      assert.deepEqual([h2.protocol, h2.reason], ["h2", null]);
      assert.deepEqual([h1.protocol, h1.reason], ["http/1.1", null]);
      assert.equal(wrong.protocol, null);
      assert.match(wrong.reason!, /net::ERR_CERT_/);
    },
  );
});
