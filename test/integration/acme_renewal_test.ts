/**
 * Renewal against a real ACME server: Pebble issues certificates valid for 30 seconds and
 * `renew_before: 25s` makes the router renew a few seconds after it obtained one. A new
 * connection is then served the new certificate (another serial), with no SIGHUP, while a
 * keep-alive connection opened before the renewal, with a response still streaming across
 * it, carries on.
 */

import assert from "node:assert/strict";
import tls from "node:tls";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  acmeConfig,
  acmeDirs,
  type Backend,
  event,
  logged,
  servedSerial,
  startBackend,
  storedFolders,
} from "../helpers/acme.ts";
import { curlTls, freePort } from "../helpers/clients.ts";
import { type Pebble, startPebble } from "../helpers/pebble.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";

const NAMES = ["a.renew.test", "b.renew.test"];

/** One TLS connection to the router, on which the test sends HTTP/1.1 requests in turn. */
class KeepAlive {
  text = "";
  closed = false;
  #waiters: (() => void)[] = [];

  private constructor(readonly socket: tls.TLSSocket) {
    socket.setEncoding("utf8");
    socket.on("data", (s: string) => {
      this.text += s;
      this.#wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.#wake();
    });
    socket.on("error", () => {});
  }

  static open(name: string, port: number, ca: string): Promise<KeepAlive> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect(
        { host: "127.0.0.1", port, servername: name, ca },
        () => resolve(new KeepAlive(socket)),
      );
      socket.once("error", reject);
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Sends GET `path` and resolves once what arrives after it contains `expect`. */
  request(name: string, path: string, expect: string): Promise<void> {
    const from = this.text.length;
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${name}\r\n\r\n`);
    return this.until(expect, from);
  }

  /** Resolves once the text received from offset `from` on contains `expect`. */
  until(expect: string, from: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${expect.trim()}" on the live connection:\n${this.text}`)),
        15_000,
      );
      const check = () => {
        if (this.text.slice(from).includes(expect)) {
          clearTimeout(timer);
          resolve();
        } else if (this.closed) {
          clearTimeout(timer);
          reject(new Error(`the live connection closed before "${expect.trim()}":\n${this.text}`));
        } else this.#waiters.push(check);
      };
      check();
    });
  }
}

describe("acme: renewal", () => {
  let pebble: Pebble;
  let router: RouterProcess | undefined;
  let backend: Backend;
  let live: KeepAlive | undefined;
  let roots: string;
  let storage: string;
  let tlsPort: number;

  before(async () => {
    backend = await startBackend();
    const httpPort = await freePort();
    tlsPort = await freePort();
    pebble = await startPebble({ httpPort, tlsPort, validitySeconds: 30 });
    ({ storage, roots } = await acmeDirs(pebble));
    router = await startRouter(acmeConfig({
      pebble,
      storage,
      names: NAMES,
      httpPort,
      tlsPort,
      backend: backend.port,
      renewBefore: "25s",
    }));
  });

  after(async () => {
    live?.socket.destroy();
    backend?.finishSlow();
    await router?.stop();
    backend?.close();
    await pebble?.close();
  });

  test("a new certificate is served after renewal; a live connection is not dropped", async () => {
    const obtained = await event(router!, (e) => e.msg === "certificate obtained", "an order");
    const lifetime = Date.parse(String(obtained.not_after)) - Date.now();
    assert.ok(lifetime > 20_000 && lifetime <= 30_000, `Pebble's 30 s validity: ${lifetime}`);
    const first = await servedSerial(NAMES[0], tlsPort, roots);

    // Opened, used, and a response left streaming, all before the renewal.
    live = await KeepAlive.open(NAMES[0], tlsPort, readFileSync(roots, "utf8"));
    await live.request(NAMES[0], "/", `backend saw ${NAMES[0]}\n`);
    const slowFrom = live.text.length;
    await live.request(NAMES[0], "/slow", "slow start\n");
    assert.equal(logged(router!, "certificate renewed").length, 0, "renewed too early to test");

    const renewed = await event(
      router!,
      (e) => e.msg === "certificate renewed",
      "the renewal",
    );
    assert.deepEqual(renewed.names, NAMES);
    assert.ok(Date.parse(String(renewed.not_after)) > Date.parse(String(obtained.not_after)));

    // A new connection gets the new certificate, and it verifies for both names.
    const second = await servedSerial(NAMES[0], tlsPort, roots);
    assert.notEqual(second, first, "a new connection must be served the renewed certificate");
    assert.equal(await servedSerial(NAMES[1], tlsPort, roots), second);
    for (const name of NAMES) {
      const r = await curlTls(name, tlsPort, roots);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `backend saw ${name}:${tlsPort}\n`);
    }

    // The connection from before: its streaming response ends, and it takes another request.
    backend.finishSlow();
    await live.until("slow end\n", slowFrom);
    await live.request(NAMES[0], "/", `backend saw ${NAMES[0]}\n`);
    assert.equal(live.closed, false);

    assert.ok(storedFolders(storage, NAMES[0]).length >= 2, "each certificate has its folder");
    assert.equal(logged(router!, "certificate order failed").length, 0);
    assert.ok(!logged(router!, "reloaded").length, "no reload took part");
  });
});
