/**
 * Worker-mode plumbing: `--workers` parsing, `auto`, and log sinks whose writes never split a
 * line. (The command that re-runs this program: test/runtime/self_command_test.ts.)
 */

import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { coreCount, lineSafe, parseWorkersFlag, resolveWorkers } from "../../src/workers/spawn.ts";

describe("workers count", () => {
  test("--workers takes auto or 1 to 1024", () => {
    assert.deepEqual(parseWorkersFlag("auto"), { workers: "auto" });
    assert.deepEqual(parseWorkersFlag("4"), { workers: 4 });
    for (const bad of ["0", "-1", "1.5", "x", "", "1025", "2 "]) {
      const r = parseWorkersFlag(bad);
      assert.ok("error" in r, bad);
      assert.match(r.error, /^--workers must be auto or a number from 1 to 1024/);
    }
  });

  test("auto is one per core", () => {
    assert.ok(coreCount() >= 1);
    assert.equal(resolveWorkers("auto"), coreCount());
    assert.equal(resolveWorkers(3), 3);
  });
});

describe("lineSafe", () => {
  const collect = () => {
    const writes: string[] = [];
    return { writes, sink: lineSafe((t) => writes.push(t)) };
  };
  const bytes = (s: string) => new TextEncoder().encode(s).length;

  test("a small batch goes out in one write", () => {
    const { writes, sink } = collect();
    sink("a\nb\n");
    assert.deepEqual(writes, ["a\nb\n"]);
  });

  test("a large batch is cut at line ends into writes of at most 4096 bytes", () => {
    const { writes, sink } = collect();
    const lines = Array.from({ length: 200 }, (_, i) => `{"n":${i},"x":"${"é".repeat(i % 50)}"}\n`);
    sink(lines.join(""));
    assert.equal(writes.join(""), lines.join(""));
    assert.ok(writes.length > 1);
    for (const w of writes) {
      assert.ok(bytes(w) <= 4096, `${bytes(w)} bytes`);
      assert.ok(w.endsWith("\n"));
    }
  });

  test("a line longer than 4096 bytes goes alone, whole", () => {
    const { writes, sink } = collect();
    const long = "x".repeat(5000) + "\n";
    sink("a\n" + long + "b\n");
    assert.deepEqual(writes, ["a\n", long, "b\n"]);
  });

  test("a sink writing to a regular file is left as it is (the kernel keeps lines whole)", () => {
    const fd = openSync(join(mkdtempSync(join(tmpdir(), "switchyard-test-")), "log"), "w");
    try {
      const write = (_t: string) => {};
      assert.equal(lineSafe(write, fd), write);
    } finally {
      closeSync(fd);
    }
  });

  test("astral characters count four bytes", () => {
    const { writes, sink } = collect();
    const line = "😀".repeat(700) + "\n"; // 2801 bytes
    sink(line + line);
    assert.deepEqual(writes, [line, line]);
  });
});
