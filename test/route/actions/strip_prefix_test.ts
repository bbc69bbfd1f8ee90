/** strip_prefix: the prefix cut from the path, a leading "/" kept, the query untouched. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { stripMatchedPrefix, stripPrefix } from "../../../src/route/actions/strip_prefix.ts";
import { mulberry32 } from "../../helpers/prng.ts";

describe("stripPrefix", () => {
  test("the documented cases", () => {
    assert.equal(stripPrefix("/api/v1/x?y", "/api/"), "/v1/x?y");
    assert.equal(stripPrefix("/api/v1/x?y", "/api"), "/v1/x?y");
    assert.equal(stripPrefix("/api", "/api"), "/");
    assert.equal(stripPrefix("/api?q=1", "/api"), "/?q=1");
    assert.equal(stripPrefix("/api/", "/api/"), "/");
    assert.equal(stripPrefix("/apiv1", "/api"), "/v1");
    assert.equal(stripPrefix("/x", "/"), "/x");
    assert.equal(stripPrefix("/", "/"), "/");
  });

  test("no match: the target as it was", () => {
    assert.equal(stripPrefix("/api", "/api/"), "/api");
    assert.equal(stripPrefix("/other/api", "/api"), "/other/api");
    // The prefix must lie in the path, not run into the query.
    assert.equal(stripPrefix("/a?b", "/a?b"), "/a?b");
    assert.equal(stripPrefix("*", "/"), "*");
    assert.equal(stripPrefix("example.com:443", "/"), "example.com:443");
  });

  test("absolute form: scheme and authority kept", () => {
    assert.equal(stripPrefix("http://a:8/api/v1?q", "/api"), "http://a:8/v1?q");
    assert.equal(stripPrefix("http://a/api", "/api/"), "http://a/api");
    assert.equal(stripPrefix("http://a?q", "/"), "http://a?q");
  });

  test("stripMatchedPrefix takes the longest prefix the path starts with", () => {
    const prefixes = ["/api/", "/api/v1/", "/static"];
    assert.equal(stripMatchedPrefix("/api/v1/users?x", prefixes), "/users?x");
    assert.equal(stripMatchedPrefix("/api/v2/users", prefixes), "/v2/users");
    assert.equal(stripMatchedPrefix("/static", prefixes), "/");
    assert.equal(stripMatchedPrefix("/other", prefixes), "/other");
    assert.equal(stripMatchedPrefix("/ap?i/v1/", prefixes), "/ap?i/v1/");
  });

  test("seeded random: starts with '/', query kept, the path is what followed the prefix", () => {
    const rand = mulberry32(0x5717);
    const chars = "/a?b";
    const word = (max: number) => {
      let s = "";
      for (let n = rand.int(max); n > 0; n--) s += rand.pick([...chars]);
      return s;
    };
    for (let i = 0; i < 5000; i++) {
      const target = `/${word(10)}`;
      const prefix = `/${word(4).replaceAll("?", "")}`;
      const out = stripPrefix(target, prefix);
      const q = target.indexOf("?");
      const path = q < 0 ? target : target.slice(0, q);
      const query = q < 0 ? "" : target.slice(q);
      if (!path.startsWith(prefix)) {
        assert.equal(out, target, `${target} ${prefix}`);
        continue;
      }
      assert.ok(out.startsWith("/"), `${target} ${prefix} -> ${out}`);
      assert.ok(out.endsWith(query));
      const rest = path.slice(prefix.length);
      assert.equal(out, (rest.startsWith("/") ? rest : `/${rest}`) + query);
      assert.equal(stripMatchedPrefix(target, [prefix]), out);
    }
  });
});
