/** Redirect locations (https and templates) and the answers carrying them, on both protocols. */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, test } from "node:test";
import type { RedirectAction } from "../../../src/config/types.ts";
import { HEAD_LIMITS, sniffHttpRequestHead } from "../../../src/http1/request_head.ts";
import { sniffHttpResponseHead } from "../../../src/http1/response_head.ts";
import {
  redirectFields,
  redirectLocation,
  redirectResponse,
} from "../../../src/route/actions/redirect.ts";
import { mulberry32 } from "../../helpers/prng.ts";

const https: RedirectAction = { to: "https", status: 308 };
const to = (t: string): RedirectAction => ({ to: t, status: 301 });

/** The routing host and target of a raw request head, as the session would pass them. */
function request(raw: string) {
  const r = sniffHttpRequestHead(Buffer.from(raw, "latin1"), HEAD_LIMITS);
  assert.equal(r.kind, "match", raw);
  if (r.kind !== "match") throw new Error("unreachable");
  return r.value;
}

describe("redirectLocation", () => {
  test("https keeps host without port, path and query", () => {
    assert.equal(
      redirectLocation(https, request("GET /a/b?x=1&y HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n")),
      "https://example.com/a/b?x=1&y",
    );
    assert.equal(
      redirectLocation(https, request("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")),
      "https://example.com/",
    );
    // An empty query is kept: "/?" is what the client asked for.
    assert.equal(redirectLocation(https, { host: "a", target: "/p?" }), "https://a/p?");
  });

  test("an IPv6 host stays in brackets, without its port", () => {
    assert.equal(
      redirectLocation(https, request("GET /x HTTP/1.1\r\nHost: [2001:DB8::1]:80\r\n\r\n")),
      "https://[2001:db8::1]/x",
    );
    assert.equal(
      redirectLocation(https, request("GET /x HTTP/1.1\r\nHost: 192.0.2.7:80\r\n\r\n")),
      "https://192.0.2.7/x",
    );
  });

  test("an absolute-form target gives its host, path and query", () => {
    const req = request("GET http://Other.example:81/p?q HTTP/1.1\r\nHost: other.example\r\n\r\n");
    assert.equal(redirectLocation(https, req), "https://other.example/p?q");
    assert.equal(redirectLocation(https, { host: "a", target: "http://a" }), "https://a/");
    assert.equal(redirectLocation(https, { host: "a", target: "http://a?q" }), "https://a/?q");
    assert.equal(redirectLocation(https, { host: "a", target: "*" }), "https://a/");
  });

  test("templates expand {host} {path} {query} {uri}; other braces stay", () => {
    const req = { host: "old.example.com", target: "/docs/x?lang=en" };
    assert.equal(
      redirectLocation(to("https://new.example.com{uri}"), req),
      "https://new.example.com/docs/x?lang=en",
    );
    assert.equal(
      redirectLocation(to("https://{host}/v2{path}#{query}{nope}"), req),
      "https://old.example.com/v2/docs/x#lang=en{nope}",
    );
    assert.equal(
      redirectLocation(to("https://x{path}?from={host}&{query}"), { host: "h", target: "/p" }),
      "https://x/p?from=h&",
    );
    assert.equal(
      redirectLocation(to("https://fixed/"), { host: null, target: "/" }),
      "https://fixed/",
    );
  });

  test("no host (HTTP/1.0 without Host): null where the host is needed", () => {
    const req = request("GET /x HTTP/1.0\r\n\r\n");
    assert.equal(req.host, null);
    assert.equal(redirectLocation(https, req), null);
    assert.equal(redirectLocation(to("https://a.example{uri}"), req), "https://a.example/x");
  });

  test("seeded random targets: {uri} is {path} plus ?{query} when the target has a '?'", () => {
    const rand = mulberry32(308);
    const chars = "ab/?=&%20.";
    for (let i = 0; i < 2000; i++) {
      let target = "/";
      for (let n = rand.int(12); n > 0; n--) target += rand.pick([...chars]);
      const req = { host: "h", target };
      const uri = redirectLocation(to("{uri}"), req);
      const path = redirectLocation(to("{path}"), req)!;
      const query = redirectLocation(to("{query}"), req)!;
      assert.equal(uri, target, target);
      assert.equal(path, target.split("?")[0]);
      assert.equal(query, target.includes("?") ? target.slice(target.indexOf("?") + 1) : "");
      assert.ok(!path.includes("?"));
    }
  });
});

describe("redirect answers", () => {
  test("HTTP/1.1: status line with reason, Location, empty body, parsed back", () => {
    for (
      const [status, reason] of [
        [301, "Moved Permanently"],
        [302, "Found"],
        [303, "See Other"],
        [307, "Temporary Redirect"],
        [308, "Permanent Redirect"],
      ] as const
    ) {
      const bytes = redirectResponse(status, "https://a/x?y");
      assert.equal(
        Buffer.from(bytes).toString("latin1"),
        `HTTP/1.1 ${status} ${reason}\r\nLocation: https://a/x?y\r\nContent-Length: 0\r\n\r\n`,
      );
      const r = sniffHttpResponseHead(bytes, HEAD_LIMITS);
      assert.equal(r.kind, "match");
      if (r.kind === "match") {
        assert.equal(r.length, bytes.length);
        assert.equal(r.value.status, status);
        assert.equal(r.value.contentLength, 0);
        assert.equal(r.value.connectionClose, false);
      }
    }
  });

  test("HTTP/1.1 with close, and obs-text of the target kept byte for byte", () => {
    const bytes = redirectResponse(308, "https://a/caf\xe9", true);
    assert.deepEqual(
      [...bytes.subarray(bytes.indexOf(0xe9) - 3, bytes.indexOf(0xe9) + 1)],
      [0x63, 0x61, 0x66, 0xe9],
    );
    const r = sniffHttpResponseHead(bytes, HEAD_LIMITS);
    assert.equal(r.kind === "match" && r.value.connectionClose, true);
  });

  test("HTTP/2 header list", () => {
    assert.deepEqual(redirectFields(301, "https://b/"), [
      [":status", "301"],
      ["location", "https://b/"],
      ["content-length", "0"],
    ]);
  });
});
