/**
 * SniffBuffer as the HTTP sessions use it: a head that starts a read is sniffed in place (no
 * copy), pieces are held until the head is whole, and nothing past the cap is ever held.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SniffBuffer } from "../../src/proxy/sniff_buffer.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

describe("SniffBuffer", () => {
  test("join gives a chunk back as it is while nothing is held; keep then holds a copy", () => {
    const buf = new SniffBuffer(8);
    const chunk = bytes(1, 2, 3);
    const seen = buf.join(chunk);
    assert.equal(seen, chunk);
    assert.equal(buf.length, 0);
    assert.equal(buf.keep(seen), true);
    chunk[0] = 9; // the adapter reuses its read buffer: what is held must not change
    assert.deepEqual([...buf.bytes], [1, 2, 3]);
  });

  test("join appends to what is held, and keep of that is a no-op", () => {
    const buf = new SniffBuffer(8);
    buf.keep(buf.join(bytes(1, 2)));
    const seen = buf.join(bytes(3, 4));
    assert.deepEqual([...seen], [1, 2, 3, 4]);
    assert.equal(buf.keep(seen), true);
    assert.deepEqual([...buf.bytes], [1, 2, 3, 4]);
  });

  test("past the cap join gives a joined copy that keep refuses to hold", () => {
    const buf = new SniffBuffer(4);
    buf.keep(buf.join(bytes(1, 2, 3)));
    const seen = buf.join(bytes(4, 5));
    assert.deepEqual([...seen], [1, 2, 3, 4, 5]);
    assert.equal(buf.keep(seen), false);
    assert.deepEqual([...buf.bytes], [1, 2, 3]);
    // A first chunk over the cap is refused too.
    const fresh = new SniffBuffer(4);
    assert.equal(fresh.keep(fresh.join(bytes(1, 2, 3, 4, 5))), false);
    assert.equal(fresh.length, 0);
  });

  test("nothing is allocated until something is held; growth keeps the bytes in order", () => {
    const buf = new SniffBuffer(4096, 4);
    assert.equal(buf.bytes.length, 0);
    for (let i = 0; i < 100; i++) buf.keep(buf.join(bytes(i)));
    assert.deepEqual([...buf.bytes], Array.from({ length: 100 }, (_, i) => i));
  });
});
