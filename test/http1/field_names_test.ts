import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { COMMON_NAMES, commonName } from "../../src/http1/field_names.ts";
import { TCHAR } from "../../src/http1/fields.ts";
import { mulberry32 } from "../helpers/prng.ts";

/** `name` inside other text, as a head parser sees it: the name's offsets in a line. */
function inLine(name: string): [string, number, number] {
  const text = `X: y\r\n${name}: value\r\n`;
  return [text, 6, 6 + name.length];
}

describe("commonName", () => {
  test("a common name in any case is its lower-case constant", () => {
    for (const name of ["Content-Length", "content-length", "CONTENT-LENGTH", "cOnTeNt-LeNgTh"]) {
      assert.equal(commonName(...inLine(name)), "content-length");
    }
    assert.equal(commonName(...inLine("Server")), "server");
    assert.equal(commonName(...inLine("TE")), "te");
    assert.equal(commonName(...inLine("X-Forwarded-For")), "x-forwarded-for");
  });

  test("other names, and near misses of common ones, are not recognized", () => {
    for (const name of ["X-Custom", "Content-Lengths", "Content_Length", "Hos", "Content~Length"]) {
      assert.equal(commonName(...inLine(name)), undefined, name);
    }
  });

  test("random tokens: recognized exactly when lower-casing gives a common name", () => {
    const tokens: string[] = [];
    for (let c = 0; c < 256; c++) if (TCHAR[c] === 1) tokens.push(String.fromCharCode(c));
    const rnd = mulberry32(0x5eed);
    for (let i = 0; i < 20000; i++) {
      // Half start from a common name with one or two characters changed, so that near
      // misses of the same length are tried often.
      let name: string;
      if (rnd.int(2) === 0) {
        const chars = [...rnd.pick(COMMON_NAMES)];
        for (let k = rnd.range(1, 2); k > 0; k--) chars[rnd.int(chars.length)] = rnd.pick(tokens);
        name = chars.join("");
      } else {
        name = Array.from({ length: rnd.range(1, 6) }, () => rnd.pick(tokens)).join("");
      }
      const lower = name.toLowerCase();
      const want = COMMON_NAMES.includes(lower) ? lower : undefined;
      assert.equal(commonName(...inLine(name)), want, JSON.stringify(name));
    }
  });
});
