/**
 * TLS termination on the SNI port (`terminate:`), re-encryption to TLS backends, and the
 * domain-fronting guard, with curl as the client and real TLS/HTTP backends.
 */

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import { after, before, describe, test } from "node:test";
import { namedTlsServer, type TestServer } from "../helpers/backends.ts";
import { selfSigned, type TestCert } from "../helpers/certs.ts";
import { curlTls, exec } from "../helpers/clients.ts";
import { routerCommand, type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

/** A plain HTTP backend that reports the headers the router added. */
async function echoHeaders(): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    res.end(JSON.stringify({
      host: req.headers.host,
      xfp: req.headers["x-forwarded-proto"],
      xff: req.headers["x-forwarded-for"],
    }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as net.AddressInfo).port };
}

describe(`tls termination (router on ${runtimeName})`, () => {
  let routerCert: TestCert;
  let wildCert: TestCert;
  let passCert: TestCert;
  let backendCert: TestCert;
  let otherCa: TestCert;
  let plain: { server: http.Server; port: number };
  let pass: TestServer;
  let reenc: TestServer & { seen: { servername: unknown }[] };
  let router: RouterProcess;
  let port: number;

  before(async () => {
    routerCert = selfSigned(["secure.test", "other.test"]);
    wildCert = selfSigned(["*.wild.test"]);
    passCert = selfSigned(["pass.test"]);
    backendCert = selfSigned(["reenc.test", "badca.test"]);
    otherCa = selfSigned(["unrelated.test"]);
    plain = await echoHeaders();
    pass = await namedTlsServer("passthrough-backend", passCert);
    reenc = await namedTlsServer("reencrypted-backend", backendCert);
    router = await startRouter(`
certificates:
  - { cert: ${routerCert.certFile}, key: ${routerCert.keyFile} }
  - { cert: ${wildCert.certFile}, key: ${wildCert.keyFile} }
listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    forwarded: [x-forwarded-for, x-forwarded-proto]
    routes:
      - { host: reenc.test, tls: true, to: reenc }
      - { host: badca.test, tls: true, to: badca }
    default: plain
  secure:
    bind: "127.0.0.1:0"
    protocol: tls
    routes:
      - { sni: pass.test, to: "127.0.0.1:${pass.port}" }
    terminate: web
backends:
  plain: { servers: ["127.0.0.1:${plain.port}"] }
  reenc:
    servers: ["127.0.0.1:${reenc.port}"]
    tls: { sni: host, ca: ${backendCert.certFile}, verify: true }
  badca:
    servers: ["127.0.0.1:${reenc.port}"]
    tls: { sni: host, ca: ${otherCa.certFile}, verify: true }
`);
    port = router.port("secure");
  });

  after(async () => {
    await router?.stop();
    await pass?.close();
    await reenc?.close();
    plain?.server.close();
  });

  test("a terminated name reaches the plain-HTTP backend with X-Forwarded-Proto https", async () => {
    const r = await curlTls("secure.test", port, routerCert.certFile);
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.stdout);
    assert.equal(seen.xfp, "https");
    assert.equal(seen.xff, "127.0.0.1");
    await router.waitForAccess(
      (x) => x.outcome === "terminated" && x.sni === "secure.test",
      "terminate log",
    );
    await router.waitForAccess(
      (x) => x.listener === "web" && x.host === "secure.test" && x.status === 200,
      "request log",
    );
  });

  test("a passthrough name on the same port is never decrypted: curl sees the backend's certificate", async () => {
    const r = await curlTls("pass.test", port, passCert.certFile);
    assert.equal(r.stdout, "passthrough-backend\n", r.stderr);
    // The router's certificate would not verify against the backend's CA.
    const wrong = await curlTls("pass.test", port, routerCert.certFile);
    assert.notEqual(wrong.code, 0);
  });

  test("a wildcard certificate is chosen by SNI", async () => {
    const r = await curlTls("a.wild.test", port, wildCert.certFile);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).host, `a.wild.test:${port}`);
  });

  test("HTTP/1.1: a Host different from the SNI gets 421 Misdirected Request", async () => {
    const r = await curlTls("secure.test", port, routerCert.certFile, [
      "--http1.1",
      "-H",
      "Host: other.test",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
    ]);
    assert.equal(r.stdout, "421");
  });

  test("HTTP/2: a name the certificate covers is served on the connection, another gets 421", async () => {
    const covered = await curlTls("secure.test", port, routerCert.certFile, [
      "--http2",
      "-H",
      "Host: other.test",
      "-o",
      "/dev/null",
      "-w",
      "%{http_version} %{http_code}",
    ]);
    assert.notEqual(covered.stdout, "2 421", covered.stderr);
    assert.match(covered.stdout, /^2 /);
    const foreign = await curlTls("secure.test", port, routerCert.certFile, [
      "--http2",
      "-H",
      "Host: third.test",
      "-o",
      "/dev/null",
      "-w",
      "%{http_version} %{http_code}",
    ]);
    assert.equal(foreign.stdout, "2 421", foreign.stderr);
  });

  test("a tls: true route re-encrypts to the TLS backend with the Host as SNI", async () => {
    reenc.seen.length = 0;
    // The router has no certificate for reenc.test and terminates with its first one (-k).
    const direct = await exec("curl", [
      "-sS",
      "--max-time",
      "10",
      "--resolve",
      `reenc.test:${port}:127.0.0.1`,
      "-k",
      `https://reenc.test:${port}/`,
    ]);
    assert.equal(direct.stdout, "reencrypted-backend\n", direct.stderr);
    assert.equal(reenc.seen.at(-1)?.servername, "reenc.test");
  });

  test("a backend certificate that does not verify is a 502 with the reason logged", async () => {
    const r = await exec("curl", [
      "-sS",
      "--max-time",
      "10",
      "--resolve",
      `badca.test:${port}:127.0.0.1`,
      "-k",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `https://badca.test:${port}/`,
    ]);
    assert.equal(r.stdout, "502");
    const rec = await router.waitForAccess(
      (x) => x.host === "badca.test" && x.status === 502,
      "502 log",
    );
    assert.match(String(rec.reason), /TLS to backend/);
  });

  test("check: a key that does not belong to its certificate is a config error", async () => {
    const file = `${routerCert.certFile}.bad.yaml`;
    writeFileSync(
      file,
      `certificates:\n  - { cert: ${routerCert.certFile}, key: ${otherCa.keyFile} }\nlisteners:\n  t: { bind: "127.0.0.1:0", protocol: tcp, default: "127.0.0.1:9" }\n`,
    );
    const [cmd, args] = routerCommand(["check", "-c", file]);
    const r = await exec(cmd, args);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /does not belong to certificate/);
  });
});
