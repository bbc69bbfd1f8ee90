/**
 * `protocol: auto` (one port, several protocols, like sslh): TLS, HTTP/1, SSH (banner or
 * silence) and unknown bytes each reach their own backend; h2c goes to the HTTP/2 engine.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { bannerServer, namedSink, namedTlsServer, type TestServer } from "../helpers/backends.ts";
import { selfSigned, type TestCert } from "../helpers/certs.ts";
import { curlTls, exec, RawClient } from "../helpers/clients.ts";
import {
  describeFrame,
  goawayOf,
  incrementOf,
  join,
  parseFrames,
  ping,
  type ServerFrame,
  settings,
  settingsOf,
} from "../helpers/h2_frames.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";
import { ERROR, FLAG, FRAME, frameName, SETTING, sniffFrame } from "../../src/h2/frame.ts";

/** The whole frames at the start of `bytes` (a frame still arriving is left out). */
function parseWhole(bytes: Uint8Array): ServerFrame[] {
  const out: ServerFrame[] = [];
  for (let at = 0;;) {
    const r = sniffFrame(bytes.subarray(at), 0xffffff);
    if (r.kind !== "match") return out;
    out.push(r.value);
    at += r.length;
  }
}

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

  test("a HEAD request no route takes gets the 503 head without a body", async () => {
    const r = await exec("curl", [
      "-sS",
      "--max-time",
      "5",
      "-I",
      "-w",
      "%{http_code}",
      "-H",
      "Host: nope.test",
      `http://127.0.0.1:${port}/`,
    ]);
    assert.match(r.stdout, /^HTTP\/1\.1 503 Service Unavailable\r\n/, r.stderr);
    assert.match(r.stdout, /\r\n\r\n503$/, "the head, then the -w output");
    assert.match(r.stdout, /\r\ncontent-length: [1-9]\d*\r\n/i, "the length a GET would get");
    // curl does not read past a HEAD response's head: a raw client sees all the router sent.
    const c = await RawClient.connect(port);
    await c.write("HEAD / HTTP/1.1\r\nHost: nope.test\r\n\r\n");
    await c.until(() => c.ended || c.closed, "the router to close");
    assert.match(c.text, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.ok(c.text.endsWith("\r\n\r\n"), `nothing after the head: ${JSON.stringify(c.text)}`);
    c.destroy();
  });

  test("h2c is the engine's from the preface on, even one that comes in pieces: it answers a PING before any request", async () => {
    const c = await RawClient.connect(port);
    await c.write("PRI * HTTP/2.0\r\n");
    await new Promise((r) => setTimeout(r, 50));
    await c.write("\r\nSM\r\n\r\n");
    // Nothing but the preface yet: the engine already sent its SETTINGS.
    await c.until(() => c.bytes.length >= 9 && c.bytes[3] === FRAME.SETTINGS, "the SETTINGS");
    await c.write(join(settings(), ping([1, 2, 3, 4, 5, 6, 7, 8])));
    const pong = () =>
      parseWhole(c.bytes).find((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0);
    await c.until(() => pong() !== undefined, "the PING ACK");
    assert.deepEqual([...pong()!.payload], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.ok(!c.ended && !c.closed, "still open");
    c.destroy();
  });

  test("h2c that breaks HTTP/2 after the preface: the engine's SETTINGS and WINDOW_UPDATE, then GOAWAY PROTOCOL_ERROR with the reason", async () => {
    const since = router.access.length;
    const c = await RawClient.connect(port);
    // The preface, then a WINDOW_UPDATE where the client's SETTINGS must come.
    c.socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x08\x00\x00\x00\x00\x00junk");
    await c.until(() => c.ended || c.closed, "the router to close");
    const frames = parseFrames(c.bytes);
    assert.deepEqual(
      frames.map((f) => frameName(f.type)),
      ["SETTINGS", "WINDOW_UPDATE", "GOAWAY"],
      frames.map(describeFrame).join(", "),
    );
    // The HTTP/2 engine's own preface: SETTINGS with its limits, the connection window raised.
    const settings = settingsOf(frames[0]);
    assert.equal(frames[0].flags, 0, "not an ACK");
    assert.equal(settings.get(SETTING.ENABLE_PUSH), 0);
    assert.ok((settings.get(SETTING.MAX_CONCURRENT_STREAMS) ?? 0) > 0, "MAX_CONCURRENT_STREAMS");
    assert.equal(frames[1].stream, 0, "the connection's window");
    assert.ok(incrementOf(frames[1]) > 0);
    const goaway = goawayOf(frames[2]);
    assert.equal(goaway.lastStream, 0, "no stream processed");
    assert.equal(goaway.code, ERROR.PROTOCOL_ERROR);
    assert.match(goaway.debug, /WINDOW_UPDATE before the client's SETTINGS/);
    const rec = await router.waitForAccess(
      (x) => x.outcome === "malformed",
      "the refusal log",
      since,
    );
    assert.match(rec.reason as string, /WINDOW_UPDATE before the client's SETTINGS/);
    assert.equal(rec.proto, "h2");
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
