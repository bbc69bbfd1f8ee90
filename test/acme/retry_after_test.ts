import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRetryAfter } from "../../src/acme/client.ts";

test("Retry-After in seconds", () => {
  assert.equal(parseRetryAfter("120"), 120_000);
  assert.equal(parseRetryAfter(" 0 "), 0);
});

test("Retry-After as an HTTP date, from now", () => {
  const now = Date.parse("Wed, 02 Dec 2026 10:00:00 GMT");
  assert.equal(parseRetryAfter("Wed, 02 Dec 2026 11:00:00 GMT", now), 3_600_000);
  assert.equal(parseRetryAfter("Wed, 02 Dec 2026 09:00:00 GMT", now), 0);
});

test("absent or unreadable Retry-After is null", () => {
  for (const v of [undefined, null, "", "soon", 12, "-5"]) assert.equal(parseRetryAfter(v), null);
});
