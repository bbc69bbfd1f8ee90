/**
 * Connections the router makes for itself (health checks) announce themselves with a PROXY
 * header too, as LOCAL (v2) or UNKNOWN (v1), so a backend that requires PROXY accepts them.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

/** Records the first bytes of every connection until it closes. */
class Recorder {
  readonly seen: Uint8Array[] = [];
  #waiters: (() => void)[] = [];
  server = net.createServer((s) => {
    const chunks: Uint8Array[] = [];
    s.on("data", (c: Uint8Array) => chunks.push(c));
    s.on("error", () => {});
    s.on("close", () => {
      this.seen.push(new Uint8Array(Buffer.concat(chunks)));
      for (const w of this.#waiters.splice(0)) w();
    });
  });
  port = 0;
  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  until(pred: (b: Uint8Array) => boolean): Promise<Uint8Array> {
    return new Promise((resolve) => {
      const check = () => {
        const hit = this.seen.find(pred);
        if (hit) resolve(hit);
        else this.#waiters.push(check);
      };
      check();
    });
  }
}

const V2_SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

describe(`health checks send LOCAL PROXY headers (router on ${runtimeName})`, () => {
  const v1 = new Recorder();
  const v2 = new Recorder();
  let router: RouterProcess;

  before(async () => {
    await v1.listen();
    await v2.listen();
    router = await startRouter(`
listeners:
  a: { bind: "127.0.0.1:0", protocol: tcp, default: one }
  b: { bind: "127.0.0.1:0", protocol: tcp, default: two }
backends:
  one:
    servers: ["127.0.0.1:${v1.port}"]
    proxy_protocol: v1
    health_check: { interval: 200ms, timeout: 100ms }
  two:
    servers: ["127.0.0.1:${v2.port}"]
    proxy_protocol: v2
    health_check: { interval: 200ms, timeout: 100ms }
`);
  });

  after(async () => {
    await router?.stop();
    v1.server.close();
    v2.server.close();
  });

  test("v1: a health check connection sends PROXY UNKNOWN and nothing else", async () => {
    const got = await v1.until((b) => b.length > 0);
    assert.equal(Buffer.from(got).toString("latin1"), "PROXY UNKNOWN\r\n");
  });

  test("v2: a health check connection sends a LOCAL header with no addresses", async () => {
    const got = await v2.until((b) => b.length > 0);
    assert.deepEqual([...got], [...V2_SIG, 0x20, 0x00, 0x00, 0x00]);
  });
});
