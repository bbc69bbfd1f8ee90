/**
 * Chaos: a backend process SIGKILLed and restarted, again and again, under load. Only the
 * connections in flight at a kill may fail; connections that arrive while it is down wait out
 * the retry turn-around and get through.
 */

import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { RawClient } from "../helpers/clients.ts";
import { EchoProcess } from "../helpers/echo_process.ts";
import { type Exchange, load } from "../helpers/load.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

describe(`chaos (router on ${runtimeName})`, () => {
  let echo: EchoProcess;
  let router: RouterProcess;

  before(async () => {
    echo = await EchoProcess.start();
    router = await startRouter(`
listeners:
  t:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: "127.0.0.1:${echo.port}"
`);
  });

  after(async () => {
    await router?.stop();
    await echo?.kill();
  });

  test("a backend killed and restarted 3 times under load loses only connections in flight", {
    timeout: 120_000,
  }, async () => {
    const payload = new Uint8Array(256 * 1024).map((_, i) => (i * 7) & 0xff);
    const results: Exchange[] = [];
    let ok = 0;
    let wake: (() => void) | null = null;
    const l = load(router.port("t"), 6, payload, (e) => {
      results.push(e);
      if (e.ok) ok++;
      wake?.();
    });
    /** Resolves after `n` more successful exchanges. */
    const successes = (n: number) => {
      const want = ok + n;
      return new Promise<void>((resolve) => {
        wake = () => {
          if (ok >= want) resolve();
        };
      });
    };
    /** SIGKILL sent, its exit seen, the new process listening. */
    const kills: { at: number; gone: number; up: number }[] = [];
    for (let k = 0; k < 3; k++) {
      await successes(40);
      const at = Date.now();
      await echo.kill();
      const gone = Date.now();
      echo = await EchoProcess.start(echo.port);
      kills.push({ at, gone, up: Date.now() });
    }
    await successes(40);
    await l.stop();

    // Until its exit, a dying process's listening socket still completes handshakes.
    const inFlight = (e: Exchange) => kills.some((k) => e.start <= k.gone && k.at <= e.end);
    const stray = results.filter((e) => !e.ok && !inFlight(e));
    assert.deepEqual(stray, [], "failures not explained by a kill");
    const whileDown = results.filter((e) => kills.some((k) => e.start > k.gone && e.start < k.up));
    assert.ok(whileDown.every((e) => e.ok), "connections made while it was down got through");
    assert.ok(ok >= 160);
    assert.equal(router.child.exitCode, null);
    const lost = results.length - ok;
    console.log(
      `${results.length} exchanges, ${lost} lost at ${kills.length} kills, ${whileDown.length} made while down`,
    );
  });
});

describe(`a backend that accepts and never answers (router on ${runtimeName})`, () => {
  let mute: net.Server;
  let router: RouterProcess;

  before(async () => {
    // Reads everything, answers nothing, never closes.
    mute = net.createServer((s) => {
      s.on("data", () => {});
      s.on("error", () => {});
    });
    const port = await new Promise<number>((resolve) =>
      mute.listen(0, "127.0.0.1", () => resolve((mute.address() as net.AddressInfo).port))
    );
    router = await startRouter(`
defaults:
  idle_timeout: 1s
listeners:
  t:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: "127.0.0.1:${port}"
  h:
    bind: "127.0.0.1:0"
    protocol: http
    default: "127.0.0.1:${port}"
`);
  });

  after(async () => {
    await router?.stop();
    mute?.close();
  });

  test("tcp: the client is closed at idle_timeout", async () => {
    const c = await RawClient.connect(router.port("t"));
    const t0 = Date.now();
    await c.write("hello?");
    await c.until(() => c.ended || c.closed, "the close", 5000);
    const waited = Date.now() - t0;
    assert.ok(waited >= 900 && waited < 3000, `closed after ${waited} ms`);
    await router.waitForAccess((a) => a.listener === "t" && a.outcome === "idle_timeout", "log");
  });

  test("http: 504 at idle_timeout", async () => {
    const c = await RawClient.connect(router.port("h"));
    const t0 = Date.now();
    await c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.until(() => c.ended || c.closed, "the response", 5000);
    const waited = Date.now() - t0;
    assert.match(c.text, /^HTTP\/1\.1 504 /);
    assert.ok(waited >= 900 && waited < 3000, `answered after ${waited} ms`);
    await router.waitForAccess((a) => a.listener === "h" && a.status === 504, "log");
  });
});
