/**
 * FileReloads: a valid file goes to `apply` as the very text read, and "reloaded" names the
 * file, the listener count and what `apply` adds; an invalid or unreadable file, or an `apply`
 * that throws, is one "reload failed: the old config keeps serving" event with the problems or
 * the error, and `apply` is not called for a file that did not load.
 */

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Logger } from "../../src/log/logger.ts";
import { FileReloads, type ValidLoad } from "../../src/server/file_reload.ts";

const VALID = `
listeners:
  a: { bind: "127.0.0.1:0", protocol: tcp, default: "127.0.0.1:9" }
  b: { bind: "127.0.0.1:0", protocol: tcp, default: "127.0.0.1:9" }
`;

/** FileReloads of a temp file holding `text` (none: the file does not exist). */
function reloadsOf(text?: string) {
  const file = join(mkdtempSync(join(tmpdir(), "switchyard-reload-")), "switchyard.yaml");
  if (text !== undefined) writeFileSync(file, text);
  const events: Record<string, unknown>[] = [];
  const log = new Logger("json", {}, () => {}, (t) => {
    for (const line of t.split("\n")) if (line !== "") events.push(JSON.parse(line));
  });
  return { file, events, log, reloads: new FileReloads(file, log) };
}

test("a valid file: apply gets the text read, reloaded names the file and what apply adds", async () => {
  const { file, events, log, reloads } = reloadsOf(VALID);
  const applied: ValidLoad[] = [];
  const ok = await reloads.run((loaded) => {
    applied.push(loaded);
    return Promise.resolve({ extra: 1 });
  });
  log.flush();
  assert.equal(ok, true);
  assert.equal(applied.length, 1);
  assert.equal(applied[0].source, VALID);
  assert.deepEqual([...applied[0].config.listeners.keys()], ["a", "b"]);
  assert.deepEqual(applied[0].problems, []);
  assert.deepEqual(reloads.counts, { ok: 1, failed: 0 });
  assert.equal(events.length, 1);
  assert.equal(events[0].msg, "reloaded");
  assert.equal(events[0].file, file);
  assert.equal(events[0].listeners, 2);
  assert.equal(events[0].extra, 1);
});

test("an invalid file: apply is not called, the problems are logged", async () => {
  const { file, events, log, reloads } = reloadsOf("listeners: [");
  const ok = await reloads.run(() => assert.fail("apply called"));
  log.flush();
  assert.equal(ok, false);
  assert.deepEqual(reloads.counts, { ok: 0, failed: 1 });
  assert.equal(events.length, 1);
  assert.equal(events[0].msg, "reload failed: the old config keeps serving");
  const problems = events[0].problems as string[];
  assert.ok(problems.length > 0);
  for (const p of problems) assert.ok(p.startsWith(`${file}:`), p);
});

test("an unreadable file: one problem at 1:1", async () => {
  const { file, events, log, reloads } = reloadsOf();
  assert.equal(await reloads.run(() => assert.fail("apply called")), false);
  log.flush();
  const problems = events[0].problems as string[];
  assert.equal(problems.length, 1);
  assert.match(problems[0], new RegExp(`^${file.replaceAll(".", "\\.")}:1:1: cannot read`));
});

test("apply throws: the error is logged, nothing counted as reloaded", async () => {
  const { events, log, reloads } = reloadsOf(VALID);
  const ok = await reloads.run(() => Promise.reject(new Error("bind refused")));
  log.flush();
  assert.equal(ok, false);
  assert.deepEqual(reloads.counts, { ok: 0, failed: 1 });
  assert.equal(events.length, 1);
  assert.equal(events[0].msg, "reload failed: the old config keeps serving");
  assert.equal(events[0].error, "bind refused");
});
