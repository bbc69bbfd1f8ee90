/**
 * The command line as users meet it: exit codes and messages of check, explain, version and
 * usage errors, run as a subprocess under the runtime that runs the tests.
 */

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { adminPort, events, scrape } from "../helpers/admin.ts";
import { exec } from "../helpers/clients.ts";
import { httpBackend } from "../helpers/http_backends.ts";
import { routerCommand, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";
import { HASH } from "../config/problems.ts";

function cli(args: string[]) {
  const [cmd, argv] = routerCommand(args);
  return exec(cmd, argv, 30_000);
}

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "switchyard-cli-")), "c.yaml");
  writeFileSync(file, text);
  return file;
}

const GOOD = `listeners:
  secure:
    bind: "127.0.0.1:0"
    protocol: tls
    routes:
      - { sni: "*.example.com", to: app }
      - { src: 10.0.0.0/8, to: "127.0.0.1:9" }
backends:
  app: { servers: ["127.0.0.1:7", "127.0.0.1:8"] }
`;

describe(`command line (${runtimeName})`, () => {
  test("version names the runtime", async () => {
    const r = await cli(["version"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^switchyard \\S+ \\(${runtimeName} \\d+\\.\\d+`));
  });

  test("--help prints the usage and exits 0", async () => {
    const r = await cli(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /switchyard check -c FILE/);
  });

  test("an unknown command or option is a usage error (exit 2)", async () => {
    assert.equal((await cli(["frobnicate"])).code, 2);
    const r = await cli(["check", "--nope"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nope/);
  });

  test("check: a valid file exits 0", async () => {
    const r = await cli(["check", "-c", configFile(GOOD)]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("check: each problem is FILE:LINE:COL with did-you-mean, exit 2", async () => {
    const file = configFile(
      GOOD.replace("to: app }", "to: ap }").replace("protocol: tls", "protocl: tls"),
    );
    const r = await cli(["check", "-c", file]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      new RegExp(`${file}:4:5: .*unknown key "protocl".*did you mean "protocol"`),
    );
    assert.match(r.stderr, new RegExp(`${file}:6:37: .*unknown backend "ap".*did you mean "app"`));
  });

  test("check: a missing file is reported, exit 2", async () => {
    const r = await cli(["check", "-c", "/nonexistent/switchyard.yaml"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\/nonexistent\/switchyard.yaml:1:1:/);
  });

  test("explain: shows route, backend and server; exit 1 when nothing matches", async () => {
    const file = configFile(GOOD);
    const hit = await cli([
      "explain",
      "-c",
      file,
      "--listener",
      "secure",
      "--sni",
      "A.Example.com",
    ]);
    assert.equal(hit.code, 0, hit.stderr);
    assert.match(hit.stdout, /route #0 -> backend app -> server 127\.0\.0\.1:7/);
    const bySrc = await cli(["explain", "-c", file, "--listener", "secure", "--src", "10.1.2.3"]);
    assert.match(bySrc.stdout, /route #1 -> backend 127\.0\.0\.1:9/);
    const miss = await cli(["explain", "-c", file, "--listener", "secure", "--sni", "example.com"]);
    assert.equal(miss.code, 1);
    const bad = await cli(["explain", "-c", file, "--listener", "nope"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /secure/);
  });

  test("explain: an http route's answer and actions, one indented line each", async () => {
    const file = configFile(`listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    response_headers: { set: { Strict-Transport-Security: "max-age=31536000" } }
    routes:
      - { host: old.test, redirect: { to: "https://new.test{uri}", status: 301 } }
      - { host: down.test, respond: { status: 503, body: "Back soon\\n", headers: { Retry-After: "600" } } }
      - host: admin.test
        deny: 203.0.113.7/32
        allow: [203.0.113.0/24, "2001:db8::/32"]
        auth: { basic: { realm: admin, users: { alice: "${HASH}" } } }
        to: app
      - host: api.test
        request_headers: { set: { X-Env: prod }, remove: [X-Debug] }
        response_headers: { remove: [Server, X-Powered-By] }
        rate_limit: { requests: 20, per: 1s, burst: 40 }
        to: app
      - { host: plain.test, to: app }
      - { host: strip.test, path_prefix: /api/, strip_prefix: true, to: app }
  plain:
    bind: "127.0.0.1:0"
    protocol: http
    routes:
      - { redirect: https }
backends:
  app: { servers: ["127.0.0.1:7"] }
`);
    const ask = async (listener: string, ...more: string[]) => {
      const r = await cli(["explain", "-c", file, "--listener", listener, ...more]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const hsts = '  listener response_headers: set Strict-Transport-Security: "max-age=31536000"\n';
    assert.equal(
      await ask("plain"),
      "listener plain: route #0 -> redirect 308 to https://{host}{uri}\n",
    );
    assert.equal(
      await ask("web", "--host", "old.test"),
      "listener web: route #0 -> redirect 301 to https://new.test{uri}\n" + hsts,
    );
    assert.equal(
      await ask("web", "--host", "down.test"),
      'listener web: route #1 -> respond 503 with "Back soon\\n" (10 bytes)\n' +
        '  respond headers: Retry-After: "600"\n' + hsts,
    );
    assert.equal(
      await ask("web", "--host", "admin.test", "--src", "203.0.113.9"),
      "listener web: route #2 -> backend app -> server 127.0.0.1:7\n" +
        "  deny: 203.0.113.7/32 get 403 (203.0.113.9 does not)\n" +
        "  allow: 203.0.113.0/24, 2001:db8::/32; others get 403 (203.0.113.9 is let in)\n" +
        '  auth: basic, realm "admin", users alice; 401 without a valid password; ' +
        "Authorization removed before forwarding\n" + hsts,
    );
    assert.match(
      await ask("web", "--host", "admin.test"),
      /allow: .*; others get 403 \(127\.0\.0\.1 gets 403\)/,
    );
    // --path reaches path_prefix routes (and shows what strip_prefix does).
    assert.match(
      await ask("web", "--host", "strip.test", "--path", "/api/v1"),
      /route #5 -> backend app/,
    );
    assert.match(await ask("web", "--host", "strip.test", "--path", "/api/v1"), /strip_prefix/);
    assert.equal(
      await ask("web", "--host", "api.test"),
      "listener web: route #3 -> backend app -> server 127.0.0.1:7\n" +
        "  rate_limit: 20 requests per 1s per client address, burst 40; 429 beyond\n" +
        '  request_headers: set X-Env: "prod"; remove x-debug\n' +
        "  response_headers: remove server, x-powered-by\n" + hsts,
    );
    assert.equal(
      await ask("web", "--host", "plain.test"),
      "listener web: route #4 -> backend app -> server 127.0.0.1:7\n" + hsts,
    );
  });

  test("run: an address already in use is a clear start-up error, exit 1", async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as net.AddressInfo).port;
    const r = await cli([
      "run",
      "-c",
      configFile(GOOD.replace('"127.0.0.1:0"', `"127.0.0.1:${port}"`)),
    ]);
    taken.close();
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot bind 127\\.0\\.0\\.1:${port}`));
  });

  test("run --access-log off: requests are served and counted, no access line, events stay", async () => {
    const app = await httpBackend("app");
    const r = await startRouter(
      `admin: { listen: "127.0.0.1:0" }
listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    routes: [{ host: app.test, to: "127.0.0.1:${app.port}" }]
`,
      ["--access-log", "off"],
    );
    try {
      const url = `http://127.0.0.1:${r.port("web")}/`;
      for (let i = 0; i < 3; i++) {
        const res = await exec("curl", ["-fsS", "-H", "Host: app.test", url]);
        assert.equal(res.code, 0, res.stderr);
      }
      const m = await scrape(adminPort(r));
      assert.equal(m.sum("switchyard_http_requests_total"), 3);
    } finally {
      assert.equal(await r.stop(), 0);
      await app.close();
    }
    assert.deepEqual(r.stdoutLines.filter((l) => l !== ""), []);
    assert.ok(events(r).some((e) => e.msg === "listening"), "events are still written");
  });

  test("run --access-log with a value other than on or off is a usage error (exit 2)", async () => {
    const r = await cli(["run", "-c", configFile(GOOD), "--access-log", "quiet"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--access-log must be on or off \(got "quiet"\)/);
  });
});
