/**
 * The PROXY-accept step in process, over fake connections: a trusted peer's v1 or v2 header is
 * consumed and its addresses become the connection's, the bytes after it reach the session
 * unchanged however the reads split them, a bad or missing header is refused with its reason
 * and the connection closed; an untrusted peer's bytes pass through unchanged unless they start
 * a PROXY header, which is refused.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  guardUntrusted,
  isGuarded,
  PROXY_REFUSED,
  type ProxyRefusal,
  readProxyHeader,
} from "../../src/proxy/proxy_accept.ts";
import type { Conn, ConnHandlers } from "../../src/runtime/types.ts";
import { encodeProxyV2 } from "../../src/proxy_protocol/encode.ts";
import type { ProxyHeader } from "../../src/proxy_protocol/header.ts";
import {
  bytes,
  CLIENT,
  FakeConn,
  join,
  latin1,
  settle,
  until,
  wake,
} from "../helpers/fake_conn.ts";

/** What a session sees of the connection handed to it. */
class Session implements ConnHandlers {
  chunks: Uint8Array[] = [];
  ended = false;
  err: Error | null = null;
  data(chunk: Uint8Array): void {
    this.chunks.push(chunk.slice());
    wake();
  }
  end(): void {
    this.ended = true;
    wake();
  }
  drain(): void {}
  error(err: Error): void {
    this.err = err;
    wake();
  }
  get text(): string {
    return latin1(join(this.chunks));
  }
}

type Result = { conn: Conn; header: ProxyHeader } | ProxyRefusal;

/**
 * A trusted peer sending `reads` one after another; as instance.ts does, the session starts
 * on the wrapped connection as soon as the step hands it over.
 */
function trusted(timeoutMs = 60_000) {
  const peer = new FakeConn({ name: "peer" });
  const session = new Session();
  const results: Result[] = [];
  readProxyHeader(peer, timeoutMs, (r) => {
    results.push(r);
    wake();
    if (!("outcome" in r)) r.conn.start(session);
  });
  const detail = () => `${peer.describe()}\nsession saw ${JSON.stringify(session.text)}`;
  return { peer, session, results, detail };
}

const V1 = bytes("PROXY TCP4 203.0.113.7 198.51.100.1 51000 443\r\n");
const V2 = encodeProxyV2({
  command: "proxy",
  source: { family: 6, address: "2001:db8::7", port: 51000 },
  destination: { family: 6, address: "2001:db8::1", port: 443 },
  authority: "app.example",
});
/** Payload that would confuse a parser if any of it were taken for header (or dropped). */
const PAYLOAD = bytes("GET / HTTP/1.1\r\nHost: app.example\r\n\r\nPROXY TCP4 1.2.3.4\r\n\x00\xff");

describe("readProxyHeader (trusted peer)", () => {
  test("a v1 header is consumed and its addresses become the connection's", async () => {
    const { peer, session, results, detail } = trusted();
    peer.push(join([V1, PAYLOAD]));
    await until(() => session.chunks.length > 0, "the payload", detail);
    const r = results[0];
    assert.ok(!("outcome" in r), JSON.stringify(r));
    assert.equal(r.header.version, 1);
    assert.deepEqual(r.conn.remote, { host: "203.0.113.7", port: 51000, family: 4 });
    assert.deepEqual(r.conn.local, { host: "198.51.100.1", port: 443, family: 4 });
    assert.equal(session.text, latin1(PAYLOAD));
    assert.equal(peer.closed, false);
  });

  test("a v2 header is consumed, its addresses and TLVs reported", async () => {
    const { peer, session, results, detail } = trusted();
    peer.push(join([V2, PAYLOAD]));
    await until(() => session.chunks.length > 0, "the payload", detail);
    const r = results[0];
    assert.ok(!("outcome" in r), JSON.stringify(r));
    assert.equal(r.header.version, 2);
    assert.equal(r.header.authority, "app.example");
    assert.deepEqual(r.conn.remote, { host: "2001:db8::7", port: 51000, family: 6 });
    assert.deepEqual(r.conn.local, { host: "2001:db8::1", port: 443, family: 6 });
    assert.equal(session.text, latin1(PAYLOAD));
  });

  test("a LOCAL v2 header (a health check) keeps the socket's own addresses", async () => {
    const { peer, session, results, detail } = trusted();
    peer.push(join([encodeProxyV2({ command: "local" }), PAYLOAD]));
    await until(() => session.chunks.length > 0, "the payload", detail);
    const r = results[0];
    assert.ok(!("outcome" in r));
    assert.deepEqual(r.conn.remote, CLIENT);
  });

  for (const [name, header] of [["v1", V1], ["v2", V2]] as const) {
    test(`${name}: the bytes after the header arrive unchanged, split in two at every position`, async () => {
      const stream = join([header, PAYLOAD]);
      for (let cut = 0; cut <= stream.length; cut++) {
        const { peer, session, results, detail } = trusted();
        peer.push(stream.subarray(0, cut));
        peer.push(stream.subarray(cut));
        peer.push("|later");
        peer.pushEnd();
        await until(() => session.ended, `the end, cut at ${cut}`, detail);
        assert.equal(results.length, 1, `one result, cut at ${cut}`);
        assert.ok(!("outcome" in results[0]), `cut at ${cut}: ${JSON.stringify(results[0])}`);
        assert.equal(session.text, latin1(PAYLOAD) + "|later", `cut at ${cut}`);
      }
    });

    test(`${name}: the bytes after the header arrive unchanged, one byte per read`, async () => {
      const { peer, session, results, detail } = trusted();
      const stream = join([header, PAYLOAD]);
      for (let i = 0; i < stream.length; i++) peer.push(stream.subarray(i, i + 1));
      peer.pushEnd();
      await until(() => session.ended, "the end", detail);
      assert.ok(!("outcome" in results[0]));
      assert.equal(session.text, latin1(PAYLOAD));
    });
  }

  test("a session that starts reading later still gets the bytes past the header first", async () => {
    const peer = new FakeConn({ name: "peer" });
    let handed: Conn | null = null;
    readProxyHeader(peer, 60_000, (r) => {
      if (!("outcome" in r)) handed = r.conn;
      wake();
    });
    peer.push(join([V1, bytes("first|")]));
    peer.push("second|");
    peer.pushEnd();
    await until(() => handed !== null, "the header");
    assert.equal(peer.paused, true, "the connection waits, paused, for its session");
    const session = new Session();
    handed!.start(session);
    await until(() => session.ended, "the end", peer.describe.bind(peer));
    assert.equal(session.text, "first|second|");
  });

  test("a session that pauses before the replay gets nothing until it resumes", async () => {
    const peer = new FakeConn({ name: "peer" });
    const session = new Session();
    let handed: Conn | null = null;
    readProxyHeader(peer, 60_000, (r) => {
      if ("outcome" in r) return;
      handed = r.conn;
      r.conn.start(session);
      r.conn.pause();
      wake();
    });
    peer.push(join([V1, bytes("rest")]));
    peer.push("more");
    await until(() => handed !== null, "the header");
    await settle();
    assert.deepEqual(session.chunks, [], "paused: no replay");
    handed!.resume();
    await until(
      () => session.text === "restmore",
      "the bytes after resume",
      peer.describe.bind(peer),
    );
  });

  const refusals: [string, Uint8Array, ProxyRefusal["outcome"], RegExp][] = [
    [
      "a bad address",
      bytes("PROXY TCP4 999.1.1.1 198.51.100.1 51000 443\r\n"),
      "proxy_invalid",
      /PROXY v1 TCP4 source address "999\.1\.1\.1" is not an IPv4 address/,
    ],
    [
      "a bare LF",
      bytes("PROXY TCP4 203.0.113.7 198.51.100.1 51000 443\n"),
      "proxy_invalid",
      /bare LF/,
    ],
    [
      "an unknown protocol",
      bytes("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"),
      "proxy_invalid",
      /protocol "UDP4" is not TCP4, TCP6 or UNKNOWN/,
    ],
    [
      "no header at all",
      bytes("GET / HTTP/1.1\r\n\r\n"),
      "proxy_missing",
      /did not start with a PROXY header/,
    ],
  ];
  for (const [name, input, outcome, reason] of refusals) {
    test(`a header with ${name} is refused (${outcome}) with its reason; the peer is closed`, async () => {
      const { peer, results, detail } = trusted();
      peer.push(input);
      await until(() => results.length > 0, "the refusal", detail);
      const r = results[0];
      assert.ok("outcome" in r, "refused");
      assert.equal(r.outcome, outcome);
      assert.match(r.reason, reason);
      assert.equal(peer.ended, true, "FIN first");
      assert.equal(peer.closed, true);
      assert.equal(results.length, 1);
    });
  }

  test("a peer that closes inside the header is refused as client_closed", async () => {
    const { peer, results, detail } = trusted();
    peer.push(V1.subarray(0, 20));
    peer.pushEnd();
    await until(() => results.length > 0, "the refusal", detail);
    assert.deepEqual(results[0], {
      outcome: "client_closed",
      reason: "closed before the PROXY header was complete",
    });
    assert.equal(peer.closed, true);
  });

  test("a peer that stalls inside the header is refused at the timeout", async () => {
    const { peer, results, detail } = trusted(1);
    peer.push(V2.subarray(0, 14));
    await until(() => results.length > 0, "the refusal", detail);
    assert.ok("outcome" in results[0]);
    assert.equal(results[0].outcome, "inspect_timeout");
    assert.match(results[0].reason, /no complete PROXY header within 1 ms/);
    assert.equal(peer.closed, true);
  });
});

describe("guardUntrusted (peer outside accept_proxy.from)", () => {
  function guarded() {
    const peer = new FakeConn({ name: "untrusted" });
    const refusals: ProxyRefusal[] = [];
    const conn = guardUntrusted(peer, (r) => {
      refusals.push(r);
      wake();
    });
    const session = new Session();
    conn.start(session);
    const detail = () => `${peer.describe()}\nsession saw ${JSON.stringify(session.text)}`;
    return { peer, conn, refusals, session, detail };
  }

  test("is reported as guarded, with the socket's own addresses", () => {
    const { conn, peer } = guarded();
    assert.equal(isGuarded(conn), true);
    assert.equal(isGuarded(peer), false);
    assert.deepEqual(conn.remote, peer.remote);
    assert.deepEqual(conn.local, peer.local);
  });

  test("ordinary bytes reach the session unchanged, split in two at every position", async () => {
    // Starts like a PROXY v1 line for five bytes, then is not one.
    const stream = bytes("PROXZ / HTTP/1.1\r\nHost: a\r\n\r\n\x0d\x0a\x00\x0d\x0a");
    for (let cut = 0; cut <= stream.length; cut++) {
      const { peer, refusals, session, detail } = guarded();
      peer.push(stream.subarray(0, cut));
      peer.push(stream.subarray(cut));
      peer.push("|more");
      peer.pushEnd();
      await until(() => session.ended, `the end, cut at ${cut}`, detail);
      assert.deepEqual(refusals, [], `cut at ${cut}`);
      assert.equal(session.text, latin1(stream) + "|more", `cut at ${cut}`);
      assert.equal(session.err, null);
    }
  });

  test("bytes held while undecided are delivered before the peer's FIN", async () => {
    const { peer, session, refusals, detail } = guarded();
    peer.push("PRO");
    assert.deepEqual(session.chunks, [], "a possible signature is held");
    peer.pushEnd();
    await until(() => session.ended, "the end", detail);
    assert.equal(session.text, "PRO");
    assert.deepEqual(refusals, []);
  });

  for (const [name, header] of [["v1", V1], ["v2", V2]] as const) {
    test(`a ${name} header is refused as proxy_untrusted at whatever read it shows in`, async () => {
      for (let cut = 0; cut <= 16; cut++) {
        const { peer, refusals, session, detail } = guarded();
        peer.push(header.subarray(0, cut));
        peer.push(join([header.subarray(cut), PAYLOAD]));
        await until(() => refusals.length > 0, `the refusal, cut at ${cut}`, detail);
        assert.equal(refusals.length, 1);
        assert.equal(refusals[0].outcome, "proxy_untrusted");
        assert.equal(
          refusals[0].reason,
          `PROXY header from ${CLIENT.host}, which is not in accept_proxy.from`,
        );
        assert.equal(session.text, "", `cut at ${cut}: nothing of it reaches the session`);
        assert.equal(session.err?.name, PROXY_REFUSED, "the session is told to let go");
        assert.equal(peer.ended, true);
        assert.equal(peer.closed, true);
      }
    });
  }
});
