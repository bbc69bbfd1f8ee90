/** FrameReader: frames out of chunks of any size, the client preface, oversize frames, stopping. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { concat } from "../../src/wire/bytes.ts";
import { FrameReader } from "../../src/h2/frame_reader.ts";
import { errorName, FRAME, type Frame, frame, settingsFrame } from "../../src/h2/frame.ts";
import { H2_PREFACE } from "../../src/h2/preface.ts";

class Rig {
  readonly frames: { type: number; stream: number; payload: number[] }[] = [];
  readonly failures: [string, string][] = [];
  readonly reader: FrameReader;
  /** How many frames to take before answering false (the connection is over). */
  stopAfter = Infinity;

  constructor(clientPreface: boolean) {
    this.reader = new FrameReader(
      clientPreface,
      (code, reason) => this.failures.push([errorName(code), reason]),
    );
  }

  read(...chunks: Uint8Array[]): void {
    for (const chunk of chunks) {
      this.reader.read(chunk, (f: Frame) => {
        this.frames.push({ type: f.type, stream: f.stream, payload: [...f.payload] });
        return this.frames.length < this.stopAfter;
      });
    }
  }
}

const PING = frame(FRAME.PING, 0, 0, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
const DATA = frame(FRAME.DATA, 0, 3, new Uint8Array(100).fill(7));
const SETTINGS = settingsFrame([[4, 1000]]);

/** `bytes` cut into chunks of `n` bytes. */
function chunks(bytes: Uint8Array, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += n) out.push(bytes.subarray(at, at + n));
  return out;
}

describe("FrameReader", () => {
  test("the same frames whatever the chunks, each a view of whole bytes", () => {
    const whole = new Rig(false);
    whole.read(concat([SETTINGS, PING, DATA]));
    assert.deepEqual(whole.frames.map((f) => f.type), [FRAME.SETTINGS, FRAME.PING, FRAME.DATA]);
    for (const n of [1, 2, 7, 9, 10, 64]) {
      const split = new Rig(false);
      split.read(...chunks(concat([SETTINGS, PING, DATA]), n));
      assert.deepEqual(split.frames, whole.frames, `chunks of ${n}`);
      assert.deepEqual(split.failures, []);
    }
  });

  test("a partial frame is kept as a copy: the caller may reuse its chunk", () => {
    const r = new Rig(false);
    const chunk = DATA.slice(0, 50);
    r.read(chunk);
    chunk.fill(0);
    r.read(DATA.slice(50));
    assert.deepEqual(r.frames[0].payload, new Array(100).fill(7));
  });

  test("a server's reader takes the client preface first, in any chunks", () => {
    const r = new Rig(true);
    r.read(...chunks(concat([H2_PREFACE, SETTINGS, PING]), 5));
    assert.deepEqual(r.frames.map((f) => f.type), [FRAME.SETTINGS, FRAME.PING]);
    assert.deepEqual(r.failures, []);
  });

  test("a wrong preface fails at its first wrong byte, before the rest arrives", () => {
    const r = new Rig(true);
    r.read(new TextEncoder().encode("PRI * HTTP/1.1"));
    assert.deepEqual(r.failures, [["PROTOCOL_ERROR", "the client preface is wrong"]]);
    assert.deepEqual(r.frames, []);
  });

  test("a client's reader takes frames from the first byte", () => {
    const r = new Rig(false);
    r.read(H2_PREFACE);
    assert.equal(r.failures.length, 1, "the preface is no frame for a client");
  });

  test("a frame over SETTINGS_MAX_FRAME_SIZE fails from its header alone", () => {
    const r = new Rig(false);
    const big = frame(FRAME.DATA, 0, 1, new Uint8Array(16385));
    r.read(big.subarray(0, 9));
    assert.deepEqual(r.failures.map(([code]) => code), ["FRAME_SIZE_ERROR"]);
  });

  test("once the taker says the connection is over, the rest is dropped", () => {
    const r = new Rig(false);
    r.stopAfter = 1;
    r.read(concat([PING, PING, DATA.subarray(0, 20)]));
    assert.equal(r.frames.length, 1);
    r.stopAfter = Infinity;
    r.read(PING);
    assert.equal(r.frames.length, 2, "nothing of the dropped bytes came back");
  });
});
