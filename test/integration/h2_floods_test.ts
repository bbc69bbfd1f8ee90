/**
 * The HTTP/2 attacks that hit every server, over real sockets through TLS termination: a client
 * speaking raw frames (test/helpers/h2_frames.ts) floods the router, which must end the
 * connection with GOAWAY ENHANCE_YOUR_CALM, close every backend connection the streams opened,
 * log why, and go on serving other clients.
 */

import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { ERROR, FRAME } from "../../src/h2/frame.ts";
import { selfSigned, type TestCert } from "../helpers/certs.ts";
import {
  continuation,
  goawayOf,
  headers,
  join,
  parseFrames,
  ping,
  plainBlock,
  PREFACE,
  request,
  rstCodeOf,
  rstStream,
  settings,
  SETTINGS_ACK,
} from "../helpers/h2_frames.ts";
import { h2Requests } from "../helpers/h2_clients.ts";
import { poll } from "../helpers/proc.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

/** A TLS client that speaks h2 as raw frames; resolves with everything the router sent. */
function rawH2(port: number, ca: string, send: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    const socket = tls.connect({
      port,
      host: "127.0.0.1",
      servername: "a.test",
      ca,
      ALPNProtocols: ["h2"],
    });
    socket.on("secureConnect", () => socket.write(send));
    socket.on("data", (c: Uint8Array) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => resolve(join(...chunks)));
  });
}

describe(`HTTP/2 floods through termination (router on ${runtimeName})`, () => {
  let cert: TestCert;
  let router: RouterProcess;
  let backend: net.Server;
  const open = new Set<net.Socket>();
  let big: net.Server;
  const bigOpen = new Set<net.Socket>();
  let port: number;

  before(async () => {
    cert = selfSigned(["a.test"]);
    // Never answers (every stream keeps its backend connection busy), except GET /ok.
    backend = net.createServer((s) => {
      open.add(s);
      let got = "";
      s.on("data", (c: Buffer) => {
        got += c.toString("latin1");
        if (got.startsWith("GET /ok ") && got.includes("\r\n\r\n")) {
          s.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
      });
      s.on("close", () => open.delete(s));
      s.on("error", () => {});
    });
    await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
    const backendPort = (backend.address() as net.AddressInfo).port;
    // Answers every request with 1 MiB: more than any window a stalled client leaves open.
    big = net.createServer((s) => {
      bigOpen.add(s);
      s.on("close", () => bigOpen.delete(s));
      s.on("error", () => {});
      s.once("data", () => {
        s.write("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n");
        s.write(new Uint8Array(1048576));
      });
    });
    await new Promise<void>((r) => big.listen(0, "127.0.0.1", r));
    const bigPort = (big.address() as net.AddressInfo).port;
    router = await startRouter(`
certificates:
  - { cert: ${cert.certFile}, key: ${cert.keyFile} }
listeners:
  web:
    bind: "127.0.0.1:0"
    protocol: http
    routes:
      - { host: a.test, path_prefix: /ok, to: "127.0.0.1:${backendPort}" }
    default: slow
  secure:
    bind: "127.0.0.1:0"
    protocol: tls
    terminate: web
  quick:
    bind: "127.0.0.1:0"
    protocol: http
    idle_timeout: 400ms
    default: big
  secure_quick:
    bind: "127.0.0.1:0"
    protocol: tls
    terminate: quick
backends:
  big: { servers: ["127.0.0.1:${bigPort}"] }
  slow: { servers: ["127.0.0.1:${backendPort}"] }
`);
    port = router.port("secure");
  });

  after(async () => {
    await router?.stop();
    for (const s of [...open, ...bigOpen]) s.destroy();
    await new Promise<void>((r) => backend.close(() => r()));
    await new Promise<void>((r) => big.close(() => r()));
  });

  /** The router's GOAWAY in `bytes`. */
  function goaway(bytes: Uint8Array) {
    const f = parseFrames(bytes).find((x) => x.type === FRAME.GOAWAY);
    assert.ok(f !== undefined, "a GOAWAY frame");
    return goawayOf(f);
  }

  test("rapid reset (CVE-2023-44487): GOAWAY ENHANCE_YOUR_CALM, every backend connection closed", async () => {
    const block = plainBlock(request());
    const frames: Uint8Array[] = [PREFACE, settings(), SETTINGS_ACK];
    for (let i = 0; i < 300; i++) {
      const id = 1 + 2 * i;
      frames.push(headers(id, block, { endStream: true }), rstStream(id, ERROR.CANCEL));
    }
    const got = await rawH2(port, cert.cert, join(...frames));
    const g = goaway(got);
    assert.equal(g.code, ERROR.ENHANCE_YOUR_CALM);
    assert.match(g.debug, /reset/);
    await poll(() => open.size === 0, "every backend connection to close", 10_000);
    const line = await router.waitForAccess(
      (l) => l.outcome === "malformed" && /ENHANCE_YOUR_CALM/.test(String(l.reason)),
      "the connection's line",
    );
    assert.equal(line.proto, "h2");
  });

  test("CONTINUATION flood (CVE-2024-27316): a header block that never ends is cut off", async () => {
    const fragment = plainBlock([["x-filler", "f".repeat(8000)]]);
    const frames: Uint8Array[] = [
      PREFACE,
      settings(),
      headers(1, plainBlock(request()), { endHeaders: false }),
    ];
    for (let i = 0; i < 40; i++) frames.push(continuation(1, fragment, false));
    const got = await rawH2(port, cert.cert, join(...frames));
    assert.equal(goaway(got).code, ERROR.ENHANCE_YOUR_CALM);
  });

  test("a PING flood: GOAWAY ENHANCE_YOUR_CALM", async () => {
    const frames: Uint8Array[] = [PREFACE, settings()];
    for (let i = 0; i < 1200; i++) frames.push(ping());
    const got = await rawH2(port, cert.cert, join(...frames));
    assert.equal(goaway(got).code, ERROR.ENHANCE_YOUR_CALM);
  });

  test("a client that never opens its window: the stalled stream is reset at idle_timeout and its backend closed", async () => {
    // SETTINGS_INITIAL_WINDOW_SIZE 0: the router may send no DATA until a WINDOW_UPDATE, which
    // never comes; the client keeps the connection open meanwhile.
    const send = join(
      PREFACE,
      settings([[4, 0]]),
      SETTINGS_ACK,
      headers(1, plainBlock(request()), {
        endStream: true,
      }),
    );
    const got: Uint8Array[] = [];
    const socket = tls.connect({
      port: router.port("secure_quick"),
      host: "127.0.0.1",
      servername: "a.test",
      ca: cert.cert,
      ALPNProtocols: ["h2"],
    });
    socket.on("secureConnect", () => socket.write(send));
    socket.on("data", (c: Uint8Array) => got.push(c));
    socket.on("error", () => {});
    try {
      const line = await router.waitForAccess(
        (l) => l.outcome === "idle_timeout",
        "the stream's line",
      );
      assert.equal(line.status, 200);
      assert.equal(line.proto, "h2");
      const rst = parseFrames(join(...got)).find((f) => f.type === FRAME.RST_STREAM);
      assert.ok(rst !== undefined, "RST_STREAM sent");
      assert.equal(rstCodeOf(rst), ERROR.CANCEL);
      await poll(() => bigOpen.size === 0, "the backend connection to close", 5000);
    } finally {
      socket.destroy();
    }
  });

  test("after the floods the router serves a polite client", async () => {
    const [r] = await h2Requests(`https://127.0.0.1:${port}`, [{
      authority: "a.test",
      path: "/ok",
    }], {
      ca: cert.cert,
      servername: "a.test",
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), "ok");
  });
});
