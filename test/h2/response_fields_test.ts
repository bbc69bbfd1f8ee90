import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { H2Field } from "../../src/h2/request_fields.ts";
import {
  h2ResponseFields,
  type H2ResponseHead,
  readResponseFields,
} from "../../src/h2/response_fields.ts";
import { type HttpResponseHead, sniffHttpResponseHead } from "../../src/http1/response_head.ts";
import type { Invalid } from "../../src/wire/result.ts";
import { mulberry32, type Prng } from "../helpers/prng.ts";
import { ascii, expectHeadMatch } from "../helpers/sniff.ts";

/** The parsed HTTP/1.1 response head made of `lines`. */
function head(...lines: string[]): HttpResponseHead {
  return expectHeadMatch(
    sniffHttpResponseHead(ascii(`${lines.join("\r\n")}\r\n\r\n`), { maxHead: 65536 }),
  );
}

function expectFault<T extends object>(r: T | Invalid, reason: string): void {
  assert.ok("kind" in r && r.kind === "invalid", `expected invalid, got ${JSON.stringify(r)}`);
  assert.equal((r as Invalid).reason, reason);
}

describe("h2ResponseFields", () => {
  test("a chunked nginx response: transfer-encoding and connection dropped, names lower-cased", () => {
    assert.deepEqual(
      h2ResponseFields(head(
        "HTTP/1.1 200 OK",
        "Server: nginx/1.25.3",
        "Date: Tue, 02 Jan 2024 10:00:00 GMT",
        "Content-Type: text/html; charset=utf-8",
        "Transfer-Encoding: chunked",
        "Connection: keep-alive",
        "Vary: Accept-Encoding",
      )),
      [
        [":status", "200"],
        ["server", "nginx/1.25.3"],
        ["date", "Tue, 02 Jan 2024 10:00:00 GMT"],
        ["content-type", "text/html; charset=utf-8"],
        ["vary", "Accept-Encoding"],
      ],
    );
  });

  test("Connection: close, x-foo drops both Connection and x-foo", () => {
    assert.deepEqual(
      h2ResponseFields(head(
        "HTTP/1.1 200 OK",
        "X-Foo: secret",
        "Connection: close, X-Foo",
        "Content-Length: 2",
        "x-bar: kept",
      )),
      [[":status", "200"], ["content-length", "2"], ["x-bar", "kept"]],
    );
  });

  test("keep-alive, proxy-connection, upgrade and te are dropped", () => {
    assert.deepEqual(
      h2ResponseFields(head(
        "HTTP/1.1 204 No Content",
        "Keep-Alive: timeout=5, max=100",
        "Proxy-Connection: keep-alive",
        "Upgrade: h2c",
        "TE: trailers",
        'ETag: "1"',
      )),
      [[":status", "204"], ["etag", '"1"']],
    );
  });

  test("values arrive trimmed of OWS; HTAB inside and obs-text stay", () => {
    assert.deepEqual(
      h2ResponseFields(head("HTTP/1.1 200 OK", "X-A: \t a\tb \t", "X-B:caf\xe9", "X-C:")),
      [[":status", "200"], ["x-a", "a\tb"], ["x-b", "caf\xe9"], ["x-c", ""]],
    );
  });

  test("a repeated Content-Length goes once", () => {
    assert.deepEqual(
      h2ResponseFields(head("HTTP/1.1 200 OK", "Content-Length: 5", "Content-Length: 5")),
      [[":status", "200"], ["content-length", "5"]],
    );
  });

  test("Content-Length overridden by Transfer-Encoding is dropped", () => {
    assert.deepEqual(
      h2ResponseFields(head(
        "HTTP/1.1 200 OK",
        "Content-Length: 100",
        "Transfer-Encoding: chunked",
      )),
      [[":status", "200"]],
    );
  });

  test("set-cookie fields stay separate", () => {
    assert.deepEqual(
      h2ResponseFields(head("HTTP/1.1 200 OK", "Set-Cookie: a=1", "Set-Cookie: b=2")),
      [[":status", "200"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]],
    );
  });

  test("an informational response and an HTTP/1.0 response", () => {
    assert.deepEqual(h2ResponseFields(head("HTTP/1.1 103 Early Hints", "Link: </a.css>")), [
      [":status", "103"],
      ["link", "</a.css>"],
    ]);
    assert.deepEqual(h2ResponseFields(head("HTTP/1.0 404 Not Found", "Content-Length: 0")), [
      [":status", "404"],
      ["content-length", "0"],
    ]);
  });

  test("101 cannot be forwarded over HTTP/2", () => {
    expectFault(
      h2ResponseFields(head(
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
      )),
      "HTTP/2 response: 101 Switching Protocols cannot be forwarded",
    );
  });

  test("a transfer coding other than chunked cannot be forwarded", () => {
    expectFault(
      h2ResponseFields(head("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked")),
      'HTTP/2 response: transfer coding "gzip" cannot be forwarded',
    );
  });
});

describe("readResponseFields", () => {
  const cases: [string, H2Field[], string][] = [
    ["missing :status is malformed", [["server", "x"]], "HTTP/2 response: missing :status"],
    [
      "two :status are malformed",
      [[":status", "200"], [":status", "200"]],
      "HTTP/2 response: several :status pseudo-headers",
    ],
    [
      "a :status of two digits is malformed",
      [[":status", "20"]],
      'HTTP/2 response: invalid :status "20"',
    ],
    [
      "a :status with a reason is malformed",
      [[":status", "200 OK"]],
      'HTTP/2 response: invalid :status "200 OK"',
    ],
    [
      "a :status below 100 is malformed",
      [[":status", "099"]],
      'HTTP/2 response: :status "099" below 100',
    ],
    [
      "a :status of 101 is malformed",
      [[":status", "101"]],
      'HTTP/2 response: :status "101" (no protocol switch in HTTP/2)',
    ],
    [
      "a request pseudo-header in a response is malformed",
      [[":status", "200"], [":path", "/"]],
      'HTTP/2 response: pseudo-header ":path" in a response',
    ],
    [
      "pseudo-header after a regular field is malformed",
      [["server", "x"], [":status", "200"]],
      'HTTP/2 response: pseudo-header ":status" after a regular field',
    ],
    [
      "uppercase field name is malformed",
      [[":status", "200"], ["Server", "x"]],
      'HTTP/2 response: uppercase letter in field name "Server"',
    ],
    [
      "connection-specific field is malformed",
      [[":status", "200"], ["connection", "close"]],
      'HTTP/2 response: connection-specific field "connection"',
    ],
    [
      "LF in a value is malformed",
      [[":status", "200"], ["x-a", "a\nb"]],
      'HTTP/2 response: field "x-a" value "a\\nb" contains 0x0a',
    ],
    [
      "differing content-length values are malformed",
      [[":status", "200"], ["content-length", "1"], ["content-length", "2"]],
      'HTTP/2 response: differing content-length values "1" and "2"',
    ],
  ];
  for (const [name, list, reason] of cases) {
    test(name, () => expectFault(readResponseFields(list), reason));
  }

  test("a valid response: content-length merged out of the fields", () => {
    const r: H2ResponseHead | Invalid = readResponseFields([
      [":status", "200"],
      ["content-length", "5"],
      ["content-type", "text/plain"],
      ["content-length", "5"],
    ]);
    assert.deepEqual(r, {
      status: 200,
      fields: [["content-type", "text/plain"]],
      contentLength: 5,
    });
  });
});

// ---- randomized ----

const NAMES = [
  "Content-Length",
  "Transfer-Encoding",
  "Connection",
  "Keep-Alive",
  "Upgrade",
  "TE",
  "Server",
  "X-Foo",
  "Set-Cookie",
  "content-length",
];
const VALUES = ["5", "0", "chunked", "gzip, chunked", "close", "close, X-Foo", "keep-alive", "a"];
const STATUSES = ["200", "204", "101", "103", "304", "404", "500", "999"];

function randomResponse(rng: Prng): Uint8Array {
  const lines = [`HTTP/1.${rng.int(2)} ${rng.pick(STATUSES)} X`];
  for (let n = rng.int(6); n > 0; n--) {
    const value = rng.int(8) === 0
      ? Array.from({ length: rng.int(5) }, () => String.fromCharCode(rng.int(256))).join("")
      : rng.pick(VALUES);
    lines.push(`${rng.pick(NAMES)}:${rng.int(2) === 0 ? " " : ""}${value}`);
  }
  return ascii(`${lines.join("\r\n")}\r\n\r\n`);
}

test("randomized: response heads never throw; translated ones read back as HTTP/2 (50,000)", () => {
  const seed = 0x9113_0806;
  const rng = mulberry32(seed);
  let translated = 0;
  for (let i = 0; i < 50_000; i++) {
    const label = `seed ${seed} case ${i}`;
    const bytes = randomResponse(rng);
    try {
      const parsed = sniffHttpResponseHead(bytes, { maxHead: 65536 });
      if (parsed.kind !== "match") continue;
      const list = h2ResponseFields(parsed.value);
      if ("kind" in list) {
        assert.match(list.reason, /^HTTP\/2 response: ./, label);
        continue;
      }
      translated++;
      const back = readResponseFields(list);
      if ("kind" in back) assert.fail(`${label}: ${JSON.stringify(list)} gave ${back.reason}`);
      assert.equal(back.status, parsed.value.status, label);
      assert.equal(back.contentLength, parsed.value.contentLength, label);
      // Shuffled, the same fields must still give a value or a reason, never an exception.
      const shuffled = [...list].sort(() => rng.next() - 0.5);
      const r = readResponseFields(shuffled);
      if ("kind" in r) assert.match(r.reason, /^HTTP\/2 response: ./, label);
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.fail(`${label}: threw ${e}`);
    }
  }
  assert.ok(translated > 10_000, `only ${translated} translated heads`);
});
