/**
 * HeaderBlockReader on its own: frames as plain objects, blocks from an HpackEncoder (or raw
 * bytes where they must be wrong), the connection errors and flood counts recorded.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { FieldList } from "../../src/h2/connection.ts";
import { FloodBudget } from "../../src/h2/flood_budget.ts";
import { ERROR, errorName, FLAG, FRAME, type Frame } from "../../src/h2/frame.ts";
import { HeaderBlockReader } from "../../src/h2/header_block.ts";
import { HpackEncoder } from "../../src/h2/hpack_encode.ts";
import { block as hpackBlock, indexed, literal } from "../helpers/hpack_block.ts";

class Rig {
  readonly failures: [string, string][] = [];
  readonly encoder = new HpackEncoder();
  readonly reader: HeaderBlockReader;

  constructor(maxHeaderListSize = 1000, maxControlFrames = 100) {
    const fail = (code: number, reason: string) => this.failures.push([errorName(code), reason]);
    const floods = new FloodBudget({ maxControlFrames, floodWindowMs: 60_000 }, "client", fail);
    this.reader = new HeaderBlockReader(maxHeaderListSize, floods, fail);
  }
}

function headers(
  stream: number,
  payload: Uint8Array,
  { endHeaders = true, endStream = false, flags = 0 } = {},
): Frame {
  return {
    type: FRAME.HEADERS,
    flags: flags | (endHeaders ? FLAG.END_HEADERS : 0) | (endStream ? FLAG.END_STREAM : 0),
    stream,
    payload,
  };
}

function continuation(stream: number, payload: Uint8Array, endHeaders = true): Frame {
  return { type: FRAME.CONTINUATION, flags: endHeaders ? FLAG.END_HEADERS : 0, stream, payload };
}

const FIELDS: FieldList = [[":status", "200"], ["x-a", "b"]];

describe("HeaderBlockReader", () => {
  test("a HEADERS frame with END_HEADERS is a block at once, with its END_STREAM", () => {
    const r = new Rig();
    const b = r.reader.headers(headers(1, r.encoder.encode(FIELDS), { endStream: true }));
    assert.deepEqual(b, { stream: 1, endStream: true, selfDependent: false, fields: FIELDS });
    assert.equal(r.failures.length, 0);
  });

  test("CONTINUATION frames complete a block; the fragments are copied as they come", () => {
    const r = new Rig();
    const bytes = r.encoder.encode([...FIELDS, ["x-long", "v".repeat(300)]]);
    const first = bytes.slice(0, 10);
    assert.equal(r.reader.headers(headers(3, first, { endHeaders: false })), null);
    first.fill(0); // the frame's bytes are only valid during `receive`
    assert.equal(r.reader.continuation(continuation(3, bytes.slice(10, 20), false)), null);
    assert.equal(r.reader.continuation(continuation(3, new Uint8Array(0), false)), null);
    const b = r.reader.continuation(continuation(3, bytes.slice(20)));
    assert.deepEqual(b?.fields, [...FIELDS, ["x-long", "v".repeat(300)]]);
    assert.equal(b?.endStream, false);
    assert.equal(r.failures.length, 0);
  });

  test("the HPACK table carries over from block to block", () => {
    const r = new Rig();
    const fields: FieldList = [["x-session", "abcdef"]];
    const first = r.encoder.encode(fields);
    const second = r.encoder.encode(fields);
    assert.ok(second.length < first.length);
    assert.deepEqual(r.reader.headers(headers(1, first))?.fields, fields);
    assert.deepEqual(r.reader.headers(headers(3, second))?.fields, fields);
  });

  test("a priority on the block's own stream is reported, not failed", () => {
    const r = new Rig();
    const priority = Uint8Array.of(0, 0, 0, 5, 16);
    const payload = new Uint8Array([...priority, ...r.encoder.encode(FIELDS)]);
    const b = r.reader.headers(headers(5, payload, { flags: FLAG.PRIORITY }));
    assert.equal(b?.selfDependent, true);
    assert.deepEqual(b?.fields, FIELDS);
  });

  test("6.10: any other frame inside a block is a PROTOCOL_ERROR", () => {
    const r = new Rig();
    const ping: Frame = { type: FRAME.PING, flags: 0, stream: 0, payload: new Uint8Array(8) };
    assert.equal(r.reader.interrupts(ping), false, "no block in progress");
    r.reader.headers(headers(1, Uint8Array.of(0x88), { endHeaders: false }));
    assert.equal(r.reader.interrupts(continuation(1, new Uint8Array(0))), false);
    assert.equal(r.reader.interrupts(continuation(3, new Uint8Array(0))), true);
    assert.equal(r.reader.interrupts(ping), true);
    assert.deepEqual(r.failures, [
      ["PROTOCOL_ERROR", "CONTINUATION on stream 3 inside the header block of stream 1"],
      ["PROTOCOL_ERROR", "PING on stream 0 inside the header block of stream 1"],
    ]);
  });

  test("6.10: CONTINUATION without HEADERS is a PROTOCOL_ERROR", () => {
    const r = new Rig();
    assert.equal(r.reader.continuation(continuation(1, Uint8Array.of(0x88))), null);
    assert.deepEqual(r.failures, [["PROTOCOL_ERROR", "CONTINUATION on stream 1 without HEADERS"]]);
  });

  test("CVE-2024-27316: a block over twice the header list limit is ENHANCE_YOUR_CALM", () => {
    const r = new Rig(1000);
    r.reader.headers(headers(1, new Uint8Array(1500), { endHeaders: false }));
    assert.equal(r.failures.length, 0);
    r.reader.continuation(continuation(1, new Uint8Array(600), false));
    assert.deepEqual(r.failures, [[
      "ENHANCE_YOUR_CALM",
      "header block of stream 1 exceeds 2000 bytes",
    ]]);
  });

  test("the bound holds for a block in one HEADERS frame too", () => {
    const r = new Rig(1000);
    assert.equal(r.reader.headers(headers(1, new Uint8Array(2001))), null);
    assert.deepEqual(r.failures, [[
      "ENHANCE_YOUR_CALM",
      "header block of stream 1 exceeds 2000 bytes",
    ]]);
  });

  test("empty CONTINUATION frames count as frames without progress", () => {
    const r = new Rig(1000, 5);
    r.reader.headers(headers(1, Uint8Array.of(0x88), { endHeaders: false }));
    for (let i = 0; i < 5; i++) r.reader.continuation(continuation(1, new Uint8Array(0), false));
    assert.equal(r.failures.length, 0);
    r.reader.continuation(continuation(1, new Uint8Array(0), false));
    assert.deepEqual(r.failures.map(([code]) => code), ["ENHANCE_YOUR_CALM"]);
  });

  test("an undecodable block or an HPACK bomb is a COMPRESSION_ERROR", () => {
    const r = new Rig(1000);
    assert.equal(r.reader.headers(headers(1, Uint8Array.of(0xff, 0xff))), null);
    const bomb = hpackBlock(
      literal("indexing", "x-bomb", "a".repeat(500)),
      ...Array.from({ length: 10 }, () => indexed(62)),
    );
    assert.equal(r.reader.headers(headers(3, bomb)), null);
    assert.deepEqual(r.failures.map(([code]) => code), ["COMPRESSION_ERROR", "COMPRESSION_ERROR"]);
  });

  test("padding that covers the fragment is the frame's own error", () => {
    const r = new Rig();
    assert.equal(
      r.reader.headers(headers(1, Uint8Array.of(5, 0x88), { flags: FLAG.PADDED })),
      null,
    );
    assert.equal(r.failures.length, 1);
    assert.equal(r.failures[0][0], errorName(ERROR.PROTOCOL_ERROR));
  });
});
