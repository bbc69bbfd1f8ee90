/**
 * `protocol: auto` (one port, several protocols, like sslh): TLS, HTTP/1, SSH (banner or
 * silence) and unknown bytes each reach their own backend.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { bannerServer, namedSink, namedTlsServer, type TestServer } from "../helpers/backends.ts";
import { selfSigned, type TestCert } from "../helpers/certs.ts";
import { curlTls, exec, RawClient } from "../helpers/clients.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

describe(`auto listener (router on ${runtimeName})`, () => {
  let cert: TestCert;
  let tls: TestServer;
  let web: TestServer;
  let ssh: TestServer;
  let other: TestServer;
  let router: RouterProcess;
  let port: number;

  before(async () => {
    cert = selfSigned(["a.test"]);
    tls = await namedTlsServer("tls-backend", cert);
    // The web backend answers any request with one fixed response, then reports what it got.
    web = await namedSink("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nweb");
    // Banner, then close: a real ssh client gives up at once instead of waiting for a key
    // exchange that will never come.
    ssh = await bannerServer("SSH-2.0-TestServer\r\n");
    other = await namedSink("other");
    router = await startRouter(`
listeners:
  mux:
    bind: "127.0.0.1:0"
    protocol: auto
    ssh_wait: 300ms
    inspect_timeout: 2s
    routes:
      - { protocol: ssh, to: "127.0.0.1:${ssh.port}" }
      - { protocol: tls, sni: a.test, to: "127.0.0.1:${tls.port}" }
      - { protocol: http, host: web.test, to: "127.0.0.1:${web.port}" }
      - { protocol: unknown, to: "127.0.0.1:${other.port}" }
`);
    port = router.port("mux");
  });

  after(async () => {
    await router?.stop();
    for (const s of [tls, web, ssh, other]) await s?.close();
  });

  test("a TLS client reaches the TLS backend (routed by SNI, never decrypted)", async () => {
    const r = await curlTls("a.test", port, cert.certFile);
    assert.equal(r.stdout, "tls-backend\n", r.stderr);
    await router.waitForAccess((x) => x.protocol === "tls" && x.sni === "a.test", "tls log");
  });

  test("an HTTP client reaches the web backend by Host", async () => {
    const r = await exec("curl", [
      "-sS",
      "--max-time",
      "5",
      "-H",
      "Host: web.test",
      `http://127.0.0.1:${port}/`,
    ]);
    assert.equal(r.stdout, "web\n", r.stderr);
    await router.waitForAccess((x) => x.protocol === "http" && x.host === "web.test", "http log");
  });

  test("an SSH client banner reaches the ssh backend", async () => {
    const c = await RawClient.connect(port);
    await c.write("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    await c.until(() => c.text.startsWith("SSH-2.0-TestServer"), "the server banner");
    c.destroy();
    await router.waitForAccess((x) => x.protocol === "ssh", "ssh log");
  });

  test("a silent client counts as ssh after ssh_wait, and gets the server's banner", async () => {
    const t0 = Date.now();
    const c = await RawClient.connect(port);
    await c.until(() => c.text.startsWith("SSH-2.0-TestServer"), "the server banner");
    assert.ok(Date.now() - t0 >= 250, "answered before ssh_wait");
    c.destroy();
  });

  test("the real ssh client is routed to the ssh backend", async () => {
    // ssh speaks first here; the backend's fake banner then makes it fail, which is fine:
    // the point is where its first bytes went.
    const before = ssh.accepted;
    await exec("ssh", [
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "ConnectTimeout=5",
      "-p",
      String(port),
      "test@127.0.0.1",
      "true",
    ], 15_000);
    assert.equal(ssh.accepted, before + 1);
  });

  test("bytes no sniffer knows go to the unknown route", async () => {
    const c = await RawClient.connect(port);
    await c.write("\x00\x01hello\n");
    await c.until(() => c.text.startsWith("other"), "the other backend");
    c.destroy();
    await router.waitForAccess((x) => x.protocol === "unknown", "unknown log");
  });

  test("an HTTP request no route takes gets 503", async () => {
    const r = await exec("curl", [
      "-sS",
      "--max-time",
      "5",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-H",
      "Host: nope.test",
      `http://127.0.0.1:${port}/`,
    ]);
    assert.equal(r.stdout, "503");
  });

  test("h2c that breaks HTTP/2 after the preface: SETTINGS, then GOAWAY with the reason", async () => {
    const c = await RawClient.connect(port);
    // The preface, then a WINDOW_UPDATE where the client's SETTINGS must come.
    c.socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x08\x00\x00\x00\x00\x00junk");
    await c.until(() => c.ended || c.closed, "the router to close");
    const got = c.bytes;
    assert.equal(got.subarray(0, 9).toString("hex"), "000000040000000000", "SETTINGS");
    assert.equal(got[12], 0x07, "GOAWAY");
    assert.equal(got.readUInt32BE(22), 1, "PROTOCOL_ERROR");
    assert.match(got.subarray(26).toString(), /first frame after the preface is WINDOW_UPDATE/);
    c.destroy();
  });

  test("an h2c request no route takes gets an HTTP/2 503", async () => {
    const r = await exec("curl", [
      "-sS",
      "--max-time",
      "5",
      "--http2-prior-knowledge",
      "-w",
      "%{http_code} %{http_version}",
      "-H",
      "Host: nope.test",
      `http://127.0.0.1:${port}/`,
    ]);
    assert.equal(r.stdout, "503 Service Unavailable: no route for this host\n503 2", r.stderr);
  });
});
