import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { errorResponse } from "../../src/http1/error_response.ts";

const td = new TextDecoder();

describe("errorResponse", () => {
  test("a text body with its length, closing the connection", () => {
    const text = td.decode(errorResponse(503, "no route for this host"));
    const [head, body] = text.split("\r\n\r\n");
    assert.match(head, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(head, /\r\nConnection: close(\r\n|$)/);
    assert.equal(body, "503 Service Unavailable: no route for this host\n");
    assert.match(head, new RegExp(`\\r\\nContent-Length: ${body.length}(\\r\\n|$)`));
  });

  test("for HEAD, the same head and no body (RFC 9110 section 9.3.2)", () => {
    const get = td.decode(errorResponse(503, "no route for this host"));
    const head = td.decode(errorResponse(503, "no route for this host", true));
    assert.ok(head.endsWith("\r\n\r\n"));
    assert.equal(head, get.slice(0, get.indexOf("\r\n\r\n") + 4));
  });
});
