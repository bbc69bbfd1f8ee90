/**
 * `switchyard hash-password` end to end: the CLI run as a subprocess under the runtime that
 * runs the tests, the password on its stdin, the hash it prints verified with bcryptjs.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import bcrypt from "bcryptjs";
import { exec } from "../helpers/clients.ts";
import { routerCommand } from "../helpers/router.ts";
import { runtimeName } from "../helpers/runtime.ts";

function hashPassword(stdin: string) {
  const [cmd, argv] = routerCommand(["hash-password"]);
  return exec(cmd, argv, 30_000, stdin);
}

/** The one hash line on stdout, checked for form and cost. */
function hashOf(stdout: string): string {
  assert.match(stdout, /^\$2b\$12\$[./A-Za-z0-9]{53}\n$/);
  return stdout.slice(0, -1);
}

describe(`hash-password (${runtimeName})`, () => {
  test("prints a cost-12 bcrypt hash of the line on stdin, trailing newline stripped", async () => {
    const r = await hashPassword("correct horse battery staple\n");
    assert.equal(r.code, 0, r.stderr);
    const hash = hashOf(r.stdout);
    assert.equal(bcrypt.getRounds(hash), 12);
    assert.equal(await bcrypt.compare("correct horse battery staple", hash), true);
    assert.equal(await bcrypt.compare("correct horse battery staple\n", hash), false);
  });

  test("CRLF, no newline at all, and UTF-8 passwords", async () => {
    const [crlf, bare] = await Promise.all([hashPassword("pä$$ wörd\r\n"), hashPassword("x:y")]);
    assert.equal(crlf.code, 0, crlf.stderr);
    assert.equal(await bcrypt.compare("pä$$ wörd", hashOf(crlf.stdout)), true);
    assert.equal(bare.code, 0, bare.stderr);
    assert.equal(await bcrypt.compare("x:y", hashOf(bare.stdout)), true);
  });

  test("only the first line is the password", async () => {
    const r = await hashPassword("first\nsecond\n");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await bcrypt.compare("first", hashOf(r.stdout)), true);
  });

  test("an empty password is refused: exit 1, a clear message, nothing on stdout", async () => {
    for (const input of ["", "\n", "\r\n"]) {
      const r = await hashPassword(input);
      assert.equal(r.code, 1, JSON.stringify(input));
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /hash-password: empty password on stdin/);
    }
  });

  test("a password bcrypt would truncate (over 72 bytes) is refused", async () => {
    const r = await hashPassword(`${"é".repeat(37)}\n`); // 74 bytes
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /longer than 72 bytes/);
  });

  test("the usage text lists the command", async () => {
    const [cmd, argv] = routerCommand(["--help"]);
    const r = await exec(cmd, argv, 30_000);
    assert.match(r.stdout, /switchyard hash-password .*stdin/);
  });
});
