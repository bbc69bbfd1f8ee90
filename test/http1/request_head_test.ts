import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { H2_PREFACE, sniffH2Preface } from "../../src/h2/preface.ts";
import {
  type Authority,
  type HttpHeadLimits,
  type HttpRequestHead,
  parseAuthority,
  sniffHttpRequestHead,
} from "../../src/http1/request_head.ts";
import { NEED_MORE, NO_MATCH, type SniffResult } from "../../src/wire/result.ts";
import { parseIp } from "../../src/net/ip.ts";
import { editBytes, mulberry32, type Prng } from "../helpers/prng.ts";
import { ascii, expectHeadMatch, expectInvalid } from "../helpers/sniff.ts";

const LIMITS: HttpHeadLimits = { maxLine: 8192, maxHead: 65536 };

/** A request head from its lines, CRLF-joined and terminated by an empty line. */
function req(...lines: string[]): Uint8Array {
  return ascii(`${lines.join("\r\n")}\r\n\r\n`);
}

function sniff(buf: Uint8Array, limits = LIMITS): SniffResult<HttpRequestHead> {
  return sniffHttpRequestHead(buf, limits);
}

/** Sniffs a head built from lines; for the one-line invalid cases below. */
function sniffLines(...lines: string[]): SniffResult<HttpRequestHead> {
  return sniff(req(...lines));
}

const VALID: [string, Uint8Array][] = [
  ["a GET", req("GET / HTTP/1.1", "Host: example.com")],
  ["a POST with a body length", req("POST /form HTTP/1.1", "Host: a", "Content-Length: 5")],
  ["a chunked PUT", req("PUT /x?y=1 HTTP/1.1", "Host: a:8080", "Transfer-Encoding: chunked")],
  ["HTTP/1.0 without Host", req("GET /index.html HTTP/1.0")],
  ["absolute-form", req("GET http://b.example/p HTTP/1.1", "Host: a")],
  ["CONNECT", req("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443")],
  ["OPTIONS *", req("OPTIONS * HTTP/1.1", "Host: a")],
  [
    "a WebSocket upgrade",
    req(
      "GET /chat HTTP/1.1",
      "Host: [2001:db8::1]:8443",
      "Connection: Upgrade",
      "Upgrade: websocket",
      "Sec-WebSocket-Version: 13",
    ),
  ],
];

describe("sniffHttpRequestHead: valid heads", () => {
  test("a simple GET, every field", () => {
    const buf = req("GET /a/b?c=d HTTP/1.1", "Host: Example.COM", "Accept: */*");
    assert.deepEqual(expectHeadMatch(sniff(buf), buf.length), {
      method: "GET",
      target: "/a/b?c=d",
      version: "1.1",
      host: "example.com",
      hostRaw: "Example.COM",
      path: "/a/b",
      headerEnd: buf.length,
      headers: [["Host", "Example.COM"], ["Accept", "*/*"]],
      contentLength: null,
      chunked: false,
      connectionClose: false,
      upgrade: null,
      expectContinue: false,
      rewrite: false,
    });
  });
  test("the body is not part of the head", () => {
    const head = req("POST / HTTP/1.1", "Host: a", "Content-Length: 5");
    const buf = new Uint8Array([...head, ...ascii("hello")]);
    const h = expectHeadMatch(sniff(buf), head.length);
    assert.equal(h.contentLength, 5);
  });
  test("HTTP/1.0 without Host: host null, connection closes", () => {
    const h = expectHeadMatch(sniff(VALID[3][1]));
    assert.deepEqual([h.version, h.host, h.hostRaw, h.connectionClose], ["1.0", null, null, true]);
  });
  test("HTTP/1.0 with keep-alive stays open", () => {
    const h = expectHeadMatch(sniffLines("GET / HTTP/1.0", "Connection: Keep-Alive"));
    assert.equal(h.connectionClose, false);
  });
  test("HTTP/1.1 with Connection: close", () => {
    const h = expectHeadMatch(sniffLines("GET / HTTP/1.1", "Host: a", "Connection: foo, Close"));
    assert.equal(h.connectionClose, true);
  });
  test("Host: port and trailing dot stripped, lower-cased; hostRaw as sent", () => {
    const h = expectHeadMatch(sniffLines("GET / HTTP/1.1", "Host: WWW.Example.com.:8080"));
    assert.equal(h.host, "www.example.com");
    assert.equal(h.hostRaw, "WWW.Example.com.:8080");
  });
  test("Host: IPv6 literal loses its brackets and is canonical", () => {
    const h = expectHeadMatch(sniffLines("GET / HTTP/1.1", "Host: [2001:DB8:0::1]:443"));
    assert.equal(h.host, "2001:db8::1");
  });
  test("Host: IPv4 literal", () => {
    const h = expectHeadMatch(sniffLines("GET / HTTP/1.1", "Host: 192.168.0.11"));
    assert.equal(h.host, "192.168.0.11");
  });
  test("Host: empty value is allowed and gives no host", () => {
    const h = expectHeadMatch(sniffLines("GET / HTTP/1.1", "Host:"));
    assert.equal(h.host, null);
    assert.equal(h.hostRaw, "");
  });
  test("absolute-form authority wins over Host", () => {
    const h = expectHeadMatch(
      sniffLines("GET http://Other.Example:8080/a/b?x=1 HTTP/1.1", "Host: example.com"),
    );
    assert.deepEqual([h.host, h.hostRaw, h.path, h.target], [
      "other.example",
      "Other.Example:8080",
      "/a/b",
      "http://Other.Example:8080/a/b?x=1",
    ]);
  });
  test("absolute-form without a path has path /", () => {
    assert.equal(
      expectHeadMatch(sniffLines("GET HTTPS://a.example HTTP/1.1", "Host: a")).path,
      "/",
    );
    assert.equal(
      expectHeadMatch(sniffLines("GET http://a.example?q HTTP/1.1", "Host: a")).path,
      "/",
    );
  });
  test("absolute-form with an IPv6 literal", () => {
    const h = expectHeadMatch(sniffLines("GET http://[::1]:80/x HTTP/1.1", "Host: a"));
    assert.deepEqual([h.host, h.path], ["::1", "/x"]);
  });
  test("CONNECT authority-form", () => {
    const h = expectHeadMatch(sniff(VALID[5][1]));
    assert.deepEqual([h.method, h.host, h.hostRaw, h.path], [
      "CONNECT",
      "example.com",
      "example.com:443",
      "",
    ]);
  });
  test("OPTIONS asterisk-form", () => {
    assert.equal(expectHeadMatch(sniff(VALID[6][1])).path, "*");
  });
  test("extension methods are tokens", () => {
    assert.equal(expectHeadMatch(sniffLines("PURGE /x HTTP/1.1", "Host: a")).method, "PURGE");
  });
  test("header names as sent; values OWS-trimmed; empty values; obs-text kept", () => {
    const buf = ascii(
      "GET / HTTP/1.1\r\nHost: a\r\nX-Odd-CASE: \t v \t\r\nX-Empty:\r\n" +
        "X-Latin: caf\xe9\r\n\r\n",
    );
    const h = expectHeadMatch(sniff(buf));
    assert.deepEqual(h.headers, [["Host", "a"], ["X-Odd-CASE", "v"], ["X-Empty", ""], [
      "X-Latin",
      "caf\xe9",
    ]]);
  });
  test("identical duplicate Content-Length is accepted", () => {
    const h = expectHeadMatch(
      sniffLines("POST / HTTP/1.1", "Host: a", "Content-Length: 42", "content-length: 42"),
    );
    assert.equal(h.contentLength, 42);
  });
  test("Content-Length: 0", () => {
    assert.equal(
      expectHeadMatch(sniffLines("POST / HTTP/1.1", "Host: a", "Content-Length: 0")).contentLength,
      0,
    );
  });
  test("Transfer-Encoding: chunked, any case, after other codings, across headers", () => {
    for (
      const lines of [
        ["Transfer-Encoding: chunked"],
        ["Transfer-Encoding: Chunked"],
        ["Transfer-Encoding: gzip, chunked"],
        ["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"],
        ["Transfer-Encoding: , chunked,"],
      ]
    ) {
      const h = expectHeadMatch(sniffLines("POST / HTTP/1.1", "Host: a", ...lines));
      assert.deepEqual([h.chunked, h.contentLength], [true, null], lines.join(" / "));
    }
  });
  test("Upgrade needs the upgrade connection option", () => {
    assert.equal(expectHeadMatch(sniff(VALID[7][1])).upgrade, "websocket");
    const without = expectHeadMatch(sniffLines("GET / HTTP/1.1", "Host: a", "Upgrade: websocket"));
    assert.equal(without.upgrade, null);
  });
  test("Upgrade is ignored in HTTP/1.0", () => {
    const h = expectHeadMatch(sniffLines("GET / HTTP/1.0", "Connection: upgrade", "Upgrade: h2c"));
    assert.equal(h.upgrade, null);
  });
  test("several Upgrade headers are joined", () => {
    const h = expectHeadMatch(
      sniffLines("GET / HTTP/1.1", "Host: a", "Connection: upgrade", "Upgrade: a", "Upgrade: b"),
    );
    assert.equal(h.upgrade, "a, b");
  });
  test("Expect: 100-continue", () => {
    const h = expectHeadMatch(
      sniffLines("PUT / HTTP/1.1", "Host: a", "Content-Length: 1", "Expect: 100-Continue"),
    );
    assert.equal(h.expectContinue, true);
  });
  test("Expect is ignored in HTTP/1.0", () => {
    const h = expectHeadMatch(sniffLines("PUT / HTTP/1.0", "Expect: 100-continue", "Expect: x"));
    assert.equal(h.expectContinue, false);
  });
  test("a request line of exactly maxLine bytes, a head of exactly maxHead bytes", () => {
    const buf = req("GET /abcdef HTTP/1.1", "Host: a");
    assert.equal(expectHeadMatch(sniff(buf, { maxLine: 20, maxHead: buf.length })).method, "GET");
  });
});

describe("sniffHttpRequestHead: invalid heads", () => {
  const small = { maxLine: 20, maxHead: 64 };
  test("414: request line over maxLine", () => {
    expectInvalid(sniff(req("GET /abcdefg HTTP/1.1", "Host: a"), small), /^414: .* 20 bytes/);
  });
  test("414: before the request line ends", () => {
    expectInvalid(sniff(ascii("GET /abcdefghijklmnopq"), small), /^414: /);
  });
  test("414: a method token longer than maxLine", () => {
    expectInvalid(sniff(ascii("G".repeat(21)), small), /^414: /);
  });
  test("431: complete head over maxHead", () => {
    expectInvalid(
      sniff(req("GET / HTTP/1.1", "Host: a", `X: ${"y".repeat(40)}`), small),
      /^431: .* 64 bytes/,
    );
  });
  test("431: maxHead bytes without the terminator", () => {
    expectInvalid(sniff(ascii(`GET / HTTP/1.1\r\nX: ${"y".repeat(45)}`), small), /^431: /);
  });
  test("400: bare LF ending the request line", () => {
    expectInvalid(sniff(ascii("GET / HTTP/1.1\nHost: a\n\n")), /^400: bare LF at offset 14/);
  });
  test("400: bare LF ending a header line", () => {
    expectInvalid(sniff(ascii("GET / HTTP/1.1\r\nHost: a\n")), /^400: bare LF at offset 23/);
  });
  test("400: bare LF ending the head", () => {
    expectInvalid(sniff(ascii("GET / HTTP/1.1\r\nHost: a\r\n\n")), /^400: bare LF at offset 25/);
  });
  test("400: bare CR", () => {
    expectInvalid(sniff(ascii("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n")), /^400: bare CR at offset 20/);
  });
  test("400: request line without a version (HTTP/0.9)", () => {
    expectInvalid(sniffLines("GET /"), /^400: malformed request line "GET \/"/);
  });
  test("400: double space in the request line", () => {
    expectInvalid(sniffLines("GET  / HTTP/1.1", "Host: a"), /^400: malformed request line/);
  });
  test("400: trailing space in the request line", () => {
    expectInvalid(sniffLines("GET / HTTP/1.1 ", "Host: a"), /^400: malformed request line/);
  });
  test("400: invalid version syntax", () => {
    expectInvalid(
      sniffLines("GET / http/1.1", "Host: a"),
      /^400: invalid HTTP version "http\/1.1"/,
    );
    expectInvalid(sniffLines("GET / HTTP/11", "Host: a"), /^400: invalid HTTP version "HTTP\/11"/);
  });
  test("505: HTTP/2.0 in a request line", () => {
    expectInvalid(sniffLines("GET / HTTP/2.0", "Host: a"), /^505: HTTP version "HTTP\/2.0"/);
  });
  test("505: HTTP/1.2 and HTTP/0.9", () => {
    expectInvalid(sniffLines("GET / HTTP/1.2", "Host: a"), /^505: /);
    expectInvalid(sniffLines("GET / HTTP/0.9"), /^505: /);
  });
  test("505 is reported as soon as the request line is complete", () => {
    expectInvalid(sniff(ascii("GET / HTTP/3.0\r\n")), /^505: /);
  });
  test("400: control, DEL, non-ASCII and # in the request-target", () => {
    expectInvalid(sniffLines("GET /a\x01b HTTP/1.1", "Host: a"), /^400: invalid character 0x01/);
    expectInvalid(sniffLines("GET /a\x7fb HTTP/1.1", "Host: a"), /^400: invalid character 0x7f/);
    expectInvalid(sniffLines("GET /caf\xe9 HTTP/1.1", "Host: a"), /^400: invalid character 0xe9/);
    expectInvalid(sniffLines("GET /a#frag HTTP/1.1", "Host: a"), /^400: invalid character 0x23/);
  });
  test("400: bad percent-encoding in the request-target", () => {
    expectInvalid(
      sniffLines("GET /a%zz HTTP/1.1", "Host: a"),
      /^400: invalid percent-encoding in request-target "\/a%zz"/,
    );
    expectInvalid(sniffLines("GET /a%4 HTTP/1.1", "Host: a"), /^400: invalid percent-encoding/);
  });
  test("400: asterisk-form with a method other than OPTIONS", () => {
    expectInvalid(
      sniffLines("GET * HTTP/1.1", "Host: a"),
      /^400: asterisk-form target with method "GET"/,
    );
  });
  test("400: CONNECT without host:port", () => {
    expectInvalid(
      sniffLines("CONNECT example.com HTTP/1.1", "Host: a"),
      /^400: CONNECT needs host:port/,
    );
    expectInvalid(sniffLines("CONNECT / HTTP/1.1", "Host: a"), /^400: CONNECT needs host:port/);
  });
  test("400: a request-target of no known form", () => {
    expectInvalid(sniffLines("GET foo HTTP/1.1", "Host: a"), /^400: invalid request-target "foo"/);
  });
  test("400: absolute-form with a scheme other than http(s)", () => {
    expectInvalid(
      sniffLines("GET ftp://a/b HTTP/1.1", "Host: a"),
      /^400: unsupported scheme "ftp"/,
    );
  });
  test("400: userinfo in absolute-form", () => {
    expectInvalid(
      sniffLines("GET http://u:p@a/ HTTP/1.1", "Host: a"),
      /^400: userinfo in request-target/,
    );
  });
  test("400: bad host in absolute-form", () => {
    expectInvalid(
      sniffLines("GET http:///x HTTP/1.1", "Host: a"),
      /^400: invalid host in request-target "http:\/\/\/x"/,
    );
    expectInvalid(
      sniffLines("GET http://a*b/ HTTP/1.1", "Host: a"),
      /^400: invalid host in request-target/,
    );
  });
  test("400: obs-fold", () => {
    expectInvalid(
      sniffLines("GET / HTTP/1.1", "Host: a", "X: b", " c"),
      /^400: obsolete line folding in " c"/,
    );
  });
  test("400: whitespace before the first header line (obs-fold form)", () => {
    expectInvalid(sniffLines("GET / HTTP/1.1", "\tHost: a"), /^400: obsolete line folding/);
  });
  test("400: header line without a colon", () => {
    expectInvalid(
      sniffLines("GET / HTTP/1.1", "Host: a", "Nonsense"),
      /^400: header line without colon "Nonsense"/,
    );
  });
  test("400: empty header name", () => {
    expectInvalid(sniffLines("GET / HTTP/1.1", "Host: a", ": v"), /^400: empty header name/);
  });
  test("400: whitespace between header name and colon", () => {
    expectInvalid(
      sniffLines("GET / HTTP/1.1", "Host : a"),
      /^400: whitespace between header name and colon in "Host "/,
    );
  });
  test("400: header name that is not a token", () => {
    expectInvalid(
      sniffLines("GET / HTTP/1.1", "Host: a", "X(y): v"),
      /^400: invalid header name "X\(y\)"/,
    );
    expectInvalid(
      sniffLines("GET / HTTP/1.1", "Host: a", "X y: v"),
      /^400: invalid header name "X y"/,
    );
  });
  test("400: NUL in a header value", () => {
    expectInvalid(
      sniffLines("GET / HTTP/1.1", "Host: a", "X: a\0b"),
      /^400: invalid character 0x00 in header "X" value/,
    );
  });
  test("400: DEL and other controls in a header value", () => {
    expectInvalid(
      sniffLines("GET / HTTP/1.1", "Host: a", "X: a\x7fb"),
      /^400: invalid character 0x7f/,
    );
    expectInvalid(
      sniffLines("GET / HTTP/1.1", "Host: a", "X: a\x1bb"),
      /^400: invalid character 0x1b/,
    );
  });
  test("400: several Host headers", () => {
    expectInvalid(sniffLines("GET / HTTP/1.1", "Host: a", "host: a"), /^400: several Host headers/);
  });
  test("400: missing Host in HTTP/1.1, absolute-form included", () => {
    expectInvalid(sniffLines("GET / HTTP/1.1"), /^400: missing Host header/);
    expectInvalid(sniffLines("GET http://a/ HTTP/1.1"), /^400: missing Host header/);
  });
  for (
    const bad of [
      "exa mple.com",
      "example.com:99999",
      "example.com:",
      "example.com:80:80",
      "example.com:+80",
      "[::1",
      "[1.2.3.4]",
      "[fe80::1%25eth0]",
      "a@b",
      "*.example.com",
      "%41.example",
      ".",
      "b\xe9.example",
    ]
  ) {
    test(`400: invalid Host header ${JSON.stringify(bad)}`, () => {
      expectInvalid(sniffLines("GET / HTTP/1.1", `Host: ${bad}`), /^400: invalid Host header "/);
    });
  }
  test("400: an invalid Host is rejected even when absolute-form wins", () => {
    expectInvalid(sniffLines("GET http://a/ HTTP/1.1", "Host: a b"), /^400: invalid Host header/);
  });
  test("400: Content-Length and Transfer-Encoding together", () => {
    expectInvalid(
      sniffLines("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Transfer-Encoding: chunked"),
      /^400: Content-Length and Transfer-Encoding together$/,
    );
  });
  test("400: differing Content-Length values", () => {
    expectInvalid(
      sniffLines("POST / HTTP/1.1", "Host: a", "Content-Length: 3", "Content-Length: 4"),
      /^400: differing Content-Length values "3" and "4"/,
    );
  });
  for (const bad of ["-1", "+5", "1e3", "0x10", "5, 5", "1 2", ""]) {
    test(`400: Content-Length ${JSON.stringify(bad)} is not digits`, () => {
      expectInvalid(
        sniffLines("POST / HTTP/1.1", "Host: a", `Content-Length: ${bad}`),
        /^400: invalid Content-Length "/,
      );
    });
  }
  test("400: Content-Length too large", () => {
    expectInvalid(
      sniffLines("POST / HTTP/1.1", "Host: a", "Content-Length: 9999999999999999"),
      /^400: Content-Length "9999999999999999" too large/,
    );
  });
  test("400: chunked is not the last transfer coding", () => {
    expectInvalid(
      sniffLines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, gzip"),
      /^400: chunked is not the last transfer coding in "chunked, gzip"/,
    );
    expectInvalid(
      sniffLines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip"),
      /^400: chunked is not the last/,
    );
  });
  test("400: chunked twice", () => {
    expectInvalid(
      sniffLines(
        "POST / HTTP/1.1",
        "Host: a",
        "Transfer-Encoding: chunked",
        "Transfer-Encoding: chunked",
      ),
      /^400: chunked is not the last transfer coding in "chunked, chunked"/,
    );
  });
  test("400: empty Transfer-Encoding", () => {
    expectInvalid(
      sniffLines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: ,"),
      /^400: empty Transfer-Encoding/,
    );
  });
  test("400: transfer coding that is not a token (parameters)", () => {
    expectInvalid(
      sniffLines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked;x=1"),
      /^400: invalid transfer coding "chunked;x=1"/,
    );
  });
  test("501: unknown transfer coding", () => {
    expectInvalid(
      sniffLines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: foo, chunked"),
      /^501: unsupported transfer coding "foo"/,
    );
  });
  test("400: Transfer-Encoding in HTTP/1.0", () => {
    expectInvalid(
      sniffLines("POST / HTTP/1.0", "Transfer-Encoding: chunked"),
      /^400: Transfer-Encoding in an HTTP\/1.0 request/,
    );
  });
  test("417: unknown expectation", () => {
    expectInvalid(
      sniffLines("PUT / HTTP/1.1", "Host: a", "Expect: 200-ok"),
      /^417: unsupported expectation "200-ok"/,
    );
  });
  test("reasons quote safely: control bytes escaped, long values capped", () => {
    const r = sniffLines("GET / HTTP/1.1", "Host: a", `X${"y".repeat(200)}`);
    assert.equal(r.kind, "invalid");
    if (r.kind === "invalid") assert.ok(r.reason.length < 120, r.reason);
  });
});

describe("sniffHttpRequestHead: detection", () => {
  const notHttp: [string, Uint8Array][] = [
    ["a TLS ClientHello", Uint8Array.of(0x16, 0x03, 0x01, 0x00, 0xa5, 0x01)],
    ["a PROXY v2 signature", Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00)],
    ["leading CRLF", ascii("\r\nGET / HTTP/1.1\r\n")],
    ["leading space", ascii(" GET / HTTP/1.1\r\n")],
    ["a tab after the method", ascii("GET\t/ HTTP/1.1\r\n")],
    ["a slash right after the method", ascii("GET/ HTTP/1.1\r\n")],
    ["a NUL", Uint8Array.of(0)],
    ["the HTTP/2 preface", H2_PREFACE],
    ["the start of the HTTP/2 preface", ascii("PRI ")],
    ["a PRI request of any shape", ascii("PRI / HTTP/1.1\r\nHost: a\r\n\r\n")],
    ["SSH", ascii("SSH-2.0-OpenSSH_9.6\r\n")],
  ];
  for (const [name, buf] of notHttp) {
    test(`no: ${name}`, () => assert.equal(sniff(buf), NO_MATCH));
  }
  test("more: empty, a method token, the start of PRI", () => {
    for (const text of ["", "G", "GET", "PR", "PRI"]) {
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
});

describe("sniffH2Preface", () => {
  test("H2_PREFACE is the RFC 9113 preface", () => {
    assert.deepEqual(H2_PREFACE, ascii("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    assert.equal(H2_PREFACE.length, 24);
  });
  test("match with length 24, frames after it excluded", () => {
    const buf = new Uint8Array([...H2_PREFACE, 0, 0, 0x12, 4, 0]);
    assert.deepEqual(sniffH2Preface(buf), { kind: "match", value: null, length: 24 });
  });
  test("more: every proper prefix", () => {
    for (let n = 0; n < 24; n++) assert.equal(sniffH2Preface(H2_PREFACE.subarray(0, n)), NEED_MORE);
  });
  test("no: HTTP/1, a near-miss preface, TLS", () => {
    assert.equal(sniffH2Preface(ascii("GET / HTTP/1.1\r\n")), NO_MATCH);
    assert.equal(sniffH2Preface(ascii("PRI * HTTP/1.1\r\n\r\n")), NO_MATCH);
    assert.equal(sniffH2Preface(Uint8Array.of(0x16, 3, 1)), NO_MATCH);
  });
  test("both sniffers together classify the preface", () => {
    for (let n = 1; n <= 24; n++) {
      const buf = H2_PREFACE.subarray(0, n);
      const h1 = sniff(buf).kind;
      const h2 = sniffH2Preface(buf).kind;
      assert.ok(h1 === "more" || h1 === "no", `${n}: ${h1}`);
      assert.equal(h2, n === 24 ? "match" : "more");
    }
  });
});

const REASON = /^(400|414|417|431|501|505): ./;

function assertWellFormed(
  buf: Uint8Array,
  limits: HttpHeadLimits,
  r: SniffResult<HttpRequestHead>,
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
      assert.match(r.reason, REASON, label);
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
  assert.ok(h.method.length + h.target.length + 10 <= limits.maxLine, label);
  if (h.host !== null) {
    assert.equal(h.host, h.host.toLowerCase(), label);
    assert.ok(!h.host.includes(":") || parseIp(h.host)?.family === 6, label);
    assert.ok(!h.host.endsWith("."), label);
  }
  assert.equal(h.host === null, h.hostRaw === null || h.hostRaw === "", label);
  for (const [name, value] of h.headers) {
    assert.match(name, /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, label);
    assert.ok(!/^[ \t]|[ \t]$/.test(value), label);
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      assert.ok(c === 0x09 || (c >= 0x20 && c !== 0x7f), label);
    }
  }
  assert.ok(h.contentLength === null || Number.isSafeInteger(h.contentLength), label);
  assert.ok(!(h.chunked && h.contentLength !== null), label);
  if (h.version === "1.1") {
    assert.ok(h.headers.some(([n]) => n.toLowerCase() === "host"), label);
  }
  // The head alone decodes the same, and one byte less is a valid prefix.
  const again = sniffHttpRequestHead(buf.subarray(0, r.length), limits);
  assert.deepEqual(again, r, label);
  assert.equal(sniffHttpRequestHead(buf.subarray(0, r.length - 1), limits), NEED_MORE, label);
}

const HEADER_POOL = [
  "Host: example.com",
  "Host: [::1]:8080",
  "Host: A.Example.",
  "Content-Length: 12",
  "Content-Length: 12",
  "Transfer-Encoding: gzip, chunked",
  "Connection: keep-alive, Upgrade",
  "Upgrade: websocket",
  "Expect: 100-continue",
  "Accept: */*",
  "X-Forwarded-For: 10.0.0.1",
  "Cookie: a=b; c=d",
];
const LINE_POOL = [
  "GET / HTTP/1.1",
  "POST /submit?x=%20 HTTP/1.1",
  "GET http://b.example:81/p HTTP/1.1",
  "CONNECT b.example:443 HTTP/1.1",
  "OPTIONS * HTTP/1.1",
  "GET /old HTTP/1.0",
];
const INTERESTING = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x3a, 0x2c, 0x7f, 0x80, 0xff, 0x2f, 0x5b, 0x25];

function randomHead(rand: Prng): Uint8Array {
  if (rand.int(4) === 0) return rand.pick(VALID)[1].slice();
  const lines = [rand.pick(LINE_POOL)];
  const count = rand.int(5);
  for (let i = 0; i < count; i++) lines.push(rand.pick(HEADER_POOL));
  if (rand.int(3) !== 0) lines.push("Host: a.example");
  return req(...lines);
}

describe("randomized", () => {
  const CASES = 100_000;
  test(`${CASES} mutated and truncated heads: no throw, well-formed results`, () => {
    const seed = 0x4774;
    const rand = mulberry32(seed);
    const seen = { more: 0, no: 0, invalid: 0, match: 0 };
    for (let n = 0; n < CASES; n++) {
      const buf = editBytes(rand, randomHead(rand), INTERESTING);
      // Mostly generous limits; sometimes tight ones so 414 and 431 are reached.
      const limits = rand.int(8) === 0
        ? { maxLine: rand.range(8, 60), maxHead: rand.range(16, 200) }
        : LIMITS;
      const label = `seed ${seed} case ${n}: ${JSON.stringify(String.fromCharCode(...buf))}`;
      let r: SniffResult<HttpRequestHead>;
      try {
        r = sniffHttpRequestHead(buf, limits);
      } catch (e) {
        assert.fail(`${label} threw ${e}`);
      }
      seen[r.kind]++;
      assertWellFormed(buf, limits, r, label);
    }
    for (const [kind, count] of Object.entries(seen)) {
      assert.ok(count > CASES / 1000, `only ${count} ${kind} results`);
    }
  });
});

describe("parseAuthority", () => {
  test("each text gets its own answer, asked in any order and again", () => {
    const cases: [string, Authority | null][] = [
      ["Example.COM.", { host: "example.com", port: "" }],
      ["example.com:8443", { host: "example.com", port: "8443" }],
      ["[::1]:80", { host: "::1", port: "80" }],
      ["exa mple.com", null],
      ["example.com:99999", null],
    ];
    const rnd = mulberry32(7);
    for (let i = 0; i < 200; i++) {
      const [text, want] = rnd.pick(cases);
      // Built anew each time: a text equal to the last one but not the same string.
      assert.deepEqual(parseAuthority(`${text} `.trimEnd()), want, text);
      assert.deepEqual(parseAuthority(text), want, text);
    }
  });
});
