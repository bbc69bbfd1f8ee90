/**
 * Certificates renewed on disk while the router runs, with no SIGHUP: the files are certbot-style
 * symlinks swapped to a new pair; the next `openssl s_client` connection gets the new certificate
 * (by fingerprint) while a connection opened before keeps working; a pair whose key does not
 * match is logged and the old one keeps serving; /metrics and /status show the expiry.
 */

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";
import { adminPort, events, scrape, status } from "../helpers/admin.ts";
import { curlTls, exec } from "../helpers/clients.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";
import { makePair } from "../helpers/certs.ts";

/** The router looks at certificate files every 5 s; a change shows within this. */
const RELOAD_WAIT_MS = 20_000;

/** Replaces `link` by a symlink to `target` in one rename, as certbot does. */
function swapLink(link: string, target: string): void {
  symlinkSync(target, `${link}.new`);
  renameSync(`${link}.new`, link);
}

function fingerprint(pemFile: string): string {
  return new X509Certificate(readFileSync(pemFile)).fingerprint256;
}

/** The fingerprint of the certificate a new `openssl s_client` connection is served. */
async function servedFingerprint(port: number, name: string): Promise<string> {
  const r = await exec(
    "openssl",
    ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", name],
    10_000,
    "",
  );
  const pem = /-----BEGIN CERTIFICATE-----[^]*?-----END CERTIFICATE-----/.exec(r.stdout);
  assert.ok(pem !== null, `s_client printed the certificate:\n${r.stdout}\n${r.stderr}`);
  return new X509Certificate(pem[0]).fingerprint256;
}

/** A keep-alive HTTPS client on one TLS connection, sending requests one at a time. */
class LiveConnection {
  readonly socket: tls.TLSSocket;
  #data = "";
  #wake: (() => void) | null = null;
  closed = false;

  constructor(port: number, name: string, ca: string) {
    this.socket = tls.connect({ host: "127.0.0.1", port, servername: name, ca });
    this.socket.setEncoding("utf8");
    this.socket.on("data", (s: string) => {
      this.#data += s;
      this.#wake?.();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.#wake?.();
    });
    this.socket.on("error", () => {});
  }

  /** GET / and the body of its answer (the backend answers with a short, known length). */
  async get(host: string): Promise<string> {
    this.#data = "";
    this.socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    for (;;) {
      const m = /\r\n\r\n(ok \d+\n)$/.exec(this.#data);
      if (m !== null) return m[1];
      if (this.closed) throw new Error(`connection closed; got ${JSON.stringify(this.#data)}`);
      await new Promise<void>((r) => (this.#wake = r));
    }
  }
}

describe(`certificate files renewed on disk (router on ${runtimeName})`, () => {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-renew-"));
  const archive = (f: string) => join(dir, "archive", f);
  const live = { cert: join(dir, "live/fullchain.pem"), key: join(dir, "live/privkey.pem") };
  let backend: http.Server;
  let router: RouterProcess;
  let port: number;
  let admin: number;
  let requests = 0;

  before(async () => {
    mkdirSync(join(dir, "archive"));
    mkdirSync(join(dir, "live"));
    makePair(archive("fullchain1.pem"), archive("privkey1.pem"), ["renew.test"], 2);
    makePair(archive("fullchain2.pem"), archive("privkey2.pem"), ["renew.test"], 30);
    makePair(archive("fullchain3.pem"), archive("privkey3.pem"), ["renew.test"], 60);
    symlinkSync("../archive/fullchain1.pem", live.cert);
    symlinkSync("../archive/privkey1.pem", live.key);
    backend = http.createServer((_req, res) => res.end(`ok ${++requests}\n`));
    await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
    const backendPort = (backend.address() as net.AddressInfo).port;
    router = await startRouter(`
admin: { listen: "127.0.0.1:0" }
certificates:
  - { cert: ${live.cert}, key: ${live.key} }
listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    default: app
  secure:
    bind: "127.0.0.1:0"
    protocol: tls
    terminate: web
backends:
  app: { servers: ["127.0.0.1:${backendPort}"] }
`);
    port = router.port("secure");
    admin = adminPort(router);
  });

  after(async () => {
    assert.equal(await router?.stop(), 0);
    backend?.close();
  });

  test("a new connection gets the renewed certificate with no SIGHUP; a live one keeps going", async () => {
    assert.equal(
      await servedFingerprint(port, "renew.test"),
      fingerprint(archive("fullchain1.pem")),
    );
    const conn = new LiveConnection(
      port,
      "renew.test",
      readFileSync(archive("fullchain1.pem"), "utf8"),
    );
    assert.match(await conn.get("renew.test"), /^ok \d+\n$/);

    swapLink(live.cert, "../archive/fullchain2.pem");
    swapLink(live.key, "../archive/privkey2.pem");
    const ev = await router.waitFor(
      () => events(router).find((e) => e.msg === "certificate reloaded"),
      "the certificate reloaded event",
      RELOAD_WAIT_MS,
    );
    assert.equal(ev.file, live.cert);
    assert.deepEqual(ev.names, ["renew.test"]);
    assert.equal(
      ev.not_after,
      new Date(new X509Certificate(readFileSync(archive("fullchain2.pem"))).validTo).toISOString(),
    );

    assert.equal(
      await servedFingerprint(port, "renew.test"),
      fingerprint(archive("fullchain2.pem")),
    );
    const curl = await curlTls("renew.test", port, archive("fullchain2.pem"));
    assert.equal(curl.code, 0, curl.stderr);
    assert.match(curl.stdout, /^ok \d+\n$/);

    // The connection opened before the swap still has the old certificate, and still works.
    assert.match(await conn.get("renew.test"), /^ok \d+\n$/);
    assert.equal(
      conn.socket.getPeerX509Certificate()?.fingerprint256,
      fingerprint(archive("fullchain1.pem")),
    );
    assert.equal(conn.closed, false);
    conn.socket.end();
  });

  test("/metrics and /status show the certificate served and its expiry", async () => {
    const notAfter = new Date(new X509Certificate(readFileSync(live.cert)).validTo);
    const m = await scrape(admin);
    const left = m.get("switchyard_certificate_expiry_seconds", { name: "renew.test" });
    assert.ok(left !== undefined, m.text);
    assert.ok(Math.abs(left - (notAfter.getTime() - Date.now()) / 1000) < 60, `${left}`);
    assert.equal(m.get("switchyard_acme_orders_total", { result: "ok" }), 0);
    const s = await status<{ certificates: Record<string, unknown>[] }>(admin);
    assert.deepEqual(s.certificates, [{
      names: ["renew.test"],
      source: "file",
      file: live.cert,
      not_after: notAfter.toISOString(),
      next_renewal: null,
      last_error: null,
    }]);
  });

  test("a key that does not match is logged; the old certificate keeps serving", async () => {
    const served = fingerprint(live.cert);
    swapLink(live.cert, "../archive/fullchain3.pem");
    const ev = await router.waitFor(
      () =>
        events(router).find((e) => e.msg === "certificate not reloaded: the old one keeps serving"),
      "the certificate not reloaded event",
      RELOAD_WAIT_MS,
    );
    assert.equal(ev.file, live.cert);
    assert.match(String(ev.error), /does not belong to certificate/);
    assert.equal(await servedFingerprint(port, "renew.test"), served);
    const s = await status<{ certificates: { last_error: string | null }[] }>(admin);
    assert.match(String(s.certificates[0].last_error), /does not belong/);
    // Its key arrives: the pair loads.
    swapLink(live.key, "../archive/privkey3.pem");
    await router.waitFor(
      () => events(router).filter((e) => e.msg === "certificate reloaded").length === 2,
      "the second certificate reloaded event",
      RELOAD_WAIT_MS,
    );
    assert.equal(
      await servedFingerprint(port, "renew.test"),
      fingerprint(archive("fullchain3.pem")),
    );
  });
});
