import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { H2_ERROR, h2ConnectionError, h2ErrorCode } from "../../src/h2/answer.ts";

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Uint8Array;
}

/** Splits `bytes` into frames, checking that they fill it exactly. */
function frames(bytes: Uint8Array): Frame[] {
  const out: Frame[] = [];
  let o = 0;
  while (o < bytes.length) {
    assert.ok(o + 9 <= bytes.length, `a frame header at ${o}`);
    const length = (bytes[o] << 16) | (bytes[o + 1] << 8) | bytes[o + 2];
    const view = new DataView(bytes.buffer, bytes.byteOffset + o);
    const payload = bytes.subarray(o + 9, o + 9 + length);
    assert.equal(payload.length, length, `the payload of the frame at ${o}`);
    assert.ok(length <= 16384, "within the default maximum frame size");
    out.push({ type: bytes[o + 3], flags: bytes[o + 4], stream: view.getUint32(5), payload });
    o += 9 + length;
  }
  return out;
}

function goAwayOf(f: Frame) {
  const view = new DataView(f.payload.buffer, f.payload.byteOffset);
  return {
    lastStream: view.getUint32(0),
    code: view.getUint32(4),
    debug: new TextDecoder().decode(f.payload.subarray(8)),
  };
}

const SETTINGS = { type: 0x4, flags: 0, stream: 0, payload: new Uint8Array(0) };

describe("h2ConnectionError", () => {
  test("SETTINGS (no ACK: the client's may be the fault), then GOAWAY with code and reason", () => {
    const reason = "HTTP/2: first frame after the preface is WINDOW_UPDATE, not SETTINGS";
    const fs = frames(h2ConnectionError(H2_ERROR.PROTOCOL_ERROR, reason));
    assert.deepEqual(fs[0], SETTINGS);
    assert.equal(fs.length, 2);
    assert.equal(fs[1].type, 0x7);
    assert.equal(fs[1].stream, 0);
    assert.deepEqual(goAwayOf(fs[1]), { lastStream: 0, code: 0x1, debug: reason });
  });

  test("a reason longer than a frame is cut, on a character, to the default maximum frame size", () => {
    const fs = frames(h2ConnectionError(H2_ERROR.COMPRESSION_ERROR, "é".repeat(20_000)));
    // 8 bytes of last stream and code, then 8188 two-byte characters.
    assert.equal(fs[1].payload.length, 8 + 2 * 8188);
    const debug = new TextDecoder("utf-8", { fatal: true }).decode(fs[1].payload.subarray(8));
    assert.equal(debug, "é".repeat(8188));
    assert.equal(goAwayOf(fs[1]).code, 0x9);
  });
});

describe("h2ErrorCode", () => {
  test("HPACK faults, frame sizes, and the rest", () => {
    assert.deepEqual(H2_ERROR, {
      PROTOCOL_ERROR: 0x1,
      FRAME_SIZE_ERROR: 0x6,
      COMPRESSION_ERROR: 0x9,
    });
    assert.equal(h2ErrorCode("HPACK: index 70 is not in the table"), H2_ERROR.COMPRESSION_ERROR);
    assert.equal(h2ErrorCode("HTTP/2: PING frame length 7 (must be 8)"), H2_ERROR.FRAME_SIZE_ERROR);
    assert.equal(
      h2ErrorCode("HTTP/2: DATA frame length 16385 exceeds the maximum frame size 16384"),
      H2_ERROR.FRAME_SIZE_ERROR,
    );
    assert.equal(h2ErrorCode("HTTP/2: HEADERS frame on stream 0"), H2_ERROR.PROTOCOL_ERROR);
  });
});
