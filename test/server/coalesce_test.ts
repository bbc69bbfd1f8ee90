/**
 * coalesced(): runs never overlap, a call during a run gets one more run after it (however
 * many calls came), and a failed run neither hides the follow-up nor blocks later calls.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { coalesced } from "../../src/server/coalesce.ts";

/** One run of a {@link Gated} function, which the test ends. */
interface Run {
  end(): void;
  fail(err: Error): void;
}

/** A function whose runs wait for the test to end them; it notes any overlap. */
class Gated {
  readonly runs: Run[] = [];
  active = 0;
  overlapped = false;
  #waiters: (() => void)[] = [];

  readonly fn = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (this.active > 0) this.overlapped = true;
      this.active++;
      this.runs.push({
        end: () => {
          this.active--;
          resolve();
        },
        fail: (err) => {
          this.active--;
          reject(err);
        },
      });
      for (const w of this.#waiters.splice(0)) w();
    });

  /** Run number `i` (from 0), once it has started. */
  async run(i: number): Promise<Run> {
    while (this.runs.length <= i) await new Promise<void>((r) => this.#waiters.push(r));
    return this.runs[i];
  }
}

/** Whether `p` has settled, as far as the microtasks queued so far tell. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  await new Promise((r) => setTimeout(r, 0));
  return done;
}

describe("coalesced", () => {
  test("a call when idle starts a run at once; its promise settles when the run ends", async () => {
    const g = new Gated();
    const call = coalesced(g.fn);
    const p = call();
    assert.equal(g.runs.length, 1, "started synchronously");
    assert.equal(await settled(p), false);
    g.runs[0].end();
    await p;
    assert.equal(g.runs.length, 1);
  });

  test("any number of calls during a run make one more run, after it ends", async () => {
    const g = new Gated();
    const call = coalesced(g.fn);
    const first = call();
    const during = [call(), call(), call()];
    assert.equal(g.runs.length, 1, "nothing runs beside the first");
    g.runs[0].end();
    await first;
    // Not settled by the first run: it may have read what the calls were about too early.
    assert.equal(await settled(Promise.race(during)), false);
    const second = await g.run(1);
    assert.equal(g.overlapped, false);
    second.end();
    await Promise.all(during);
    assert.equal(g.runs.length, 2, "the calls collapsed into one run");

    // Idle again: the next call runs at once.
    const later = call();
    assert.equal(g.runs.length, 3);
    g.runs[2].end();
    await later;
  });

  test("a call during the follow-up run makes another one after it", async () => {
    const g = new Gated();
    const call = coalesced(g.fn);
    void call();
    const second = call();
    g.runs[0].end();
    const run1 = await g.run(1);
    const third = call();
    assert.notEqual(third, second);
    run1.end();
    await second;
    assert.equal(await settled(third), false);
    (await g.run(2)).end();
    await third;
    assert.equal(g.runs.length, 3);
    assert.equal(g.overlapped, false);
  });

  test("a failed run rejects its callers' promises; the follow-up still runs", async () => {
    const g = new Gated();
    const call = coalesced(g.fn);
    const first = call();
    const second = call();
    g.runs[0].fail(new Error("config unreadable"));
    await assert.rejects(first, /config unreadable/);
    (await g.run(1)).end();
    await second;
    const third = call();
    assert.equal(g.runs.length, 3, "not stuck after the failure");
    g.runs[2].end();
    await third;
  });

  test("fn throwing before it returns a promise is a failed run, not a stuck one", async () => {
    let calls = 0;
    const call = coalesced((): Promise<void> => {
      calls++;
      if (calls === 1) throw new Error("thrown synchronously");
      return Promise.resolve();
    });
    await assert.rejects(call(), /thrown synchronously/);
    await call();
    assert.equal(calls, 2);
  });
});
