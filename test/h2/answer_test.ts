import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { H2_ERROR, h2ConnectionError, h2ErrorCode, h2ErrorResponse } from "../../src/h2/answer.ts";
import { HpackDecoder } from "../../src/h2/hpack.ts";

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
const SETTINGS_ACK = { ...SETTINGS, flags: 0x1 };

describe("h2ErrorResponse", () => {
  test("SETTINGS, its ACK, the response on the request's stream, then GOAWAY naming it", () => {
    const fs = frames(h2ErrorResponse(13, 503, "no route for this authority"));
    assert.deepEqual(fs.map((f) => [f.type, f.flags, f.stream]), [
      [0x4, 0, 0],
      [0x4, 0x1, 0],
      [0x1, 0x4, 13], // HEADERS, END_HEADERS
      [0x0, 0x1, 13], // DATA, END_STREAM
      [0x7, 0, 0],
    ]);
    assert.deepEqual(fs[0], SETTINGS);
    assert.deepEqual(fs[1], SETTINGS_ACK);
    const body = "503 Service Unavailable: no route for this authority\n";
    assert.equal(new TextDecoder().decode(fs[3].payload), body);
    const decoded = new HpackDecoder().decode(fs[2].payload);
    assert.ok("headers" in decoded, JSON.stringify(decoded));
    assert.deepEqual(decoded.headers, [
      [":status", "503"],
      ["content-type", "text/plain; charset=utf-8"],
      ["content-length", String(body.length)],
      ["cache-control", "no-store"],
    ]);
    assert.deepEqual(goAwayOf(fs[4]), { lastStream: 13, code: H2_ERROR.NO_ERROR, debug: "" });
  });

  test("to a HEAD request: HEADERS ends the stream, no DATA", () => {
    const fs = frames(h2ErrorResponse(3, 503, "no route", true));
    assert.deepEqual(fs.map((f) => [f.type, f.flags, f.stream]), [
      [0x4, 0, 0],
      [0x4, 0x1, 0],
      [0x1, 0x4 | 0x1, 3], // HEADERS, END_HEADERS | END_STREAM
      [0x7, 0, 0],
    ]);
    const decoded = new HpackDecoder().decode(fs[2].payload);
    assert.ok("headers" in decoded);
    // The length the body would have had, as for HEAD in HTTP/1.
    assert.deepEqual(decoded.headers[2], [
      "content-length",
      String("503 Service Unavailable: no route\n".length),
    ]);
    assert.deepEqual(goAwayOf(fs[3]), { lastStream: 3, code: H2_ERROR.NO_ERROR, debug: "" });
  });

  test("the header block leaves a decoder's dynamic table as it was", () => {
    const decoder = new HpackDecoder();
    const block = frames(h2ErrorResponse(1, 502, "x"))[2].payload;
    assert.ok("headers" in decoder.decode(block));
    // A reference to dynamic-table index 62 fails when nothing was inserted.
    const next = decoder.decode(Uint8Array.of(0x80 | 62));
    assert.ok("error" in next, "no entry was added");
  });

  test("a detail longer than a frame is cut, on a character, to the maximum frame size", () => {
    const fs = frames(h2ErrorResponse(1, 502, "é".repeat(20_000)));
    // "502 Bad Gateway: " is 17 bytes; 8183 two-byte characters fit after it.
    assert.equal(fs[3].payload.length, 17 + 2 * 8183);
    const text = new TextDecoder("utf-8", { fatal: true }).decode(fs[3].payload);
    assert.ok(text.endsWith("é"));
    const decoded = new HpackDecoder().decode(fs[2].payload);
    assert.ok("headers" in decoded);
    assert.deepEqual(decoded.headers[2], ["content-length", String(17 + 2 * 8183)]);
  });

  test("the highest stream id is kept, the reserved bit clear", () => {
    const fs = frames(h2ErrorResponse(0x7fffffff, 503, ""));
    assert.equal(fs[2].stream, 0x7fffffff);
    assert.equal(goAwayOf(fs[4]).lastStream, 0x7fffffff);
    assert.equal(new TextDecoder().decode(fs[3].payload), "503 Service Unavailable\n");
  });
});

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
});

describe("h2ErrorCode", () => {
  test("HPACK faults, frame sizes, and the rest", () => {
    assert.equal(h2ErrorCode("HPACK: index 70 is not in the table"), H2_ERROR.COMPRESSION_ERROR);
    assert.equal(h2ErrorCode("HTTP/2: PING frame length 7 (must be 8)"), H2_ERROR.FRAME_SIZE_ERROR);
    assert.equal(
      h2ErrorCode("HTTP/2: DATA frame length 16385 exceeds the maximum frame size 16384"),
      H2_ERROR.FRAME_SIZE_ERROR,
    );
    assert.equal(h2ErrorCode("HTTP/2: HEADERS frame on stream 0"), H2_ERROR.PROTOCOL_ERROR);
  });
});
