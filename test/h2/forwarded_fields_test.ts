import assert from "node:assert/strict";
import { test } from "node:test";
import { addForwardedFields } from "../../src/h2/forwarded_fields.ts";

const FACTS = { client: "192.0.2.7", proto: "https" as const, host: "a.test" };

test("nothing configured: the list itself", () => {
  const fields: [string, string][] = [["accept", "*/*"]];
  assert.equal(addForwardedFields(fields, [], FACTS), fields);
});

test("new fields go last, in the order X-Forwarded-For, Forwarded, -Proto, -Host", () => {
  const out = addForwardedFields(
    [["accept", "*/*"]],
    ["x-forwarded-host", "forwarded", "x-forwarded-proto", "x-forwarded-for"],
    FACTS,
  );
  assert.deepEqual(out, [
    ["accept", "*/*"],
    ["x-forwarded-for", "192.0.2.7"],
    ["forwarded", "for=192.0.2.7;proto=https;host=a.test"],
    ["x-forwarded-proto", "https"],
    ["x-forwarded-host", "a.test"],
  ]);
});

test("a chain extends the last field of its name; proto and host from the client are replaced", () => {
  const out = addForwardedFields(
    [
      ["x-forwarded-for", "10.0.0.1"],
      ["x-forwarded-proto", "http"],
      ["x-forwarded-for", "10.0.0.2"],
      ["forwarded", "for=10.0.0.2"],
      ["x-forwarded-host", "evil.test"],
    ],
    ["x-forwarded-for", "forwarded", "x-forwarded-proto", "x-forwarded-host"],
    { client: "2001:db8::1", proto: "http", host: null },
  );
  assert.deepEqual(out, [
    ["x-forwarded-for", "10.0.0.1"],
    ["x-forwarded-for", "10.0.0.2, 2001:db8::1"],
    ["forwarded", 'for=10.0.0.2, for="[2001:db8::1]";proto=http'],
    ["x-forwarded-proto", "http"],
  ]);
});
