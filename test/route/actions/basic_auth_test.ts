/**
 * Basic authentication against bcrypt hashes. bcrypt's calls are counted (by wrapping the
 * shared bcryptjs module's compare) rather than timed: that a cached value costs no bcrypt,
 * and that an unknown user costs one of the same cost as a known one, are facts about calls.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { afterEach, beforeEach, describe, test } from "node:test";
import bcrypt from "bcryptjs";
import { BasicAuthChecker, challenge, parseBasic } from "../../../src/route/actions/basic_auth.ts";
import { mulberry32 } from "../../helpers/prng.ts";

// Cost 4, the lowest bcrypt allows, keeps the suite fast; the cost is in the hash, so the
// checker behaves the same with the cost-12 hashes of hash-password.
const ALICE = bcrypt.hashSync("wonderland", 4);
const BOB = bcrypt.hashSync("pässwörd:with colon", 5);
const auth = {
  realm: "admin",
  users: new Map([["alice", ALICE], ["bob", BOB]]),
};

const basic = (userPass: string) => `Basic ${Buffer.from(userPass, "utf8").toString("base64")}`;

/** The hashes bcrypt.compare was called with, while a test runs. */
let compared: string[] = [];
const realCompare = bcrypt.compare;

beforeEach(() => {
  compared = [];
  // The default export is a plain object shared with the module under test.
  (bcrypt as { compare: unknown }).compare = (password: string, hash: string) => {
    compared.push(hash);
    return realCompare(password, hash);
  };
});

afterEach(() => {
  (bcrypt as { compare: unknown }).compare = realCompare;
});

describe("BasicAuthChecker", () => {
  test("the right password passes; a wrong one, another user's or none does not", async () => {
    const c = new BasicAuthChecker(auth);
    assert.equal(await c.check(basic("alice:wonderland")), true);
    assert.equal(await c.check(basic("bob:pässwörd:with colon")), true);
    assert.equal(await c.check(basic("alice:wonderlanD")), false);
    assert.equal(await c.check(basic("bob:wonderland")), false);
    assert.equal(await c.check(basic("alice:")), false);
    assert.equal(await c.check(null), false);
    assert.equal(await c.authenticate(basic("bob:pässwörd:with colon")), "bob");
  });

  test("an unknown user costs one bcrypt at the users' highest cost, and fails", async () => {
    const c = new BasicAuthChecker(auth);
    assert.equal(await c.check(basic("mallory:wonderland")), false);
    assert.equal(compared.length, 1);
    assert.equal(bcrypt.getRounds(compared[0]), 5);
    // A known user with a wrong password: also exactly one compare.
    assert.equal(await c.check(basic("alice:nope")), false);
    assert.equal(compared.length, 2);
    assert.equal(compared[1], ALICE);
  });

  test("a success is cached by the exact header value: no bcrypt the second time", async () => {
    const c = new BasicAuthChecker(auth);
    const h = basic("alice:wonderland");
    assert.equal(await c.check(h), true);
    assert.equal(compared.length, 1);
    for (let i = 0; i < 5; i++) assert.equal(await c.check(h), true);
    assert.equal(compared.length, 1);
    // Another spelling of the same credentials is another value: checked again.
    assert.equal(await c.check(h.replace("Basic ", "basic  ")), true);
    assert.equal(compared.length, 2);
    // Failures are not cached.
    const wrong = basic("alice:x");
    assert.equal(await c.check(wrong), false);
    assert.equal(await c.check(wrong), false);
    assert.equal(compared.length, 4);
  });

  test("the same value checked concurrently costs one bcrypt", async () => {
    const c = new BasicAuthChecker(auth);
    const h = basic("alice:wonderland");
    const results = await Promise.all([c.check(h), c.check(h), c.check(h)]);
    assert.deepEqual(results, [true, true, true]);
    assert.equal(compared.length, 1);
    const bad = basic("alice:wrong");
    assert.deepEqual(await Promise.all([c.check(bad), c.check(bad)]), [false, false]);
    assert.equal(compared.length, 2);
    // Settled checks are forgotten: a wrong value is checked again next time.
    assert.equal(await c.check(bad), false);
    assert.equal(compared.length, 3);
  });

  test("the cache is bounded, least recently used out first", async () => {
    const c = new BasicAuthChecker(auth, 2);
    const a1 = basic("alice:wonderland");
    const a2 = `Basic  ${basic("alice:wonderland").slice(6)}`;
    const b = basic("bob:pässwörd:with colon");
    assert.equal(await c.check(a1), true);
    assert.equal(await c.check(a2), true);
    assert.equal(await c.check(a1), true); // a1 used again: a2 is now the oldest
    assert.equal(compared.length, 2);
    assert.equal(await c.check(b), true); // evicts a2
    assert.equal(compared.length, 3);
    assert.equal(await c.check(a1), true);
    assert.equal(compared.length, 3);
    assert.equal(await c.check(a2), true);
    assert.equal(compared.length, 4);
  });

  test("malformed values fail without any bcrypt", async () => {
    const c = new BasicAuthChecker(auth);
    const bad = [
      "",
      "Basic",
      "Basic ",
      "Bearer abc",
      "Basicx YWxpY2U6d29uZGVybGFuZA==",
      "Basic YWxpY2U6d29uZGVybGFuZA", // unpadded
      "Basic YWxpY2U6d29uZGVybGFuZA==x",
      "Basic YWxp!2U6d29uZGVybGFuZA==",
      `Basic ${Buffer.from("alice-wonderland").toString("base64")}`, // no colon
      `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString("base64")}`, // not UTF-8
    ];
    for (const h of bad) assert.equal(await c.check(h), false, h);
    assert.equal(compared.length, 0);
  });

  test("a malformed hash in the users fails instead of throwing", async () => {
    const c = new BasicAuthChecker({ realm: "r", users: new Map([["eve", "$2b$04$short"]]) });
    assert.equal(await c.check(basic("eve:x")), false);
  });

  test("the scheme is case-insensitive and trailing spaces are ignored", async () => {
    const c = new BasicAuthChecker(auth);
    const token = Buffer.from("alice:wonderland").toString("base64");
    assert.equal(await c.check(`BASIC ${token}`), true);
    assert.equal(await c.check(`basic ${token}  `), true);
  });
});

describe("challenge and parseBasic", () => {
  test("WWW-Authenticate with the realm quoted and UTF-8 announced", () => {
    assert.equal(challenge("admin"), 'Basic realm="admin", charset="UTF-8"');
    assert.equal(challenge('a "b" \\c'), 'Basic realm="a \\"b\\" \\\\c", charset="UTF-8"');
    assert.equal(new BasicAuthChecker(auth).challenge, challenge("admin"));
  });

  test("seeded random credentials round-trip; edited values never throw", () => {
    const rand = mulberry32(401);
    const alphabet = [..."abcXYZ09 :é€😀\t~"];
    for (let i = 0; i < 2000; i++) {
      let user = "";
      let password = "";
      for (let n = rand.int(8); n > 0; n--) user += rand.pick(alphabet.filter((c) => c !== ":"));
      for (let n = rand.int(12); n > 0; n--) password += rand.pick(alphabet);
      const header = basic(`${user}:${password}`);
      assert.deepEqual(parseBasic(header), { user, password });
      const chars = [...header];
      const at = rand.int(chars.length);
      chars[at] = rand.pick([..."A=/+ !:"]);
      const edited = parseBasic(chars.join(""));
      assert.ok(edited === null || typeof edited.user === "string");
    }
  });
});
