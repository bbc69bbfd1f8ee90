/** OutputBatch: one write per turn, the socket's backpressure reported, nothing after close. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { OutputBatch } from "../../src/h2/output_batch.ts";

class Socket {
  readonly writes: number[][] = [];
  accepts = true;
  fulls = 0;
  readonly batch = new OutputBatch((bytes) => {
    this.writes.push([...bytes]);
    return this.accepts;
  }, () => this.fulls++);
}

/** Lets the batch's microtask run. */
function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

describe("OutputBatch", () => {
  test("frames emitted in one turn go out in one write, in order, after the turn", async () => {
    const s = new Socket();
    s.batch.emit(Uint8Array.of(1, 2));
    s.batch.emit(Uint8Array.of(3));
    s.batch.emit(Uint8Array.of(4, 5));
    assert.deepEqual(s.writes, [], "nothing is written synchronously");
    await turn();
    assert.deepEqual(s.writes, [[1, 2, 3, 4, 5]]);
    s.batch.emit(Uint8Array.of(6));
    await turn();
    assert.deepEqual(s.writes, [[1, 2, 3, 4, 5], [6]]);
  });

  test("a write the socket queued is reported, once per write", async () => {
    const s = new Socket();
    s.accepts = false;
    s.batch.emit(Uint8Array.of(1));
    await turn();
    assert.equal(s.fulls, 1);
    s.accepts = true;
    s.batch.emit(Uint8Array.of(2));
    await turn();
    assert.equal(s.fulls, 1);
  });

  test("flush writes at once, and the queued flush then finds nothing", async () => {
    const s = new Socket();
    s.batch.emit(Uint8Array.of(1));
    s.batch.flush();
    assert.deepEqual(s.writes, [[1]]);
    await turn();
    assert.deepEqual(s.writes, [[1]]);
  });

  test("after close, what was emitted before still goes and later frames are dropped", async () => {
    const s = new Socket();
    s.batch.emit(Uint8Array.of(1));
    s.batch.close();
    s.batch.emit(Uint8Array.of(2));
    s.batch.flush();
    s.batch.emit(Uint8Array.of(3));
    await turn();
    assert.deepEqual(s.writes, [[1]]);
  });
});
