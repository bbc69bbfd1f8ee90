import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { Logger } from "../../src/log/logger.ts";
import {
  AcceptBurst,
  fdBudget,
  measureBudget,
  parseOpenFileLimit,
} from "../../src/proxy/fd_budget.ts";

const LIMITS = readFileSync(new URL("../fixtures/proc_limits.txt", import.meta.url), "utf8");

/** A real Logger whose event lines are collected, flushed by hand. */
function capture(): { log: Logger; events: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const log = new Logger("json", {}, () => {}, (t) => lines.push(...t.trimEnd().split("\n")));
  return {
    log,
    events: () => {
      log.flush();
      return lines.map((l) => JSON.parse(l));
    },
  };
}

describe("fd budget", () => {
  test("reads the soft open-files limit of a /proc limits text", () => {
    assert.equal(parseOpenFileLimit(LIMITS), 20000);
    assert.equal(
      parseOpenFileLimit("Max open files            unlimited            unlimited  files\n"),
      null,
    );
    assert.equal(parseOpenFileLimit(""), null);
  });

  test("the fds left after those in use, the reserve and one per server", () => {
    assert.equal(fdBudget(1024, 20, 4), 1024 - 20 - 32 - 4);
    assert.equal(fdBudget(40, 30, 4), 2, "never below one client and its backend");
  });

  test("this process's budget is finite and below its limit", () => {
    const { limit, budget } = measureBudget(0);
    assert.ok(limit !== null && limit > 0);
    assert.ok(budget < limit);
  });

  test("a burst of refusals is logged once, and its end once, with the count", () => {
    const { log, events } = capture();
    const b = new AcceptBurst(log, 100, 256);
    assert.equal(b.admit(98), true, "a client and its backend still fit");
    for (let i = 0; i < 500; i++) assert.equal(b.admit(99 + (i % 3)), false);
    assert.equal(b.admit(90), true, "under the budget is admitted");
    assert.equal(events().length, 1, "still one line: 90 is above three quarters");
    assert.equal(b.admit(74), true);
    const ev = events();
    assert.deepEqual(ev.map((e) => e.msg), [
      "file descriptors nearly exhausted: refusing new connections",
      "accepting again",
    ]);
    assert.equal(ev[0].fd_limit, 256);
    assert.equal(ev[1].refused, 500);
    assert.equal(b.admit(100), false);
    assert.equal(events().length, 3, "a later burst is logged again");
  });

  test("accept errors reported by the runtime open a burst too", () => {
    const { log, events } = capture();
    const b = new AcceptBurst(log, Infinity, null);
    for (let i = 0; i < 50; i++) b.error("web", new Error("Too many open files (os error 24)"));
    assert.equal(b.admit(10), true);
    const ev = events();
    assert.deepEqual(ev.map((e) => [e.msg, e.listener ?? e.accept_errors]), [
      ["accept failed", "web"],
      ["accepting again", 50],
    ]);
  });
});
