/**
 * The log lines as a reader of the access log sees them: one JSON object a line, time first,
 * then the fixed fields (a worker's id), then the record's own, in order; the same in text
 * format; nothing at all with the access log off, while events still go out.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AccessRecord } from "../../src/log/logger.ts";
import { Logger } from "../../src/log/logger.ts";

function record(extra: Partial<AccessRecord> = {}): AccessRecord {
  return {
    host: "app.test",
    method: "GET",
    path: '/a"b\\c\u0001',
    proto: undefined,
    status: 200,
    route: 0,
    backend: "app",
    server: null,
    bytes_in: 34,
    bytes_out: 150,
    duration_ms: 1,
    listener: "web",
    client: "[2001:db8::1]:4000",
    dst: "127.0.0.1:80",
    outcome: "ok",
    ...extra,
  };
}

/** A logger whose stdout and stderr are arrays of lines. */
function capture(
  fields: Record<string, unknown> = {},
  format: "json" | "text" = "json",
  on = true,
) {
  const out: string[] = [];
  const err: string[] = [];
  const split = (into: string[]) => (t: string) => into.push(...t.split("\n").slice(0, -1));
  const log = new Logger(format, fields, split(out), split(err), on);
  return { log, out, err };
}

describe("Logger", () => {
  test("an access line is the record as JSON, time and fixed fields first, undefined left out", () => {
    const { log, out } = capture({ worker: 2 });
    const rec = record();
    log.access(rec);
    log.flush();
    assert.equal(out.length, 1);
    const parsed = JSON.parse(out[0]);
    assert.deepEqual(Object.keys(parsed), [
      "time",
      "worker",
      ...Object.keys(rec).filter((k) => k !== "proto"),
    ]);
    assert.match(parsed.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Math.abs(Date.parse(parsed.time) - Date.now()) < 5_000);
    assert.deepEqual(
      { ...parsed, time: 0 },
      JSON.parse(JSON.stringify({ time: 0, worker: 2, ...rec })),
    );
  });

  test("without fixed fields the line starts with time and the record follows", () => {
    const { log, out } = capture();
    log.access(record());
    log.access(record({ status: 503, outcome: "no_route" }));
    log.flush();
    assert.equal(out.length, 2);
    assert.deepEqual(Object.keys(JSON.parse(out[0])).slice(0, 2), ["time", "host"]);
    assert.equal(JSON.parse(out[1]).outcome, "no_route");
  });

  test("text format: time first, then key=value for what is set", () => {
    const { log, out } = capture({}, "text");
    log.access(record({ server: "s1" }));
    log.flush();
    assert.match(out[0], /^\d{4}-\d\d-\d\dT\S+Z host=app\.test method=GET /);
    assert.ok(out[0].includes(" server=s1 "));
    assert.ok(!out[0].includes("proto="));
  });

  test("with the access log off, records are dropped and events still written", () => {
    const { log, out, err } = capture({}, "json", false);
    assert.equal(log.accessOn, false);
    log.access(record());
    log.event("info", "listening", { listeners: [] });
    log.flush();
    assert.deepEqual(out, []);
    assert.equal(err.length, 1);
    assert.equal(JSON.parse(err[0]).msg, "listening");
  });

  test("access lines wait for company: written together, soon after the first", async () => {
    const writes: string[] = [];
    const written = new Promise<void>((resolve) => {
      const log = new Logger("json", {}, (t) => {
        writes.push(t);
        resolve();
      }, () => {});
      log.access(record());
      log.access(record({ status: 404 }));
      assert.deepEqual(writes, [], "not written in the turn that made them");
    });
    await written;
    assert.equal(writes.length, 1, "one write for both lines");
    assert.equal(writes[0].split("\n").length - 1, 2);
  });

  test("access lines go out at once when a batch's worth waits", () => {
    const writes: string[] = [];
    const log = new Logger("json", {}, (t) => writes.push(t), () => {});
    const long = record({ path: `/${"x".repeat(1000)}` });
    let n = 0;
    while (writes.length === 0 && n < 1000) {
      log.access(long);
      n++;
    }
    assert.equal(writes.length, 1, `written within the turn, after ${n} lines`);
    // The line that took the text to 32 KiB or past it went out with the others.
    const lineLength = writes[0].length / n;
    assert.equal(writes[0].split("\n").length - 1, n);
    assert.ok(writes[0].length >= 32 * 1024 && writes[0].length - lineLength < 32 * 1024);
    log.flush();
    assert.equal(writes.length, 1, "nothing left over");
  });

  test("an event is written at the end of its turn, with the access lines made before it", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const log = new Logger("json", {}, (t) => out.push(t), (t) => err.push(t));
    log.access(record());
    log.event("warn", "something");
    assert.deepEqual([out, err], [[], []]);
    await new Promise((r) => setImmediate(r));
    assert.equal(err.length, 1);
    assert.equal(out.length, 1);
  });
});
