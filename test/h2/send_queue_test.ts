/**
 * SendScheduler on its own: streams as plain objects, the hooks recorded, DATA frames parsed
 * back from what it emits. The connections' tests cover it over the wire; these pin the rules
 * both rely on (windows, frame size, round robin, `writable` and its `last`, nested flushes).
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FieldList } from "../../src/h2/connection.ts";
import {
  errorName,
  FLAG,
  FRAME,
  type Frame,
  sniffFrame,
  windowUpdateFrame,
} from "../../src/h2/frame.ts";
import { HpackDecoder } from "../../src/h2/hpack.ts";
import { newSender, type Sender, SendScheduler } from "../../src/h2/send_queue.ts";

/** A frame the scheduler emitted: DATA with its length, or a header block, decoded. */
type Out =
  | { kind: "data"; stream: number; length: number; end: boolean }
  | { kind: "headers"; stream: number; fields: FieldList; end: boolean };

type Hook =
  | { kind: "ended"; stream: number }
  | { kind: "writable"; stream: number; last: boolean }
  | { kind: "fail"; code: string; reason: string }
  | { kind: "streamError"; stream: number; code: string; reason: string };

class Rig {
  readonly streams = new Map<number, Sender>();
  readonly out: Out[] = [];
  readonly hooks: Hook[] = [];
  /** Called from inside `writable`, as an owner that sends its next chunk at once. */
  onWritable: ((s: Sender) => void) | null = null;
  readonly #decoder = new HpackDecoder();
  readonly send = new SendScheduler<Sender>({
    stream: (id) => this.streams.get(id),
    emit: (bytes) => {
      const r = sniffFrame(bytes, 1 << 24);
      assert.equal(r.kind, "match");
      if (r.kind !== "match") return;
      const { type, stream, payload, flags } = r.value;
      const end = (flags & FLAG.END_STREAM) !== 0;
      if (type === FRAME.DATA) {
        assert.equal(r.length, bytes.length, "one DATA frame per emit");
        this.out.push({ kind: "data", stream, length: payload.length, end });
        return;
      }
      // A header block: HEADERS with END_HEADERS, as these tests keep them small.
      assert.equal(type, FRAME.HEADERS);
      assert.notEqual(flags & FLAG.END_HEADERS, 0);
      const decoded = this.#decoder.decode(payload);
      assert.ok("headers" in decoded);
      this.out.push({ kind: "headers", stream, fields: decoded.headers, end });
    },
    ended: (s) => {
      this.hooks.push({ kind: "ended", stream: s.id });
      this.streams.delete(s.id);
    },
    writable: (s, last) => {
      this.hooks.push({ kind: "writable", stream: s.id, last });
      this.onWritable?.(s);
    },
    fail: (code, reason) => this.hooks.push({ kind: "fail", code: errorName(code), reason }),
    streamError: (stream, code, reason) =>
      this.hooks.push({ kind: "streamError", stream, code: errorName(code), reason }),
  });

  open(id: number, window: number): Sender {
    const s = { id, ...newSender(window) };
    this.streams.set(id, s);
    return s;
  }

  /** A WINDOW_UPDATE from the peer, as the connection hands it over. */
  windowUpdate(stream: number, increment: number): boolean {
    const r = sniffFrame(windowUpdateFrame(stream, increment), 1 << 24);
    return this.send.windowUpdate((r as { value: Frame }).value);
  }

  lengths(stream: number): number[] {
    return this.out.filter((o) => o.kind === "data" && o.stream === stream).map((o) =>
      o.kind === "data" ? o.length : 0
    );
  }
}

describe("SendScheduler", () => {
  test("a chunk the windows take whole goes at once: data() is true, no writable", () => {
    const r = new Rig();
    const s = r.open(1, 1000);
    assert.equal(r.send.data(s, new Uint8Array(600), false), true);
    assert.deepEqual(r.out, [{ kind: "data", stream: 1, length: 600, end: false }]);
    assert.equal(s.sendWindow, 400);
    assert.equal(r.send.window, 65535 - 600);
    assert.deepEqual(r.hooks, []);
  });

  test("what the stream window leaves waits; writable once the queue is empty", () => {
    const r = new Rig();
    const s = r.open(1, 100);
    assert.equal(r.send.data(s, new Uint8Array(250), false), false);
    assert.deepEqual(r.lengths(1), [100]);
    s.sendWindow += 100;
    r.send.flush();
    assert.deepEqual(r.hooks, [], "50 bytes still wait");
    s.sendWindow += 100;
    r.send.flush();
    assert.deepEqual(r.lengths(1), [100, 100, 50]);
    assert.deepEqual(r.hooks, [{ kind: "writable", stream: 1, last: false }]);
  });

  test("writable for the chunk that ended the stream says last, and comes before ended", () => {
    const r = new Rig();
    const s = r.open(1, 10);
    assert.equal(r.send.data(s, new Uint8Array(20), true), false);
    s.sendWindow += 10;
    r.send.flush();
    assert.deepEqual(r.out.at(-1), { kind: "data", stream: 1, length: 10, end: true });
    assert.deepEqual(r.hooks, [
      { kind: "writable", stream: 1, last: true },
      { kind: "ended", stream: 1 },
    ]);
  });

  test("the connection window and the peer's SETTINGS_MAX_FRAME_SIZE bound each frame", () => {
    const r = new Rig();
    r.send.window = 50_000;
    r.send.maxFrame = 20_000;
    const s = r.open(1, 1 << 20);
    assert.equal(r.send.data(s, new Uint8Array(60_000), true), false);
    assert.deepEqual(r.lengths(1), [20_000, 20_000, 10_000]);
    r.send.window += 10_000;
    r.send.flush();
    assert.deepEqual(r.lengths(1), [20_000, 20_000, 10_000, 10_000]);
    assert.deepEqual(r.hooks.map((h) => h.kind), ["writable", "ended"]);
  });

  test("streams take turns, one frame each per round", () => {
    const r = new Rig();
    r.send.maxFrame = 16384;
    const a = r.open(1, 1 << 20);
    const b = r.open(3, 1 << 20);
    r.send.block();
    r.send.data(a, new Uint8Array(40_000), true);
    r.send.data(b, new Uint8Array(20_000), true);
    assert.equal(r.out.length, 0, "the socket is full");
    r.send.drained();
    assert.deepEqual(r.out.map((o) => o.stream), [1, 3, 1, 3, 1]);
  });

  test("trailers go after the queued data and end the stream; a bare end is an empty DATA", () => {
    const r = new Rig();
    const s = r.open(1, 5);
    r.send.data(s, new Uint8Array(10), false);
    r.send.trailers(s, [["grpc-status", "0"]]);
    assert.deepEqual(r.out, [{ kind: "data", stream: 1, length: 5, end: false }]);
    s.sendWindow += 5;
    r.send.flush();
    assert.deepEqual(r.out.slice(1), [
      { kind: "data", stream: 1, length: 5, end: false },
      { kind: "headers", stream: 1, fields: [["grpc-status", "0"]], end: true },
    ]);
    assert.deepEqual(r.hooks, [
      { kind: "writable", stream: 1, last: false },
      { kind: "ended", stream: 1 },
    ]);
    const t = r.open(3, 0);
    assert.equal(r.send.data(t, new Uint8Array(0), true), true, "an empty end needs no window");
    assert.deepEqual(r.out.at(-1), { kind: "data", stream: 3, length: 0, end: true });
  });

  test("a forgotten stream sends nothing more", () => {
    const r = new Rig();
    const s = r.open(1, 0);
    r.send.data(s, new Uint8Array(10), true);
    r.send.forget(1);
    s.sendWindow = 100;
    r.send.flush();
    assert.deepEqual(r.out, []);
  });

  test("an owner that sends from inside writable: the nested call waits for the running flush", () => {
    const r = new Rig();
    const s = r.open(1, 100);
    const answers: boolean[] = [];
    let left = 3;
    r.onWritable = (w) => {
      if (left-- > 0) answers.push(r.send.data(w, new Uint8Array(100), left === 0));
    };
    assert.equal(r.send.data(s, new Uint8Array(150), false), false);
    s.sendWindow += 1000;
    r.send.flush();
    // Each chunk sent from inside writable is queued behind the running flush, which goes
    // round again for it: it waits, then writable comes once it went.
    assert.deepEqual(answers, [false, false, false]);
    assert.deepEqual(r.lengths(1), [100, 50, 100, 100, 100]);
    assert.deepEqual(r.out.at(-1), { kind: "data", stream: 1, length: 100, end: true });
    assert.deepEqual(r.hooks.slice(-2), [
      { kind: "writable", stream: 1, last: true },
      { kind: "ended", stream: 1 },
    ]);
  });

  test("WINDOW_UPDATE grows the connection's window or a stream's, and what waited goes", () => {
    const r = new Rig();
    r.send.window = 0;
    const s = r.open(1, 0);
    r.send.data(s, new Uint8Array(30), true);
    assert.equal(r.windowUpdate(0, 20), true);
    assert.deepEqual(r.out, [], "the stream's window is still shut");
    assert.equal(r.windowUpdate(1, 50), true);
    assert.deepEqual(r.lengths(1), [20]);
    assert.equal(r.windowUpdate(0, 10), true);
    assert.deepEqual(r.lengths(1), [20, 10]);
    assert.equal(s.sendWindow, 20);
    assert.equal(r.windowUpdate(1, 5), false, "the stream is gone");
  });

  test("WINDOW_UPDATE of 0, or past 2^31-1: the connection's is a connection error, a stream's a stream error", () => {
    const r = new Rig();
    const s = r.open(1, 2 ** 31 - 10);
    r.windowUpdate(0, 0);
    r.windowUpdate(0, 2 ** 31 - 1);
    r.windowUpdate(1, 0);
    r.windowUpdate(1, 10);
    assert.deepEqual(r.hooks, [
      { kind: "fail", code: "PROTOCOL_ERROR", reason: "WINDOW_UPDATE of 0 on the connection" },
      { kind: "fail", code: "FLOW_CONTROL_ERROR", reason: "the connection window exceeds 2^31-1" },
      {
        kind: "streamError",
        stream: 1,
        code: "PROTOCOL_ERROR",
        reason: "WINDOW_UPDATE of 0 on stream 1",
      },
      {
        kind: "streamError",
        stream: 1,
        code: "FLOW_CONTROL_ERROR",
        reason: "stream 1's window exceeds 2^31-1",
      },
    ]);
    assert.equal(r.send.window, 65535);
    assert.equal(s.sendWindow, 2 ** 31 - 10);
  });

  test("a head goes at once, whatever the windows; heads and trailers share one HPACK table", () => {
    const r = new Rig();
    r.send.window = 0;
    const s = r.open(1, 0);
    const fields: FieldList = [[":status", "200"], ["x-custom", "value"]];
    r.send.head(1, fields, false);
    r.send.data(s, new Uint8Array(0), false);
    r.send.trailers(s, [["x-custom", "value"]]);
    assert.deepEqual(r.out, [
      { kind: "headers", stream: 1, fields, end: false },
      { kind: "headers", stream: 1, fields: [["x-custom", "value"]], end: true },
    ]);
    assert.equal(r.send.encoder.tableSize, "x-custom".length + "value".length + 32);
  });
});
