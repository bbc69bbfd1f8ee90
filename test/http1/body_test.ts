import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type BodyError,
  type BodyProgress,
  ChunkedDecoder,
  LengthCounter,
  MAX_CHUNK_LINE,
  MAX_TRAILERS,
  requestBodyKind,
  responseBodyKind,
} from "../../src/http1/body.ts";
import { type HttpResponseHead, sniffHttpResponseHead } from "../../src/http1/response_head.ts";
import { type HttpRequestHead, sniffHttpRequestHead } from "../../src/http1/request_head.ts";
import { mulberry32, type Prng } from "../helpers/prng.ts";
import { ascii, expectMatch } from "../helpers/sniff.ts";

function requestHead(...lines: string[]): HttpRequestHead {
  const head = ascii(`${lines.join("\r\n")}\r\n\r\n`);
  return expectMatch(sniffHttpRequestHead(head, { maxLine: 8192, maxHead: 65536 }));
}

function responseHead(...lines: string[]): HttpResponseHead {
  const head = ascii(`${lines.join("\r\n")}\r\n\r\n`);
  return expectMatch(sniffHttpResponseHead(head, { maxHead: 65536 }));
}

describe("requestBodyKind", () => {
  test("no framing headers: none", () => {
    assert.deepEqual(requestBodyKind(requestHead("GET / HTTP/1.1", "Host: a")), { kind: "none" });
  });
  test("Content-Length: 0 is none", () => {
    const head = requestHead("POST / HTTP/1.1", "Host: a", "Content-Length: 0");
    assert.deepEqual(requestBodyKind(head), { kind: "none" });
  });
  test("Content-Length: length", () => {
    const head = requestHead("POST / HTTP/1.1", "Host: a", "Content-Length: 42");
    assert.deepEqual(requestBodyKind(head), { kind: "length", length: 42 });
  });
  test("chunked", () => {
    const head = requestHead("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked");
    assert.deepEqual(requestBodyKind(head), { kind: "chunked" });
  });
  test("HTTP/1.0 without Content-Length has no body (never close-delimited)", () => {
    assert.deepEqual(requestBodyKind(requestHead("POST / HTTP/1.0")), { kind: "none" });
  });
});

describe("responseBodyKind", () => {
  const GET = { method: "GET" };
  const cases: [string, { method: string }, string[], unknown][] = [
    ["HEAD with a length", { method: "HEAD" }, ["HTTP/1.1 200 OK", "Content-Length: 5"], {
      kind: "none",
    }],
    ["HEAD with chunked", { method: "HEAD" }, [
      "HTTP/1.1 200 OK",
      "Transfer-Encoding: chunked",
    ], { kind: "none" }],
    ["100 Continue", GET, ["HTTP/1.1 100 Continue"], { kind: "none" }],
    ["103 Early Hints with a Link", GET, ["HTTP/1.1 103 Early Hints", "Link: </a.css>"], {
      kind: "none",
    }],
    ["204 with a length", GET, ["HTTP/1.1 204 No Content", "Content-Length: 5"], {
      kind: "none",
    }],
    ["304 with chunked", GET, ["HTTP/1.1 304 Not Modified", "Transfer-Encoding: chunked"], {
      kind: "none",
    }],
    ["101 Switching Protocols", GET, [
      "HTTP/1.1 101 Switching Protocols",
      "Upgrade: websocket",
      "Connection: Upgrade",
    ], { kind: "tunnel" }],
    ["2xx to CONNECT", { method: "CONNECT" }, ["HTTP/1.1 200 Connection Established"], {
      kind: "tunnel",
    }],
    ["2xx to CONNECT ignores framing headers", { method: "CONNECT" }, [
      "HTTP/1.1 200 OK",
      "Content-Length: 5",
    ], { kind: "tunnel" }],
    ["407 to CONNECT has a body", { method: "CONNECT" }, [
      "HTTP/1.1 407 Proxy Authentication Required",
      "Content-Length: 5",
    ], { kind: "length", length: 5 }],
    ["chunked", GET, ["HTTP/1.1 200 OK", "Transfer-Encoding: chunked"], { kind: "chunked" }],
    ["chunked with Content-Length: chunked wins", GET, [
      "HTTP/1.1 200 OK",
      "Content-Length: 100",
      "Transfer-Encoding: chunked",
    ], { kind: "chunked" }],
    ["Content-Length", GET, ["HTTP/1.1 200 OK", "Content-Length: 1234"], {
      kind: "length",
      length: 1234,
    }],
    ["Content-Length: 0", GET, ["HTTP/1.1 200 OK", "Content-Length: 0"], { kind: "none" }],
    ["no framing headers: close-delimited", GET, ["HTTP/1.1 200 OK"], { kind: "close" }],
    ["HTTP/1.0 without a length: close-delimited", GET, ["HTTP/1.0 200 OK"], { kind: "close" }],
    ["a coding not ending in chunked: close-delimited", GET, [
      "HTTP/1.1 200 OK",
      "Transfer-Encoding: gzip",
      "Content-Length: 5",
    ], { kind: "close" }],
    ["a 404 with a length", { method: "POST" }, ["HTTP/1.1 404 Not Found", "Content-Length: 9"], {
      kind: "length",
      length: 9,
    }],
  ];
  for (const [name, req, lines, expected] of cases) {
    test(name, () => assert.deepEqual(responseBodyKind(req, responseHead(...lines)), expected));
  }
});

type Outcome =
  | { kind: "done"; at: number }
  | { kind: "more"; consumed: number }
  | { kind: "error"; error: string };

/** A scanner: both body classes, typed by what the tests need. */
interface Scanner {
  push(chunk: Uint8Array): BodyProgress | BodyError;
}

/**
 * Feeds `pieces` in order and checks every push's result is well formed; returns where the
 * body ended (offset into the concatenation), or the error, or how much was consumed.
 * Plain comparisons guard the assertions: this runs for hundreds of thousands of cases.
 */
function feed(scanner: Scanner, pieces: readonly Uint8Array[], label = ""): Outcome {
  let total = 0;
  let outcome: Outcome | null = null;
  for (const piece of pieces) {
    const r = scanner.push(piece);
    if ("error" in r) {
      if (typeof r.error !== "string") assert.fail(`${label}: error ${r.error}`);
      if (outcome === null) outcome = { kind: "error", error: r.error };
      else if (outcome.kind !== "error" || outcome.error !== r.error) {
        assert.fail(`${label}: ${r.error} after ${JSON.stringify(outcome)}`);
      }
      continue;
    }
    const { consumed, done } = r;
    if (!Number.isInteger(consumed) || consumed < 0 || consumed > piece.length) {
      assert.fail(`${label}: consumed ${consumed} of ${piece.length}`);
    }
    if (outcome !== null) {
      if (outcome.kind !== "done" || consumed !== 0 || !done) {
        assert.fail(`${label}: consumed ${consumed} after ${JSON.stringify(outcome)}`);
      }
      continue;
    }
    if (!done && consumed !== piece.length) assert.fail(`${label}: not done but left bytes`);
    total += consumed;
    if (done) outcome = { kind: "done", at: total };
  }
  return outcome ?? { kind: "more", consumed: total };
}

/** Asserts two outcomes are equal, cheaply when they are. */
function assertOutcome(actual: Outcome, expected: Outcome, label: string): void {
  const same = actual.kind === expected.kind &&
    (actual.kind === "done"
      ? actual.at === (expected as typeof actual).at
      : actual.kind === "more"
      ? actual.consumed === (expected as typeof actual).consumed
      : actual.error === (expected as typeof actual).error);
  if (!same) assert.deepEqual(actual, expected, label);
}

function scan(text: string, pieces?: Uint8Array[]): Outcome {
  return feed(new ChunkedDecoder(), pieces ?? [ascii(text)], JSON.stringify(text.slice(0, 80)));
}

/** `buf` cut at sorted offsets. */
function cut(buf: Uint8Array, offsets: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const to of offsets) {
    pieces.push(buf.subarray(from, to));
    from = to;
  }
  pieces.push(buf.subarray(from));
  return pieces;
}

function randomPieces(rand: Prng, buf: Uint8Array): Uint8Array[] {
  const offsets: number[] = [];
  // Mostly small pieces, so that every state sees a boundary; sometimes empty ones.
  for (let at = 0; at < buf.length;) {
    at = Math.min(buf.length, at + rand.int(rand.int(4) === 0 ? 40 : 6));
    offsets.push(at);
  }
  return cut(buf, offsets);
}

function expectError(text: string, reason: RegExp): string {
  const outcome = scan(text);
  assert.equal(outcome.kind, "error", `${JSON.stringify(text)}: ${JSON.stringify(outcome)}`);
  if (outcome.kind !== "error") throw new Error("unreachable");
  assert.match(outcome.error, reason);
  return outcome.error;
}

describe("LengthCounter", () => {
  test("consumes up to the length and leaves the next message", () => {
    const counter = new LengthCounter(5);
    assert.deepEqual({ ...counter.push(ascii("he")) }, {
      consumed: 2,
      done: false,
      trailerStart: -1,
    });
    assert.equal(counter.remaining, 3);
    assert.deepEqual({ ...counter.push(ascii("lloGET / HTTP/1.1")) }, {
      consumed: 3,
      done: true,
      trailerStart: -1,
    });
    assert.deepEqual({ ...counter.push(ascii("more")) }, {
      consumed: 0,
      done: true,
      trailerStart: -1,
    });
  });
  test("an empty push consumes nothing", () => {
    assert.deepEqual({ ...new LengthCounter(3).push(new Uint8Array(0)) }, {
      consumed: 0,
      done: false,
      trailerStart: -1,
    });
  });
  test("length 0 is done at once", () => {
    assert.deepEqual({ ...new LengthCounter(0).push(ascii("x")) }, {
      consumed: 0,
      done: true,
      trailerStart: -1,
    });
  });
  test("split at every position, the body ends at the same place", () => {
    const buf = ascii("0123456789NEXT");
    for (let at = 0; at <= buf.length; at++) {
      assert.deepEqual(feed(new LengthCounter(10), cut(buf, [at])), { kind: "done", at: 10 });
    }
  });
  test("a programming error throws: negative, fractional, unsafe lengths", () => {
    for (const bad of [-1, 1.5, NaN, 2 ** 53]) {
      assert.throws(() => new LengthCounter(bad), RangeError);
    }
  });
  test("100000 random lengths and splits", () => {
    const rand = mulberry32(0x1e47);
    const buf = new Uint8Array(300);
    for (let n = 0; n < 100_000; n++) {
      const length = rand.int(200);
      const pieces = randomPieces(rand, buf.subarray(0, length + rand.int(100)));
      assertOutcome(feed(new LengthCounter(length), pieces), { kind: "done", at: length }, "");
    }
  });
});

/** Chunked bodies as real servers and clients send them; none is followed by other bytes. */
const BODIES: [string, string][] = [
  ["the smallest body", "0\r\n\r\n"],
  [
    "lower-case hex, as nginx and Node.js send",
    "7\r\nMozilla\r\n11\r\nDeveloper Network\r\n0\r\n\r\n",
  ],
  ["upper-case hex with leading zeros", "000A\r\n0123456789\r\n00\r\n\r\n"],
  ["data holding CRLFs and hex digits", "7\r\n\r\n0\r\n\r\n\r\n5\r\n\r\n\r\n0\r\n0\r\n\r\n"],
  [
    "extensions: token, quoted-string with escapes, valueless",
    '4;name=value\r\nWiki\r\n5;foo="bar \\"baz\\" ;=";x\r\npedia\r\n0;last\r\n\r\n',
  ],
  ["extensions with whitespace around ; and =", '4 ;\ta = b ; c\r\nWiki\r\n0 ; d=""\r\n\r\n'],
  [
    "trailers, as for Server-Timing and an integrity digest",
    "5\r\nhello\r\n0\r\nServer-Timing: db;dur=53, app;dur=47.2\r\n" +
    "Content-Digest: sha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:\r\n\r\n",
  ],
  [
    "gRPC-style trailers with an empty value",
    "a\r\n\0\0\0\0\x05hello\r\n0\r\ngrpc-status:0\r\ngrpc-message: \r\n\r\n",
  ],
  ["binary data with obs-text", "3\r\n\xff\x00\x80\r\n0\r\nX-Tr: \xe9t\xe9\r\n\r\n"],
  ["a 64 KiB chunk", `10000\r\n${"x".repeat(0x10000)}\r\n0\r\n\r\n`],
  ["many one-byte chunks", `${"1\r\nz\r\n".repeat(50)}0\r\n\r\n`],
];

const NEXT_MESSAGES = ["", "HTTP/1.1 200 OK\r\n\r\n", "GET /next HTTP/1.1\r\nHost: a\r\n\r\n", "0"];

describe("ChunkedDecoder: valid bodies", () => {
  for (const [name, body] of BODIES) {
    test(`${name}: whole, and followed by a pipelined message`, () => {
      for (const next of NEXT_MESSAGES) {
        assert.deepEqual(scan(body + next), { kind: "done", at: body.length }, next);
      }
    });
    test(`${name}: split at every position, and byte by byte`, () => {
      const buf = ascii(`${body}GET / HTTP/1.1\r\n`);
      const step = body.length > 1000 ? 997 : 1;
      for (let at = 0; at <= buf.length; at += step) {
        assert.deepEqual(scan("", cut(buf, [at])), { kind: "done", at: body.length }, `at ${at}`);
      }
      const bytes = Array.from({ length: buf.length }, (_, i) => buf.subarray(i, i + 1));
      assert.deepEqual(scan("", bytes), { kind: "done", at: body.length });
    });
    test(`${name}: every proper prefix needs more`, () => {
      const buf = ascii(body);
      const step = body.length > 1000 ? 997 : 1;
      for (let n = 0; n < body.length; n += step) {
        assert.deepEqual(scan("", [buf.subarray(0, n)]), { kind: "more", consumed: n });
      }
    });
  }
  test("empty pushes change nothing", () => {
    const buf = ascii("3\r\nabc\r\n0\r\n\r\n");
    const pieces = [new Uint8Array(0), ...cut(buf, [1, 1, 5, 5, 13]), new Uint8Array(0)];
    assert.deepEqual(scan("", pieces), { kind: "done", at: buf.length });
  });
  test("after done, pushes consume nothing", () => {
    const decoder = new ChunkedDecoder();
    assert.deepEqual({ ...decoder.push(ascii("0\r\n\r\nGET")) }, {
      consumed: 5,
      done: true,
      trailerStart: 3,
    });
    assert.deepEqual({ ...decoder.push(ascii("more")) }, {
      consumed: 0,
      done: true,
      trailerStart: -1,
    });
  });
  test("a chunk size of 16 hex digits (leading zeros) is accepted", () => {
    const body = "0000000000000003\r\nabc\r\n0\r\n\r\n";
    assert.deepEqual(scan(body), { kind: "done", at: body.length });
  });
  test("a chunk size of 2^53-1 is accepted (and its data awaited)", () => {
    assert.deepEqual(scan("1fffffffffffff\r\nabc"), { kind: "more", consumed: 19 });
  });
  test(`a chunk-size line of exactly ${MAX_CHUNK_LINE} bytes is accepted`, () => {
    const line = `1;a=${"b".repeat(MAX_CHUNK_LINE - 4)}`;
    assert.equal(line.length, MAX_CHUNK_LINE);
    const body = `${line}\r\nx\r\n0\r\n\r\n`;
    assert.deepEqual(scan(body), { kind: "done", at: body.length });
  });
  test(`a trailer section of exactly ${MAX_TRAILERS} bytes is accepted`, () => {
    const field = `a:${"b".repeat(MAX_TRAILERS - 4)}\r\n`;
    assert.equal(field.length, MAX_TRAILERS);
    assert.deepEqual(scan(`0\r\n${field}\r\n`), { kind: "done", at: MAX_TRAILERS + 5 });
  });
});

describe("ChunkedDecoder: errors", () => {
  const errors: [string, string, RegExp][] = [
    ["no chunk size", "\r\n", /^chunk size expected, got 0x0d at offset 0$/],
    ["an extension without a size", ";a\r\n", /^chunk size expected, got 0x3b at offset 0$/],
    ["a size that is not hex", "g\r\n", /^chunk size expected, got 0x67 at offset 0$/],
    ["a sign before the size", "+5\r\n", /^chunk size expected, got 0x2b/],
    ["a 0x prefix", "0x5\r\n", /^invalid character 0x78 after chunk size at offset 1$/],
    ["a non-hex digit after the size", "5g\r\n", /^invalid character 0x67 after chunk size/],
    ["leading whitespace", " 5\r\n", /^chunk size expected, got 0x20/],
    [
      "17 hex digits",
      "00000000000000001\r\n",
      /^chunk size longer than 16 hex digits at offset 16$/,
    ],
    ["a size of 2^53", "20000000000000\r\n", /^chunk size above 2\^53-1 at offset 13$/],
    ["a size of 2^64-1", "ffffffffffffffff\r\n", /^chunk size above 2\^53-1 at offset 13$/],
    [
      `a chunk-size line over ${MAX_CHUNK_LINE} bytes`,
      `1;a=${"b".repeat(MAX_CHUNK_LINE - 3)}\r\n`,
      /^chunk-size line longer than 4096 bytes at offset 4096$/,
    ],
    [
      "a bare LF ending the chunk-size line",
      "5\nhello\r\n",
      /^bare LF in chunk-size line at offset 1$/,
    ],
    ["a bare LF after an extension", "5;a=b\n", /^bare LF in chunk-size line at offset 5$/],
    ["a bare LF in a quoted extension", '5;a="\n"\r\n', /^bare LF in chunk-size line at offset 5$/],
    ["a CR not followed by LF", "5\rhello", /^CR not followed by LF ending the chunk-size line/],
    ["whitespace ending the chunk-size line", "5 \r\n", /^invalid character 0x0d after whitespace/],
    ["whitespace between size digits", "1 2\r\n", /^invalid character 0x32 after whitespace/],
    [
      "an extension without a name",
      "5;\r\n",
      /^invalid character 0x0d at start of chunk extension name/,
    ],
    [
      "an extension name that is not a token",
      "5;a@b\r\n",
      /^invalid character 0x40 in chunk extension name/,
    ],
    [
      "an extension with = and no value",
      "5;a=\r\n",
      /^invalid character 0x0d at start of chunk extension value/,
    ],
    [
      "whitespace inside an extension name",
      "5;a b\r\n",
      /^invalid character 0x62 after chunk extension name/,
    ],
    [
      "an extension value that is not a token",
      "5;a=b/c\r\n",
      /^invalid character 0x2f in chunk extension value/,
    ],
    [
      "a NUL in a quoted extension",
      '5;a="\0"\r\n',
      /^invalid character 0x00 in chunk extension quoted-string/,
    ],
    [
      "an unterminated quoted extension",
      '5;a="b\r\n',
      /^invalid character 0x0d in chunk extension quoted-string/,
    ],
    [
      "a control byte after a backslash",
      '5;a="\\\x01"\r\n',
      /^invalid character 0x01 in chunk extension quoted-string/,
    ],
    [
      "text after a quoted extension",
      '5;a="b"c\r\n',
      /^invalid character 0x63 after chunk extension value/,
    ],
    [
      "data longer than the size",
      "3\r\nabcd\r\n",
      /^chunk data followed by 0x64, not CRLF at offset 6$/,
    ],
    ["data followed by a bare LF", "3\r\nabc\n0\r\n\r\n", /^bare LF after chunk data at offset 6$/],
    [
      "data followed by CR without LF",
      "3\r\nabc\r0\r\n\r\n",
      /^CR not followed by LF after chunk data/,
    ],
    ["a bare LF ending the body", "0\r\n\n", /^bare LF in trailer section at offset 3$/],
    [
      "a CR without LF ending the body",
      "0\r\n\rx",
      /^CR not followed by LF ending the chunked body at offset 4$/,
    ],
    ["a trailer without a colon", "0\r\nX-A\r\n\r\n", /^trailer field without colon at offset 6$/],
    ["a trailer with an empty name", "0\r\n: b\r\n\r\n", /^empty trailer field name at offset 3$/],
    [
      "a trailer name that is not a token",
      "0\r\nX(A): b\r\n\r\n",
      /^invalid character 0x28 in trailer field name/,
    ],
    [
      "a trailer line starting with a non-token byte",
      "0\r\n\x80: b\r\n\r\n",
      /^invalid character 0x80 in trailer field name at offset 3$/,
    ],
    [
      "whitespace before a trailer's colon",
      "0\r\nX-A : b\r\n\r\n",
      /^invalid character 0x20 in trailer field name/,
    ],
    [
      "obs-fold in the trailers",
      "0\r\nX-A: b\r\n c\r\n\r\n",
      /^obsolete line folding in trailer at offset 11$/,
    ],
    [
      "a control byte in a trailer value",
      "0\r\nX-A: b\x7f\r\n\r\n",
      /^invalid character 0x7f in trailer field value/,
    ],
    ["a bare LF ending a trailer", "0\r\nX-A: b\n\r\n", /^bare LF in trailer section at offset 9$/],
    [
      "a CR without LF in a trailer",
      "0\r\nX-A: b\rc\r\n\r\n",
      /^CR not followed by LF in trailer section/,
    ],
    [
      `a trailer section over ${MAX_TRAILERS} bytes`,
      `0\r\na:${"b".repeat(MAX_TRAILERS - 3)}\r\n\r\n`,
      /^trailer section longer than 16384 bytes at offset 16387$/,
    ],
  ];
  for (const [name, text, reason] of errors) {
    test(name, () => {
      const error = expectError(text, reason);
      // The same error whatever the split: offsets count from the body's start.
      const buf = ascii(text);
      for (let at = 0; at <= buf.length; at += Math.max(1, buf.length >> 5)) {
        assert.deepEqual(scan("", cut(buf, [at])), { kind: "error", error }, `at ${at}`);
      }
    });
  }
  test("errors are sticky", () => {
    const decoder = new ChunkedDecoder();
    const first = decoder.push(ascii("x"));
    assert.ok("error" in first);
    assert.equal(decoder.push(ascii("0\r\n\r\n")), first);
  });
  test("an error in a later chunk counts its offset from the body's start", () => {
    expectError("2\r\nab\r\n1\r\nc\r\nz", /^chunk size expected, got 0x7a at offset 13$/);
  });
});

// A reference for whole-buffer parsing, from RFC 9112's grammar as regular expressions: slow and
// simple, so that the streaming state machine can be checked against it.
const TOKEN = String.raw`[!#$%&'*+\-.^_\x60|~0-9A-Za-z]+`;
const QUOTED = String.raw`"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"`;
const EXT = String.raw`[ \t]*;[ \t]*${TOKEN}(?:[ \t]*=[ \t]*(?:${TOKEN}|${QUOTED}))?`;
const SIZE_LINE = new RegExp(String.raw`([0-9A-Fa-f]+)(?:${EXT})*\r\n`, "y");
const TRAILER_LINE = new RegExp(String.raw`${TOKEN}:[\t \x21-\x7e\x80-\xff]*\r\n`, "y");

/** Where the chunked body at the start of `text` ends, or -1 if it is invalid or incomplete. */
function referenceEnd(text: string): number {
  let p = 0;
  for (;;) {
    SIZE_LINE.lastIndex = p;
    const m = SIZE_LINE.exec(text);
    if (m === null || m[1].length > 16 || m[0].length - 2 > MAX_CHUNK_LINE) return -1;
    const size = parseInt(m[1], 16);
    if (size > Number.MAX_SAFE_INTEGER) return -1;
    p += m[0].length;
    if (size === 0) break;
    if (text.slice(p + size, p + size + 2) !== "\r\n") return -1;
    p += size + 2;
  }
  const trailers = p;
  for (;;) {
    if (text.startsWith("\r\n", p)) return p - trailers > MAX_TRAILERS ? -1 : p + 2;
    TRAILER_LINE.lastIndex = p;
    const m = TRAILER_LINE.exec(text);
    if (m === null) return -1;
    p += m[0].length;
  }
}

const EXTENSIONS = [
  "",
  "",
  "",
  ";a",
  ";name=value",
  ' ; q="x \\" y"',
  ';a=1;b;c=""',
  "\t;\tk\t=\tv",
  ";ieof",
];
const TRAILERS = ["Expires: 0", "grpc-status:0", "X-A:", "Server-Timing: total;dur=1.5", "x:\xe9"];
/** Random chunk data to take slices of: CRLFs, hex digits, delimiters, NUL and obs-text. */
const DATA_POOL = (() => {
  const bytes = '\r\n0123456789abcdefXYZ;"\\ \t:\0\xff';
  const rand = mulberry32(0xda7a);
  let pool = "";
  for (let i = 0; i < 4096; i++) pool += bytes[rand.int(bytes.length)];
  return pool;
})();

function hex(rand: Prng, size: number): string {
  const digits = size.toString(16);
  const cased = rand.int(2) === 0 ? digits : digits.toUpperCase();
  return "0".repeat(rand.int(3) === 0 ? rand.int(4) : 0) + cased;
}

/** A valid chunked body with random sizes, extensions, data and trailers. */
function randomBody(rand: Prng): string {
  let body = "";
  const chunks = rand.int(5);
  for (let c = 0; c < chunks; c++) {
    const size = rand.int(8) === 0 ? rand.range(100, 600) : rand.range(1, 20);
    const from = rand.int(DATA_POOL.length - size);
    const data = DATA_POOL.slice(from, from + size);
    body += `${hex(rand, size)}${rand.pick(EXTENSIONS)}\r\n${data}\r\n`;
  }
  body += `${hex(rand, 0)}${rand.pick(EXTENSIONS)}\r\n`;
  const trailers = rand.int(4) === 0 ? rand.range(1, 3) : 0;
  for (let t = 0; t < trailers; t++) body += `${rand.pick(TRAILERS)}\r\n`;
  return `${body}\r\n`;
}

const INTERESTING = Array.from(ascii('\r\n\t ;="\\:0fFgx\0\x7f\x80'));

function mutate(rand: Prng, text: string): string {
  let out = text;
  const edits = rand.range(1, 3);
  for (let e = 0; e < edits; e++) {
    const at = rand.int(out.length + 1);
    const byte = String.fromCharCode(
      rand.int(2) === 0 ? rand.pick(INTERESTING) : out.charCodeAt(at) ^ (1 << rand.int(8)),
    );
    switch (rand.int(4)) {
      case 0:
        if (at < out.length) out = out.slice(0, at) + byte + out.slice(at + 1);
        break;
      case 1:
        out = out.slice(0, at) + byte + out.slice(at);
        break;
      case 2:
        out = out.slice(0, at) + out.slice(at + 1);
        break;
      default:
        out = out.slice(0, at);
    }
  }
  return out;
}

describe("ChunkedDecoder: randomized", () => {
  const CASES = 100_000;
  test(`${CASES} valid bodies split at random: done at the end, next message untouched`, () => {
    const seed = 0xc4c;
    const rand = mulberry32(seed);
    for (let n = 0; n < CASES; n++) {
      const body = randomBody(rand);
      const buf = ascii(body + rand.pick(NEXT_MESSAGES));
      const label = `seed ${seed} case ${n}`;
      if (referenceEnd(body) !== body.length) assert.fail(`${label}: reference disagrees`);
      const outcome = feed(new ChunkedDecoder(), randomPieces(rand, buf), label);
      assertOutcome(outcome, { kind: "done", at: body.length }, label);
    }
  });
  test(`${CASES} mutated and truncated bodies: agree with the reference, split or not`, () => {
    const seed = 0xbad;
    const rand = mulberry32(seed);
    const seen = { done: 0, more: 0, error: 0 };
    for (let n = 0; n < CASES; n++) {
      const text = mutate(rand, randomBody(rand) + rand.pick(NEXT_MESSAGES));
      const buf = ascii(text);
      const label = `seed ${seed} case ${n}`;
      let whole: Outcome;
      let split: Outcome;
      try {
        whole = feed(new ChunkedDecoder(), [buf], label);
        split = feed(new ChunkedDecoder(), randomPieces(rand, buf), label);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.fail(`${label} threw ${e}`);
      }
      seen[whole.kind]++;
      assertOutcome(split, whole, `${label}: split`);
      const end = referenceEnd(text);
      if (end >= 0) assertOutcome(whole, { kind: "done", at: end }, label);
      else if (whole.kind === "done") assert.fail(`${label}: done but the reference is not`);
      if (whole.kind === "error" && !/ at offset \d+$/.test(whole.error)) {
        assert.fail(`${label}: ${whole.error}`);
      }
    }
    for (const [kind, count] of Object.entries(seen)) {
      assert.ok(count > CASES / 100, `only ${count} ${kind} results`);
    }
  });
});

describe("ChunkedDecoder: linear time", () => {
  /** Pushes `buf` in pieces of `size` bytes; returns the milliseconds taken. */
  function timed(buf: Uint8Array, size: number): number {
    const decoder = new ChunkedDecoder();
    const started = performance.now();
    let consumed = 0;
    for (let at = 0; at < buf.length; at += size) {
      const r = decoder.push(buf.subarray(at, at + size));
      if ("error" in r) assert.fail(r.error);
      consumed += r.consumed;
    }
    const ms = performance.now() - started;
    assert.equal(consumed, buf.length);
    return ms;
  }
  const tiny = ascii(`${"1\r\nx\r\n".repeat((1 << 20) / 6)}0\r\n\r\n`);
  for (
    const [size, how] of [[tiny.length, "one push"], [1500, "1500-byte pushes"], [
      1,
      "1-byte pushes",
    ]] as const
  ) {
    test(`1 MiB of one-byte chunks in ${how}`, () => {
      const ms = timed(tiny, size);
      assert.ok(ms < 500, `${ms.toFixed(1)} ms`);
    });
  }
  test("1 MiB of maximal chunk-size lines full of extensions", () => {
    const line = `1${";a=b".repeat((MAX_CHUNK_LINE - 1) / 4)}\r\nx\r\n`;
    const buf = ascii(`${line.repeat(Math.ceil((1 << 20) / line.length))}0\r\n\r\n`);
    const ms = timed(buf, 1500);
    assert.ok(ms < 500, `${ms.toFixed(1)} ms`);
  });
});
