/**
 * TLS listeners end to end: the router runs as a subprocess under the test's runtime, real
 * clients (curl, openssl s_client, raw sockets replaying captured ClientHellos) connect, and
 * real TLS backends report which name reached them.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { namedSink, namedTlsServer, type TestServer } from "../helpers/backends.ts";
import { selfSigned, type TestCert } from "../helpers/certs.ts";
import { curlTls, exec, RawClient } from "../helpers/clients.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`../fixtures/clienthello/${name}`, import.meta.url)));

/** Splits one TLS record's handshake payload into records of at most `size` bytes. */
function reframe(hello: Uint8Array, size: number): Uint8Array {
  const body = hello.subarray(5, 5 + ((hello[3] << 8) | hello[4]));
  const parts: number[] = [];
  for (let o = 0; o < body.length; o += size) {
    const frag = body.subarray(o, o + size);
    parts.push(0x16, hello[1], hello[2], frag.length >> 8, frag.length & 255, ...frag);
  }
  return Uint8Array.from(parts);
}

/** A ClientHello for `sni` padded with an extension so that it is `pad` bytes larger. */
function bigHello(sni: string, pad: number): Uint8Array {
  const name = new TextEncoder().encode(sni);
  const ext = (
    type: number,
    data: number[],
  ) => [type >> 8, type & 255, data.length >> 8, data.length & 255, ...data];
  const sniData = [0, name.length + 3, 0, 0, name.length, ...name];
  const exts = [...ext(0, sniData), ...ext(0x15, new Array(pad).fill(0))];
  const body = [
    3,
    3,
    ...new Array(32).fill(7),
    0,
    0,
    2,
    0x13,
    0x01,
    1,
    0,
    exts.length >> 8,
    exts.length & 255,
    ...exts,
  ];
  const hs = [1, body.length >> 16, (body.length >> 8) & 255, body.length & 255, ...body];
  const out: number[] = [];
  for (let o = 0; o < hs.length; o += 16384) {
    const frag = hs.slice(o, o + 16384);
    out.push(0x16, 3, 1, frag.length >> 8, frag.length & 255, ...frag);
  }
  return Uint8Array.from(out);
}

describe(`tls listener routing (router on ${runtimeName})`, () => {
  let cert: TestCert;
  let a: TestServer & { seen: unknown[] };
  let wild: TestServer & { seen: unknown[] };
  let acme: TestServer & { seen: unknown[] };
  let fallback: TestServer & { seen: unknown[] };
  let raw: TestServer;
  let rawBytes: Uint8Array[] = [];
  let router: RouterProcess;
  let strict: RouterProcess;
  let port: number;

  before(async () => {
    cert = selfSigned(["a.test", "x.wild.test", "b.test", "other.test", "e.test", "f.test"]);
    a = await namedTlsServer("backend-a", cert);
    wild = await namedTlsServer("backend-wild", cert);
    acme = await namedTlsServer("backend-acme", cert, ["acme-tls/1"]);
    fallback = await namedTlsServer("backend-default", cert);
    raw = await namedSink("raw", (b) => rawBytes.push(b.slice()));
    router = await startRouter(`
defaults:
  inspect_timeout: 500ms
listeners:
  secure:
    bind: "127.0.0.1:0"
    protocol: tls
    routes:
      - { alpn: acme-tls/1, to: acme }
      - { sni: A.Test, to: a }
      - { sni: "*.wild.test", to: wild }
      - { sni: [e.test, f.test], to: raw }
    default: fallback
backends:
  a: { servers: ["127.0.0.1:${a.port}"] }
  wild: { servers: ["127.0.0.1:${wild.port}"] }
  acme: { servers: ["127.0.0.1:${acme.port}"] }
  fallback: { servers: ["127.0.0.1:${fallback.port}"] }
  raw: { servers: ["127.0.0.1:${raw.port}"] }
`);
    port = router.port("secure");
    strict = await startRouter(`
listeners:
  strict:
    bind: "127.0.0.1:0"
    protocol: tls
    routes:
      - { sni: a.test, to: "127.0.0.1:${a.port}" }
`);
  });

  after(async () => {
    await router?.stop();
    await strict?.stop();
    for (const s of [a, wild, acme, fallback, raw]) await s?.close();
  });

  test("curl reaches the backend of its SNI, matched case-insensitively", async () => {
    const since = router.access.length;
    const r = await curlTls("a.test", port, cert.certFile);
    assert.equal(r.stdout, "backend-a\n", r.stderr);
    // No outcome asserted: curl closes once it has the response, and when the backend's
    // close_notify is still on its way that close is a reset, truthfully logged client_error.
    // The next test, where the backend closes first, asserts "ok".
    const rec = await router.waitForAccess((x) => x.sni === "a.test", "the access log", since);
    assert.equal(rec.backend, "a");
    assert.equal(rec.listener, "secure");
    assert.ok((rec.bytes_in as number) > 0 && (rec.bytes_out as number) > 0);
  });

  test("a trailing dot in the SNI still matches; a complete exchange is logged ok", async () => {
    const since = router.access.length;
    const r = await exec(
      "openssl",
      [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-servername",
        "a.test.",
        "-CAfile",
        cert.certFile,
        "-verify_return_error",
        "-brief",
        "-ign_eof",
      ],
      10_000,
      "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
    );
    assert.match(r.stdout + r.stderr, /backend-a/);
    // -ign_eof: s_client reads until the backend closes, so the backend's FIN comes first.
    const rec = await router.waitForAccess((x) => x.backend === "a", "the access log", since);
    assert.equal(rec.outcome, "ok", JSON.stringify(rec));
  });

  test("a wildcard route matches names below it, not the bare domain", async () => {
    assert.equal((await curlTls("x.wild.test", port, cert.certFile)).stdout, "backend-wild\n");
    const r = await exec(
      "openssl",
      [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-servername",
        "wild.test",
        "-brief",
        "-ign_eof",
      ],
      10_000,
      "GET / HTTP/1.1\r\n\r\n",
    );
    assert.match(r.stdout + r.stderr, /backend-default/);
  });

  test("ALPN routes: an acme-tls/1 hello goes to the acme backend", async () => {
    const r = await exec(
      "openssl",
      [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-servername",
        "a.test",
        "-alpn",
        "acme-tls/1",
        "-brief",
        "-ign_eof",
      ],
      10_000,
      "GET / HTTP/1.1\r\n\r\n",
    );
    assert.match(r.stdout + r.stderr, /backend-acme/);
  });

  test("an unknown name goes to the default backend", async () => {
    assert.equal((await curlTls("other.test", port, cert.certFile)).stdout, "backend-default\n");
  });

  test("no route and no default: the client gets an unrecognized_name alert", async () => {
    const c = await RawClient.connect(strict.port("strict"));
    await c.write(fixture("openssl-s_client.bin")); // SNI b.test
    await c.until(() => c.ended || c.closed, "close");
    assert.deepEqual([...Buffer.concat(c.received)], [21, 3, 1, 0, 2, 2, 112]);
    await strict.waitForAccess(
      (x) => x.outcome === "no_route" && x.sni === "b.test",
      "no_route log",
    );
  });

  for (
    const [label, bytes] of [
      ["one byte per write", () => fixture("bun.bin")],
      ["re-framed into two TLS records", () => reframe(fixture("chromium.bin"), 1000)],
      ["re-framed into many small records", () => reframe(fixture("bun.bin"), 100)],
      ["over 5 KiB", () => bigHello("e.test", 6000)],
      ["of about 40 KiB over three records", () => bigHello("f.test", 40_000)],
    ] as const
  ) {
    test(`a ClientHello ${label} is routed and reaches the backend byte for byte`, async () => {
      rawBytes = [];
      const hello = bytes();
      const c = await RawClient.connect(port);
      if (label === "one byte per write") {
        for (const b of hello) await c.write(Uint8Array.of(b));
      } else await c.write(hello);
      await c.until(() => c.text.startsWith("raw\n"), "the raw backend's greeting");
      c.end();
      await c.until(() => c.ended, "the backend's report");
      const [, report] = c.text.split("\n");
      assert.equal(Number(report.split(" ")[0]), hello.length);
      assert.deepEqual(Buffer.concat(rawBytes), Buffer.from(hello));
      c.destroy();
    });
  }

  test("bytes that are not TLS are refused at once and logged", async () => {
    const before = raw.accepted + fallback.accepted;
    const c = await RawClient.connect(port);
    await c.write("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    await c.until(() => c.ended || c.closed, "close");
    assert.equal(c.text, "");
    await router.waitForAccess((x) => x.outcome === "not_tls", "not_tls log");
    assert.equal(raw.accepted + fallback.accepted, before);
  });

  test("a malformed ClientHello is refused with the field named in the log", async () => {
    const hello = fixture("curl-openssl3.bin").slice();
    hello[5] = 2; // handshake type server_hello
    const c = await RawClient.connect(port);
    await c.write(hello);
    await c.until(() => c.ended || c.closed, "close");
    const rec = await router.waitForAccess((x) => x.outcome === "malformed", "malformed log");
    assert.match(String(rec.reason), /type/);
  });

  test("a silent client is closed after inspect_timeout", async () => {
    const t0 = Date.now();
    const c = await RawClient.connect(port);
    await c.until(() => c.ended || c.closed, "close by the router", 5000);
    const waited = Date.now() - t0;
    assert.ok(waited >= 450, `closed after ${waited} ms`);
    await router.waitForAccess((x) => x.outcome === "inspect_timeout", "inspect_timeout log");
  });
});
