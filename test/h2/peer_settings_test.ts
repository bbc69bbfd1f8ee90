/**
 * PeerSettings on its own: SETTINGS frames built with frame.ts, applied to a real SendScheduler
 * (and its HPACK encoder) over plain streams; the frames it emits and the errors it reports
 * recorded.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FloodBudget } from "../../src/h2/flood_budget.ts";
import {
  errorName,
  FLAG,
  FRAME,
  type Frame,
  frame,
  SETTING,
  SETTINGS_ACK,
  settingsFrame,
  sniffFrame,
} from "../../src/h2/frame.ts";
import { PeerSettings } from "../../src/h2/peer_settings.ts";
import { newSender, type Sender, SendScheduler } from "../../src/h2/send_queue.ts";

/** The frame in `bytes` (one whole frame). */
function parse(bytes: Uint8Array): Frame {
  const r = sniffFrame(bytes, 1 << 24);
  assert.equal(r.kind, "match");
  return (r as { value: Frame }).value;
}

class Rig {
  readonly streams = new Map<number, Sender>();
  /** Frame types emitted, in order (SETTINGS ACK and the scheduler's DATA). */
  readonly out: string[] = [];
  readonly failures: [string, string][] = [];
  acks = 0;
  readonly send: SendScheduler<Sender>;
  readonly settings: PeerSettings<Sender>;

  constructor(peer: "client" | "server" = "client", maxControlFrames = 100) {
    const fail = (code: number, reason: string) => this.failures.push([errorName(code), reason]);
    const record = (bytes: Uint8Array) => {
      const f = parse(bytes);
      this.out.push(
        f.type === FRAME.DATA ? `DATA ${f.stream} ${f.payload.length}` : "SETTINGS ACK",
      );
      if (f.type !== FRAME.DATA) assert.deepEqual(bytes, SETTINGS_ACK);
    };
    this.send = new SendScheduler<Sender>({
      stream: (id) => this.streams.get(id),
      emit: record,
      ended: (s) => this.streams.delete(s.id),
      writable: () => {},
      fail,
      streamError: () => assert.fail("no stream errors here"),
    });
    this.settings = new PeerSettings(peer, {
      send: this.send,
      floods: new FloodBudget({ maxControlFrames, floodWindowMs: 60_000 }, peer, fail),
      streams: () => this.streams.values(),
      emit: record,
      fail,
      acknowledged: () => this.acks++,
    });
  }

  open(id: number): Sender {
    const s = { id, ...newSender(this.settings.initialWindow) };
    this.streams.set(id, s);
    return s;
  }

  apply(entries: [number, number][]): void {
    this.settings.receive(parse(settingsFrame(entries)));
  }
}

const ACK_FRAME = parse(SETTINGS_ACK);

describe("PeerSettings", () => {
  test("3.4: the first frame must be a SETTINGS frame, not its ACK; later ones may be anything", () => {
    const ping = parse(frame(FRAME.PING, 0, 0, new Uint8Array(8)));
    const client = new Rig("client");
    assert.equal(client.settings.inOrder(ping), false);
    const server = new Rig("server");
    assert.equal(server.settings.inOrder(ACK_FRAME), false);
    assert.equal(server.settings.seen, false);
    const fine = new Rig();
    assert.equal(fine.settings.inOrder(parse(settingsFrame([]))), true);
    assert.equal(fine.settings.seen, true);
    assert.equal(fine.settings.inOrder(ping), true);
    assert.deepEqual([...client.failures, ...server.failures], [
      ["PROTOCOL_ERROR", "PING before the client's SETTINGS"],
      ["PROTOCOL_ERROR", "SETTINGS ACK before the server's SETTINGS"],
    ]);
  });

  test("each SETTINGS frame is acknowledged; an ACK of ours is passed on once", () => {
    const r = new Rig();
    r.apply([]);
    r.apply([[SETTING.MAX_CONCURRENT_STREAMS, 7]]);
    r.settings.receive(ACK_FRAME);
    r.settings.receive(ACK_FRAME);
    assert.deepEqual(r.out, ["SETTINGS ACK", "SETTINGS ACK"]);
    assert.equal(r.acks, 1);
    assert.equal(r.settings.maxConcurrentStreams, 7);
    r.settings.receive(parse(frame(FRAME.SETTINGS, FLAG.ACK, 0, new Uint8Array(6))));
    assert.deepEqual(r.failures, [["FRAME_SIZE_ERROR", "SETTINGS ACK with a payload"]]);
  });

  test("a malformed payload is the frame codec's FRAME_SIZE_ERROR", () => {
    const r = new Rig();
    r.settings.receive(parse(frame(FRAME.SETTINGS, 0, 0, new Uint8Array(5))));
    assert.deepEqual(r.failures.map(([code]) => code), ["FRAME_SIZE_ERROR"]);
    assert.deepEqual(r.out, []);
  });

  test("HEADER_TABLE_SIZE goes to the scheduler's encoder: the next block signals the new size", () => {
    const r = new Rig();
    r.apply([[SETTING.HEADER_TABLE_SIZE, 0]]);
    assert.equal(r.send.encoder.encode([["x-a", "b"]])[0], 0x20);
  });

  test("ENABLE_PUSH: 0 or 1 from a client, only 0 from a server", () => {
    const client = new Rig("client");
    client.apply([[SETTING.ENABLE_PUSH, 1]]);
    client.apply([[SETTING.ENABLE_PUSH, 2]]);
    const server = new Rig("server");
    server.apply([[SETTING.ENABLE_PUSH, 0]]);
    server.apply([[SETTING.ENABLE_PUSH, 1]]);
    assert.deepEqual([...client.failures, ...server.failures], [
      ["PROTOCOL_ERROR", "SETTINGS_ENABLE_PUSH 2"],
      ["PROTOCOL_ERROR", "SETTINGS_ENABLE_PUSH 1 from a server"],
    ]);
  });

  test("MAX_FRAME_SIZE goes to the scheduler, within 2^14 to 2^24-1", () => {
    const r = new Rig();
    r.apply([[SETTING.MAX_FRAME_SIZE, 20_000]]);
    assert.equal(r.send.maxFrame, 20_000);
    r.apply([[SETTING.MAX_FRAME_SIZE, 16383]]);
    r.apply([[SETTING.MAX_FRAME_SIZE, 2 ** 24]]);
    assert.deepEqual(r.failures, [
      ["PROTOCOL_ERROR", "SETTINGS_MAX_FRAME_SIZE 16383"],
      ["PROTOCOL_ERROR", "SETTINGS_MAX_FRAME_SIZE 16777216"],
    ]);
    assert.equal(r.send.maxFrame, 20_000);
  });

  test("6.9.2: INITIAL_WINDOW_SIZE moves open streams' windows by the change, below zero too, and queued DATA goes", () => {
    const r = new Rig();
    r.apply([[SETTING.INITIAL_WINDOW_SIZE, 0]]);
    const s = r.open(1);
    assert.equal(s.sendWindow, 0);
    r.send.data(s, new Uint8Array(10), false);
    r.apply([[SETTING.INITIAL_WINDOW_SIZE, 4]]);
    assert.equal(s.sendWindow, 0, "4 went out");
    r.apply([[SETTING.INITIAL_WINDOW_SIZE, 1]]);
    assert.equal(s.sendWindow, -3);
    assert.equal(r.open(3).sendWindow, 1, "a new stream starts with the last value");
    assert.deepEqual(r.out, ["SETTINGS ACK", "SETTINGS ACK", "DATA 1 4", "SETTINGS ACK"]);
  });

  test("6.5.3: of several INITIAL_WINDOW_SIZE values in one frame the last holds", () => {
    const r = new Rig();
    const s = r.open(1);
    r.apply([
      [SETTING.INITIAL_WINDOW_SIZE, 900],
      [SETTING.INITIAL_WINDOW_SIZE, 7],
      [SETTING.INITIAL_WINDOW_SIZE, 50],
    ]);
    assert.equal(s.sendWindow, 50);
    assert.equal(r.settings.initialWindow, 50);
  });

  test("INITIAL_WINDOW_SIZE over 2^31-1, or taking a stream's window past it, is a FLOW_CONTROL_ERROR", () => {
    const r = new Rig();
    r.apply([[SETTING.INITIAL_WINDOW_SIZE, 2 ** 31]]);
    const s = r.open(1);
    s.sendWindow = 2 ** 31 - 100;
    // The largest value counts, even when a later one brings the window back.
    r.apply([[SETTING.INITIAL_WINDOW_SIZE, 65535 + 99], [SETTING.INITIAL_WINDOW_SIZE, 65535]]);
    assert.deepEqual(r.failures, [
      ["FLOW_CONTROL_ERROR", "SETTINGS_INITIAL_WINDOW_SIZE 2147483648 exceeds 2^31-1"],
    ]);
    r.apply([[SETTING.INITIAL_WINDOW_SIZE, 65535 + 100], [SETTING.INITIAL_WINDOW_SIZE, 65535]]);
    assert.deepEqual(r.failures.at(-1), [
      "FLOW_CONTROL_ERROR",
      "SETTINGS_INITIAL_WINDOW_SIZE 65635 takes stream 1's window past 2^31-1",
    ]);
    assert.equal(s.sendWindow, 2 ** 31 - 100, "left as it was");
  });

  test("SETTINGS frames count as frames without progress", () => {
    const r = new Rig("client", 2);
    r.apply([]);
    r.apply([]);
    r.apply([]);
    assert.deepEqual(r.failures.map(([code]) => code), ["ENHANCE_YOUR_CALM"]);
    assert.equal(r.out.length, 2);
  });
});
