/** checkFrame and answerPing: each rule of section 6 on a frame's stream and size, and PING. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FloodBudget } from "../../src/h2/flood_budget.ts";
import { errorName, FLAG, FRAME, type Frame } from "../../src/h2/frame.ts";
import { answerPing, checkFrame } from "../../src/h2/frame_rules.ts";
import { OutputBatch } from "../../src/h2/output_batch.ts";

/** What checking `f` gave: "ok", or the error it reported. */
function check(f: Frame, opened = [1, 3]): string {
  const out: string[] = [];
  const ok = checkFrame(f, {
    neverOpened: (id) => !opened.includes(id),
    fail: (code, reason) => out.push(`${errorName(code)}: ${reason}`),
    streamError: (id, code, reason) => out.push(`stream ${id} ${errorName(code)}: ${reason}`),
  });
  assert.equal(ok, out.length === 0, "false exactly when an error was reported");
  assert.ok(out.length <= 1);
  return ok ? "ok" : out[0];
}

function f(type: number, stream: number, length: number, flags = 0): Frame {
  return { type, flags, stream, payload: new Uint8Array(length) };
}

describe("checkFrame", () => {
  const cases: [string, Frame, string][] = [
    ["DATA on a stream", f(FRAME.DATA, 1, 10), "ok"],
    ["DATA on stream 0", f(FRAME.DATA, 0, 10), "PROTOCOL_ERROR: DATA on stream 0"],
    ["HEADERS on stream 0", f(FRAME.HEADERS, 0, 10), "PROTOCOL_ERROR: HEADERS on stream 0"],
    ["DATA on an idle stream", f(FRAME.DATA, 9, 1), "PROTOCOL_ERROR: DATA on idle stream 9"],
    ["HEADERS may open an idle stream", f(FRAME.HEADERS, 9, 1), "ok"],
    ["PRIORITY", f(FRAME.PRIORITY, 9, 5), "ok"],
    ["PRIORITY on stream 0", f(FRAME.PRIORITY, 0, 5), "PROTOCOL_ERROR: PRIORITY on stream 0"],
    [
      "PRIORITY of the wrong size is a stream error",
      f(FRAME.PRIORITY, 5, 4),
      "stream 5 FRAME_SIZE_ERROR: PRIORITY of 4 bytes",
    ],
    ["RST_STREAM", f(FRAME.RST_STREAM, 3, 4), "ok"],
    ["RST_STREAM on stream 0", f(FRAME.RST_STREAM, 0, 4), "PROTOCOL_ERROR: RST_STREAM on stream 0"],
    ["RST_STREAM of 5 bytes", f(FRAME.RST_STREAM, 1, 5), "FRAME_SIZE_ERROR: RST_STREAM of 5 bytes"],
    [
      "RST_STREAM on an idle stream",
      f(FRAME.RST_STREAM, 5, 4),
      "PROTOCOL_ERROR: RST_STREAM on idle stream 5",
    ],
    ["SETTINGS", f(FRAME.SETTINGS, 0, 6), "ok"],
    ["SETTINGS on a stream", f(FRAME.SETTINGS, 1, 6), "PROTOCOL_ERROR: SETTINGS on stream 1"],
    ["PING", f(FRAME.PING, 0, 8), "ok"],
    ["PING on a stream", f(FRAME.PING, 1, 8), "PROTOCOL_ERROR: PING on stream 1"],
    ["PING of 7 bytes", f(FRAME.PING, 0, 7), "FRAME_SIZE_ERROR: PING of 7 bytes"],
    ["GOAWAY with debug data", f(FRAME.GOAWAY, 0, 20), "ok"],
    ["GOAWAY on a stream", f(FRAME.GOAWAY, 3, 8), "PROTOCOL_ERROR: GOAWAY on stream 3"],
    ["GOAWAY of 7 bytes", f(FRAME.GOAWAY, 0, 7), "FRAME_SIZE_ERROR: GOAWAY of 7 bytes"],
    ["WINDOW_UPDATE on the connection", f(FRAME.WINDOW_UPDATE, 0, 4), "ok"],
    ["WINDOW_UPDATE on an opened stream", f(FRAME.WINDOW_UPDATE, 3, 4), "ok"],
    [
      "WINDOW_UPDATE of 3 bytes",
      f(FRAME.WINDOW_UPDATE, 9, 3),
      "FRAME_SIZE_ERROR: WINDOW_UPDATE of 3 bytes",
    ],
    [
      "WINDOW_UPDATE on an idle stream",
      f(FRAME.WINDOW_UPDATE, 9, 4),
      "PROTOCOL_ERROR: WINDOW_UPDATE on idle stream 9",
    ],
    ["CONTINUATION is the header block's to judge", f(FRAME.CONTINUATION, 0, 3), "ok"],
    ["PUSH_PROMISE is the side's to judge", f(FRAME.PUSH_PROMISE, 0, 3), "ok"],
    ["an unknown type", f(0xfa, 0, 3), "ok"],
  ];
  for (const [name, frame, expected] of cases) {
    test(name, () => assert.equal(check(frame), expected));
  }
});

describe("answerPing", () => {
  test("a PING is echoed with ACK; an ACK is not; each one counts against the flood budget", async () => {
    const writes: Uint8Array[] = [];
    const out = new OutputBatch((bytes) => writes.push(bytes.slice()) > 0, () => {});
    const failures: string[] = [];
    const floods = new FloodBudget(
      { maxControlFrames: 2, floodWindowMs: 60_000 },
      "client",
      (code) => failures.push(errorName(code)),
    );
    const data = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    answerPing({ type: FRAME.PING, flags: 0, stream: 0, payload: data }, floods, out);
    answerPing({ type: FRAME.PING, flags: FLAG.ACK, stream: 0, payload: data }, floods, out);
    data.fill(0); // the answer is a copy: the frame is only valid during `receive`
    answerPing({ type: FRAME.PING, flags: 0, stream: 0, payload: data }, floods, out);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(writes.map((w) => [...w]), [[
      0,
      0,
      8,
      FRAME.PING,
      FLAG.ACK,
      0,
      0,
      0,
      0,
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8,
    ]]);
    assert.deepEqual(failures, ["ENHANCE_YOUR_CALM"]);
  });
});
