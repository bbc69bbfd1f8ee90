import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  dataFrame,
  DEFAULT_MAX_FRAME_SIZE,
  ERROR,
  errorName,
  FLAG,
  FRAME,
  type Frame,
  type FrameFault,
  frameName,
  framePayload,
  goawayFrame,
  headersFrames,
  pingAck,
  priorityDependency,
  readSettings,
  rstStreamFrame,
  SETTING,
  SETTINGS_ACK,
  settingsFrame,
  sniffFrame,
  u32,
  windowUpdateFrame,
} from "../../src/h2/frame.ts";
import { rawFrame } from "../helpers/h2_frames.ts";
import { hex } from "../helpers/sniff.ts";

/** The frame `bytes` start with (it must be whole). */
function frameOf(bytes: Uint8Array, max = DEFAULT_MAX_FRAME_SIZE): Frame {
  const r = sniffFrame(bytes, max);
  assert.equal(r.kind, "match", JSON.stringify(r));
  if (r.kind !== "match") throw new Error("unreachable");
  assert.equal(r.length, bytes.length);
  return r.value;
}

function faultOf(r: unknown): FrameFault {
  assert.equal((r as FrameFault).kind, "invalid", `expected a fault, got ${JSON.stringify(r)}`);
  assert.match((r as FrameFault).reason, /^HTTP\/2: /);
  return r as FrameFault;
}

function bytesOf(r: Uint8Array | FrameFault): number[] {
  assert.ok(r instanceof Uint8Array, `expected bytes, got ${JSON.stringify(r)}`);
  return [...r];
}

describe("sniffFrame (RFC 9113 4.1, 4.2)", () => {
  test("4.1: reads length, type, flags and stream of the frame header", () => {
    const f = frameOf(hex("000003 00 01 00000005 616263"));
    assert.deepEqual(
      { type: f.type, flags: f.flags, stream: f.stream, payload: [...f.payload] },
      { type: FRAME.DATA, flags: FLAG.END_STREAM, stream: 5, payload: [0x61, 0x62, 0x63] },
    );
  });

  test("4.1: the reserved bit of the stream identifier is ignored", () => {
    assert.equal(frameOf(hex("000000 04 00 80000000")).stream, 0);
    assert.equal(frameOf(hex("000000 01 04 ffffffff")).stream, 0x7fffffff);
  });

  test("needs more until the header and then the payload are whole", () => {
    const bytes = hex("000004 06 00 00000000 01020304");
    for (let n = 0; n < bytes.length; n++) {
      assert.equal(sniffFrame(bytes.subarray(0, n), DEFAULT_MAX_FRAME_SIZE).kind, "more", `${n}`);
    }
  });

  test("only the first frame is read; the payload is a view, not a copy", () => {
    const bytes = hex("000001 06 00 00000000 aa 000000 04 01 00000000");
    const r = sniffFrame(bytes, DEFAULT_MAX_FRAME_SIZE);
    assert.equal(r.kind, "match");
    if (r.kind !== "match") return;
    assert.equal(r.length, 10);
    assert.equal(r.value.payload.buffer, bytes.buffer);
  });

  test("4.2: a frame of exactly the maximum size is accepted", () => {
    const f = frameOf(rawFrame(FRAME.DATA, 0, 1, new Uint8Array(16384)));
    assert.equal(f.payload.length, 16384);
  });

  test("4.2: a frame over the maximum size is a FRAME_SIZE_ERROR from its header alone", () => {
    const r = faultOf(sniffFrame(hex("004001 00 00 00000001"), DEFAULT_MAX_FRAME_SIZE));
    assert.equal(r.code, ERROR.FRAME_SIZE_ERROR);
    assert.match(r.reason, /DATA frame of 16385 bytes exceeds SETTINGS_MAX_FRAME_SIZE 16384/);
  });

  test("4.2: the limit is the one given (a peer's larger SETTINGS_MAX_FRAME_SIZE)", () => {
    assert.equal(frameOf(rawFrame(FRAME.DATA, 0, 1, new Uint8Array(20000)), 20000).type, 0);
    faultOf(sniffFrame(hex("ffffff 00 00 00000001"), 0xfffffe));
  });

  test("4.1: unknown frame types are read like any other", () => {
    const f = frameOf(rawFrame(0xfa, 0xff, 3, [1]));
    assert.equal(f.type, 0xfa);
    assert.equal(frameName(0xfa), "type 0xfa");
  });
});

describe("framePayload (RFC 9113 6.1, 6.2)", () => {
  const data = (flags: number, payload: number[]) =>
    frameOf(rawFrame(FRAME.DATA, flags, 1, payload));
  const headers = (flags: number, payload: number[]) =>
    frameOf(rawFrame(FRAME.HEADERS, flags | FLAG.END_HEADERS, 1, payload));

  test("6.1: unpadded DATA is its whole payload", () => {
    assert.deepEqual(bytesOf(framePayload(data(0, [1, 2, 3]))), [1, 2, 3]);
  });

  test("6.1: padded DATA loses its Pad Length field and padding", () => {
    assert.deepEqual(bytesOf(framePayload(data(FLAG.PADDED, [2, 7, 8, 0, 0]))), [7, 8]);
  });

  test("6.1: padding that leaves no data is fine", () => {
    assert.deepEqual(bytesOf(framePayload(data(FLAG.PADDED, [3, 0, 0, 0]))), []);
    assert.deepEqual(bytesOf(framePayload(data(FLAG.PADDED, [0]))), []);
  });

  test("6.1: padding as long as the payload is a PROTOCOL_ERROR", () => {
    const r = faultOf(framePayload(data(FLAG.PADDED, [4, 0, 0, 0])));
    assert.equal(errorName(r.code), "PROTOCOL_ERROR");
    assert.equal(errorName(faultOf(framePayload(data(FLAG.PADDED, [255]))).code), "PROTOCOL_ERROR");
  });

  test("6.1: PADDED with no room for the Pad Length is a FRAME_SIZE_ERROR", () => {
    assert.equal(errorName(faultOf(framePayload(data(FLAG.PADDED, []))).code), "FRAME_SIZE_ERROR");
  });

  test("6.2: HEADERS with priority loses its 5 priority bytes", () => {
    assert.deepEqual(
      bytesOf(framePayload(headers(FLAG.PRIORITY, [0, 0, 0, 3, 200, 0x82, 0x84]))),
      [0x82, 0x84],
    );
  });

  test("6.2: HEADERS padded and with priority loses both", () => {
    const f = headers(FLAG.PRIORITY | FLAG.PADDED, [1, 0x80, 0, 0, 3, 200, 0x82, 0]);
    assert.deepEqual(bytesOf(framePayload(f)), [0x82]);
    assert.equal(priorityDependency(f), 3);
  });

  test("6.2: HEADERS padding longer than what follows the priority is a PROTOCOL_ERROR", () => {
    const f = headers(FLAG.PRIORITY | FLAG.PADDED, [3, 0, 0, 0, 3, 200, 0x82, 0]);
    assert.equal(errorName(faultOf(framePayload(f)).code), "PROTOCOL_ERROR");
  });

  test("6.2: HEADERS too short for its priority fields is a FRAME_SIZE_ERROR", () => {
    assert.equal(
      errorName(faultOf(framePayload(headers(FLAG.PRIORITY, [0, 0, 0]))).code),
      "FRAME_SIZE_ERROR",
    );
    assert.equal(
      errorName(faultOf(framePayload(headers(FLAG.PRIORITY | FLAG.PADDED, [0, 0, 0, 0, 1]))).code),
      "FRAME_SIZE_ERROR",
    );
  });

  test("6.1: the PRIORITY flag means nothing on DATA", () => {
    assert.deepEqual(bytesOf(framePayload(data(FLAG.PRIORITY, [1, 2]))), [1, 2]);
  });
});

describe("priorityDependency (RFC 9113 5.3, 6.3)", () => {
  test("PRIORITY: the stream depended on, without the exclusive bit", () => {
    assert.equal(
      priorityDependency(frameOf(rawFrame(FRAME.PRIORITY, 0, 1, [0x80, 0, 0, 7, 16]))),
      7,
    );
  });

  test("HEADERS without the PRIORITY flag has none", () => {
    assert.equal(priorityDependency(frameOf(rawFrame(FRAME.HEADERS, 4, 1, [0, 0, 0, 1, 1]))), -1);
  });

  test("a PRIORITY frame too short has none (its length is checked by the connection)", () => {
    assert.equal(priorityDependency(frameOf(rawFrame(FRAME.PRIORITY, 0, 1, [0, 0, 0, 1]))), -1);
  });
});

describe("readSettings (RFC 9113 6.5)", () => {
  test("6.5.1: entries in order, unknown ones included", () => {
    assert.deepEqual(readSettings(hex("0004 0000ffff 00ff 00000001 0004 7fffffff")), [
      [SETTING.INITIAL_WINDOW_SIZE, 65535],
      [0xff, 1],
      [SETTING.INITIAL_WINDOW_SIZE, 0x7fffffff],
    ]);
  });

  test("6.5.1: values are unsigned 32-bit", () => {
    assert.deepEqual(readSettings(hex("0004 ffffffff")), [[4, 0xffffffff]]);
  });

  test("6.5: a length not a multiple of 6 is a FRAME_SIZE_ERROR", () => {
    for (const n of [1, 5, 7, 11]) {
      const r = faultOf(readSettings(new Uint8Array(n)));
      assert.equal(errorName(r.code), "FRAME_SIZE_ERROR");
      assert.match(r.reason, new RegExp(`${n} bytes`));
    }
  });

  test("an empty payload has no entries", () => {
    assert.deepEqual(readSettings(new Uint8Array(0)), []);
  });
});

describe("frame encoders", () => {
  test("settingsFrame and SETTINGS_ACK", () => {
    const f = frameOf(
      settingsFrame([[SETTING.MAX_CONCURRENT_STREAMS, 100], [SETTING.ENABLE_PUSH, 0]]),
    );
    assert.deepEqual([f.type, f.flags, f.stream], [FRAME.SETTINGS, 0, 0]);
    assert.deepEqual(readSettings(f.payload), [[3, 100], [2, 0]]);
    assert.deepEqual([...SETTINGS_ACK], [...hex("000000 04 01 00000000")]);
  });

  test("pingAck echoes the 8 bytes with ACK", () => {
    assert.deepEqual(
      [...pingAck(hex("0102030405060708"))],
      [...hex("000008 06 01 00000000 0102030405060708")],
    );
  });

  test("goawayFrame: last stream, code, debug data cut to 256 characters", () => {
    const f = frameOf(goawayFrame(7, ERROR.ENHANCE_YOUR_CALM, "x".repeat(300)));
    assert.deepEqual([f.type, f.stream, u32(f.payload, 0), u32(f.payload, 4)], [7, 0, 7, 11]);
    assert.equal(f.payload.length, 8 + 256);
  });

  test("goawayFrame: the reserved bit of the last stream is never set", () => {
    assert.equal(u32(frameOf(goawayFrame(0xffffffff, 0)).payload, 0), 0x7fffffff);
  });

  test("rstStreamFrame and windowUpdateFrame", () => {
    assert.deepEqual([...rstStreamFrame(3, ERROR.CANCEL)], [
      ...hex("000004 03 00 00000003 00000008"),
    ]);
    assert.deepEqual(
      [...windowUpdateFrame(0, 0x7fffffff)],
      [...hex("000004 08 00 00000000 7fffffff")],
    );
  });

  test("dataFrame: a DATA header, then room for the payload", () => {
    const f = dataFrame(5, 70000, true);
    assert.equal(f.length, 9 + 70000);
    assert.deepEqual([...f.subarray(0, 9)], [...hex("011170 00 01 00000005")]);
  });

  test("headersFrames: one HEADERS frame when the block fits", () => {
    const bytes = headersFrames(1, hex("8284"), true, 16384);
    assert.deepEqual([...bytes], [...hex("000002 01 05 00000001 8284")]);
  });

  test("headersFrames: an empty block is one empty HEADERS frame", () => {
    assert.deepEqual([...headersFrames(1, new Uint8Array(0), false, 16384)], [
      ...hex("000000 01 04 00000001"),
    ]);
  });

  test("headersFrames: a larger block is split into HEADERS and CONTINUATIONs, END_HEADERS on the last", () => {
    const block = Uint8Array.from({ length: 40 }, (_, i) => i);
    const bytes = headersFrames(3, block, true, 16);
    const frames: Frame[] = [];
    for (let at = 0; at < bytes.length;) {
      const r = sniffFrame(bytes.subarray(at), 16);
      assert.equal(r.kind, "match");
      if (r.kind !== "match") return;
      frames.push(r.value);
      at += r.length;
    }
    assert.deepEqual(frames.map((f) => [f.type, f.flags, f.stream, f.payload.length]), [
      [FRAME.HEADERS, FLAG.END_STREAM, 3, 16],
      [FRAME.CONTINUATION, 0, 3, 16],
      [FRAME.CONTINUATION, FLAG.END_HEADERS, 3, 8],
    ]);
    assert.deepEqual(frames.flatMap((f) => [...f.payload]), [...block]);
  });

  test("errorName and frameName name the RFC's codes and types", () => {
    assert.equal(errorName(ERROR.HTTP_1_1_REQUIRED), "HTTP_1_1_REQUIRED");
    assert.equal(errorName(0x42), "0x42");
    assert.equal(frameName(FRAME.CONTINUATION), "CONTINUATION");
  });
});
