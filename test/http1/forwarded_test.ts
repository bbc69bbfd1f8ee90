import assert from "node:assert/strict";
import { test } from "node:test";
import type { ForwardedHeader } from "../../src/config/types.ts";
import { addForwarded, forwardedElement, forwardedLines } from "../../src/http1/forwarded.ts";
import { sniffHttpRequestHead } from "../../src/http1/request_head.ts";
import { expectMatch } from "../helpers/sniff.ts";

const ALL: ForwardedHeader[] = [
  "x-forwarded-for",
  "forwarded",
  "x-forwarded-proto",
  "x-forwarded-host",
];
const te = new TextEncoder();
const td = new TextDecoder("latin1");

/** Runs addForwarded the way the session does (with the parsed fields) and without them. */
function both(
  head: string,
  headers: ForwardedHeader[],
  client: string,
  proto: "http" | "https" = "http",
) {
  const bytes = te.encode(head);
  const parsed = expectMatch(sniffHttpRequestHead(bytes, { maxLine: 8192, maxHead: 32768 }));
  const facts = { client, proto, host: parsed.hostRaw };
  const fast = td.decode(addForwarded(bytes, headers, facts, parsed.headers));
  const slow = td.decode(addForwarded(bytes, headers, facts));
  return { fast, slow };
}

test("no forwarded fields from the client: the new ones go last, the same on both paths", () => {
  const { fast, slow } = both(
    "GET / HTTP/1.1\r\nHost: a.test:8080\r\nAccept: */*\r\n\r\n",
    ALL,
    "192.0.2.7",
  );
  assert.equal(
    fast,
    "GET / HTTP/1.1\r\nHost: a.test:8080\r\nAccept: */*\r\nX-Forwarded-For: 192.0.2.7\r\n" +
      'Forwarded: for=192.0.2.7;proto=http;host="a.test:8080"\r\nX-Forwarded-Proto: http\r\n' +
      "X-Forwarded-Host: a.test:8080\r\n\r\n",
  );
  assert.equal(slow, fast);
});

test("X-Forwarded-For and Forwarded are appended to the client's last field of that name", () => {
  const { fast } = both(
    "GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 198.51.100.1\r\nForwarded: for=198.51.100.1\r\n\r\n",
    ["x-forwarded-for", "forwarded"],
    "192.0.2.7",
  );
  assert.match(fast, /\r\nX-Forwarded-For: 198\.51\.100\.1, 192\.0\.2\.7\r\n/);
  assert.match(
    fast,
    /\r\nForwarded: for=198\.51\.100\.1, for=192\.0\.2\.7;proto=http;host=a\.test\r\n/,
  );
});

test("X-Forwarded-Proto and X-Forwarded-Host sent by the client are replaced, not trusted", () => {
  const { fast } = both(
    "GET / HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n\r\n",
    ["x-forwarded-proto", "x-forwarded-host"],
    "192.0.2.7",
  );
  assert.doesNotMatch(fast, /evil|X-Forwarded-Proto: https/);
  assert.match(fast, /X-Forwarded-Proto: http\r\nX-Forwarded-Host: a\.test\r\n\r\n$/);
});

test("IPv6 clients: bare in X-Forwarded-For, bracketed and quoted in Forwarded", () => {
  const { fast } = both(
    "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
    ["x-forwarded-for", "forwarded"],
    "2001:db8::1",
  );
  assert.match(fast, /X-Forwarded-For: 2001:db8::1\r\n/);
  assert.match(fast, /Forwarded: for="\[2001:db8::1\]";proto=http;host=a\.test\r\n/);
  assert.equal(
    forwardedElement({ client: "::1", proto: "https", host: null }),
    'for="[::1]";proto=https',
  );
});

test("nothing configured: the head is returned as it is", () => {
  const head = te.encode("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
  assert.equal(
    addForwarded(head, [], { client: "192.0.2.7", proto: "http", host: "a.test" }),
    head,
  );
});

test("forwardedLines: the fields to add when the client sent none, null when it sent one", () => {
  const facts = { client: "2001:db8::7", proto: "https" as const, host: "a.test" };
  const all: ForwardedHeader[] = [
    "x-forwarded-for",
    "forwarded",
    "x-forwarded-proto",
    "x-forwarded-host",
  ];
  assert.equal(
    forwardedLines(all, facts, [["accept", "*/*"]]),
    "X-Forwarded-For: 2001:db8::7\r\n" +
      'Forwarded: for="[2001:db8::7]";proto=https;host=a.test\r\n' +
      "X-Forwarded-Proto: https\r\nX-Forwarded-Host: a.test\r\n",
  );
  assert.equal(forwardedLines([], facts, [["accept", "*/*"]]), "");
  for (const name of ["x-forwarded-for", "Forwarded", "X-Forwarded-Proto", "x-forwarded-host"]) {
    assert.equal(forwardedLines(all, facts, [["accept", "*/*"], [name, "x"]]), null, name);
  }
});
