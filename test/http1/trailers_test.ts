import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ChunkedDecoder } from "../../src/http1/body.ts";
import { stripTrailers, TrailerFilter } from "../../src/http1/trailers.ts";
import { mulberry32 } from "../helpers/prng.ts";
import { ascii, text } from "../helpers/sniff.ts";

/** Feeds `pieces` through a decoder and a filter, as the session does; returns what goes on. */
function forward(pieces: Uint8Array[]): { out: string; done: boolean } {
  const decoder = new ChunkedDecoder();
  const filter = new TrailerFilter();
  let out = "";
  let done = false;
  for (const piece of pieces) {
    const p = decoder.push(piece);
    if ("error" in p) throw new Error(p.error);
    out += text(filter.take(piece.subarray(0, p.consumed), p));
    done = p.done;
  }
  return { out, done };
}

/** `bytes` cut at the given offsets. */
function cut(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const a of [...at, bytes.length]) {
    out.push(bytes.subarray(from, a));
    from = a;
  }
  return out;
}

describe("stripTrailers", () => {
  test("drops Content-Length, Transfer-Encoding and Host, in any case, and keeps the rest", () => {
    assert.equal(
      text(
        stripTrailers(
          ascii("content-LENGTH: 3\r\nX-A: 1\r\nTransfer-Encoding: x\r\nhost: h\r\nX-B: 2\r\n\r\n"),
        ),
      ),
      "X-A: 1\r\nX-B: 2\r\n\r\n",
    );
  });
  test("a section with nothing to drop is returned as it is", () => {
    const section = ascii("X-A: 1\r\n\r\n");
    assert.equal(stripTrailers(section), section);
    const empty = ascii("\r\n");
    assert.equal(stripTrailers(empty), empty);
  });
  test("a section of forbidden fields only becomes the empty section", () => {
    assert.equal(text(stripTrailers(ascii("Content-Length: 1\r\n\r\n"))), "\r\n");
  });
});

describe("TrailerFilter over a ChunkedDecoder", () => {
  const body = "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-A: 1\r\nContent-Length: 5\r\nX-B: 2\r\n\r\n";
  const expected = "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n";

  test("an empty trailer section goes through as the very bytes pushed", () => {
    const chunk = ascii("3\r\nabc\r\n0\r\n\r\nNEXT");
    const decoder = new ChunkedDecoder();
    const p = decoder.push(chunk);
    if ("error" in p) throw new Error(p.error);
    const consumed = chunk.subarray(0, p.consumed);
    assert.equal(new TrailerFilter().take(consumed, p), consumed);
  });
  test("the body before the trailers is not held back", () => {
    const decoder = new ChunkedDecoder();
    const filter = new TrailerFilter();
    const chunk = ascii("3\r\nabc\r\n0\r\nX-A: 1\r\n");
    const p = decoder.push(chunk);
    if ("error" in p) throw new Error(p.error);
    assert.equal(text(filter.take(chunk.subarray(0, p.consumed), p)), "3\r\nabc\r\n0\r\n");
  });
  test("split at every pair of positions, the same bytes go on", () => {
    const bytes = ascii(body);
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j += 3) {
        const r = forward(cut(bytes, [i, j]));
        assert.equal(r.out, expected, `cut at ${i}, ${j}`);
        assert.equal(r.done, true);
      }
    }
  });
  test("randomized: split into random pieces, bodies with and without trailers", () => {
    const rng = mulberry32(0x7a11e5);
    const fields = ["X-A: 1", "Content-Length: 9", "Transfer-Encoding: chunked", "Host: x", "Y: z"];
    for (let n = 0; n < 500; n++) {
      let b = "";
      for (let c = rng.int(3); c > 0; c--) {
        const data = "x".repeat(rng.range(1, 20));
        b += `${data.length.toString(16)}\r\n${data}\r\n`;
      }
      const trailers: string[] = [];
      for (let t = rng.int(4); t > 0; t--) trailers.push(rng.pick(fields));
      const kept = trailers.filter((f) => /^(X-A|Y):/.test(f));
      const full = `${b}0\r\n${trailers.map((f) => `${f}\r\n`).join("")}\r\n`;
      const want = `${b}0\r\n${kept.map((f) => `${f}\r\n`).join("")}\r\n`;
      const bytes = ascii(full);
      const at: number[] = [];
      for (let k = rng.int(5); k > 0; k--) at.push(rng.int(bytes.length + 1));
      at.sort((x, y) => x - y);
      assert.equal(forward(cut(bytes, at)).out, want, JSON.stringify({ full, at }));
    }
  });
});
