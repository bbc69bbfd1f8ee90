import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  contentLengthFault,
  fieldFault,
  h2BackendFields,
  type H2Field,
  type H2RequestHead,
  http1RequestHead,
  readRequestFields,
  readTrailerFields,
} from "../../src/h2/request_fields.ts";
import { addForwarded } from "../../src/http1/forwarded.ts";
import { HEAD_LIMITS, sniffHttpRequestHead } from "../../src/http1/request_head.ts";
import type { Invalid } from "../../src/wire/result.ts";
import { mulberry32, type Prng } from "../helpers/prng.ts";
import { text } from "../helpers/sniff.ts";

/** A GET for https://a.example/ followed by `extra`. */
function get(...extra: H2Field[]): H2Field[] {
  return [[":method", "GET"], [":scheme", "https"], [":authority", "a.example"], [
    ":path",
    "/",
  ], ...extra];
}

function expectHead(r: H2RequestHead | Invalid): H2RequestHead {
  if ("kind" in r) assert.fail(`expected a head, got ${JSON.stringify(r)}`);
  return r;
}

function expectFault<T extends object>(r: T | Invalid, reason: string): void {
  assert.ok("kind" in r && r.kind === "invalid", `expected invalid, got ${JSON.stringify(r)}`);
  assert.equal((r as Invalid).reason, reason);
}

describe("readRequestFields: malformed requests", () => {
  const cases: [string, H2Field[], string][] = [
    [
      "pseudo-header after a regular field is malformed",
      [[":method", "GET"], [":scheme", "https"], ["accept", "*/*"], [":path", "/"]],
      'HTTP/2 request: pseudo-header ":path" after a regular field',
    ],
    [
      ":protocol is malformed (extended CONNECT is not supported)",
      get([":protocol", "websocket"]),
      'HTTP/2 request: pseudo-header ":protocol" (extended CONNECT) not supported',
    ],
    [
      ":status is not allowed in a request",
      get([":status", "200"]),
      'HTTP/2 request: response pseudo-header ":status" in a request',
    ],
    [
      "an unknown pseudo-header is malformed",
      get([":host", "a.example"]),
      'HTTP/2 request: unknown pseudo-header ":host"',
    ],
    [
      "two :method are malformed",
      get([":method", "GET"]),
      "HTTP/2 request: several :method pseudo-headers",
    ],
    [
      "two :scheme are malformed",
      get([":scheme", "http"]),
      "HTTP/2 request: several :scheme pseudo-headers",
    ],
    [
      "two :authority are malformed",
      get([":authority", "a.example"]),
      "HTTP/2 request: several :authority pseudo-headers",
    ],
    [
      "two :path are malformed",
      get([":path", "/"]),
      "HTTP/2 request: several :path pseudo-headers",
    ],
    [
      "missing :method is malformed",
      [[":scheme", "https"], [":authority", "a.example"], [":path", "/"]],
      "HTTP/2 request: missing :method",
    ],
    [
      "missing :scheme is malformed",
      [[":method", "GET"], [":authority", "a.example"], [":path", "/"]],
      "HTTP/2 request: missing :scheme",
    ],
    [
      "missing :path is malformed",
      [[":method", "GET"], [":scheme", "https"], [":authority", "a.example"]],
      "HTTP/2 request: missing :path",
    ],
    [
      "a :method that is not a token is malformed",
      [[":method", "GE(T"], [":scheme", "https"], [":authority", "a.example"], [":path", "/"]],
      'HTTP/2 request: invalid :method "GE(T"',
    ],
    [
      "an empty :method is malformed",
      [[":method", ""], [":scheme", "https"], [":authority", "a.example"], [":path", "/"]],
      'HTTP/2 request: invalid :method ""',
    ],
    [
      "an invalid :scheme is malformed",
      [[":method", "GET"], [":scheme", "ht_tp"], [":authority", "a.example"], [":path", "/"]],
      'HTTP/2 request: invalid :scheme "ht_tp"',
    ],
    [
      "CONNECT without :authority is malformed",
      [[":method", "CONNECT"], ["host", "a.example:443"]],
      "HTTP/2 request: CONNECT without :authority",
    ],
    [
      "CONNECT with :scheme is malformed",
      [[":method", "CONNECT"], [":scheme", "https"], [":authority", "a.example:443"]],
      'HTTP/2 request: CONNECT with :scheme "https"',
    ],
    [
      "CONNECT with :path is malformed",
      [[":method", "CONNECT"], [":authority", "a.example:443"], [":path", "/"]],
      'HTTP/2 request: CONNECT with :path "/"',
    ],
    [
      "CONNECT to an authority without a port is malformed",
      [[":method", "CONNECT"], [":authority", "a.example"]],
      'HTTP/2 request: CONNECT :authority "a.example" without a port',
    ],
    [
      "an empty :path is malformed",
      [[":method", "GET"], [":scheme", "https"], [":authority", "a.example"], [":path", ""]],
      "HTTP/2 request: empty :path",
    ],
    [
      "an https :path not starting with / is malformed",
      [[":method", "GET"], [":scheme", "https"], [":authority", "a.example"], [":path", "a/b"]],
      'HTTP/2 request: :path "a/b" does not start with "/"',
    ],
    [
      "an absolute URI as :path is malformed",
      [[":method", "GET"], [":scheme", "http"], [":authority", "a.example"], [
        ":path",
        "http://b.example/",
      ]],
      'HTTP/2 request: :path "http://b.example/" does not start with "/"',
    ],
    [
      ':path "*" other than for OPTIONS is malformed',
      [[":method", "GET"], [":scheme", "https"], [":authority", "a.example"], [":path", "*"]],
      'HTTP/2 request: :path "*" with method "GET"',
    ],
    [
      "a space in :path is malformed (it would split the request line)",
      [[":method", "GET"], [":scheme", "https"], [":authority", "a.example"], [
        ":path",
        "/a HTTP/1.1",
      ]],
      'HTTP/2 request: invalid character 0x20 in :path "/a HTTP/1.1"',
    ],
    [
      "a fragment in :path is malformed",
      [[":method", "GET"], [":scheme", "https"], [":authority", "a.example"], [":path", "/a#b"]],
      'HTTP/2 request: invalid character 0x23 in :path "/a#b"',
    ],
    [
      "a bad percent-escape in :path is malformed",
      [[":method", "GET"], [":scheme", "https"], [":authority", "a.example"], [":path", "/%zz"]],
      'HTTP/2 request: invalid percent-encoding in :path "/%zz"',
    ],
    [
      "uppercase field name is malformed",
      get(["Accept", "*/*"]),
      'HTTP/2 request: uppercase letter in field name "Accept"',
    ],
    [
      "a field name that is not a token is malformed",
      get(["x y", "1"]),
      'HTTP/2 request: invalid field name "x y"',
    ],
    [
      "a field name with a colon is malformed",
      get(["x:y", "1"]),
      'HTTP/2 request: invalid field name "x:y"',
    ],
    ["an empty field name is malformed", get(["", "1"]), 'HTTP/2 request: invalid field name ""'],
    [
      "NUL in a value is malformed",
      get(["x-a", "a\x00b"]),
      'HTTP/2 request: field "x-a" value "a\\u0000b" contains 0x00',
    ],
    [
      "CR in a value is malformed",
      get(["x-a", "a\rb"]),
      'HTTP/2 request: field "x-a" value "a\\rb" contains 0x0d',
    ],
    [
      "LF in a value is malformed",
      get(["x-a", "a\nhost: b.example"]),
      'HTTP/2 request: field "x-a" value "a\\nhost: b.example" contains 0x0a',
    ],
    [
      "another control byte in a value is malformed (HTTP/1.1 refuses it)",
      get(["x-a", "a\x01b"]),
      'HTTP/2 request: field "x-a" value "a\\u0001b" contains 0x01',
    ],
    [
      "a char above 0xff in a value is malformed (no latin1 byte for it)",
      get(["x-a", "\u2603"]),
      'HTTP/2 request: field "x-a" value "\u2603" contains 0x2603',
    ],
    [
      "a value starting with a space is malformed",
      get(["x-a", " 1"]),
      'HTTP/2 request: field "x-a" value " 1" starts or ends with whitespace',
    ],
    [
      "a value ending with a tab is malformed",
      get(["x-a", "1\t"]),
      'HTTP/2 request: field "x-a" value "1\\t" starts or ends with whitespace',
    ],
    [
      "a pseudo-header value with whitespace is malformed",
      [[":method", "GET"], [":scheme", "https"], [":authority", "a.example "], [":path", "/"]],
      'HTTP/2 request: field ":authority" value "a.example " starts or ends with whitespace',
    ],
    [
      "connection is malformed",
      get(["connection", "close"]),
      'HTTP/2 request: connection-specific field "connection"',
    ],
    [
      "keep-alive is malformed",
      get(["keep-alive", "timeout=5"]),
      'HTTP/2 request: connection-specific field "keep-alive"',
    ],
    [
      "proxy-connection is malformed",
      get(["proxy-connection", "keep-alive"]),
      'HTTP/2 request: connection-specific field "proxy-connection"',
    ],
    [
      "transfer-encoding is malformed",
      get(["transfer-encoding", "chunked"]),
      'HTTP/2 request: connection-specific field "transfer-encoding"',
    ],
    [
      "upgrade is malformed",
      get(["upgrade", "h2c"]),
      'HTTP/2 request: connection-specific field "upgrade"',
    ],
    [
      'te other than "trailers" is malformed',
      get(["te", "gzip"]),
      'HTTP/2 request: te "gzip" (only "trailers" is allowed)',
    ],
    [
      "te listing trailers among others is malformed",
      get(["te", "trailers, gzip"]),
      'HTTP/2 request: te "trailers, gzip" (only "trailers" is allowed)',
    ],
    [
      "content-length that is not digits is malformed",
      get(["content-length", "-1"]),
      'HTTP/2 request: invalid content-length "-1"',
    ],
    [
      "content-length as a list is malformed",
      get(["content-length", "5, 5"]),
      'HTTP/2 request: invalid content-length "5, 5"',
    ],
    [
      "content-length past a safe integer is malformed",
      get(["content-length", "1".repeat(16)]),
      `HTTP/2 request: content-length "${"1".repeat(16)}" too large`,
    ],
    [
      "differing content-length values are malformed",
      get(["content-length", "5"], ["content-length", "6"]),
      'HTTP/2 request: differing content-length values "5" and "6"',
    ],
    [
      ":authority and host naming different hosts are malformed",
      get(["host", "b.example"]),
      'HTTP/2 request: :authority "a.example" and host "b.example" differ',
    ],
    [
      ":authority and host with different ports are malformed",
      get(["host", "a.example:8443"]),
      'HTTP/2 request: :authority "a.example" and host "a.example:8443" differ',
    ],
    [
      ":authority and an empty host are malformed",
      get(["host", ""]),
      'HTTP/2 request: :authority "a.example" and host "" differ',
    ],
    [
      "several host fields are malformed",
      [[":method", "GET"], [":scheme", "https"], [":path", "/"], ["host", "a.example"], [
        "host",
        "a.example",
      ]],
      "HTTP/2 request: several host fields",
    ],
    [
      "an invalid :authority is malformed",
      [[":method", "GET"], [":scheme", "https"], [":authority", "a example"], [":path", "/"]],
      'HTTP/2 request: invalid :authority "a example"',
    ],
    [
      "userinfo in :authority is malformed",
      [[":method", "GET"], [":scheme", "https"], [":authority", "u@a.example"], [":path", "/"]],
      'HTTP/2 request: invalid :authority "u@a.example"',
    ],
    [
      "an empty :authority is malformed",
      [[":method", "GET"], [":scheme", "https"], [":authority", ""], [":path", "/"]],
      'HTTP/2 request: invalid :authority ""',
    ],
    [
      "an invalid host field is malformed",
      [[":method", "GET"], [":scheme", "https"], [":path", "/"], ["host", "a.example:99999"]],
      'HTTP/2 request: invalid host field "a.example:99999"',
    ],
    [
      "https without :authority or host is malformed",
      [[":method", "GET"], [":scheme", "https"], [":path", "/"]],
      "HTTP/2 request: neither :authority nor host",
    ],
    [
      "https with only an empty host is malformed",
      [[":method", "GET"], [":scheme", "https"], [":path", "/"], ["host", ""]],
      "HTTP/2 request: empty host field without :authority",
    ],
  ];
  for (const [name, list, reason] of cases) {
    test(name, () => expectFault(readRequestFields(list), reason));
  }

  test("a long bad value is quoted with a cap", () => {
    expectFault(
      readRequestFields(get(["x-a", `${"x".repeat(100)}\r`])),
      `HTTP/2 request: field "x-a" value "${"x".repeat(64)}…" contains 0x0d`,
    );
  });
});

describe("readRequestFields: valid requests", () => {
  test("a browser GET: routing host, fields in order, te: trailers taken out", () => {
    const head = expectHead(readRequestFields([
      [":method", "GET"],
      [":scheme", "https"],
      [":authority", "WWW.Example.COM:8443"],
      [":path", "/search?q=h2"],
      ["user-agent", "curl/8.5.0"],
      ["te", "trailers"],
      ["accept", "*/*"],
    ]));
    assert.deepEqual(head, {
      method: "GET",
      scheme: "https",
      authority: "WWW.Example.COM:8443",
      host: "www.example.com",
      path: "/search?q=h2",
      fields: [["user-agent", "curl/8.5.0"], ["accept", "*/*"]],
      contentLength: null,
      te: true,
    });
  });

  test('te: "Trailers" is accepted (t-codings are case-insensitive)', () => {
    assert.equal(expectHead(readRequestFields(get(["te", "Trailers"]))).te, true);
  });

  test("cookie crumbs are joined where the first one was", () => {
    const head = expectHead(readRequestFields(get(
      ["cookie", "a=1"],
      ["accept", "*/*"],
      ["cookie", "b=2"],
      ["cookie", "c=3"],
    )));
    assert.deepEqual(head.fields, [["cookie", "a=1; b=2; c=3"], ["accept", "*/*"]]);
  });

  test("empty cookie crumbs are left out of the join", () => {
    const head = expectHead(
      readRequestFields(get(["cookie", ""], ["cookie", "a=1"], ["cookie", ""])),
    );
    assert.deepEqual(head.fields, [["cookie", "a=1"]]);
  });

  test("identical content-length values merge into contentLength", () => {
    const head = expectHead(readRequestFields([
      [":method", "POST"],
      [":scheme", "https"],
      [":authority", "a.example"],
      [":path", "/upload"],
      ["content-length", "5"],
      ["content-type", "text/plain"],
      ["content-length", "5"],
    ]));
    assert.equal(head.contentLength, 5);
    assert.deepEqual(head.fields, [["content-type", "text/plain"]]);
  });

  test("the host field is removed when :authority is present", () => {
    const head = expectHead(readRequestFields(get(["accept", "*/*"], ["host", "a.example"])));
    assert.deepEqual(head.fields, [["accept", "*/*"]]);
    assert.equal(head.host, "a.example");
  });

  test(":authority and host are compared as parsed: case and a trailing dot do not count", () => {
    const head = expectHead(readRequestFields([
      [":method", "GET"],
      [":scheme", "https"],
      [":authority", "A.Example"],
      [":path", "/"],
      ["host", "a.example."],
    ]));
    assert.equal(head.host, "a.example");
    assert.equal(head.authority, "A.Example");
    assert.deepEqual(head.fields, []);
  });

  test("without :authority, the host field routes (lower-cased, port stripped) and stays", () => {
    const head = expectHead(readRequestFields([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      ["accept", "*/*"],
      ["host", "B.Example:8080"],
    ]));
    assert.equal(head.authority, null);
    assert.equal(head.host, "b.example");
    assert.deepEqual(head.fields, [["accept", "*/*"], ["host", "B.Example:8080"]]);
  });

  test("an IPv6 literal routes without brackets, in RFC 5952 form", () => {
    const head = expectHead(readRequestFields([
      [":method", "GET"],
      [":scheme", "https"],
      [":authority", "[2001:DB8:0:0:0:0:0:1]:8443"],
      [":path", "/"],
      ["host", "[2001:db8::1]:8443"],
    ]));
    assert.equal(head.host, "2001:db8::1");
  });

  test('OPTIONS with :path "*"', () => {
    const head = expectHead(readRequestFields([
      [":method", "OPTIONS"],
      [":scheme", "https"],
      [":authority", "a.example"],
      [":path", "*"],
    ]));
    assert.equal(head.path, "*");
  });

  test("CONNECT is a valid head (the caller decides to refuse it)", () => {
    const head = expectHead(readRequestFields([[":method", "CONNECT"], [
      ":authority",
      "a.example:443",
    ]]));
    assert.deepEqual(head, {
      method: "CONNECT",
      scheme: null,
      authority: "a.example:443",
      host: "a.example",
      path: "",
      fields: [],
      contentLength: null,
      te: false,
    });
  });

  test("a scheme other than http and https needs no authority nor a path starting with /", () => {
    const head = expectHead(readRequestFields([
      [":method", "GET"],
      [":scheme", "urn"],
      [":path", "isbn:0451450523"],
    ]));
    assert.equal(head.host, null);
    assert.equal(head.path, "isbn:0451450523");
  });

  test("empty values, HTAB inside a value and obs-text are fine", () => {
    const head = expectHead(
      readRequestFields(get(["x-a", ""], ["x-b", "a\tb"], ["x-c", "caf\xe9"])),
    );
    assert.deepEqual(head.fields, [["x-a", ""], ["x-b", "a\tb"], ["x-c", "caf\xe9"]]);
  });
});

describe("http1RequestHead", () => {
  function head(list: H2Field[], body: "none" | "length" | "chunked"): string {
    return text(http1RequestHead(expectHead(readRequestFields(list)), body));
  }

  test("GET without a body", () => {
    assert.equal(
      head(get(["user-agent", "curl/8.5.0"], ["accept", "*/*"], ["te", "trailers"]), "none"),
      "GET / HTTP/1.1\r\nHost: a.example\r\nuser-agent: curl/8.5.0\r\naccept: */*\r\n\r\n",
    );
  });

  test("POST with content-length: sent once, after the other fields", () => {
    const list: H2Field[] = [
      [":method", "POST"],
      [":scheme", "https"],
      [":authority", "a.example"],
      [":path", "/upload?x=1"],
      ["content-length", "11"],
      ["content-type", "text/plain"],
      ["content-length", "11"],
    ];
    assert.equal(
      head(list, "length"),
      "POST /upload?x=1 HTTP/1.1\r\nHost: a.example\r\ncontent-type: text/plain\r\n" +
        "Content-Length: 11\r\n\r\n",
    );
    // The caller knows the stream ended with the headers: no body, no framing field.
    assert.equal(
      head(list, "none"),
      "POST /upload?x=1 HTTP/1.1\r\nHost: a.example\r\ncontent-type: text/plain\r\n\r\n",
    );
  });

  test("POST chunked: Transfer-Encoding, never Content-Length with it", () => {
    const list: H2Field[] = [
      [":method", "POST"],
      [":scheme", "https"],
      [":authority", "a.example"],
      [":path", "/stream"],
      ["content-type", "application/json"],
    ];
    assert.equal(
      head(list, "chunked"),
      "POST /stream HTTP/1.1\r\nHost: a.example\r\ncontent-type: application/json\r\n" +
        "Transfer-Encoding: chunked\r\n\r\n",
    );
    assert.equal(
      head([...list, ["content-length", "7"]], "chunked"),
      "POST /stream HTTP/1.1\r\nHost: a.example\r\ncontent-type: application/json\r\n" +
        "Transfer-Encoding: chunked\r\n\r\n",
    );
  });

  test("cookie crumbs are sent as one cookie field", () => {
    assert.equal(
      head(get(["cookie", "a=1"], ["accept", "*/*"], ["cookie", "b=2"]), "none"),
      "GET / HTTP/1.1\r\nHost: a.example\r\ncookie: a=1; b=2\r\naccept: */*\r\n\r\n",
    );
  });

  test(":authority is the Host, as sent; an equal host field is not repeated", () => {
    assert.equal(
      head([
        [":method", "GET"],
        [":scheme", "https"],
        [":authority", "A.Example:8443"],
        [":path", "/"],
        ["accept", "*/*"],
        ["host", "a.example:8443"],
      ], "none"),
      "GET / HTTP/1.1\r\nHost: A.Example:8443\r\naccept: */*\r\n\r\n",
    );
  });

  test("without :authority the host field is the Host, moved first", () => {
    assert.equal(
      head([
        [":method", "GET"],
        [":scheme", "http"],
        [":path", "/"],
        ["accept", "*/*"],
        ["host", "b.example:8080"],
      ], "none"),
      "GET / HTTP/1.1\r\nHost: b.example:8080\r\naccept: */*\r\n\r\n",
    );
  });

  test("CONNECT goes in authority-form", () => {
    assert.equal(
      head([[":method", "CONNECT"], [":authority", "a.example:443"]], "none"),
      "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
    );
  });

  test("obs-text leaves as one byte per char", () => {
    const bytes = http1RequestHead(expectHead(readRequestFields(get(["x-a", "caf\xe9"]))), "none");
    assert.equal(bytes.length, "GET / HTTP/1.1\r\nHost: a.example\r\nx-a: caf\xe9\r\n\r\n".length);
    assert.equal(bytes[bytes.indexOf(0x66) + 1], 0xe9);
  });

  test("the head is what the HTTP/1 parser and addForwarded expect", () => {
    const bytes = http1RequestHead(
      expectHead(readRequestFields(get(["x-forwarded-for", "192.0.2.1"]))),
      "none",
    );
    const r = sniffHttpRequestHead(bytes, HEAD_LIMITS);
    assert.equal(r.kind, "match");
    const out = addForwarded(bytes, ["x-forwarded-for", "x-forwarded-proto"], {
      client: "198.51.100.7",
      proto: "https",
      host: "a.example",
    });
    assert.equal(
      text(out),
      "GET / HTTP/1.1\r\nHost: a.example\r\nx-forwarded-for: 192.0.2.1, 198.51.100.7\r\n" +
        "X-Forwarded-Proto: https\r\n\r\n",
    );
  });
});

describe("readTrailerFields", () => {
  test("pseudo-headers are malformed in trailers", () => {
    expectFault(
      readTrailerFields([["x-checksum", "1"], [":path", "/"]]),
      'HTTP/2 request: pseudo-header ":path" in trailers',
    );
  });

  test("uppercase field name is malformed in trailers", () => {
    expectFault(
      readTrailerFields([["X-Checksum", "1"]]),
      'HTTP/2 request: uppercase letter in field name "X-Checksum"',
    );
  });

  test("connection-specific fields are malformed in trailers", () => {
    expectFault(
      readTrailerFields([["transfer-encoding", "chunked"]]),
      'HTTP/2 request: connection-specific field "transfer-encoding"',
    );
  });

  test("a CR in a trailer value is malformed", () => {
    expectFault(
      readTrailerFields([["x-checksum", "1\r"]]),
      'HTTP/2 request: field "x-checksum" value "1\\r" contains 0x0d',
    );
  });

  test("content-length, host and te are dropped, the rest kept in order", () => {
    assert.deepEqual(
      readTrailerFields([
        ["x-checksum", "abc"],
        ["content-length", "5"],
        ["host", "b.example"],
        ["te", "trailers"],
        ["grpc-status", "0"],
      ]),
      [["x-checksum", "abc"], ["grpc-status", "0"]],
    );
  });

  test("no trailers, no fields", () => {
    assert.deepEqual(readTrailerFields([]), []);
  });
});

describe("fieldFault and contentLengthFault", () => {
  test("a plain field passes", () => {
    assert.equal(fieldFault("accept", "*/*"), null);
  });

  test("an identical repeat passes, a differing one does not", () => {
    assert.equal(contentLengthFault("5", "5"), null);
    assert.equal(contentLengthFault("5", "05"), 'differing content-length values "5" and "05"');
  });
});

// ---- randomized ----

const PSEUDO_NAMES = [":method", ":scheme", ":authority", ":path", ":status", ":protocol", ":x"];
const METHODS = ["GET", "POST", "OPTIONS", "CONNECT", "HEAD", "PUT", "GE T", "", "get"];
const SCHEMES = ["https", "http", "HTTP", "urn", "1x", ""];
const AUTHORITIES = [
  "a.example",
  "A.Example:8443",
  "[::1]:8080",
  "[::1]",
  "a.example.",
  "b.example",
  "a.example:443",
  "u@a.example",
  "",
];
const PATHS = ["/", "/a?b=c", "*", "", "a", "/%zz", "/%41", "/a#b", "/a b", "/caf\xe9"];
const NAMES = [
  "host",
  "cookie",
  "cookie",
  "content-length",
  "te",
  "accept",
  "x-a",
  "user-agent",
  "connection",
  "upgrade",
  "Host",
  "x y",
  "",
  ":path",
];
const VALUES = [
  "",
  "0",
  "5",
  "trailers",
  "a.example",
  "A.Example:8443",
  "b=1",
  "*/*",
  " x",
  "x\t",
  "a\r\nb",
  "\x00",
  "\x01",
  "caf\xe9",
  "\u2603",
];

function randomText(rng: Prng): string {
  let s = "";
  for (let n = rng.int(6); n > 0; n--) {
    s += String.fromCharCode(rng.int(8) === 0 ? rng.int(0x3000) : rng.range(0x20, 0x7e));
  }
  return s;
}

/** A header list close to a valid request, then edited at random. */
function randomRequest(rng: Prng): H2Field[] {
  const list: H2Field[] = [];
  const method = rng.int(6) === 0 ? "CONNECT" : rng.pick(["GET", "POST", "OPTIONS"]);
  list.push([":method", method]);
  if (method !== "CONNECT" || rng.int(4) === 0) list.push([":scheme", rng.pick(["https", "http"])]);
  const authority = rng.pick(AUTHORITIES.slice(0, 7));
  if (rng.int(4) !== 0) list.push([":authority", authority]);
  if (method !== "CONNECT" || rng.int(4) === 0) list.push([":path", rng.pick(PATHS.slice(0, 3))]);
  for (let n = rng.int(6); n > 0; n--) {
    const name = rng.pick(NAMES.slice(0, 8));
    const value = name === "host"
      ? rng.int(4) === 0 ? rng.pick(AUTHORITIES) : authority
      : name === "content-length"
      ? rng.pick(["0", "5"])
      : name === "te"
      ? "trailers"
      : rng.pick(VALUES.slice(0, 8));
    list.push([name, value]);
  }
  for (let edits = rng.int(3); edits > 0; edits--) {
    const at = rng.int(list.length + 1);
    switch (rng.int(6)) {
      case 0:
        list.splice(at, 1);
        break;
      case 1:
        list.splice(at, 0, [rng.pick(PSEUDO_NAMES), rng.pick([...METHODS, ...PATHS])]);
        break;
      case 2:
        list.splice(at, 0, [rng.pick(NAMES), rng.pick(VALUES)]);
        break;
      case 3:
        list.splice(at, 0, [randomText(rng), randomText(rng)]);
        break;
      case 4:
        if (at < list.length) list[at] = [list[at][0], rng.pick([...SCHEMES, ...VALUES])];
        break;
      default:
        if (at < list.length) list.push(list[at]);
    }
  }
  return list;
}

/** The header fields the HTTP/1 parser must read back from http1RequestHead. */
function expectedHeaders(head: H2RequestHead, body: "none" | "length" | "chunked"): string[][] {
  const fields = head.fields.filter(([name]) => name !== "host").map(([n, v]) => [n, v]);
  const host = head.authority ?? head.fields.find(([name]) => name === "host")?.[1] ?? "";
  const out = [["Host", host], ...fields];
  if (body === "length" && head.contentLength !== null) {
    out.push(["Content-Length", String(head.contentLength)]);
  }
  if (body === "chunked") out.push(["Transfer-Encoding", "chunked"]);
  return out;
}

test("randomized: header lists never throw; valid ones become heads the HTTP/1 parser reads back (50,000)", () => {
  const seed = 0x9113_0801;
  const rng = mulberry32(seed);
  let valid = 0;
  for (let i = 0; i < 50_000; i++) {
    const label = `seed ${seed} case ${i}`;
    const list = randomRequest(rng);
    try {
      const r = readRequestFields(list);
      const trailers = readTrailerFields(list);
      if ("kind" in trailers) assert.match(trailers.reason, /^HTTP\/2 request: ./, label);
      if ("kind" in r) {
        assert.match(r.reason, /^HTTP\/2 request: ./, label);
        continue;
      }
      valid++;
      // Other schemes have request-targets HTTP/1.1 has no form for; the caller refuses them.
      if (r.scheme !== null && !/^https?$/i.test(r.scheme)) continue;
      const body = rng.pick(["none", "length", "chunked"] as const);
      const bytes = http1RequestHead(r, body);
      const parsed = sniffHttpRequestHead(bytes, HEAD_LIMITS);
      if (parsed.kind !== "match") {
        assert.fail(`${label}: ${JSON.stringify(list)} gave ${JSON.stringify(parsed)}`);
      }
      assert.equal(parsed.length, bytes.length, label);
      assert.equal(parsed.value.method, r.method, label);
      assert.equal(parsed.value.host, r.host, label);
      assert.deepEqual(parsed.value.headers, expectedHeaders(r, body), label);
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.fail(`${label}: ${JSON.stringify(list)} threw ${e}`);
    }
  }
  // The property above means little unless many lists were valid.
  assert.ok(valid > 5_000, `only ${valid} valid lists`);
});

describe("h2BackendFields", () => {
  test("pseudo-headers first with the backend's scheme; host as :authority; length and te kept", () => {
    const req = readRequestFields([
      [":method", "POST"],
      [":scheme", "https"],
      [":path", "/svc.Echo/Say?x=1"],
      ["host", "a.test:8443"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["content-length", "5"],
    ]);
    assert.ok(!("kind" in req));
    assert.deepEqual(h2BackendFields(req as H2RequestHead, "http"), [
      [":method", "POST"],
      [":scheme", "http"],
      [":authority", "a.test:8443"],
      [":path", "/svc.Echo/Say?x=1"],
      ["content-type", "application/grpc"],
      ["content-length", "5"],
      ["te", "trailers"],
    ]);
  });
});
