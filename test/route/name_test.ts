import assert from "node:assert/strict";
import { test } from "node:test";
import { normalizeName } from "../../src/route/name.ts";

test("normalizeName: case, port, trailing dot, IPv6 brackets", () => {
  assert.equal(normalizeName("Example.COM"), "example.com");
  assert.equal(normalizeName("example.com."), "example.com");
  assert.equal(normalizeName("example.com:8443"), "example.com");
  assert.equal(normalizeName("Example.com.:80"), "example.com");
  assert.equal(normalizeName("[::1]:8080"), "::1");
  assert.equal(normalizeName("[2001:DB8::1]"), "2001:db8::1");
  assert.equal(normalizeName("::1"), "::1");
  assert.equal(normalizeName("*.Example.com"), "*.example.com");
  assert.equal(normalizeName("192.0.2.1:80"), "192.0.2.1");
  assert.equal(normalizeName(""), "");
});

test("normalizeName is idempotent", () => {
  for (const s of ["A.b.", "[::1]:80", "x:1", "*.A.B.", "::1", "a..", "[", "[]"]) {
    assert.equal(normalizeName(normalizeName(s)), normalizeName(s), s);
  }
});
