/**
 * Route actions (#18) end to end, with curl over HTTP/1.1 on an http listener and over HTTP/2
 * through TLS termination: redirects, fixed responses, prefix stripping, header edits both ways,
 * allow/deny, basic auth (bcrypt) and a rate limit, each answered or forwarded as configured and
 * logged with its outcome.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import bcrypt from "bcryptjs";
import { adminPort, get as adminGet } from "../helpers/admin.ts";
import { exec, freePort } from "../helpers/clients.ts";
import { selfSigned, type TestCert } from "../helpers/certs.ts";
import { httpBackend, type HttpTestServer, type Report } from "../helpers/http_backends.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

interface Answer {
  status: number;
  version: string;
  headers: Record<string, string>;
  body: string;
}

describe(`route actions (router on ${runtimeName})`, () => {
  let app: HttpTestServer;
  let router: RouterProcess;
  let cert: TestCert;
  let web: number;
  let secure: number;

  /** curl to NAME:PORT/PATH over HTTP/1.1 (plain) or HTTP/2 (through termination). */
  async function get(
    name: string,
    path: string,
    opts: { h2?: boolean; extra?: string[] } = {},
  ): Promise<Answer> {
    const port = opts.h2 ? secure : web;
    const scheme = opts.h2 ? "https" : "http";
    const r = await exec("curl", [
      "-sS",
      "--max-time",
      "10",
      "-D",
      "-",
      ...(opts.h2 ? ["--http2", "--cacert", cert.certFile] : ["--http1.1"]),
      "--resolve",
      `${name}:${port}:127.0.0.1`,
      ...(opts.extra ?? []),
      `${scheme}://${name}:${port}${path}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const end = r.stdout.indexOf("\r\n\r\n");
    const [status, ...lines] = r.stdout.slice(0, end).split("\r\n");
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const at = l.indexOf(":");
      headers[l.slice(0, at).toLowerCase()] = l.slice(at + 1).trim();
    }
    const m = /^HTTP\/([\d.]+) (\d+)/.exec(status)!;
    return { version: m[1], status: Number(m[2]), headers, body: r.stdout.slice(end + 4) };
  }

  before(async () => {
    cert = selfSigned(["redirect.test", "api.test", "admin.test", "down.test", "old.test"]);
    app = await httpBackend("app");
    const hash = bcrypt.hashSync("secret", 4);
    const webPort = await freePort();
    router = await startRouter(`
admin: { listen: "127.0.0.1:0" }
certificates:
  - { cert: ${cert.certFile}, key: ${cert.keyFile} }
listeners:
  web:
    bind: "127.0.0.1:${webPort}"
    protocol: http
    response_headers: { set: { Strict-Transport-Security: "max-age=31536000" } }
    routes:
      - { host: redirect.test, redirect: https }
      - host: old.test
        redirect: { to: "https://new.test{uri}", status: 301 }
      - host: down.test
        respond: { status: 503, body: "Back soon\\n", headers: { Retry-After: "600" } }
      - host: api.test
        path_prefix: /api/
        strip_prefix: true
        request_headers: { set: { X-Env: prod }, remove: [X-Debug] }
        response_headers: { set: { X-Frame-Options: DENY }, remove: [X-Backend] }
        to: app
      - { host: closed.test, allow: [10.0.0.0/8], to: app }
      - { host: banned.test, deny: [127.0.0.0/8], to: app }
      - host: admin.test
        auth: { basic: { realm: admin, users: { alice: "${hash}" } } }
        to: app
      - { host: limited.test, rate_limit: { requests: 2, per: 1m }, to: app }
      - { host: paced.test, rate_limit: { requests: 10, per: 1s }, to: app }
      - host: hop.test
        redirect: { to: "http://api.test:${webPort}/api{uri}", status: 302 }
  secure:
    bind: "127.0.0.1:0"
    protocol: tls
    terminate: web
backends:
  app: { servers: ["127.0.0.1:${app.port}"] }
`);
    web = router.port("web");
    secure = router.port("secure");
  });

  after(async () => {
    await router?.stop();
    await app?.close();
  });

  test("a redirect curl follows (-L) ends at the target's backend", async () => {
    const r = await get("hop.test", "/v1/y?z", {
      extra: ["-L", "--resolve", `api.test:${web}:127.0.0.1`],
    });
    // -D - prints both heads: the 302, then the backend's 200 (with the JSON body).
    assert.equal(r.status, 302);
    const seen = JSON.parse(r.body.slice(r.body.indexOf("{"))) as Report;
    assert.equal(seen.url, "/v1/y?z");
  });

  test("rate_limit: over 3 s the rate allowed is within 20 % of the configured 10/s", async () => {
    let ok = 0;
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      const r = await exec("curl", [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "Host: paced.test",
        `http://127.0.0.1:${web}/`,
      ]);
      if (r.stdout === "200") ok++;
    }
    // The bucket starts full (10 = burst), then refills at 10 per second.
    const rate = (ok - 10) / 3;
    assert.ok(Math.abs(rate - 10) <= 2, `${ok} requests allowed in 3 s: ${rate.toFixed(1)}/s`);
  });

  for (const h2 of [false, true]) {
    const proto = h2 ? "HTTP/2" : "HTTP/1.1";

    test(`${proto}: redirect: https is a 308 to the same host (no port) and target`, async () => {
      const r = await get("redirect.test", "/a/b?c=1", { h2 });
      assert.equal(r.status, 308);
      assert.equal(r.headers.location, "https://redirect.test/a/b?c=1");
      assert.equal(r.headers["strict-transport-security"], "max-age=31536000");
      const old = await get("old.test", "/x?y", { h2 });
      assert.equal(old.status, 301);
      assert.equal(old.headers.location, "https://new.test/x?y");
    });

    test(`${proto}: respond answers without a backend, with its headers`, async () => {
      const before = app.seen.length;
      const r = await get("down.test", "/anything", { h2 });
      assert.equal(r.status, 503);
      assert.equal(r.body, "Back soon\n");
      assert.equal(r.headers["retry-after"], "600");
      assert.equal(app.seen.length, before);
      const line = await router.waitForAccess(
        (l) =>
          l.host === "down.test" && l.outcome === "responded" &&
          l.proto === (h2 ? "h2" : "http/1.1"),
        "the responded line",
      );
      assert.equal(line.status, 503);
    });

    test(`${proto}: strip_prefix and header edits both ways`, async () => {
      const r = await get("api.test", "/api/v1/x?q=2", { h2, extra: ["-H", "X-Debug: 1"] });
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body) as Report;
      assert.equal(seen.url, "/v1/x?q=2");
      const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      assert.ok(!names.includes("x-debug"));
      const at = names.indexOf("x-env");
      assert.equal(seen.rawHeaders[at * 2 + 1], "prod");
      assert.equal(r.headers["x-frame-options"], "DENY");
      assert.equal(r.headers["x-backend"], undefined);
      assert.equal(r.headers["strict-transport-security"], "max-age=31536000");
    });

    test(`${proto}: basic auth: 401 with a challenge, then the right password passes without its header`, async () => {
      const none = await get("admin.test", "/", { h2 });
      assert.equal(none.status, 401);
      assert.match(none.headers["www-authenticate"], /^Basic realm="admin"/);
      const wrong = await get("admin.test", "/", { h2, extra: ["-u", "alice:nope"] });
      assert.equal(wrong.status, 401);
      const right = await get("admin.test", "/", { h2, extra: ["-u", "alice:secret"] });
      assert.equal(right.status, 200);
      const seen = JSON.parse(right.body) as Report;
      assert.ok(!seen.rawHeaders.some((h) => h.toLowerCase() === "authorization"));
    });
  }

  test("allow and deny answer 403 before anything else", async () => {
    assert.equal((await get("closed.test", "/")).status, 403);
    assert.equal((await get("banned.test", "/")).status, 403);
    const line = await router.waitForAccess((l) => l.host === "banned.test", "the 403 line");
    assert.equal(line.outcome, "denied");
  });

  test("rate_limit: past the bucket a 429 with Retry-After, counted in /metrics", async () => {
    assert.equal((await get("limited.test", "/1")).status, 200);
    assert.equal((await get("limited.test", "/2")).status, 200);
    const third = await get("limited.test", "/3");
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers["retry-after"]) >= 1);
    const text = (await adminGet(adminPort(router), "/metrics")).body;
    assert.match(text, /switchyard_http_rate_limited_total\{listener="web",route="7"\} 1/);
  });

  test("the listener's response headers are on the router's own answers too", async () => {
    const r = await get("nowhere.test", "/");
    assert.equal(r.status, 503);
    assert.equal(r.headers["strict-transport-security"], "max-age=31536000");
  });
});
