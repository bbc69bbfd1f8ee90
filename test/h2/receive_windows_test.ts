/**
 * ReceiveWindows on its own: DATA frames as plain objects, the WINDOW_UPDATEs it emits parsed
 * back, its connection and stream errors recorded.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FloodBudget } from "../../src/h2/flood_budget.ts";
import { errorName, FLAG, FRAME, type Frame, sniffFrame, u32 } from "../../src/h2/frame.ts";
import { newReceiver, type Receiver, ReceiveWindows } from "../../src/h2/receive_windows.ts";

class Rig {
  /** WINDOW_UPDATEs emitted: [stream, increment]. */
  readonly updates: [number, number][] = [];
  readonly failures: [string, string][] = [];
  readonly streamErrors: [number, string, string][] = [];
  readonly recv: ReceiveWindows;

  constructor(streamWindow = 1000, connectionWindow = 65535, maxControlFrames = 100) {
    const fail = (code: number, reason: string) => this.failures.push([errorName(code), reason]);
    const floods = new FloodBudget({ maxControlFrames, floodWindowMs: 60_000 }, "client", fail);
    this.recv = new ReceiveWindows({ streamWindow, connectionWindow }, floods, {
      emit: (bytes) => {
        const r = sniffFrame(bytes, 1 << 24);
        assert.ok(r.kind === "match" && r.value.type === FRAME.WINDOW_UPDATE);
        this.updates.push([r.value.stream, u32(r.value.payload, 0)]);
      },
      fail,
      streamError: (stream, code, reason) =>
        this.streamErrors.push([stream, errorName(code), reason]),
    });
  }

  /** `f` through `frame` and `body` as a connection passes it, on `s`. */
  data(s: Receiver, f: Frame): boolean {
    const payload = this.recv.frame(f);
    return payload !== null && this.recv.body(s, f, payload);
  }
}

function data(stream: number, length: number, { end = false, pad = -1 } = {}): Frame {
  const payload = pad < 0 ? new Uint8Array(length) : new Uint8Array(1 + length + pad);
  if (pad >= 0) payload[0] = pad;
  return {
    type: FRAME.DATA,
    flags: (end ? FLAG.END_STREAM : 0) | (pad >= 0 ? FLAG.PADDED : 0),
    stream,
    payload,
  };
}

function stream(id: number, window = 1000, contentLength: number | null = null): Receiver {
  return { id, ...newReceiver(window, contentLength) };
}

describe("ReceiveWindows", () => {
  test("raise: the preface's WINDOW_UPDATE when our connection window is over the default", () => {
    const big = new Rig(1000, 1_000_000);
    big.recv.raise();
    assert.deepEqual(big.updates, [[0, 1_000_000 - 65535]]);
    const small = new Rig(1000, 65535);
    small.recv.raise();
    assert.deepEqual(small.updates, []);
  });

  test("DATA takes the connection window, padding included; over it is a FLOW_CONTROL_ERROR", () => {
    const r = new Rig(1 << 20, 65535);
    const padded = data(1, 10, { pad: 5 });
    assert.equal(r.recv.frame(padded)?.length, 10, "the payload without its padding");
    assert.equal(r.recv.frame(data(1, 65535 - 15)), null);
    assert.deepEqual(r.failures, [[
      "FLOW_CONTROL_ERROR",
      "DATA of 65520 bytes exceeds the connection window 65519",
    ]]);
  });

  test("DATA over the stream window is a stream error, and its bytes go back to the connection", () => {
    const r = new Rig(1000, 4000);
    const s = stream(1, 1000);
    assert.equal(r.data(s, data(1, 900)), true);
    assert.equal(r.data(s, data(1, 1100)), false);
    assert.deepEqual(r.streamErrors, [[
      1,
      "FLOW_CONTROL_ERROR",
      "DATA of 1100 bytes exceeds stream 1's window 100",
    ]]);
    assert.deepEqual(r.updates, [], "1100 of 4000 given back: not half yet");
    r.recv.forget(s);
    assert.deepEqual(r.updates, [[0, 2000]], "the 900 it held too, once it is gone");
    assert.equal(s.held, 0);
  });

  test("the body is checked against the announced length, as it comes and at its end", () => {
    const r = new Rig();
    const over = stream(1, 1000, 5);
    assert.equal(r.data(over, data(1, 3)), true);
    assert.equal(r.data(over, data(1, 3)), false);
    const short = stream(3, 1000, 5);
    assert.equal(r.data(short, data(3, 4, { end: true })), false);
    const trailed = stream(5, 1000, 5);
    assert.equal(r.data(trailed, data(5, 4)), true);
    assert.equal(r.recv.trailers(trailed, true, false), false);
    const exact = stream(7, 1000, 5);
    assert.equal(r.data(exact, data(7, 5)), true);
    assert.equal(r.recv.trailers(exact, true, false), true);
    assert.deepEqual(r.streamErrors, [
      [1, "PROTOCOL_ERROR", "stream 1: body of 6+ bytes, content-length 5"],
      [3, "PROTOCOL_ERROR", "stream 3: body of 4 bytes, content-length 5"],
      [5, "PROTOCOL_ERROR", "stream 5: body of 4 bytes, content-length 5"],
    ]);
  });

  test("consumed bytes come back in WINDOW_UPDATEs of half a window, stream and connection", () => {
    const r = new Rig(1000, 2000);
    const s = stream(1, 1000);
    r.data(s, data(1, 400));
    r.data(s, data(1, 400));
    assert.equal(s.held, 800);
    r.recv.consumed(s, 400, false);
    assert.deepEqual(r.updates, []);
    r.recv.consumed(s, 400, false);
    assert.deepEqual(r.updates, [[1, 800]], "the connection's 800 are not half of 2000 yet");
    assert.equal(s.recvWindow, 1000);
    r.recv.consumed(s, 100, false);
    assert.equal(s.held, 0);
    assert.equal(r.updates.length, 1, "nothing was held any more");
  });

  test("once the peer ended the stream, consumed bytes go back to the connection only", () => {
    const r = new Rig(1000, 1000);
    const s = stream(1, 1000);
    r.data(s, data(1, 600, { end: true }));
    r.recv.consumed(s, 600, true);
    assert.deepEqual(r.updates, [[0, 600]]);
  });

  test("padding goes back at once, without waiting for the owner", () => {
    const r = new Rig(1000, 1 << 20);
    const s = stream(1, 1000);
    r.data(s, data(1, 10, { pad: 250 }));
    r.data(s, data(1, 10, { pad: 250 }));
    assert.deepEqual(r.updates, [[1, 502]]);
    assert.equal(s.held, 20);
  });

  test("empty DATA without END_STREAM counts as a frame without progress", () => {
    const r = new Rig(1000, 65535, 3);
    const s = stream(1, 1000);
    for (let i = 0; i < 3; i++) assert.equal(r.data(s, data(1, 0)), true);
    assert.equal(r.data(s, data(1, 0, { end: true })), true, "an empty end is progress");
    assert.equal(r.data(s, data(1, 0)), false);
    assert.deepEqual(r.failures.map(([code]) => code), ["ENHANCE_YOUR_CALM"]);
  });

  test("release gives bytes that no stream takes back to the connection", () => {
    const r = new Rig(1000, 1000);
    r.recv.release(0);
    r.recv.release(499);
    assert.deepEqual(r.updates, []);
    r.recv.release(1);
    assert.deepEqual(r.updates, [[0, 500]]);
  });

  test("trailers must end a stream the peer had not ended", () => {
    const r = new Rig();
    assert.equal(r.recv.trailers(stream(1), false, false), false);
    assert.equal(r.recv.trailers(stream(3), true, true), false);
    assert.equal(r.recv.trailers(stream(5), true, false), true);
    assert.deepEqual(r.streamErrors, [
      [1, "PROTOCOL_ERROR", "stream 1: trailers without END_STREAM"],
      [3, "STREAM_CLOSED", "HEADERS after the end of stream 3"],
    ]);
  });
});
