/**
 * The byte helpers the data path allocates with: alloc's arrays behave as plain Uint8Arrays
 * (slice copies), latin1Bytes encodes as node:buffer's "latin1" does for any text of chars
 * below 256 (random texts, ASCII and not), concat joins in order, and tail copies short tails
 * and views long ones.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, test } from "node:test";
import { alloc, concat, latin1Bytes, tail } from "../../src/wire/bytes.ts";
import { mulberry32 } from "../helpers/prng.ts";

describe("wire/bytes", () => {
  test("alloc gives n writable bytes as a plain Uint8Array: slice copies, not views", () => {
    for (const n of [0, 1, 64, 65, 150, 4095, 4096, 70000]) {
      const a = alloc(n);
      assert.equal(a.length, n);
      assert.equal(Object.getPrototypeOf(a), Uint8Array.prototype);
      a.fill(7);
      const copy = a.slice();
      if (n > 0) {
        copy[0] = 9;
        assert.equal(a[0], 7);
      }
    }
    // Two arrays never share bytes, whatever pool they come from.
    const x = alloc(100).fill(1);
    const y = alloc(100).fill(2);
    assert.ok(x.every((b) => b === 1) && y.every((b) => b === 2));
  });

  test("latin1Bytes matches Buffer.from(text, 'latin1') on random texts", () => {
    const rand = mulberry32(19);
    for (let i = 0; i < 2000; i++) {
      const ascii = rand.next() < 0.5;
      const len = rand.int(300);
      let text = "";
      for (let j = 0; j < len; j++) {
        text += String.fromCharCode(rand.int(ascii ? 128 : 256));
      }
      assert.deepEqual(
        [...latin1Bytes(text)],
        [...Buffer.from(text, "latin1")],
        JSON.stringify(text),
      );
    }
  });

  test("concat joins parts in order; one part is returned as it is", () => {
    const one = new Uint8Array([1, 2]);
    assert.equal(concat([one]), one);
    assert.deepEqual([...concat([one, new Uint8Array(0), new Uint8Array([3])])], [1, 2, 3]);
  });
});

describe("tail", () => {
  test("the bytes from start on, for every length around the copy limit", () => {
    for (const size of [0, 1, 7, 255, 256, 257, 300, 1000]) {
      const bytes = Uint8Array.from({ length: size + 3 }, (_, i) => (i * 31) & 0xff);
      assert.deepEqual([...tail(bytes, 3)], [...bytes.subarray(3)], `size ${size}`);
    }
  });

  test("a short tail is the caller's own; a long one is a view of the source", () => {
    const short = new Uint8Array(100).fill(1);
    const a = tail(short, 10);
    short.fill(2);
    assert.ok(a.every((b) => b === 1), "a copy: later changes to the source do not show");
    const long = new Uint8Array(1000).fill(1);
    const b = tail(long, 10);
    long.fill(2);
    assert.ok(b.every((x) => x === 2), "a view");
  });
});
