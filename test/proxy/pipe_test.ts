/**
 * Pipe in process, between two fake connections: bytes arrive exactly and in order both ways,
 * each FIN is passed on as a half-close while the other direction keeps flowing, a write that
 * returns false pauses the reader until its drain, and an error (or the idle sweep) closes both
 * sides and reports the end once.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Pipe, type PipeOutcome } from "../../src/proxy/pipe.ts";
import { bytes, FakeConn, join, until } from "../helpers/fake_conn.ts";

/** Long enough that the clock's sweeper never ends a pipe under test by itself. */
const IDLE_MS = 600_000;

interface Ended {
  outcome: PipeOutcome;
  err: Error | null;
}

/** A client and a server joined by a Pipe, recording how (and how often) it ended. */
function piped(head: Uint8Array | null = null, server = new FakeConn({ name: "server" })) {
  const client = new FakeConn({ name: "client" });
  const counters = { bytesIn: 0, bytesOut: 0 };
  const ends: Ended[] = [];
  const pipe = new Pipe(client, server, head, counters, IDLE_MS, (outcome, err) => {
    ends.push({ outcome, err });
  });
  const detail = () => `${client.describe()}\n${server.describe()}`;
  return { client, server, counters, ends, pipe, detail };
}

/** Every byte value, so that nothing is decoded or re-encoded on the way. */
function allBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe("Pipe", () => {
  test("bytes arrive exactly and in order in both directions, one write per chunk read", async () => {
    const { client, server, counters, ends, detail } = piped();
    const up = [allBytes(1, 1), allBytes(4096, 2), allBytes(257, 3), bytes("tail")];
    const down = [allBytes(3000, 4), allBytes(1, 5), allBytes(70_000, 6)];
    for (let i = 0; i < Math.max(up.length, down.length); i++) {
      if (i < up.length) client.push(up[i]);
      if (i < down.length) server.push(down[i]);
    }
    assert.deepEqual(server.written, join(up), detail());
    assert.deepEqual(client.written, join(down), detail());
    assert.equal(server.writes.length, up.length, "no chunk split or merged on the way up");
    assert.equal(client.writes.length, down.length, "no chunk split or merged on the way down");
    assert.equal(counters.bytesIn, join(up).length);
    assert.equal(counters.bytesOut, join(down).length);

    client.pushEnd();
    server.pushEnd();
    await until(() => ends.length > 0, "the pipe to end", detail);
    assert.deepEqual(ends, [{ outcome: "ok", err: null }]);
  });

  test("bytes read while sniffing (head) reach the server first, before anything newer", async () => {
    const { client, server, pipe, ends, detail } = piped(bytes("HEAD-BYTES|"));
    assert.deepEqual(server.writes.map((w) => new TextDecoder().decode(w)), ["HEAD-BYTES|"]);
    assert.equal(client.paused, false, "reading resumes once the head is written");
    client.push("after");
    assert.equal(server.text, "HEAD-BYTES|after");
    assert.equal(pipe.up.bytes, "HEAD-BYTES|after".length, "the head counts as client bytes");
    client.fail();
    await until(() => ends.length > 0, "the pipe to end", detail);
  });

  test("a head whose write is queued keeps the client paused until the server drains", async () => {
    const server = new FakeConn({ name: "server" });
    server.backpressure = true;
    const { client, ends, detail } = piped(bytes("head"), server);
    client.push("next");
    assert.equal(client.paused, true);
    assert.equal(server.text, "head", "nothing read past the head while its write is queued");
    server.backpressure = false;
    server.drain();
    await until(() => server.text === "headnext", "the held bytes after the drain", detail);
    client.fail();
    await until(() => ends.length > 0, "the pipe to end", detail);
  });

  test("the client's FIN half-closes the server; the server's bytes still reach the client", async () => {
    const { client, server, ends, detail } = piped();
    client.push("request");
    client.pushEnd();
    assert.equal(server.ended, true, "FIN passed on to the server");
    assert.equal(server.closed, false, "half-close, not close");
    assert.equal(client.ended, false, "the other direction is still open");
    assert.equal(client.closed, false);

    server.push("response part 1, ");
    server.push("part 2");
    assert.equal(client.text, "response part 1, part 2");
    assert.deepEqual(ends, [], "not done while one direction flows");

    server.pushEnd();
    assert.equal(client.ended, true, "FIN passed on to the client");
    await until(() => ends.length > 0, "the pipe to end", detail);
    assert.deepEqual(ends, [{ outcome: "ok", err: null }]);
    assert.equal(client.closeCalls, 1);
    assert.equal(server.closeCalls, 1);
    assert.ok(
      server.calls.indexOf("end") < server.calls.indexOf("close"),
      `FIN before close: ${server.describe()}`,
    );
  });

  test("the server's FIN half-closes the client; the client's bytes still reach the server", async () => {
    const { client, server, ends, detail } = piped();
    server.push("banner\r\n");
    server.pushEnd();
    assert.equal(client.ended, true, "FIN passed on to the client");
    assert.equal(client.closed, false, "half-close, not close");
    assert.equal(server.ended, false);

    client.push("late bytes");
    assert.equal(server.text, "late bytes");
    assert.deepEqual(ends, []);

    client.pushEnd();
    assert.equal(server.ended, true);
    await until(() => ends.length > 0, "the pipe to end", detail);
    assert.deepEqual(ends, [{ outcome: "ok", err: null }]);
    assert.equal(client.text, "banner\r\n");
  });

  test("a write that returns false pauses the reader; its drain resumes it, nothing lost", async () => {
    const { client, server, ends, detail } = piped();
    server.backpressure = true;
    client.push("first");
    assert.equal(client.paused, true, "the client is paused while the server's write is queued");
    client.push("second");
    client.push("third");
    assert.equal(server.text, "first", "nothing more is read while paused");
    assert.equal(client.unread, "secondthird".length);

    server.backpressure = false;
    server.drain();
    assert.equal(client.paused, false, "the drain resumes the client");
    await until(() => server.text === "firstsecondthird", "the held bytes", detail);
    assert.deepEqual(
      server.writes.map((w) => new TextDecoder().decode(w)),
      ["first", "second", "third"],
    );

    // The same the other way: a slow client pauses the server.
    client.backpressure = true;
    server.push("down1");
    assert.equal(server.paused, true);
    server.push("down2");
    assert.equal(client.text, "down1");
    client.backpressure = false;
    client.drain();
    assert.equal(server.paused, false);
    await until(() => client.text === "down1down2", "the held bytes downstream", detail);

    client.fail();
    await until(() => ends.length > 0, "the pipe to end", detail);
  });

  test("both FINs in while a write is still queued: closed only after it drains", async () => {
    const { client, server, ends, detail } = piped();
    client.backpressure = true;
    server.push("last words");
    server.pushEnd();
    client.pushEnd();
    assert.deepEqual(ends, [], "a queued write holds the close back");
    assert.equal(client.closed, false, "closing now would drop the queued bytes");
    client.drain();
    await until(() => ends.length > 0, "the pipe to end", detail);
    assert.deepEqual(ends, [{ outcome: "ok", err: null }]);
    assert.equal(client.text, "last words");
  });

  test("a client error closes both sides once and reports client_error once", async () => {
    const { client, server, pipe, ends, detail } = piped();
    client.push("x");
    client.fail("connection reset by peer");
    await until(() => ends.length > 0, "the pipe to end", detail);
    assert.equal(ends.length, 1);
    assert.equal(ends[0].outcome, "client_error");
    assert.match(ends[0].err?.message ?? "", /reset/);
    assert.equal(client.closeCalls, 1);
    assert.equal(server.closeCalls, 1);
    // Whatever comes later (the sweeper, a late event) does not end it again.
    pipe.sweep(Date.now() + 10 * IDLE_MS);
    pipe.fail("server_error", new Error("late"));
    assert.equal(ends.length, 1, "reported once");
    assert.equal(client.closeCalls, 1, "closed once");
    assert.equal(server.closeCalls, 1, "closed once");
  });

  test("a server error closes both sides once and reports server_error", async () => {
    const { client, server, ends, detail } = piped();
    server.fail("boom");
    await until(() => ends.length > 0, "the pipe to end", detail);
    assert.deepEqual(ends.map((e) => e.outcome), ["server_error"]);
    assert.equal(ends[0].err?.message, "boom");
    assert.equal(client.closeCalls, 1);
    assert.equal(server.closeCalls, 1);
  });

  test("a client reset after the server's last byte and FIN went out counts as ok", async () => {
    const { client, server, ends, detail } = piped();
    server.push("bye");
    server.pushEnd();
    client.fail();
    await until(() => ends.length > 0, "the pipe to end", detail);
    assert.deepEqual(ends, [{ outcome: "ok", err: null }]);
  });

  test("no byte for longer than the idle timeout: the sweep closes both with idle_timeout", async () => {
    const { client, server, pipe, ends, detail } = piped();
    client.push("x");
    pipe.sweep(pipe.last + IDLE_MS);
    assert.deepEqual(ends, [], "not at the limit");
    pipe.sweep(pipe.last + IDLE_MS + 1);
    await until(() => ends.length > 0, "the pipe to end", detail);
    assert.deepEqual(ends, [{ outcome: "idle_timeout", err: null }]);
    assert.equal(client.closeCalls, 1);
    assert.equal(server.closeCalls, 1);
  });
});
