/**
 * writeStdout through a real pipe that its reader drains slowly: every byte arrives once and
 * in order, whether the runtime's stdout pipe blocks (Deno) or takes big writes in part (Bun).
 * Run directly, the file is the writer: it writes COUNT numbered lines of SIZE bytes in batches.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { writeStdout } from "../../src/log/stdout.ts";
import { scriptCommand } from "../helpers/runtime.ts";

const COUNT = 4000;
const SIZE = 1000;

function line(i: number): string {
  const head = `${i} `;
  return head + "x".repeat(SIZE - head.length - 1) + "\n";
}

if (process.argv[2] === "writer") {
  // Batches of 100 lines (100 KB): bigger than a pipe holds, so writes are taken in part.
  for (let i = 0; i < COUNT; i += 100) {
    let batch = "";
    for (let j = i; j < i + 100; j++) batch += line(j);
    writeStdout(batch);
  }
} else {
  describe("writeStdout", () => {
    test("a slow reader gets every line once, in order", async () => {
      const [cmd, args] = scriptCommand(fileURLToPath(import.meta.url), ["writer"]);
      const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
      const parts: Buffer[] = [];
      // Read in spurts, so that the pipe fills up while the writer is still writing.
      child.stdout!.on("data", (b: Buffer) => {
        parts.push(b);
        child.stdout!.pause();
        setTimeout(() => child.stdout!.resume(), 1);
      });
      const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
      assert.equal(code, 0);
      const text = Buffer.concat(parts).toString("latin1");
      assert.equal(text.length, COUNT * SIZE);
      const lines = text.split("\n").slice(0, -1);
      assert.equal(lines.length, COUNT);
      lines.forEach((l, i) => assert.equal(l + "\n", line(i), `line ${i}`));
    });
  });
}
