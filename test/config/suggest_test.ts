import assert from "node:assert/strict";
import { test } from "node:test";
import { didYouMean, editDistance, suggest } from "../../src/config/suggest.ts";

test("edit distance counts an adjacent swap as one edit", () => {
  assert.equal(editDistance("host", "host"), 0);
  assert.equal(editDistance("hots", "host"), 1);
  assert.equal(editDistance("protocl", "protocol"), 1);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("kitten", "sitting"), 3);
});

test("suggest: close spellings, prefixes, and nothing for far words", () => {
  const keys = ["sni", "host", "alpn", "src", "to", "path_prefix", "health_check"];
  assert.equal(suggest("hots", keys), "host");
  assert.equal(suggest("Host", keys), "host");
  assert.equal(suggest("snii", keys), "sni");
  assert.equal(suggest("health", keys), "health_check");
  assert.equal(suggest("path-prefix", keys), "path_prefix");
  assert.equal(suggest("xyzzy", keys), undefined);
  // Two-letter words are one edit from many keys only by accident: stay quiet.
  assert.equal(suggest("ab", keys), undefined);
});

test("suggest: hint words from other proxies, even misspelled", () => {
  const hints = { backend: "to", use_backend: "to" };
  assert.equal(suggest("backend", ["to", "sni"], hints), "to");
  assert.equal(suggest("backnd", ["to", "sni"], hints), "to");
  assert.equal(suggest("use-backend", ["to", "sni"], hints), "to");
});

test("didYouMean formats the suggestion or nothing", () => {
  assert.equal(didYouMean("lisen", ["listen"]), ' (did you mean "listen"?)');
  assert.equal(didYouMean("zzz", ["listen"]), "");
});
