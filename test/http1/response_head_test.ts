import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type HttpResponseHead,
  type HttpResponseHeadLimits,
  sniffHttpResponseHead,
} from "../../src/http1/response_head.ts";
import { NEED_MORE, NO_MATCH, type SniffResult } from "../../src/wire/result.ts";
import { editBytes, mulberry32, type Prng } from "../helpers/prng.ts";
import { ascii, expectHeadMatch, expectInvalid } from "../helpers/sniff.ts";

const LIMITS: HttpResponseHeadLimits = { maxHead: 65536 };

/** A response head from its lines, CRLF-joined and terminated by an empty line. */
function res(...lines: string[]): Uint8Array {
  return ascii(`${lines.join("\r\n")}\r\n\r\n`);
}

function sniff(buf: Uint8Array, limits = LIMITS): SniffResult<HttpResponseHead> {
  return sniffHttpResponseHead(buf, limits);
}

function sniffLines(...lines: string[]): SniffResult<HttpResponseHead> {
  return sniff(res(...lines));
}

const VALID: [string, Uint8Array][] = [
  ["a 200 with a length", res("HTTP/1.1 200 OK", "Content-Length: 5")],
  [
    "an nginx chunked response",
    res(
      "HTTP/1.1 200 OK",
      "Server: nginx/1.25.3",
      "Date: Tue, 02 Jan 2024 10:00:00 GMT",
      "Content-Type: text/html; charset=utf-8",
      "Transfer-Encoding: chunked",
      "Connection: keep-alive",
    ),
  ],
  ["a 204 without a reason", res("HTTP/1.1 204 ")],
  ["a 304 without the space", res("HTTP/1.1 304", 'ETag: "abc"')],
  ["a 100 Continue", res("HTTP/1.1 100 Continue")],
  [
    "a WebSocket 101",
    res(
      "HTTP/1.1 101 Switching Protocols",
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    ),
  ],
  ["an HTTP/1.0 close-delimited response", res("HTTP/1.0 200 OK", "Content-Type: text/plain")],
  ["a 302 with an empty value", res("HTTP/1.1 302 Found", "Location: /x", "X-Empty:")],
];

describe("sniffHttpResponseHead: valid heads", () => {
  test("a simple 200, every field", () => {
    const buf = res("HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length: 12");
    assert.deepEqual(expectHeadMatch(sniff(buf), buf.length), {
      version: "1.1",
      status: 200,
      reason: "OK",
      headerEnd: buf.length,
      headers: [["Content-Type", "text/plain"], ["Content-Length", "12"]],
      contentLength: 12,
      chunked: false,
      connectionClose: false,
      upgrade: null,
      conflictingLength: false,
      names: ["content-type", "content-length"],
      connectionOptions: [],
      codings: [],
    });
  });
  test("the body is not part of the head", () => {
    const head = res("HTTP/1.1 200 OK", "Content-Length: 5");
    const buf = new Uint8Array([...head, ...ascii("hello")]);
    assert.equal(expectHeadMatch(sniff(buf), head.length).contentLength, 5);
  });
  test("reason phrase: missing, empty, with spaces, HTAB and obs-text", () => {
    assert.equal(expectHeadMatch(sniffLines("HTTP/1.1 204")).reason, "");
    assert.equal(expectHeadMatch(sniffLines("HTTP/1.1 204 ")).reason, "");
    assert.equal(expectHeadMatch(sniffLines("HTTP/1.1 404 Not  Found ")).reason, "Not  Found ");
    assert.equal(expectHeadMatch(sniffLines("HTTP/1.1 200 \tOK\xe9")).reason, "\tOK\xe9");
  });
  test("status codes 100 and 999 are the bounds", () => {
    assert.equal(expectHeadMatch(sniffLines("HTTP/1.1 100 Continue")).status, 100);
    assert.equal(expectHeadMatch(sniffLines("HTTP/1.1 999 Whatever")).status, 999);
  });
  test("HTTP/1.0: connection closes unless keep-alive", () => {
    assert.equal(expectHeadMatch(sniffLines("HTTP/1.0 200 OK")).connectionClose, true);
    const h = expectHeadMatch(sniffLines("HTTP/1.0 200 OK", "Connection: Keep-Alive"));
    assert.equal(h.connectionClose, false);
    assert.equal(h.version, "1.0");
  });
  test("HTTP/1.1 with Connection: close", () => {
    const h = expectHeadMatch(sniffLines("HTTP/1.1 200 OK", "Connection: foo, Close"));
    assert.equal(h.connectionClose, true);
  });
  test("Transfer-Encoding: chunked, any case, after other codings, across headers", () => {
    for (
      const lines of [
        ["Transfer-Encoding: chunked"],
        ["Transfer-Encoding: CHUNKED"],
        ["Transfer-Encoding: gzip, chunked"],
        ["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"],
        ["Transfer-Encoding: ,chunked,"],
      ]
    ) {
      const h = expectHeadMatch(sniffLines("HTTP/1.1 200 OK", ...lines));
      assert.deepEqual([h.chunked, h.contentLength, h.conflictingLength], [true, null, false]);
    }
  });
  test("Transfer-Encoding not ending in chunked: not chunked, no length (close-delimited)", () => {
    for (const coding of ["gzip", "br", "x-custom"]) {
      const h = expectHeadMatch(sniffLines("HTTP/1.1 200 OK", `Transfer-Encoding: ${coding}`));
      assert.deepEqual([h.chunked, h.contentLength], [false, null], coding);
    }
  });
  test("Transfer-Encoding with Content-Length: TE wins, CL ignored, conflict flagged", () => {
    const h = expectHeadMatch(
      sniffLines("HTTP/1.1 200 OK", "Content-Length: 10", "Transfer-Encoding: chunked"),
    );
    assert.deepEqual([h.chunked, h.contentLength, h.conflictingLength], [true, null, true]);
    const g = expectHeadMatch(
      sniffLines("HTTP/1.1 200 OK", "Transfer-Encoding: gzip", "Content-Length: 10"),
    );
    assert.deepEqual([g.chunked, g.contentLength, g.conflictingLength], [false, null, true]);
  });
  test("HTTP/1.0 with Transfer-Encoding: framed by it, but the connection closes", () => {
    const h = expectHeadMatch(
      sniffLines("HTTP/1.0 200 OK", "Connection: keep-alive", "Transfer-Encoding: chunked"),
    );
    assert.deepEqual([h.chunked, h.connectionClose], [true, true]);
  });
  test("identical duplicate Content-Length is accepted", () => {
    const h = expectHeadMatch(
      sniffLines("HTTP/1.1 200 OK", "Content-Length: 7", "content-length: 7"),
    );
    assert.equal(h.contentLength, 7);
  });
  test("Content-Length: 0 and the largest accepted", () => {
    assert.equal(
      expectHeadMatch(sniffLines("HTTP/1.1 200 OK", "Content-Length: 0")).contentLength,
      0,
    );
    const big = expectHeadMatch(sniffLines("HTTP/1.1 200 OK", "Content-Length: 999999999999999"));
    assert.equal(big.contentLength, 999999999999999);
  });
  test("Upgrade needs the upgrade connection option and HTTP/1.1", () => {
    assert.equal(expectHeadMatch(sniff(VALID[5][1])).upgrade, "websocket");
    assert.equal(
      expectHeadMatch(sniffLines("HTTP/1.1 426 Upgrade Required", "Upgrade: h2c")).upgrade,
      null,
    );
    assert.equal(
      expectHeadMatch(sniffLines("HTTP/1.0 101 X", "Connection: upgrade", "Upgrade: a")).upgrade,
      null,
    );
    const two = sniffLines("HTTP/1.1 101 X", "Upgrade: a", "Connection: upgrade", "Upgrade: b");
    assert.equal(expectHeadMatch(two).upgrade, "a, b");
  });
  test("header names as sent; values OWS-trimmed; obs-text kept", () => {
    const h = expectHeadMatch(sniffLines("HTTP/1.1 200 OK", "X-A: \t v a l \t", "x-b:\xff"));
    assert.deepEqual(h.headers, [["X-A", "v a l"], ["x-b", "\xff"]]);
  });
  test("a head of exactly maxHead bytes", () => {
    const buf = res("HTTP/1.1 200 OK", "Content-Length: 0");
    expectHeadMatch(sniff(buf, { maxHead: buf.length }), buf.length);
  });
});

describe("sniffHttpResponseHead: invalid heads", () => {
  test("502: complete head over maxHead", () => {
    const buf = res("HTTP/1.1 200 OK", "Content-Length: 0");
    expectInvalid(sniff(buf, { maxHead: buf.length - 1 }), /^502: response head longer than/);
  });
  test("502: maxHead bytes without the terminator", () => {
    expectInvalid(sniff(ascii("HTTP/1.1 200 OK\r\nA: b"), { maxHead: 20 }), /^502: response head/);
  });
  test("502: bare LF ending the status line", () => {
    expectInvalid(sniff(ascii("HTTP/1.1 200 OK\nA: b\r\n\r\n")), /^502: bare LF at offset 15$/);
  });
  test("502: bare LF ending a header line", () => {
    expectInvalid(sniff(ascii("HTTP/1.1 200 OK\r\nA: b\n\r\n")), /^502: bare LF at offset 21$/);
  });
  test("502: bare LF ending the head", () => {
    expectInvalid(sniff(ascii("HTTP/1.1 200 OK\r\nA: b\r\n\n")), /^502: bare LF/);
  });
  test("502: bare CR", () => {
    expectInvalid(sniff(ascii("HTTP/1.1 200 OK\rA: b\r\n\r\n")), /^502: bare CR at offset 15$/);
  });
  for (
    const bad of [
      "HTTP/1.1 20 OK",
      "HTTP/1.1 2000 OK",
      "HTTP/1.1  200 OK",
      "HTTP/1.1 abc OK",
      "HTTP/1.1",
      "HTTP/1.1 ",
      "HTTP/11 200 OK",
      "HTTP/1.1\t200 OK",
      "HTTP/1.1 200\tOK",
      "HTTP/ 200 OK",
    ]
  ) {
    test(`502: malformed status line ${JSON.stringify(bad)}`, () => {
      expectInvalid(sniffLines(bad), /^502: malformed status line "/);
    });
  }
  for (const version of ["2.0", "0.9", "1.2"]) {
    test(`502: HTTP version ${version} not supported`, () => {
      expectInvalid(
        sniffLines(`HTTP/${version} 200 OK`),
        new RegExp(`^502: HTTP version "HTTP/${version.replace(".", "\\.")}" not supported$`),
      );
    });
  }
  for (const code of ["000", "099"]) {
    test(`502: status code ${code} below 100`, () => {
      expectInvalid(sniffLines(`HTTP/1.1 ${code} X`), /^502: status code "0\d\d" below 100$/);
    });
  }
  test("502: control bytes in the reason phrase", () => {
    expectInvalid(sniffLines("HTTP/1.1 200 O\0K"), /^502: invalid character 0x00 in reason/);
    expectInvalid(sniffLines("HTTP/1.1 200 O\x7fK"), /^502: invalid character 0x7f in reason/);
  });
  test("502: obsolete line folding", () => {
    expectInvalid(sniffLines("HTTP/1.1 200 OK", "A: b", " c"), /^502: obsolete line folding in/);
    expectInvalid(sniffLines("HTTP/1.1 200 OK", "A: b", "\tc"), /^502: obsolete line folding/);
  });
  test("502: header line without colon", () => {
    expectInvalid(sniffLines("HTTP/1.1 200 OK", "Nope"), /^502: header line without colon "Nope"/);
  });
  test("502: empty header name", () => {
    expectInvalid(sniffLines("HTTP/1.1 200 OK", ": x"), /^502: empty header name/);
  });
  test("502: whitespace between header name and colon", () => {
    expectInvalid(
      sniffLines("HTTP/1.1 200 OK", "Content-Length : 5"),
      /^502: whitespace between header name and colon in "Content-Length "/,
    );
  });
  test("502: invalid header name", () => {
    expectInvalid(sniffLines("HTTP/1.1 200 OK", "A(b): c"), /^502: invalid header name "A\(b\)"/);
  });
  test("502: control bytes in a header value", () => {
    expectInvalid(
      sniffLines("HTTP/1.1 200 OK", "A: b\0c"),
      /^502: invalid character 0x00 in header "A" value/,
    );
    expectInvalid(sniffLines("HTTP/1.1 200 OK", "A: \x7f"), /^502: invalid character 0x7f/);
  });
  for (const bad of ["-1", "+5", "1e3", "0x10", "5, 5", "1 2", ""]) {
    test(`502: Content-Length ${JSON.stringify(bad)} is not digits`, () => {
      expectInvalid(
        sniffLines("HTTP/1.1 200 OK", `Content-Length: ${bad}`),
        /^502: invalid Content-Length "/,
      );
    });
  }
  test("502: Content-Length too large", () => {
    expectInvalid(
      sniffLines("HTTP/1.1 200 OK", "Content-Length: 9999999999999999"),
      /^502: Content-Length "9999999999999999" too large/,
    );
  });
  test("502: differing Content-Length values", () => {
    expectInvalid(
      sniffLines("HTTP/1.1 200 OK", "Content-Length: 3", "Content-Length: 4"),
      /^502: differing Content-Length values "3" and "4"/,
    );
  });
  test("502: a malformed Content-Length is rejected even when Transfer-Encoding wins", () => {
    expectInvalid(
      sniffLines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Content-Length: x"),
      /^502: invalid Content-Length "x"/,
    );
  });
  test("502: empty Transfer-Encoding", () => {
    expectInvalid(
      sniffLines("HTTP/1.1 200 OK", "Transfer-Encoding: , "),
      /^502: empty Transfer-Encoding$/,
    );
  });
  test("502: transfer coding that is not a token", () => {
    expectInvalid(
      sniffLines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked;x=1"),
      /^502: invalid transfer coding "chunked;x=1"/,
    );
  });
  test("502: chunked is not the last transfer coding", () => {
    expectInvalid(
      sniffLines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked, gzip"),
      /^502: chunked is not the last transfer coding in "chunked, gzip"/,
    );
  });
  test("502: chunked twice", () => {
    expectInvalid(
      sniffLines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
      /^502: chunked is not the last transfer coding in "chunked, chunked"/,
    );
  });
  test("reasons quote safely: control bytes escaped, long values capped", () => {
    const r = sniffLines("HTTP/1.1 200 OK", `X${"y".repeat(200)}`);
    assert.equal(r.kind, "invalid");
    if (r.kind === "invalid") assert.ok(r.reason.length < 120, r.reason);
  });
});

describe("sniffHttpResponseHead: detection", () => {
  const notHttp: [string, Uint8Array][] = [
    ["a lower-case http", ascii("http/1.1 200 OK\r\n\r\n")],
    ["an HTTP/0.9 body", ascii("<html><body>hi</body></html>")],
    ["a SHOUTcast status line", ascii("ICY 200 OK\r\n\r\n")],
    ["HTTP2 without a slash", ascii("HTTP2")],
    ["a TLS alert", Uint8Array.of(0x15, 0x03, 0x03, 0x00, 0x02)],
    ["an HTTP/2 SETTINGS frame", Uint8Array.of(0, 0, 0x12, 4, 0)],
    ["leading CRLF", ascii("\r\nHTTP/1.1 200 OK\r\n\r\n")],
    ["a NUL", Uint8Array.of(0)],
  ];
  for (const [name, buf] of notHttp) {
    test(`no: ${name}`, () => assert.equal(sniff(buf), NO_MATCH));
  }
  test("more: empty, prefixes of HTTP/, an unfinished status line", () => {
    for (const text of ["", "H", "HTTP", "HTTP/", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK\r"]) {
      assert.equal(sniff(ascii(text)), NEED_MORE, text);
    }
  });
  for (const [name, buf] of VALID) {
    test(`more: every proper prefix of ${name}`, () => {
      for (let n = 0; n < buf.length; n++) {
        assert.equal(sniff(buf.subarray(0, n)), NEED_MORE, `prefix of ${n} bytes`);
      }
      expectHeadMatch(sniff(buf), buf.length);
    });
  }
  test("a malformed status line is rejected before the head is complete", () => {
    expectInvalid(sniff(ascii("HTTP/1.1 20 OK\r\n")), /^502: malformed status line/);
  });
});

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function assertWellFormed(
  buf: Uint8Array,
  limits: HttpResponseHeadLimits,
  r: SniffResult<HttpResponseHead>,
  label: string,
): void {
  switch (r.kind) {
    case "more":
      assert.equal(r, NEED_MORE, label);
      return;
    case "no":
      assert.equal(r, NO_MATCH, label);
      return;
    case "invalid":
      assert.match(r.reason, /^502: ./, label);
      assert.ok(r.reason.length < 300, label);
      return;
    case "match":
      break;
    default:
      assert.fail(`${label}: unknown kind ${JSON.stringify(r)}`);
  }
  const h = r.value;
  assert.ok(r.length <= buf.length && r.length <= limits.maxHead, label);
  assert.equal(h.headerEnd, r.length, label);
  assert.deepEqual(Array.from(buf.subarray(r.length - 4, r.length)), [13, 10, 13, 10], label);
  assert.ok(h.version === "1.0" || h.version === "1.1", label);
  assert.ok(Number.isInteger(h.status) && h.status >= 100 && h.status <= 999, label);
  for (let i = 0; i < h.reason.length; i++) {
    const c = h.reason.charCodeAt(i);
    assert.ok(c === 0x09 || (c >= 0x20 && c !== 0x7f), label);
  }
  for (const [name, value] of h.headers) {
    assert.match(name, TOKEN, label);
    assert.ok(!/^[ \t]|[ \t]$/.test(value), label);
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      assert.ok(c === 0x09 || (c >= 0x20 && c !== 0x7f), label);
    }
  }
  const named = (n: string) => h.headers.some(([name]) => name.toLowerCase() === n);
  const hasTe = named("transfer-encoding");
  const hasCl = named("content-length");
  assert.ok(h.contentLength === null || Number.isSafeInteger(h.contentLength), label);
  assert.equal(h.contentLength !== null, hasCl && !hasTe, label);
  assert.ok(!h.chunked || hasTe, label);
  assert.equal(h.conflictingLength, hasTe && hasCl, label);
  if (h.version === "1.0") assert.equal(h.upgrade, null, label);
  // The head alone decodes the same, and one byte less is a valid prefix.
  assert.deepEqual(sniffHttpResponseHead(buf.subarray(0, r.length), limits), r, label);
  assert.equal(sniffHttpResponseHead(buf.subarray(0, r.length - 1), limits), NEED_MORE, label);
}

const STATUS_POOL = [
  "HTTP/1.1 200 OK",
  "HTTP/1.1 204 No Content",
  "HTTP/1.1 304",
  "HTTP/1.1 101 Switching Protocols",
  "HTTP/1.1 100 Continue",
  "HTTP/1.0 200 OK",
  "HTTP/1.1 404 ",
  "HTTP/1.1 502 Bad\tGateway",
];
const HEADER_POOL = [
  "Content-Length: 12",
  "Content-Length: 12",
  "Transfer-Encoding: gzip, chunked",
  "Transfer-Encoding: chunked",
  "Connection: keep-alive, Upgrade",
  "Connection: close",
  "Upgrade: websocket",
  "Content-Type: text/html; charset=utf-8",
  "Set-Cookie: a=b; Path=/; HttpOnly",
  "Server: nginx",
  "X-Empty:",
];
const INTERESTING = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x3a, 0x2c, 0x7f, 0x80, 0xff, 0x30, 0x2f];

function randomHead(rand: Prng): Uint8Array {
  if (rand.int(4) === 0) return rand.pick(VALID)[1].slice();
  const lines = [rand.pick(STATUS_POOL)];
  const count = rand.int(6);
  for (let i = 0; i < count; i++) lines.push(rand.pick(HEADER_POOL));
  return res(...lines);
}

describe("randomized", () => {
  const CASES = 100_000;
  test(`${CASES} mutated and truncated heads: no throw, well-formed results`, () => {
    const seed = 0x5e59;
    const rand = mulberry32(seed);
    const seen = { more: 0, no: 0, invalid: 0, match: 0 };
    for (let n = 0; n < CASES; n++) {
      const buf = editBytes(rand, randomHead(rand), INTERESTING);
      // Mostly generous limits; sometimes tight ones so the size limit is reached.
      const limits = rand.int(8) === 0 ? { maxHead: rand.range(4, 120) } : LIMITS;
      let r: SniffResult<HttpResponseHead>;
      try {
        r = sniffHttpResponseHead(buf, limits);
      } catch (e) {
        assert.fail(`seed ${seed} case ${n} threw ${e}`);
      }
      seen[r.kind]++;
      assertWellFormed(buf, limits, r, `seed ${seed} case ${n}`);
    }
    for (const [kind, count] of Object.entries(seen)) {
      assert.ok(count > CASES / 1000, `only ${count} ${kind} results`);
    }
  });
});

describe("linear time", () => {
  test("a 1 MiB head of tiny header lines", () => {
    const lines = ["HTTP/1.1 200 OK"];
    for (let size = 17; size < 1 << 20; size += 6) lines.push("a: bc");
    const buf = ascii(`${lines.join("\r\n")}\r\n\r\n`);
    const started = performance.now();
    const h = expectHeadMatch(sniff(buf, { maxHead: 2 << 20 }), buf.length);
    const elapsed = performance.now() - started;
    assert.equal(h.headers.length, lines.length - 1);
    // Parsing builds a pair of strings per field: slower than the body scanners, still linear.
    assert.ok(elapsed < 1000, `${elapsed.toFixed(1)} ms`);
  });
  test("a 1 MiB head that never ends", () => {
    const buf = new Uint8Array(1 << 20).fill(0x61);
    buf.set(ascii("HTTP/1.1 200 OK\r\nA: "));
    const started = performance.now();
    assert.equal(sniff(buf, { maxHead: 2 << 20 }), NEED_MORE);
    assert.ok(performance.now() - started < 500);
  });
});
