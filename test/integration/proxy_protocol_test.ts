/**
 * The PROXY protocol end to end, with the router as a subprocess under the test's runtime:
 * a real HAProxy behind the router (`accept-proxy`) reads the v1/v2 headers Switchyard sends,
 * a real HAProxy in front of it (`send-proxy`, `send-proxy-v2`) hands it the original client,
 * untrusted and missing headers are refused before any backend is contacted, and raw recording
 * backends check the header bytes exactly (IPv4, IPv6, mixed families) and the payload after.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { freePort, RawClient } from "../helpers/clients.ts";
import { type HaproxyProcess, startHaproxy } from "../helpers/haproxy.ts";
import { type RouterProcess, startRouter } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

const hello = new Uint8Array(
  readFileSync(new URL("../fixtures/clienthello/curl-openssl3.bin", import.meta.url)),
);
/** The SNI of curl-openssl3.bin (test/fixtures/clienthello/README.md). */
const HELLO_SNI = "a.test";

const V2_SIG = Buffer.from("0d0a0d0a000d0a515549540a", "hex");
const te = new TextEncoder();

/** `n` bytes of a repeating pattern that is not a multiple of any chunk size. */
function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function u16(n: number): number[] {
  return [n >> 8, n & 0xff];
}

function ipv4(text: string): number[] {
  return text.split(".").map(Number);
}

/** ::1 as 16 bytes. */
const LOOPBACK6 = [...new Array(15).fill(0), 1];

/** The exact v2 header for a TCP connection, with optional TLVs ([type, value]). */
function v2Header(
  family: 4 | 6,
  src: number[],
  dst: number[],
  sport: number,
  dport: number,
  tlvs: [number, Uint8Array][] = [],
): Buffer {
  const block = [...src, ...dst, ...u16(sport), ...u16(dport)];
  for (const [type, value] of tlvs) block.push(type, ...u16(value.length), ...value);
  return Buffer.concat([
    V2_SIG,
    Buffer.from([0x21, family === 4 ? 0x11 : 0x21, ...u16(block.length), ...block]),
  ]);
}

/** A v2 header with the PROXY command, AF_UNSPEC and no address block. */
const V2_UNSPEC = Buffer.concat([V2_SIG, Buffer.from([0x21, 0x00, 0x00, 0x00])]);

// ---------------------------------------------------------------------------------------------
// Test peers

/** One connection a {@link Recorder} accepted. */
interface Recording {
  readonly chunks: Uint8Array[];
  /** The peer's FIN arrived. */
  ended: boolean;
  /** The socket is closed (after FIN both ways, or a reset). */
  closed: boolean;
  readonly bytes: Buffer;
}

/**
 * A raw TCP backend that records every byte of every connection and answers nothing; after
 * the peer's FIN it ends too. Counts accepts, so a test can prove it was never contacted.
 */
class Recorder {
  readonly recordings: Recording[] = [];
  #waiters: (() => void)[] = [];
  #sockets = new Set<net.Socket>();

  private constructor(readonly server: net.Server, readonly port: number) {}

  static async start(): Promise<Recorder> {
    const server = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const rec = new Recorder(server, (server.address() as net.AddressInfo).port);
    server.on("connection", (s) => rec.#accept(s));
    return rec;
  }

  #accept(s: net.Socket): void {
    const chunks: Uint8Array[] = [];
    const r: Recording = {
      chunks,
      ended: false,
      closed: false,
      get bytes() {
        return Buffer.concat(chunks);
      },
    };
    this.recordings.push(r);
    this.#sockets.add(s);
    s.on("close", () => {
      this.#sockets.delete(s);
      r.closed = true;
      this.#wake();
    });
    s.on("error", () => {});
    s.on("data", (c: Uint8Array) => {
      chunks.push(c);
      this.#wake();
    });
    s.on("end", () => {
      r.ended = true;
      s.end();
      this.#wake();
    });
    this.#wake();
  }

  get accepted(): number {
    return this.recordings.length;
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Resolves with what `find` returns once it is not undefined (re-checked on every event). */
  until<T>(find: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const check = () => {
        const v = find();
        if (v !== undefined) {
          clearTimeout(timer);
          resolve(v);
        } else this.#waiters.push(check);
      };
      check();
    });
  }

  /** Resolves with the first finished (FIN received) recording whose bytes satisfy `pred`. */
  finished(pred: (b: Buffer) => boolean, what: string, timeoutMs = 10_000): Promise<Buffer> {
    return this.until(
      () => this.recordings.find((x) => x.ended && pred(x.bytes))?.bytes,
      what,
      timeoutMs,
    );
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** An HTTP backend answering every request with JSON: the X-Forwarded-For it received. */
async function xffBackend(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const body = JSON.stringify({ xff: req.headers["x-forwarded-for"] ?? null, url: req.url });
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
    res.end(body);
  });
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A GET that asks for the connection to close after the response. */
function get(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n`;
}

/** Sends a GET through `peer` and returns the JSON body of the response once it closes. */
async function askXff(peer: RawClient, path: string): Promise<{ xff: string | null; url: string }> {
  await peer.write(get(path));
  await peer.closedByPeer("the response and close");
  // The response's FIN reached us; ours ends the (half-open) connection at every hop.
  peer.socket.end();
  const text = peer.text;
  assert.match(text, /^HTTP\/1\.1 200 /, `a 200 response, got ${JSON.stringify(text)}`);
  return JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
}

/** Whether this host can listen on ::1. */
async function ipv6Loopback(): Promise<boolean> {
  const s = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(0, "::1", resolve);
    });
    await new Promise<void>((r) => s.close(() => r()));
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------

describe(`PROXY protocol (router on ${runtimeName}, HAProxy 2.x)`, () => {
  let router: RouterProcess;
  let haproxy: HaproxyProcess;
  let rec: Recorder;
  let viaHaproxy: Recorder;
  let victim: Recorder;
  let xff: Awaited<ReturnType<typeof xffBackend>>;
  let v6 = false;
  /** HAProxy ports. */
  const hp = { http: 0, tcp: 0, send1: 0, send2: 0, send2tcp: 0 };

  before(async () => {
    rec = await Recorder.start();
    viaHaproxy = await Recorder.start();
    victim = await Recorder.start();
    xff = await xffBackend();
    v6 = await ipv6Loopback();
    hp.http = await freePort("127.0.0.1");
    hp.tcp = await freePort("127.0.0.1");
    hp.send1 = await freePort("127.0.0.3");
    hp.send2 = await freePort("127.0.0.3");
    hp.send2tcp = await freePort("127.0.0.3");
    const six = v6
      ? `
  pp6_v1:
    bind: "[::1]:0"
    protocol: tcp
    default: rec_v1
  pp6_v2:
    bind: "[::1]:0"
    protocol: tcp
    default: rec_v2`
      : "";
    router = await startRouter(`
listeners:
  to_hap_v1:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: hap_http_v1
  to_hap_v2:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: hap_http_v2
  tls_to_hap:
    bind: "127.0.0.1:0"
    protocol: tls
    routes:
      - { sni: ${HELLO_SNI}, to: hap_tcp_v2 }
  tls_v2:
    bind: "127.0.0.1:0"
    protocol: tls
    routes:
      - { sni: ${HELLO_SNI}, to: rec_v2 }
  from_hap_http:
    bind: "127.0.0.1:0"
    protocol: http
    accept_proxy: true
    forwarded: [x-forwarded-for]
    default: xff
  from_hap_tcp:
    bind: "127.0.0.1:0"
    protocol: tcp
    accept_proxy: true
    default: rec_v1
  pp_v1:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: rec_v1
  pp_v2:
    bind: "127.0.0.1:0"
    protocol: tcp
    default: rec_v2
  trusted_v1:
    bind: "127.0.0.1:0"
    protocol: tcp
    accept_proxy: true
    default: rec_v1
  trusted_v2:
    bind: "127.0.0.1:0"
    protocol: tcp
    accept_proxy: true
    default: rec_v2
  guarded_tcp:
    bind: "127.0.0.1:0"
    protocol: tcp
    accept_proxy: { from: [127.0.0.3/32] }
    inspect_timeout: 500ms
    default: victim
  guarded_http:
    bind: "127.0.0.1:0"
    protocol: http
    accept_proxy: { from: [127.0.0.3/32] }
    inspect_timeout: 500ms
    default: victim
  guarded_tls:
    bind: "127.0.0.1:0"
    protocol: tls
    accept_proxy: { from: [127.0.0.3/32] }
    inspect_timeout: 500ms
    default: victim
  http_pp:
    bind: "127.0.0.1:0"
    protocol: http
    default: rec_v1${six}
backends:
  hap_http_v1: { servers: ["127.0.0.1:${hp.http}"], proxy_protocol: v1 }
  hap_http_v2: { servers: ["127.0.0.1:${hp.http}"], proxy_protocol: v2 }
  hap_tcp_v2: { servers: ["127.0.0.1:${hp.tcp}"], proxy_protocol: v2 }
  rec_v1: { servers: ["127.0.0.1:${rec.port}"], proxy_protocol: v1 }
  rec_v2: { servers: ["127.0.0.1:${rec.port}"], proxy_protocol: v2 }
  victim: { servers: ["127.0.0.1:${victim.port}"] }
  xff: { servers: ["127.0.0.1:${xff.port}"] }
`);
    haproxy = await startHaproxy(
      `
# Behind Switchyard: reads its PROXY headers.
frontend fe_http
  mode http
  bind 127.0.0.1:${hp.http} accept-proxy
  option forwardfor
  default_backend be_xff

backend be_xff
  mode http
  server xff 127.0.0.1:${xff.port}

frontend fe_tcp
  mode tcp
  bind 127.0.0.1:${hp.tcp} accept-proxy
  default_backend be_recorder

backend be_recorder
  mode tcp
  server rec 127.0.0.1:${viaHaproxy.port} send-proxy-v2 proxy-v2-options authority

# In front of Switchyard: sends it PROXY headers.
frontend fe_send1
  mode tcp
  bind 127.0.0.3:${hp.send1}
  default_backend be_sw_http_v1

backend be_sw_http_v1
  mode tcp
  server sw 127.0.0.1:${router.port("from_hap_http")} send-proxy

frontend fe_send2
  mode tcp
  bind 127.0.0.3:${hp.send2}
  default_backend be_sw_http_v2

backend be_sw_http_v2
  mode tcp
  server sw 127.0.0.1:${router.port("from_hap_http")} send-proxy-v2

frontend fe_send2tcp
  mode tcp
  bind 127.0.0.3:${hp.send2tcp}
  default_backend be_sw_tcp_v2

backend be_sw_tcp_v2
  mode tcp
  server sw 127.0.0.1:${router.port("from_hap_tcp")} send-proxy-v2
`,
    );
  });

  after(async () => {
    await haproxy?.stop();
    // Backends first: a connection a failed test left open ends with them, so the router's
    // shutdown does not wait for it.
    for (const r of [rec, viaHaproxy, victim]) await r?.close();
    await xff?.close();
    await router?.stop();
  });

  describe("HAProxy accept-proxy behind Switchyard reports the original client", () => {
    for (const v of ["v1", "v2"] as const) {
      test(`${v}: HAProxy's X-Forwarded-For is the client 127.0.0.2`, async () => {
        const since = router.access.length;
        const c = await RawClient.connectTo("127.0.0.1", router.port(`to_hap_${v}`), "127.0.0.2");
        const body = await askXff(c, `/via-${v}`);
        assert.deepEqual(body, { xff: "127.0.0.2", url: `/via-${v}` });
        const log = await router.waitForAccess(
          (x) => x.client === `127.0.0.2:${c.port}`,
          `the ${v} connection's log`,
          since,
        );
        assert.equal(log.backend, `hap_http_${v}`);
        assert.equal(log.outcome, "ok");
        c.socket.destroy();
      });
    }

    test("tls passthrough v2: HAProxy reads the AUTHORITY TLV (SNI) and the client", async () => {
      const c = await RawClient.connectTo("127.0.0.1", router.port("tls_to_hap"), "127.0.0.2");
      await c.write(hello);
      c.socket.end();
      // HAProxy re-sends what it parsed from our header (send-proxy-v2, authority option).
      const got = await viaHaproxy.finished(
        (b) => b.length >= 16 && b.subarray(0, 12).equals(V2_SIG),
        "HAProxy's v2 header and the ClientHello",
      );
      assert.equal(got[12], 0x21, "PROXY command");
      assert.equal(got[13], 0x11, "TCP over IPv4");
      const len = got.readUInt16BE(14);
      assert.deepEqual([...got.subarray(16, 20)], [127, 0, 0, 2], "source: the client");
      assert.deepEqual([...got.subarray(20, 24)], [127, 0, 0, 1], "destination: the router");
      assert.equal(got.readUInt16BE(24), c.port);
      assert.equal(got.readUInt16BE(26), router.port("tls_to_hap"));
      const tlvs = new Map<number, string>();
      for (let p = 28; p < 16 + len;) {
        const n = got.readUInt16BE(p + 1);
        tlvs.set(got[p], got.subarray(p + 3, p + 3 + n).toString("latin1"));
        p += 3 + n;
      }
      assert.equal(tlvs.get(0x02), HELLO_SNI, "HAProxy saw our AUTHORITY TLV");
      assert.ok(got.subarray(16 + len).equals(hello), "the ClientHello follows unchanged");
      await c.closedByPeer("the close");
    });
  });

  describe("HAProxy send-proxy in front of Switchyard: the original client 127.0.0.3", () => {
    for (const [v, port] of [["v1", () => hp.send1], ["v2", () => hp.send2]] as const) {
      test(`send-proxy${v === "v2" ? "-v2" : ""}: http listener logs and forwards 127.0.0.3`, async () => {
        const c = await RawClient.connectTo("127.0.0.3", port(), "127.0.0.3");
        const body = await askXff(c, `/from-hap-${v}`);
        assert.deepEqual(body, { xff: "127.0.0.3", url: `/from-hap-${v}` });
        const log = await router.waitForAccess(
          (x) => x.listener === "from_hap_http" && x.path === `/from-hap-${v}`,
          "the request's log",
        );
        assert.equal(log.client, `127.0.0.3:${c.port}`, "the client from HAProxy's header");
        assert.equal(log.status, 200);
        c.socket.destroy();
      });
    }

    test("send-proxy-v2 into a tcp listener: the header Switchyard sends on names 127.0.0.3", async () => {
      const since = router.access.length;
      const c = await RawClient.connectTo("127.0.0.3", hp.send2tcp, "127.0.0.3");
      const payload = pattern(100_000, 7);
      await c.write(payload);
      c.socket.end();
      const line = `PROXY TCP4 127.0.0.3 127.0.0.3 ${c.port} ${hp.send2tcp}\r\n`;
      const got = await rec.finished(
        (b) => b.subarray(0, line.length).toString("latin1") === line,
        "the v1 header naming 127.0.0.3",
      );
      assert.ok(got.equals(Buffer.concat([Buffer.from(line), payload])), "header + payload");
      await c.closedByPeer("the close");
      const log = await router.waitForAccess(
        (x) => x.listener === "from_hap_tcp" && x.client === `127.0.0.3:${c.port}`,
        "the connection's log",
        since,
      );
      assert.equal(log.bytes_in, payload.length);
      assert.equal(log.outcome, "ok");
    });
  });

  describe("refusals: closed, logged, and the backend never contacted", () => {
    /**
     * Access records of one client on one listener, from log index `since` on (a source port
     * the kernel handed out again would otherwise find an earlier connection's record).
     */
    const recordsOf = (listener: string, client: string, since: number) =>
      router.access.slice(since).filter((x) => x.listener === listener && x.client === client);

    /**
     * Waits for every log line of connections refused before it on `listener`: a connection
     * from the trusted 127.0.0.3 without a header is refused at once, and logged after them.
     */
    async function barrier(listener: string): Promise<void> {
      const since = router.access.length;
      const c = await RawClient.connectTo("127.0.0.1", router.port(listener), "127.0.0.3");
      c.socket.write("x\r\n");
      await c.closedByPeer("the barrier's close");
      await router.waitForAccess(
        (x) => x.listener === listener && x.client === `127.0.0.3:${c.port}`,
        "the barrier's log",
        since,
      );
      c.socket.destroy();
    }

    /** Sends `wire` from `from` to `listener`; waits for the close and the `outcome` record. */
    async function refused(
      listener: string,
      from: string,
      wire: Uint8Array | string,
      outcome: string,
    ) {
      const since = router.access.length;
      const c = await RawClient.connectTo("127.0.0.1", router.port(listener), from);
      // Not awaited: the router may close before it has read everything (EPIPE/ECONNRESET).
      c.socket.write(wire);
      await c.closedByPeer("the router to close");
      const client = `${from}:${c.port}`;
      const log = await router.waitForAccess(
        (x) => x.listener === listener && x.client === client && x.outcome === outcome,
        `the ${outcome} log`,
        since,
      );
      c.socket.destroy();
      return { c, client, log, since };
    }

    const untrustedV1 = `PROXY TCP4 198.51.100.7 127.0.0.1 4444 80\r\n${get("/untrusted")}`;
    const untrustedV2 = Buffer.concat([
      v2Header(4, ipv4("198.51.100.7"), ipv4("127.0.0.1"), 4444, 80),
      Buffer.from(get("/untrusted")),
    ]);

    for (const [kind, wire] of [["v1", untrustedV1], ["v2", untrustedV2]] as const) {
      test(`a ${kind} header from an untrusted source (http listener): logged once, no response`, async () => {
        const before = victim.accepted;
        const { c, client, log, since } = await refused(
          "guarded_http",
          "127.0.0.2",
          wire,
          "proxy_untrusted",
        );
        assert.match(String(log.reason), /127\.0\.0\.2.*not in accept_proxy\.from/);
        assert.equal(c.bytes.length, 0, "no response");
        await barrier("guarded_http");
        assert.equal(recordsOf("guarded_http", client, since).length, 1, "one log line");
        assert.equal(victim.accepted, before, "the backend was never contacted");
      });
    }

    test("a header from an untrusted source (tls listener): the backend is never contacted", async () => {
      const before = victim.accepted;
      const { log } = await refused("guarded_tls", "127.0.0.2", untrustedV2, "proxy_untrusted");
      assert.match(String(log.reason), /not in accept_proxy\.from/);
      await barrier("guarded_tls");
      assert.equal(victim.accepted, before, "the backend was never contacted");
    });

    for (const [kind, wire] of [["v1", untrustedV1], ["v2", untrustedV2]] as const) {
      test(`a ${kind} header from an untrusted source (tcp listener): none of it reaches the backend`, async () => {
        const before = victim.accepted;
        const { log } = await refused("guarded_tcp", "127.0.0.2", wire, "proxy_untrusted");
        assert.match(String(log.reason), /not in accept_proxy\.from/);
        // With accept_proxy, a tcp listener waits for an untrusted client's first bytes before
        // it connects, so the backend sees neither a connection nor a byte.
        const mine = victim.recordings.slice(before);
        await victim.until(
          () => mine.every((r) => r.closed) || undefined,
          "the router to close the backend connection",
        );
        for (const r of mine) assert.equal(r.bytes.length, 0, "no byte reached the backend");
      });
    }

    test("an untrusted header on tcp and tls listeners: logged once, backend never contacted", async () => {
      for (const listener of ["guarded_tcp", "guarded_tls"]) {
        const before = victim.accepted;
        const { client, since } = await refused(
          listener,
          "127.0.0.2",
          untrustedV1,
          "proxy_untrusted",
        );
        await barrier(listener);
        assert.equal(recordsOf(listener, client, since).length, 1, `${listener}: one log line`);
        assert.equal(victim.accepted, before, `${listener}: the backend was never contacted`);
      }
    });

    test("an untrusted source without a header is served as usual", async () => {
      const c = await RawClient.connectTo("127.0.0.1", router.port("guarded_tcp"), "127.0.0.2");
      const payload = te.encode("PROXZ not a header, just bytes\r\n");
      await c.write(payload);
      c.socket.end();
      const got = await victim.finished((b) => b.equals(payload), "the plain bytes");
      assert.ok(got.equals(payload));
      await c.closedByPeer("the close");
    });

    for (const listener of ["guarded_tcp", "guarded_http"]) {
      test(`a trusted source without a header (${listener}): proxy_missing, no response`, async () => {
        const before = victim.accepted;
        const { c, client, since } = await refused(
          listener,
          "127.0.0.3",
          get("/no-header"),
          "proxy_missing",
        );
        assert.equal(c.bytes.length, 0, "no response");
        await barrier(listener);
        assert.equal(recordsOf(listener, client, since).length, 1, "one log line");
        assert.equal(victim.accepted, before, "the backend was never contacted");
      });
    }

    test("a trusted source whose header stops short: inspect_timeout", async () => {
      const before = victim.accepted;
      const t0 = Date.now();
      const { log } = await refused(
        "guarded_tcp",
        "127.0.0.3",
        "PROXY TCP4 198.51.100.7 127.0.0.1 44",
        "inspect_timeout",
      );
      const waited = Date.now() - t0;
      assert.match(String(log.reason), /PROXY header within 500 ms/);
      assert.ok(
        waited >= 400 && waited < 3000,
        `closed after ${waited} ms (inspect_timeout 500ms)`,
      );
      assert.equal(victim.accepted, before, "the backend was never contacted");
    });

    test("a trusted source sending a malformed header: proxy_invalid", async () => {
      const before = victim.accepted;
      const { log } = await refused(
        "guarded_tcp",
        "127.0.0.3",
        "PROXY TCP4 127.0.0.1 ::1 1 2\r\nhello",
        "proxy_invalid",
      );
      assert.match(String(log.reason), /"::1" is not an IPv4 address/);
      assert.equal(victim.accepted, before, "the backend was never contacted");
    });
  });

  describe("the headers Switchyard sends, byte for byte", () => {
    /** Sends `payload` from `from` to `listener` and returns what the recorder got. */
    async function through(
      listener: string,
      from: string,
      payload: Uint8Array,
      expected: (c: RawClient) => Buffer,
      host = "127.0.0.1",
    ): Promise<void> {
      const c = await RawClient.connectTo(host, router.port(listener), from);
      const want = Buffer.concat([expected(c), payload]);
      await c.write(payload);
      c.socket.end();
      const head = want.subarray(0, want.length - payload.length);
      const got = await rec.finished(
        (b) => b.subarray(0, head.length).equals(head),
        `the header ${JSON.stringify(head.toString("latin1"))}`,
      );
      assert.equal(got.length, want.length);
      assert.ok(got.equals(want), "header then payload, exactly");
      await c.closedByPeer("the close");
    }

    /** A payload that itself starts like a PROXY header: it must arrive untouched. */
    const tricky = Buffer.concat([
      Buffer.from("PROXY TCP4 203.0.113.1 203.0.113.2 1 2\r\n"),
      V2_SIG,
      pattern(256 * 1024 + 3, 11),
    ]);

    test("v1, IPv4 client 127.0.0.2", async () => {
      await through("pp_v1", "127.0.0.2", tricky, (c) =>
        Buffer.from(
          `PROXY TCP4 127.0.0.2 127.0.0.1 ${c.port} ${router.port("pp_v1")}\r\n`,
        ));
    });

    test("v2, IPv4 client 127.0.0.2: the exact 28-byte header", async () => {
      await through("pp_v2", "127.0.0.2", tricky, (c) => {
        const h = v2Header(4, ipv4("127.0.0.2"), ipv4("127.0.0.1"), c.port, router.port("pp_v2"));
        assert.equal(h.length, 28);
        assert.deepEqual([...h.subarray(12, 16)], [0x21, 0x11, 0x00, 0x0c]);
        return h;
      });
    });

    test("v2 on a tls listener: AUTHORITY TLV with the SNI, then the ClientHello", async () => {
      await through("tls_v2", "127.0.0.2", hello, (c) => {
        const h = v2Header(
          4,
          ipv4("127.0.0.2"),
          ipv4("127.0.0.1"),
          c.port,
          router.port("tls_v2"),
          [[0x02, te.encode(HELLO_SNI)]],
        );
        assert.equal(h.readUInt16BE(14), 12 + 3 + HELLO_SNI.length);
        return h;
      });
    });

    test("v1 from an http listener: the header, then the request", async () => {
      const c = await RawClient.connectTo("127.0.0.1", router.port("http_pp"), "127.0.0.2");
      await c.write(get("/http-pp"));
      const got = await rec.until(
        () => rec.recordings.find((r) => r.bytes.includes("/http-pp"))?.bytes,
        "the request at the backend",
      );
      c.socket.destroy();
      const line = `PROXY TCP4 127.0.0.2 127.0.0.1 ${c.port} ${router.port("http_pp")}\r\n`;
      assert.equal(got.subarray(0, line.length + 13).toString("latin1"), `${line}GET /http-pp `);
    });

    test("v1, IPv6 client ::1", async (t) => {
      if (!v6) {
        t.skip("IPv6 loopback (::1) is not available on this host");
        return;
      }
      await through(
        "pp6_v1",
        "::1",
        tricky,
        (c) => Buffer.from(`PROXY TCP6 ::1 ::1 ${c.port} ${router.port("pp6_v1")}\r\n`),
        "::1",
      );
    });

    test("v2, IPv6 client ::1: family 0x21, length 36", async (t) => {
      if (!v6) {
        t.skip("IPv6 loopback (::1) is not available on this host");
        return;
      }
      await through("pp6_v2", "::1", tricky, (c) => {
        const h = v2Header(6, LOOPBACK6, LOOPBACK6, c.port, router.port("pp6_v2"));
        assert.equal(h.length, 52);
        assert.deepEqual([...h.subarray(12, 16)], [0x21, 0x21, 0x00, 0x24]);
        return h;
      }, "::1");
    });
  });

  describe("a received header becomes the client of the header sent on", () => {
    /**
     * Sends `header` + `payload` (in `writes` pieces) to `listener` from 127.0.0.1 and checks
     * that the recorder gets `expected` + `payload`; returns the access record.
     */
    async function relay(
      listener: string,
      header: Uint8Array,
      payload: Uint8Array,
      expected: Uint8Array,
      client: string,
      split = false,
    ): Promise<Record<string, unknown>> {
      const since = router.access.length;
      const c = await RawClient.connectTo("127.0.0.1", router.port(listener), "127.0.0.1");
      const wire = Buffer.concat([header, payload]);
      if (split) {
        // The header in two pieces, the second with the payload.
        await c.write(wire.subarray(0, 7));
        await c.write(wire.subarray(7));
      } else await c.write(wire);
      c.socket.end();
      const want = Buffer.concat([expected, payload]);
      const got = await rec.finished(
        (b) => b.subarray(0, expected.length).equals(Buffer.from(expected)),
        `the header ${JSON.stringify(Buffer.from(expected).toString("latin1"))}`,
      );
      assert.equal(got.length, want.length);
      assert.ok(got.equals(want), "header then payload, exactly");
      await c.closedByPeer("the close");
      const log = await router.waitForAccess(
        (x) => x.listener === listener && x.client === client,
        `the log of ${client}`,
        since,
      );
      assert.equal(log.bytes_in, payload.length, "bytes_in counts the payload only");
      assert.equal(log.outcome, "ok");
      return log;
    }

    // Larger than a v2 header can be (16 + 65535): one read may carry the header and all this.
    const payload = Buffer.concat([
      Buffer.from("PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\n"),
      pattern(300_001, 3),
    ]);

    test("v1 in, v2 out: the header's IPv4 addresses and ports, payload unchanged", async () => {
      await relay(
        "trusted_v2",
        te.encode("PROXY TCP4 192.0.2.10 198.51.100.20 40000 443\r\n"),
        payload,
        v2Header(4, ipv4("192.0.2.10"), ipv4("198.51.100.20"), 40000, 443),
        "192.0.2.10:40000",
        true,
      );
    });

    test("v2 in, v1 out", async () => {
      await relay(
        "trusted_v1",
        v2Header(4, ipv4("192.0.2.11"), ipv4("198.51.100.21"), 40001, 8443),
        payload,
        te.encode("PROXY TCP4 192.0.2.11 198.51.100.21 40001 8443\r\n"),
        "192.0.2.11:40001",
      );
    });

    test("TCP6 header from an IPv4 peer: TCP6 out with the header's addresses", async () => {
      await relay(
        "trusted_v1",
        te.encode("PROXY TCP6 2001:DB8:0:0::1 2001:db8::2 40002 443\r\n"),
        payload,
        te.encode("PROXY TCP6 2001:db8::1 2001:db8::2 40002 443\r\n"),
        "[2001:db8::1]:40002",
      );
    });

    test("mixed families (IPv4-mapped client in a TCP6 header): v1 UNKNOWN, never ::ffff:", async () => {
      const log = await relay(
        "trusted_v1",
        te.encode("PROXY TCP6 ::ffff:192.0.2.12 2001:db8::2 40003 443\r\n"),
        payload,
        te.encode("PROXY UNKNOWN\r\n"),
        "192.0.2.12:40003",
      );
      assert.doesNotMatch(JSON.stringify(log), /ffff/i);
    });

    test("mixed families: v2 PROXY with AF_UNSPEC and no addresses", async () => {
      const mapped = [...new Array(10).fill(0), 0xff, 0xff, 192, 0, 2, 13];
      const dst = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 2];
      const log = await relay(
        "trusted_v2",
        v2Header(6, mapped, dst, 40004, 443),
        payload,
        V2_UNSPEC,
        "192.0.2.13:40004",
      );
      assert.doesNotMatch(JSON.stringify(log), /ffff/i);
    });

    test("PROXY UNKNOWN in: the real peer is the client, and is announced", async () => {
      const c = await RawClient.connectTo("127.0.0.1", router.port("trusted_v1"), "127.0.0.1");
      await c.write(Buffer.concat([te.encode("PROXY UNKNOWN\r\n"), payload]));
      c.socket.end();
      const line = `PROXY TCP4 127.0.0.1 127.0.0.1 ${c.port} ${router.port("trusted_v1")}\r\n`;
      const got = await rec.finished(
        (b) => b.subarray(0, line.length).toString("latin1") === line,
        "the header naming the real peer",
      );
      assert.ok(got.equals(Buffer.concat([Buffer.from(line), payload])));
      await c.closedByPeer("the close");
    });
  });
});
