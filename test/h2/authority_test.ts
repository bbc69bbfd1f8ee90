import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type H2Request, sniffH2Authority } from "../../src/h2/authority.ts";
import { H2_PREFACE } from "../../src/h2/preface.ts";
import { NEED_MORE, NO_MATCH, type SniffResult } from "../../src/wire/result.ts";
import { block, indexed, literal, sizeUpdate } from "../helpers/hpack_block.ts";
import { mulberry32, type Prng } from "../helpers/prng.ts";
import { concat, expectInvalid, expectMatch } from "../helpers/sniff.ts";

// ---- frame builders ----

const DATA = 0x0;
const HEADERS = 0x1;
const PRIORITY = 0x2;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PUSH_PROMISE = 0x5;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY_FLAG = 0x20;

function u32(value: number): number[] {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

/** One frame; `length` overrides the length field (for frames that lie about it). */
function frame(
  type: number,
  flags: number,
  stream: number,
  payload: ArrayLike<number> = [],
  length = payload.length,
): Uint8Array {
  return Uint8Array.from([
    length >>> 16,
    (length >>> 8) & 0xff,
    length & 0xff,
    type,
    flags,
    ...u32(stream),
    ...Array.from(payload),
  ]);
}

function settings(...pairs: [id: number, value: number][]): Uint8Array {
  return frame(SETTINGS, 0, 0, pairs.flatMap(([id, value]) => [id >> 8, id & 0xff, ...u32(value)]));
}

interface HeadersOptions {
  stream?: number;
  flags?: number;
  /** Pad length; sets PADDED. */
  pad?: number;
  /** Stream dependency; sets PRIORITY. */
  dependsOn?: number;
}

function headers(fragment: Uint8Array, opts: HeadersOptions = {}): Uint8Array {
  const { stream = 1, pad, dependsOn } = opts;
  let flags = opts.flags ?? END_HEADERS | END_STREAM;
  const payload: number[] = [];
  if (pad !== undefined) {
    flags |= PADDED;
    payload.push(pad);
  }
  if (dependsOn !== undefined) {
    flags |= PRIORITY_FLAG;
    payload.push(...u32(dependsOn), 15);
  }
  payload.push(...fragment, ...new Array(pad ?? 0).fill(0));
  return frame(HEADERS, flags, stream, payload);
}

/** The preface, an empty SETTINGS, then `frames`. */
function conn(...frames: Uint8Array[]): Uint8Array {
  return concat(H2_PREFACE, settings(), ...frames);
}

/** A typical request block: GET, http, a path with a query, and the authority given. */
function requestBlock(authority: string, ...extra: number[][]): Uint8Array {
  return block(
    indexed(2),
    indexed(6),
    literal("without", 4, "/some/path?q=1"),
    literal("indexing", 1, authority, true),
    ...extra,
  );
}

const BLOCK = requestBlock("example.com");

// ---- assertions ----

function sniff(buf: Uint8Array, maxBytes?: number): SniffResult<H2Request> {
  return sniffH2Authority(buf, maxBytes);
}

function expectAllPrefixesNeedMore(buf: Uint8Array, upTo = buf.length): void {
  for (let i = 0; i < upTo; i++) {
    assert.equal(sniff(buf.subarray(0, i)), NEED_MORE, `prefix of ${i} bytes`);
  }
}

// ---- fixtures ----

function fixture(name: string): Uint8Array {
  const path = fileURLToPath(new URL(`../fixtures/h2c/${name}`, import.meta.url));
  return new Uint8Array(readFileSync(path));
}

// From test/fixtures/h2c/README.md.
const FIXTURES = ["curl.bin", "nghttp.bin", "node20.bin", "bun.bin"].map((file) => ({
  file,
  bytes: fixture(file),
}));
const FIXTURE_SIZES: Record<string, number> = {
  "curl.bin": 112,
  "nghttp.bin": 171,
  "node20.bin": 73,
  "bun.bin": 75,
};

describe("sniffH2Authority: real clients", () => {
  for (const { file, bytes } of FIXTURES) {
    test(`${file}: GET app.test /hello, the whole capture`, () => {
      assert.equal(bytes.length, FIXTURE_SIZES[file]);
      const value = expectMatch(sniff(bytes), bytes.length);
      // nghttp first sends PRIORITY frames for streams 3 to 11, its dependency tree.
      const stream = file === "nghttp.bin" ? 13 : 1;
      assert.deepEqual(value, { authority: "app.test", path: "/hello", method: "GET", stream });
    });

    test(`${file}: every proper prefix needs more`, () => {
      expectAllPrefixesNeedMore(bytes);
    });

    test(`${file}: bytes after the header block are not counted`, () => {
      const more = concat(bytes, frame(DATA, END_STREAM, 1, [1, 2, 3]), Uint8Array.of(0xff));
      expectMatch(sniff(more), bytes.length);
    });

    test(`${file}: a view into a larger buffer parses the same`, () => {
      const big = concat(Uint8Array.of(9, 9, 9), bytes, Uint8Array.of(9));
      expectMatch(sniff(big.subarray(3, 3 + bytes.length)), bytes.length);
    });
  }
});

// ---- the preface ----

describe("sniffH2Authority: preface", () => {
  test("empty buffer and every proper prefix of the preface need more", () => {
    expectAllPrefixesNeedMore(H2_PREFACE, H2_PREFACE.length + 1);
  });

  test("a wrong byte at any offset of the preface is no match, however little has arrived", () => {
    for (let i = 0; i < H2_PREFACE.length; i++) {
      const bad = Uint8Array.from(H2_PREFACE);
      bad[i] ^= 0x20;
      assert.equal(sniff(bad.subarray(0, i + 1)), NO_MATCH, `offset ${i}`);
      assert.equal(sniff(concat(bad, settings(), headers(BLOCK))), NO_MATCH, `offset ${i}`);
    }
  });

  test("HTTP/1.1 and TLS are no match", () => {
    assert.equal(sniff(new TextEncoder().encode("GET / HTTP/1.1\r\n")), NO_MATCH);
    assert.equal(sniff(Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00)), NO_MATCH);
  });

  test("the preface arriving split at every byte, then the rest", () => {
    const whole = conn(headers(BLOCK));
    for (let i = 0; i <= H2_PREFACE.length; i++) {
      // The sniffer sees the accumulated bytes: each split point is one prefix, then the whole.
      assert.equal(sniff(whole.subarray(0, i)), NEED_MORE, `split at ${i}`);
      expectMatch(sniff(concat(whole.subarray(0, i), whole.subarray(i))), whole.length);
    }
  });
});

// ---- valid requests ----

describe("sniffH2Authority: requests", () => {
  test("authority, path without its query, method", () => {
    const buf = conn(headers(BLOCK));
    assert.deepEqual(expectMatch(sniff(buf), buf.length), {
      authority: "example.com",
      path: "/some/path",
      method: "GET",
      stream: 1,
    });
  });

  test("authority with port, uppercase and a trailing dot is normalized like SNI", () => {
    const value = expectMatch(sniff(conn(headers(requestBlock("WWW.Example.COM.:8443")))));
    assert.equal(value.authority, "www.example.com");
  });

  test("IPv4 and IPv6 literal authorities", () => {
    assert.equal(
      expectMatch(sniff(conn(headers(requestBlock("10.0.0.1:80"))))).authority,
      "10.0.0.1",
    );
    const v6 = expectMatch(sniff(conn(headers(requestBlock("[2001:DB8:0:0::1]:443")))));
    assert.equal(v6.authority, "2001:db8::1");
  });

  test("host field when :authority is absent", () => {
    const blk = block(indexed(3), indexed(7), indexed(4), literal("never", 38, "Example.ORG:80"));
    assert.deepEqual(expectMatch(sniff(conn(headers(blk)))), {
      authority: "example.org",
      path: "/",
      method: "POST",
      stream: 1,
    });
  });

  test("host equal to :authority is fine", () => {
    const blk = requestBlock("a.example:81", literal("without", 38, "A.example.:81"));
    assert.equal(expectMatch(sniff(conn(headers(blk)))).authority, "a.example");
  });

  test("neither :authority nor host: authority null", () => {
    const blk = block(indexed(2), indexed(6), indexed(4));
    assert.deepEqual(expectMatch(sniff(conn(headers(blk)))), {
      authority: null,
      path: "/",
      method: "GET",
      stream: 1,
    });
  });

  test("an empty host field gives authority null, as for HTTP/1", () => {
    const blk = block(indexed(2), indexed(6), indexed(4), literal("without", 38, ""));
    assert.equal(expectMatch(sniff(conn(headers(blk)))).authority, null);
  });

  test("CONNECT: no :path, no :scheme", () => {
    const blk = block(literal("without", 2, "CONNECT"), literal("without", 1, "db.internal:5432"));
    assert.deepEqual(expectMatch(sniff(conn(headers(blk)))), {
      authority: "db.internal",
      path: null,
      method: "CONNECT",
      stream: 1,
    });
  });

  test("extended CONNECT with :protocol (RFC 8441)", () => {
    const blk = requestBlock("ws.example", literal("without", "custom", "x"));
    const withProtocol = block(literal("without", ":protocol", "websocket"));
    expectMatch(sniff(conn(headers(concat(withProtocol, blk)))));
  });

  test("HEADERS with padding and priority", () => {
    const buf = conn(headers(BLOCK, { pad: 17, dependsOn: 0 }));
    assert.equal(expectMatch(sniff(buf), buf.length).authority, "example.com");
    expectAllPrefixesNeedMore(buf);
  });

  test("HEADERS with padding only, priority only, and zero padding", () => {
    for (const opts of [{ pad: 1 }, { pad: 0 }, { dependsOn: 0x80000003 }, { pad: 255 }]) {
      const buf = conn(headers(BLOCK, opts));
      expectMatch(sniff(buf), buf.length);
    }
  });

  test("a header block split into HEADERS and CONTINUATION at every offset", () => {
    for (let i = 0; i <= BLOCK.length; i++) {
      const buf = conn(
        headers(BLOCK.subarray(0, i), { flags: END_STREAM, pad: 3 }),
        frame(CONTINUATION, END_HEADERS, 1, BLOCK.subarray(i)),
      );
      assert.equal(expectMatch(sniff(buf), buf.length).authority, "example.com", `split at ${i}`);
    }
  });

  test("a header block in one-byte CONTINUATION frames; every prefix needs more", () => {
    const continuations = Array.from(
      BLOCK,
      (b, i) => frame(CONTINUATION, i === BLOCK.length - 1 ? END_HEADERS : 0, 1, [b]),
    );
    const buf = conn(headers(new Uint8Array(0), { flags: 0 }), ...continuations);
    assert.equal(expectMatch(sniff(buf), buf.length).authority, "example.com");
    expectAllPrefixesNeedMore(buf);
  });

  test("frames before HEADERS are skipped", () => {
    const buf = conn(
      frame(WINDOW_UPDATE, 0, 0, u32(0x7fff0000)),
      frame(PRIORITY, 0, 3, [0, 0, 0, 0, 200]),
      frame(PING, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]),
      frame(SETTINGS, ACK, 0),
      frame(0x10, 0, 0, [0, 0, 0, 0, 0x75]), // PRIORITY_UPDATE (RFC 9218): unknown here, ignored
      frame(0xfa, 0xff, 7, [1, 2, 3]),
      frame(GOAWAY, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0, 0x64, 0x65]),
      settings([1, 0], [2, 0], [3, 100], [4, 0x7fffffff], [5, 0xffffff], [6, 1 << 20], [9, 1]),
      headers(BLOCK, { stream: 5 }),
    );
    assert.equal(expectMatch(sniff(buf), buf.length).stream, 5, "the request's stream");
    expectAllPrefixesNeedMore(buf);
  });

  test("the reserved bit of the stream id is ignored", () => {
    const buf = conn(headers(BLOCK, { stream: 0x80000001 }));
    assert.equal(expectMatch(sniff(buf), buf.length).stream, 1);
  });

  test("SETTINGS_HEADER_TABLE_SIZE 0 from the client does not shrink its encoder's table", () => {
    // The client's setting sizes the table for the server's responses. Its requests use a
    // 4096-byte table until the server advertises otherwise, so indexing and referring back to
    // an entry in the same block is valid, and the server would decode it.
    const blk = block(
      indexed(2),
      indexed(6),
      indexed(4),
      literal("indexing", 1, "tenant.example"),
      literal("indexing", "x-tenant", "blue"),
      indexed(62),
    );
    const buf = concat(H2_PREFACE, settings([1, 0]), headers(blk));
    const value = expectMatch(sniff(buf), buf.length);
    assert.equal(value.authority, "tenant.example");
  });

  test("a frame of exactly 16384 bytes is allowed", () => {
    // A block of 16384 - 1 - 100 bytes, so that the pad length byte and 100 bytes of padding
    // fill the frame.
    let blk: Uint8Array = new Uint8Array(0);
    for (let n = 16000; blk.length !== 16283; n++) {
      blk = requestBlock("big.example", literal("without", "x-big", "b".repeat(n)));
    }
    const frameBytes = headers(blk, { pad: 100 });
    assert.equal(frameBytes.length, 9 + 16384);
    expectMatch(sniff(conn(frameBytes)));
  });

  test("a header block spread over several full frames, within maxBytes", () => {
    const blk = requestBlock("big.example", literal("without", "x-big", "b".repeat(40000)));
    const frames = [headers(blk.subarray(0, 16384), { flags: 0 })];
    for (let at = 16384; at < blk.length; at += 16384) {
      const end = Math.min(blk.length, at + 16384);
      frames.push(
        frame(CONTINUATION, end === blk.length ? END_HEADERS : 0, 1, blk.subarray(at, end)),
      );
    }
    const buf = conn(...frames);
    expectMatch(sniff(buf), buf.length);
  });

  test("a dynamic table size update at the start of the block", () => {
    const blk = concat(block(sizeUpdate(0), sizeUpdate(4096)), BLOCK);
    expectMatch(sniff(conn(headers(blk))));
  });
});

// ---- invalid ----

describe("sniffH2Authority: invalid frames", () => {
  const INVALID: [string, Uint8Array, RegExp | string][] = [
    [
      "first frame is not SETTINGS",
      concat(H2_PREFACE, headers(BLOCK)),
      "HTTP/2: first frame after the preface is HEADERS, not SETTINGS",
    ],
    [
      "first frame is a SETTINGS ACK",
      concat(H2_PREFACE, frame(SETTINGS, ACK, 0), settings(), headers(BLOCK)),
      "HTTP/2: first frame after the preface is SETTINGS ACK, not SETTINGS",
    ],
    [
      "frame over 16384 bytes, caught from its header",
      conn(frame(HEADERS, END_HEADERS, 1, [], 16385)),
      "HTTP/2: HEADERS frame length 16385 exceeds the maximum frame size 16384",
    ],
    [
      "unknown frame type over 16384 bytes",
      conn(frame(0xee, 0, 0, [], 0xffffff)),
      "HTTP/2: unknown (type 0xee) frame length 16777215 exceeds the maximum frame size 16384",
    ],
    [
      "SETTINGS length not a multiple of 6",
      conn(frame(SETTINGS, 0, 0, [0, 1, 0, 0, 0])),
      "HTTP/2: SETTINGS frame length 5 (not a multiple of 6)",
    ],
    [
      "SETTINGS on a stream",
      conn(frame(SETTINGS, 0, 1)),
      "HTTP/2: SETTINGS frame on stream 1 (must be 0)",
    ],
    [
      "SETTINGS ACK with a payload",
      conn(frame(SETTINGS, ACK, 0, [0, 1, 0, 0, 0, 0])),
      "HTTP/2: SETTINGS ACK frame length 6 (must be 0)",
    ],
    [
      "SETTINGS_ENABLE_PUSH of 2",
      conn(settings([2, 2]), headers(BLOCK)),
      "HTTP/2: SETTINGS_ENABLE_PUSH value 2 (must be 0 or 1)",
    ],
    [
      "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1",
      conn(settings([4, 0x80000000])),
      "HTTP/2: SETTINGS_INITIAL_WINDOW_SIZE value 2147483648 (must be at most 2^31-1)",
    ],
    [
      "SETTINGS_MAX_FRAME_SIZE under 16384",
      conn(settings([5, 16383])),
      "HTTP/2: SETTINGS_MAX_FRAME_SIZE value 16383 (must be 16384 to 2^24-1)",
    ],
    [
      "SETTINGS_MAX_FRAME_SIZE over 2^24-1",
      concat(H2_PREFACE, settings([5, 0x1000000])),
      "HTTP/2: SETTINGS_MAX_FRAME_SIZE value 16777216 (must be 16384 to 2^24-1)",
    ],
    [
      "PING of 7 bytes",
      conn(frame(PING, 0, 0, [1, 2, 3, 4, 5, 6, 7])),
      "HTTP/2: PING frame length 7 (must be 8)",
    ],
    [
      "PING on a stream",
      conn(frame(PING, 0, 3, new Array(8).fill(0))),
      "HTTP/2: PING frame on stream 3 (must be 0)",
    ],
    [
      "PRIORITY on stream 0",
      conn(frame(PRIORITY, 0, 0, [0, 0, 0, 1, 1])),
      "HTTP/2: PRIORITY frame on stream 0",
    ],
    [
      "PRIORITY of 4 bytes",
      conn(frame(PRIORITY, 0, 3, [0, 0, 0, 1])),
      "HTTP/2: PRIORITY frame length 4 (must be 5)",
    ],
    [
      "PRIORITY depending on its own stream",
      conn(frame(PRIORITY, 0, 3, [0x80, 0, 0, 3, 1])),
      "HTTP/2: PRIORITY frame makes stream 3 depend on itself",
    ],
    [
      "WINDOW_UPDATE of 3 bytes",
      conn(frame(WINDOW_UPDATE, 0, 0, [0, 0, 1])),
      "HTTP/2: WINDOW_UPDATE frame length 3 (must be 4)",
    ],
    [
      "WINDOW_UPDATE on an idle stream",
      conn(frame(WINDOW_UPDATE, 0, 1, u32(1))),
      "HTTP/2: WINDOW_UPDATE frame on idle stream 1",
    ],
    [
      "WINDOW_UPDATE increment 0",
      conn(frame(WINDOW_UPDATE, 0, 0, u32(0x80000000))),
      "HTTP/2: WINDOW_UPDATE increment 0 on stream 0",
    ],
    [
      "GOAWAY on a stream",
      conn(frame(GOAWAY, 0, 1, new Array(8).fill(0))),
      "HTTP/2: GOAWAY frame on stream 1 (must be 0)",
    ],
    [
      "GOAWAY of 7 bytes",
      conn(frame(GOAWAY, 0, 0, new Array(7).fill(0))),
      "HTTP/2: GOAWAY frame length 7 (must be at least 8)",
    ],
    ["DATA on stream 0", conn(frame(DATA, 0, 0, [1])), "HTTP/2: DATA frame on stream 0"],
    ["DATA before HEADERS", conn(frame(DATA, 0, 1, [1])), "HTTP/2: DATA frame on idle stream 1"],
    [
      "RST_STREAM before HEADERS",
      conn(frame(RST_STREAM, 0, 1, u32(8))),
      "HTTP/2: RST_STREAM frame on idle stream 1",
    ],
    [
      "PUSH_PROMISE from a client",
      conn(frame(PUSH_PROMISE, END_HEADERS, 1, [0, 0, 0, 2])),
      "HTTP/2: PUSH_PROMISE frame from a client",
    ],
    [
      "CONTINUATION without HEADERS",
      conn(frame(CONTINUATION, END_HEADERS, 1, BLOCK)),
      "HTTP/2: CONTINUATION frame on stream 1 without a HEADERS frame before it",
    ],
    [
      "HEADERS on stream 0",
      conn(headers(BLOCK, { stream: 0 })),
      "HTTP/2: HEADERS frame on stream 0",
    ],
    [
      "HEADERS on an even stream",
      conn(headers(BLOCK, { stream: 2 })),
      "HTTP/2: HEADERS frame on even stream 2 (client streams are odd)",
    ],
    [
      "HEADERS with PADDED and no payload",
      conn(frame(HEADERS, END_HEADERS | PADDED, 1)),
      "HTTP/2: HEADERS frame with the PADDED flag has no pad length",
    ],
    [
      "HEADERS with PRIORITY and 4 bytes",
      conn(frame(HEADERS, END_HEADERS | PRIORITY_FLAG, 1, [0, 0, 0, 0])),
      "HTTP/2: HEADERS frame length 4 too short for its priority fields",
    ],
    [
      "HEADERS pad length beyond the frame",
      conn(frame(HEADERS, END_HEADERS | PADDED, 1, [BLOCK.length + 1, ...BLOCK])),
      `HTTP/2: HEADERS pad length ${BLOCK.length + 1} exceeds the ${BLOCK.length} bytes left ` +
      "in the frame",
    ],
    [
      "HEADERS pad length beyond the frame after priority fields",
      conn(frame(HEADERS, END_HEADERS | PADDED | PRIORITY_FLAG, 1, [3, 0, 0, 0, 0, 16, 0, 0])),
      "HTTP/2: HEADERS pad length 3 exceeds the 2 bytes left in the frame",
    ],
    [
      "HEADERS depending on its own stream",
      conn(headers(BLOCK, { stream: 5, dependsOn: 5 })),
      "HTTP/2: HEADERS frame makes stream 5 depend on itself",
    ],
    [
      "CONTINUATION for another stream",
      conn(headers(BLOCK.subarray(0, 3), { flags: 0 }), frame(CONTINUATION, END_HEADERS, 3, BLOCK)),
      "HTTP/2: CONTINUATION frame for stream 3 inside the header block of stream 1",
    ],
    [
      "PING inside a header block",
      conn(headers(BLOCK.subarray(0, 3), { flags: 0 }), frame(PING, 0, 0, new Array(8).fill(0))),
      "HTTP/2: PING frame inside the header block of stream 1 (expected CONTINUATION)",
    ],
    [
      "unknown frame inside a header block",
      conn(headers(BLOCK.subarray(0, 3), { flags: 0 }), frame(0xfa, 0, 1)),
      "HTTP/2: unknown (type 0xfa) frame inside the header block of stream 1 " +
      "(expected CONTINUATION)",
    ],
    [
      "second HEADERS inside a header block",
      conn(headers(BLOCK.subarray(0, 3), { flags: 0 }), headers(BLOCK)),
      "HTTP/2: HEADERS frame inside the header block of stream 1 (expected CONTINUATION)",
    ],
    [
      "undecodable header block",
      conn(headers(block(indexed(2), indexed(99)))),
      "HPACK: index 99 is beyond the table (61 static + 0 dynamic)",
    ],
    [
      "Huffman EOS in the authority",
      conn(headers(block(indexed(2), [0x41, 0x84, 0xff, 0xff, 0xff, 0xff]))),
      "HPACK: Huffman string at offset 2 contains the EOS symbol",
    ],
  ];
  for (const [name, buf, reason] of INVALID) {
    test(name, () => expectInvalid(sniff(buf), reason));
  }

  test("errors caught from the frame header are reported before the payload arrives", () => {
    for (
      const [buf, reason] of [
        [conn(frame(HEADERS, END_HEADERS, 1, [], 16385)), /exceeds the maximum frame size/],
        [conn(frame(PUSH_PROMISE, 0, 1, [0, 0, 0, 2])), /PUSH_PROMISE/],
        [conn(frame(DATA, 0, 1, [1, 2, 3])), /DATA frame on idle stream 1/],
        [conn(frame(SETTINGS, 0, 0, [1, 2, 3])), /not a multiple of 6/],
      ] as const
    ) {
      expectInvalid(sniff(buf.subarray(0, H2_PREFACE.length + 9 + 9)), reason);
    }
  });

  test("no complete header block within maxBytes: one large frame", () => {
    const buf = conn(headers(requestBlock("a", literal("without", "x", "v".repeat(2000)))));
    expectInvalid(sniff(buf, 1000), "HTTP/2: no complete header block within the first 1000 bytes");
    // Caught as soon as the frame header shows the frame ends past the limit.
    expectInvalid(sniff(buf.subarray(0, 24 + 9 + 9), 1000), /within the first 1000 bytes/);
    expectMatch(sniff(buf, buf.length), buf.length);
  });

  test("no complete header block within maxBytes: many small frames", () => {
    const pings = Array.from({ length: 4000 }, () => frame(PING, 0, 0, new Array(8).fill(0)));
    const buf = conn(...pings, headers(BLOCK));
    expectInvalid(sniff(buf), "HTTP/2: no complete header block within the first 65536 bytes");
    // A proper prefix that already reaches the limit is invalid too, not "more".
    expectInvalid(sniff(buf.subarray(0, 65536)), /within the first 65536 bytes/);
    expectMatch(sniff(buf, buf.length), buf.length);
  });

  test("a header block ending exactly at maxBytes is fine", () => {
    const buf = conn(headers(BLOCK));
    expectMatch(sniff(buf, buf.length), buf.length);
    expectInvalid(sniff(buf, buf.length - 1), /within the first/);
  });
});

describe("sniffH2Authority: malformed requests", () => {
  const cases: [string, number[][], RegExp | string][] = [
    [
      "pseudo-header after a regular field",
      [indexed(2), literal("without", "accept", "*/*"), literal("without", 1, "a.example")],
      'HTTP/2: pseudo-header ":authority" after a regular field',
    ],
    [
      "unknown pseudo-header",
      [indexed(2), indexed(8), literal("without", 1, "a.example")],
      'HTTP/2: unknown pseudo-header ":status"',
    ],
    [
      "two :authority pseudo-headers",
      [literal("without", 1, "a.example"), literal("without", 1, "b.example")],
      "HTTP/2: several :authority pseudo-headers",
    ],
    [
      "two :method pseudo-headers",
      [indexed(2), indexed(3)],
      "HTTP/2: several :method pseudo-headers",
    ],
    [
      "uppercase field name Host",
      [indexed(2), literal("without", 1, "a.example"), literal("without", "Host", "b.example")],
      'HTTP/2: invalid field name "Host"',
    ],
    [
      "field name with a space",
      [indexed(2), literal("without", "host ", "a.example")],
      'HTTP/2: invalid field name "host "',
    ],
    [
      "field name with a colon",
      [indexed(2), literal("without", "x:y", "1")],
      'HTTP/2: invalid field name "x:y"',
    ],
    [
      "empty field name",
      [indexed(2), literal("without", "", "1")],
      'HTTP/2: invalid field name ""',
    ],
    [
      "CR LF in a value",
      [indexed(2), literal("without", "x", "a\r\nhost: evil")],
      'HTTP/2: field "x" value "a\\r\\nhost: evil" contains 0x0d',
    ],
    [
      "NUL in :authority",
      [literal("without", 1, "a.example\x00.evil")],
      /field ":authority" value .* contains 0x00/,
    ],
    [
      "leading space in a value",
      [literal("without", 1, " a.example")],
      'HTTP/2: field ":authority" value " a.example" starts or ends with whitespace',
    ],
    ["empty :authority", [indexed(2), indexed(1)], 'HTTP/2: invalid :authority ""'],
    [
      ":authority with userinfo",
      [literal("without", 1, "user@a.example")],
      'HTTP/2: invalid :authority "user@a.example"',
    ],
    [
      ":authority with a bad port",
      [literal("without", 1, "a.example:65536")],
      'HTTP/2: invalid :authority "a.example:65536"',
    ],
    [
      ":authority with a percent-escape",
      [literal("without", 1, "a%2eexample")],
      'HTTP/2: invalid :authority "a%2eexample"',
    ],
    [
      ":authority that is an IPv4 address in brackets",
      [literal("without", 1, "[10.0.0.1]")],
      'HTTP/2: invalid :authority "[10.0.0.1]"',
    ],
    [
      "two host fields",
      [literal("without", 38, "a.example"), literal("without", 38, "a.example")],
      "HTTP/2: several host fields",
    ],
    [
      "invalid host field",
      [literal("without", 38, "a example")],
      'HTTP/2: invalid host field "a example"',
    ],
    [
      ":authority and host name different hosts",
      [literal("without", 1, "a.example"), literal("without", 38, "b.example")],
      'HTTP/2: :authority "a.example" and host "b.example" differ',
    ],
    [
      ":authority and host differ in port",
      [literal("without", 1, "a.example:80"), literal("without", 38, "a.example:8080")],
      'HTTP/2: :authority "a.example:80" and host "a.example:8080" differ',
    ],
    [
      ":authority and an empty host",
      [literal("without", 1, "a.example"), literal("without", 38, "")],
      'HTTP/2: :authority "a.example" and host "" differ',
    ],
  ];
  for (const [name, reps, reason] of cases) {
    test(name, () => expectInvalid(sniff(conn(headers(block(...reps)))), reason));
  }

  test("a long bad value is quoted with a cap", () => {
    const r = sniff(conn(headers(block(literal("without", 1, "x".repeat(500) + "@")))));
    expectInvalid(r, /^HTTP\/2: invalid :authority "x{64}…"$/);
  });
});

// ---- randomized ----

interface Valid {
  bytes: Uint8Array;
  /** The frames before HEADERS, the HEADERS stream and its whole header block. */
  prelude: Uint8Array;
  stream: number;
  block: Uint8Array;
  value: H2Request;
  /** [offset, size] of every frame header field, for targeted corruption. */
  fields: [number, number][];
}

/** Splits a valid input (ending with one HEADERS frame) into its parts. */
function dissect(bytes: Uint8Array): Valid {
  const r = sniff(bytes);
  if (r.kind !== "match" || r.length !== bytes.length) throw new Error("not a valid input");
  const fields: [number, number][] = [];
  let pos = 24;
  for (;;) {
    const length = (bytes[pos] << 16) | (bytes[pos + 1] << 8) | bytes[pos + 2];
    fields.push([pos, 3], [pos + 3, 1], [pos + 4, 1], [pos + 5, 4]);
    if (bytes[pos + 3] === HEADERS) {
      const flags = bytes[pos + 4];
      let start = pos + 9;
      let end = start + length;
      if (flags & PADDED) {
        fields.push([start, 1]);
        end -= bytes[start++];
      }
      if (flags & PRIORITY_FLAG) start += 5;
      const stream = ((bytes[pos + 5] & 0x7f) << 24 | bytes[pos + 6] << 16 | bytes[pos + 7] << 8 |
        bytes[pos + 8]) >>> 0;
      return {
        bytes,
        prelude: bytes.subarray(0, pos),
        stream,
        block: bytes.subarray(start, end),
        value: r.value,
        fields,
      };
    }
    pos += 9 + length;
  }
}

const CORPUS: Valid[] = [
  ...FIXTURES.map((f) => dissect(f.bytes)),
  dissect(conn(headers(BLOCK, { pad: 4, dependsOn: 0 }))),
  dissect(conn(headers(requestBlock("[::1]:8080", literal("indexing", 38, "[::1]:8080"))))),
  dissect(conn(headers(block(indexed(3), indexed(7), literal("never", 38, "h.example"))))),
];

const SKIPPABLE = [
  () => frame(PING, 0, 0, new Array(8).fill(7)),
  () => frame(WINDOW_UPDATE, 0, 0, u32(1000)),
  () => frame(PRIORITY, 0, 7, [0, 0, 0, 0, 3]),
  () => frame(SETTINGS, ACK, 0),
  () => settings([3, 10], [1, 0]),
  () => frame(0x20, 3, 9, [1, 2, 3, 4]),
];

/** The same request re-framed: skippable frames first, then HEADERS and CONTINUATIONs. */
function reframe(rng: Prng, v: Valid): Uint8Array {
  const parts = [v.prelude];
  for (let n = rng.int(3); n > 0; n--) parts.push(rng.pick(SKIPPABLE)());
  const cuts = Array.from({ length: rng.int(4) }, () => rng.int(v.block.length + 1));
  cuts.sort((a, b) => a - b);
  cuts.push(v.block.length);
  const options: HeadersOptions = { stream: v.stream, flags: cuts.length === 1 ? END_HEADERS : 0 };
  if (rng.int(2) === 0) options.pad = rng.int(20);
  if (rng.int(2) === 0) options.dependsOn = rng.int(2) === 0 ? 0 : v.stream + 2;
  parts.push(headers(v.block.subarray(0, cuts[0]), options));
  for (let i = 1; i < cuts.length; i++) {
    const flags = i === cuts.length - 1 ? END_HEADERS : 0;
    parts.push(frame(CONTINUATION, flags, v.stream, v.block.subarray(cuts[i - 1], cuts[i])));
  }
  return concat(...parts);
}

function mutate(rng: Prng, input: Uint8Array, fields: [number, number][]): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  for (let r = rng.range(1, 3); r > 0; r--) {
    switch (rng.int(6)) {
      case 0: // byte
        b[rng.int(b.length)] = rng.int(256);
        break;
      case 1: // bit
        b[rng.int(b.length)] ^= 1 << rng.int(8);
        break;
      case 2: { // insert
        const at = rng.int(b.length + 1);
        const extra = Uint8Array.from({ length: rng.range(1, 8) }, () => rng.int(256));
        b = concat(b.subarray(0, at), extra, b.subarray(at));
        break;
      }
      case 3: { // delete
        const at = rng.int(b.length);
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.range(1, 8))));
        break;
      }
      default: { // a frame header field, more often: that is where the branches are
        const [at, size] = rng.pick(fields);
        if (at + size > b.length) break;
        let v = 0;
        for (let i = 0; i < size; i++) v = v * 256 + b[at + i];
        const max = 256 ** size - 1;
        v = Math.min(max, Math.max(0, rng.pick([0, 1, v - 1, v + 1, v + rng.range(-9, 9), max])));
        for (let i = size - 1; i >= 0; i--) {
          b[at + i] = v & 0xff;
          v = Math.floor(v / 256);
        }
      }
    }
  }
  return b;
}

const HOST_SHAPE = /^([a-z0-9._~-]+|[0-9a-f:.]+)$/;

function checkWellFormed(buf: Uint8Array, r: SniffResult<H2Request>, label: string): void {
  switch (r.kind) {
    case "more":
    case "no":
      return;
    case "invalid":
      if (typeof r.reason !== "string" || !/^(HTTP\/2|HPACK): ./.test(r.reason)) {
        assert.fail(`${label}: bad reason ${JSON.stringify(r)}`);
      }
      return;
    case "match": {
      const v = r.value;
      const ok = Number.isInteger(r.length) && r.length > 24 + 9 && r.length <= buf.length &&
        (v.authority === null || HOST_SHAPE.test(v.authority)) &&
        (v.path === null || typeof v.path === "string") &&
        (v.method === null || typeof v.method === "string");
      if (!ok) assert.fail(`${label}: malformed match ${JSON.stringify(r)}`);
      return;
    }
    default:
      assert.fail(`${label}: unknown result ${JSON.stringify(r)}`);
  }
}

test("randomized: truncated, re-framed and mutated requests never throw (100,000 cases)", () => {
  const seed = 0x0b2c_9113;
  const rng = mulberry32(seed);
  const CASES = 100_000;
  for (let i = 0; i < CASES; i++) {
    const v = CORPUS[i % CORPUS.length];
    const label = `seed ${seed} case ${i}`;
    const mode = rng.int(5);
    try {
      if (mode === 0) {
        // Truncation alone must always ask for more.
        const r = sniff(v.bytes.subarray(0, rng.int(v.bytes.length)));
        if (r.kind !== "more") assert.fail(`${label}: truncation gave ${JSON.stringify(r)}`);
        continue;
      }
      if (mode === 1) {
        // Re-framing alone must give the same request, ending where the block ends.
        const buf = reframe(rng, v);
        const r = sniff(concat(buf, rng.pick(SKIPPABLE)()));
        if (r.kind !== "match") assert.fail(`${label}: ${JSON.stringify(r)}`);
        assert.deepEqual(r.value, v.value, label);
        assert.equal(r.length, buf.length, label);
        continue;
      }
      let buf = mutate(rng, mode === 2 ? reframe(rng, v) : v.bytes, v.fields);
      if (rng.int(4) === 0) buf = buf.subarray(0, rng.int(buf.length + 1));
      const maxBytes = rng.int(8) === 0 ? rng.range(24, 200) : undefined;
      checkWellFormed(buf, sniff(buf, maxBytes), label);
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.fail(`${label}: threw ${e}`);
    }
  }
});
