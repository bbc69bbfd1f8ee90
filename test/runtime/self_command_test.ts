/**
 * `Runtime.argv()` and `Runtime.selfCommand()`: the command that re-runs this program (a
 * worker is started with it). The compiled-binary case is covered by
 * test/integration/executable_test.ts.
 */

import assert from "node:assert/strict";
import process from "node:process";
import { describe, test } from "node:test";
import { runtime } from "../../src/runtime/mod.ts";
import { isBun, runtimeName } from "../helpers/runtime.ts";

describe("selfCommand", () => {
  test("the adapter is this runtime's", () => {
    assert.equal(runtime.name, runtimeName);
  });

  test("argv: what follows the script", () => {
    // Under a test runner that is the runner's own arguments; only its type is certain.
    assert.ok(runtime.argv().every((a) => typeof a === "string"));
  });

  test("runs this runtime on this script with the same arguments", () => {
    const [cmd, args] = runtime.selfCommand(["run", "-c", "x.yaml"]);
    assert.equal(cmd, process.execPath);
    assert.deepEqual(args.slice(-4), [process.argv[1], "run", "-c", "x.yaml"]);
    if (!isBun) assert.deepEqual(args.slice(0, 3), ["run", "-A", "--unstable-net"]);
  });
});
