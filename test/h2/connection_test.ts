/**
 * H2Connection against RFC 9113, rule by rule, in the manner of h2spec (which cannot run here):
 * a client made of frame bytes (test/helpers/h2_frames.ts) talks to the state machine, and each
 * case checks the frames it answers with and the events its owner sees. Where the RFC leaves a
 * choice (stream or connection error), the case name says which one the connection makes.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_H2_LIMITS, type H2Limits } from "../../src/h2/connection.ts";
import { ERROR, errorName, FLAG, FRAME, SETTING } from "../../src/h2/frame.ts";
import { block as hpackBlock, indexed, literal, sizeUpdate } from "../helpers/hpack_block.ts";
import {
  continuation,
  data,
  goaway,
  H2Peer,
  headers,
  incrementOf,
  join,
  ping,
  plainBlock,
  PREFACE,
  priority,
  rawFrame,
  request,
  rstStream,
  settings,
  SETTINGS_ACK,
  settingsOf,
  settle,
  transcript,
  windowUpdate,
} from "../helpers/h2_frames.ts";
import { editBytes, mulberry32 } from "../helpers/prng.ts";

function limits(overrides: Partial<H2Limits> = {}): H2Limits {
  return { ...DEFAULT_H2_LIMITS, ...overrides };
}

/** A GET on `stream` as one HEADERS frame (END_STREAM unless `endStream` is false). */
function get(stream: number, endStream = true): Uint8Array {
  return headers(stream, plainBlock(request()), { endStream });
}

/** A POST on `stream` with a body to come (`extra`: more fields, e.g. content-length). */
function post(stream: number, extra: [string, string][] = []): Uint8Array {
  return headers(stream, plainBlock(request(extra, "POST")), { endStream: false });
}

const TRAILERS = plainBlock([["x-checksum", "abc"]]);

// ---- expectations ---------------------------------------------------------------------------------

/** The connection ended with GOAWAY `code` (the last frame it wrote) and then `closed`. */
function assertConnectionError(p: H2Peer, code: number, lastStream?: number): void {
  const goaways = p.goaways();
  assert.equal(goaways.length, 1, `one GOAWAY: ${transcript(p)}`);
  assert.equal(errorName(goaways[0].code), errorName(code), transcript(p));
  assert.equal(p.frames.at(-1)?.type, FRAME.GOAWAY, "GOAWAY is the last frame");
  if (lastStream !== undefined) assert.equal(goaways[0].lastStream, lastStream, "last stream");
  assert.ok(goaways[0].debug.length > 0, "the reason goes out as debug data");
  const closed = p.closedEvent();
  assert.ok(closed !== undefined, "closed fired");
  assert.equal(errorName(closed.code), errorName(code));
  assert.ok(p.conn.over);
  assert.equal(p.conn.activeStreams, 0);
  p.check();
}

/** RST_STREAM `code` on `stream`, the owner told if it knew the stream, and the connection lives. */
async function assertStreamError(
  p: H2Peer,
  { stream, code, told = true }: { stream: number; code: number; told?: boolean },
  since = 0,
  eventsSince = 0,
): Promise<void> {
  assert.deepEqual(p.goaways(), [], `no GOAWAY: ${transcript(p)}`);
  const rsts = p.rsts(since).filter(([s]) => s === stream);
  assert.deepEqual(
    rsts.map(([s, c]) => [s, errorName(c)]),
    [[stream, errorName(code)]],
    `one RST_STREAM on ${stream}: ${transcript(p)}`,
  );
  // The owner hears of it if the stream was live for it (not if it never saw it, or saw it end).
  const before = p.events.slice(0, eventsSince);
  const live = told && p.events.some((e) => e.kind === "request" && e.stream === stream) &&
    !before.some((e) => e.kind === "reset" && e.stream === stream);
  const resets = p.events.slice(eventsSince).filter((e) =>
    e.kind === "reset" && e.stream === stream
  );
  if (live) {
    assert.equal(resets.length, 1, "the owner is told the stream was reset");
    assert.equal(resets[0].kind === "reset" && errorName(resets[0].code), errorName(code));
  } else {
    assert.deepEqual(resets, [], "no reset for a stream the owner did not have");
  }
  assert.ok(await p.alive(), "the connection still answers PING");
  assert.equal(p.closedEvent(), undefined);
  p.check();
}

/** No error of any kind: the frames were accepted (or ignored) and the connection lives. */
async function assertFine(p: H2Peer, since = 0): Promise<void> {
  assert.deepEqual(p.goaways(), [], `no GOAWAY: ${transcript(p)}`);
  assert.deepEqual(p.rsts(since), [], `no RST_STREAM: ${transcript(p)}`);
  assert.ok(await p.alive(), "the connection still answers PING");
  p.check();
}

// ---- the table ------------------------------------------------------------------------------------

type Expect =
  | { connection: number; lastStream?: number }
  /** `told: false`: the stream had closed already, so its owner hears nothing more of it. */
  | { stream: number; code: number; told?: boolean }
  | "fine";

interface Case {
  readonly name: string;
  readonly limits?: Partial<H2Limits>;
  /** Skip the preface and SETTINGS exchange (the case sends its own). */
  readonly raw?: boolean;
  /** Runs after the handshake, before `frames` (open streams, answer them...). */
  readonly setup?: (p: H2Peer) => Promise<void> | void;
  /** Sent in one `receive` call. */
  readonly frames: (p: H2Peer) => Uint8Array[];
  readonly expect: Expect;
  /** More checks after the expectation held. */
  readonly then?: (p: H2Peer) => void;
}

/** Stream 1: a POST whose body is still coming (open). */
async function openPost(p: H2Peer): Promise<void> {
  p.send(post(1));
  await settle();
}

/** Stream 1: a GET that ended its request (half-closed remote), not answered yet. */
async function halfClosed(p: H2Peer): Promise<void> {
  p.send(get(1));
  await settle();
}

/** Stream 1 complete on both sides: request ended, response sent. */
async function closedNormally(p: H2Peer): Promise<void> {
  p.send(get(1));
  p.conn.respond(1, [[":status", "204"]], true);
  await settle();
}

/** Stream 1 reset by the client. */
async function resetByClient(p: H2Peer): Promise<void> {
  p.send(post(1), rstStream(1, ERROR.CANCEL));
  await settle();
}

const OPAQUE = [1, 2, 3, 4, 5, 6, 7, 8];

const CASES: Case[] = [
  // 3.4 HTTP/2 connection preface
  {
    name: "3.4: a wrong client preface is a PROTOCOL_ERROR",
    raw: true,
    frames: () => [new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")],
    expect: { connection: ERROR.PROTOCOL_ERROR, lastStream: 0 },
  },
  {
    name: "3.4: a preface that goes wrong after a correct start is a PROTOCOL_ERROR",
    raw: true,
    frames: () => [new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "3.4: a first frame other than SETTINGS is a PROTOCOL_ERROR",
    raw: true,
    frames: () => [PREFACE, ping(OPAQUE)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "3.4: a SETTINGS ACK as the first frame is a PROTOCOL_ERROR",
    raw: true,
    frames: () => [PREFACE, SETTINGS_ACK],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "3.4: a first HEADERS frame (no SETTINGS) is a PROTOCOL_ERROR",
    raw: true,
    frames: () => [PREFACE, get(1)],
    expect: { connection: ERROR.PROTOCOL_ERROR, lastStream: 0 },
    then: (p) => assert.deepEqual(p.eventsOf("request"), []),
  },

  // 4.1 frame format
  {
    name: "4.1: a frame of an unknown type is ignored",
    frames: () => [rawFrame(0xfa, 0xff, 1, [1, 2, 3])],
    expect: "fine",
  },
  {
    name: "4.1: undefined flags are ignored (HEADERS with 0xd2)",
    frames: () => [headers(1, plainBlock(request()), { endStream: true, extraFlags: 0xc2 })],
    expect: "fine",
    then: (p) => assert.equal(p.eventsOf("request")[0]?.stream, 1),
  },
  {
    name: "4.1: undefined flags on PING are ignored and it is answered",
    frames: () => [rawFrame(FRAME.PING, 0xfe, 0, OPAQUE)],
    expect: "fine",
    then: (p) =>
      assert.ok(p.frames.some((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0)),
  },
  {
    name: "4.1: the reserved bit of the stream identifier is ignored",
    frames: () => [headers(0x80000001, plainBlock(request()), { endStream: true })],
    expect: "fine",
    then: (p) => assert.equal(p.eventsOf("request")[0]?.stream, 1),
  },

  // 4.2 frame size
  {
    name: "4.2: DATA of exactly SETTINGS_MAX_FRAME_SIZE (16384) is accepted",
    frames: () => [post(1), data(1, 16384, { endStream: true })],
    expect: "fine",
    then: (p) => assert.deepEqual(p.eventsOf("body").map((e) => e.bytes), [16384]),
  },
  {
    name: "4.2: DATA larger than SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR (connection error)",
    frames: () => [post(1), data(1, 16385)],
    expect: { connection: ERROR.FRAME_SIZE_ERROR, lastStream: 1 },
  },
  {
    name: "4.2: an oversize frame is refused from its header, before its payload arrives",
    frames: () => [post(1), rawFrame(FRAME.DATA, 0, 1, [], 0xffffff)],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "4.2: HEADERS larger than SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR",
    frames: () => [
      headers(1, plainBlock(request([["x-big", "a".repeat(17000)]])), { endStream: true }),
    ],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },

  // 4.3 field section compression and decompression
  {
    name: "4.3: an undecodable header block is a COMPRESSION_ERROR",
    frames: () => [headers(1, Uint8Array.of(...indexed(200)), { endStream: true })],
    expect: { connection: ERROR.COMPRESSION_ERROR },
  },
  {
    name: "4.3: a header block with a truncated literal is a COMPRESSION_ERROR",
    frames: () => [headers(1, Uint8Array.of(0x00, 0x05, 0x61), { endStream: true })],
    expect: { connection: ERROR.COMPRESSION_ERROR },
  },
  {
    name:
      "4.3: a dynamic table size update above SETTINGS_HEADER_TABLE_SIZE (4096) is a COMPRESSION_ERROR",
    frames: () => [
      headers(1, hpackBlock(sizeUpdate(4097), [...plainBlock(request())]), { endStream: true }),
    ],
    expect: { connection: ERROR.COMPRESSION_ERROR },
  },
  {
    name: "4.3: a dynamic table size update after a field is a COMPRESSION_ERROR",
    frames: () => [
      headers(1, hpackBlock([...plainBlock(request())], sizeUpdate(0)), { endStream: true }),
    ],
    expect: { connection: ERROR.COMPRESSION_ERROR },
  },
  {
    name:
      "4.3: a header block on a stream the server reset is still decoded: a bad one is a COMPRESSION_ERROR",
    setup: async (p) => {
      await openPost(p);
      p.conn.reset(1, ERROR.INTERNAL_ERROR);
      await settle();
    },
    frames: () => [headers(1, Uint8Array.of(...indexed(99)), { endStream: true })],
    expect: { connection: ERROR.COMPRESSION_ERROR, lastStream: 1 },
  },
  {
    name: "4.3: a PRIORITY frame inside a header block is a PROTOCOL_ERROR",
    frames: () => [
      headers(1, plainBlock(request()), { endHeaders: false, endStream: true }),
      priority(1, 0),
    ],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "4.3: HEADERS of another stream inside a header block is a PROTOCOL_ERROR",
    frames: () => [
      headers(1, plainBlock(request()), { endHeaders: false, endStream: true }),
      get(3),
    ],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "5.5: an unknown frame type inside a header block is a PROTOCOL_ERROR",
    frames: () => [
      headers(1, plainBlock(request()), { endHeaders: false, endStream: true }),
      rawFrame(0xfa, 0, 1, [1]),
    ],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },

  // 5.1 stream states: idle
  {
    name: "5.1: DATA on an idle stream is a PROTOCOL_ERROR",
    frames: () => [data(1, 4)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "5.1: WINDOW_UPDATE on an idle stream is a PROTOCOL_ERROR",
    frames: () => [windowUpdate(1, 100)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "5.1: RST_STREAM on an idle stream is a PROTOCOL_ERROR",
    frames: () => [rstStream(1)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "5.1: CONTINUATION on an idle stream is a PROTOCOL_ERROR",
    frames: () => [continuation(1, plainBlock(request()))],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "5.1: PRIORITY on an idle stream is accepted",
    frames: () => [priority(5, 0)],
    expect: "fine",
  },
  {
    name: "5.1: a stream opened after a PRIORITY frame named it works",
    frames: () => [priority(1, 0), get(1)],
    expect: "fine",
    then: (p) => assert.equal(p.eventsOf("request").length, 1),
  },

  // 5.1 half-closed (remote)
  {
    name: "5.1: DATA on a half-closed (remote) stream is a STREAM_CLOSED stream error",
    setup: halfClosed,
    frames: () => [data(1, 4)],
    expect: { stream: 1, code: ERROR.STREAM_CLOSED },
  },
  {
    name: "5.1: HEADERS on a half-closed (remote) stream is a STREAM_CLOSED stream error",
    setup: halfClosed,
    frames: () => [headers(1, TRAILERS, { endStream: true })],
    expect: { stream: 1, code: ERROR.STREAM_CLOSED },
  },
  {
    name: "5.1: CONTINUATION on a half-closed (remote) stream is a PROTOCOL_ERROR",
    setup: halfClosed,
    frames: () => [continuation(1, TRAILERS)],
    expect: { connection: ERROR.PROTOCOL_ERROR, lastStream: 1 },
  },
  {
    name:
      "5.1: WINDOW_UPDATE, PRIORITY and RST_STREAM are allowed on a half-closed (remote) stream",
    setup: halfClosed,
    frames: () => [windowUpdate(1, 10), priority(1, 0, 200), rstStream(1, ERROR.CANCEL)],
    expect: "fine",
    then: (p) => assert.equal(p.eventsOf("reset")[0]?.code, ERROR.CANCEL),
  },

  // 5.1 closed
  {
    name: "5.1: DATA on a stream the client reset is a STREAM_CLOSED stream error",
    setup: resetByClient,
    frames: () => [data(1, 4)],
    expect: { stream: 1, code: ERROR.STREAM_CLOSED },
  },
  {
    name: "5.1: HEADERS on a stream the client reset is a STREAM_CLOSED connection error",
    setup: resetByClient,
    frames: () => [headers(1, TRAILERS, { endStream: true })],
    expect: { connection: ERROR.STREAM_CLOSED, lastStream: 1 },
  },
  {
    name: "5.1: CONTINUATION on a stream the client reset is a PROTOCOL_ERROR",
    setup: resetByClient,
    frames: () => [continuation(1, TRAILERS)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "5.1: DATA on a closed stream (both sides ended) is a STREAM_CLOSED stream error",
    setup: closedNormally,
    frames: () => [data(1, 4)],
    expect: { stream: 1, code: ERROR.STREAM_CLOSED, told: false },
  },
  {
    name: "5.1: HEADERS on a closed stream (both sides ended) is a STREAM_CLOSED connection error",
    setup: closedNormally,
    frames: () => [get(1)],
    expect: { connection: ERROR.STREAM_CLOSED },
  },
  {
    name: "5.1: PRIORITY, WINDOW_UPDATE and RST_STREAM on a closed stream are ignored",
    setup: closedNormally,
    frames: () => [priority(1, 0), windowUpdate(1, 5), rstStream(1, ERROR.CANCEL)],
    expect: "fine",
  },
  {
    name: "5.1: frames on a stream the server reset are ignored (DATA, trailers, WINDOW_UPDATE)",
    setup: async (p) => {
      await openPost(p);
      p.conn.reset(1, ERROR.INTERNAL_ERROR);
      await settle();
      p.take();
    },
    frames: () => [data(1, 10), headers(1, TRAILERS, { endStream: true }), windowUpdate(1, 1)],
    expect: "fine",
    then: (p) => {
      assert.deepEqual(p.eventsOf("body"), []);
      assert.deepEqual(p.eventsOf("trailers"), []);
    },
  },

  // 5.1.1 stream identifiers
  {
    name: "5.1.1: a stream opened with an even identifier is a PROTOCOL_ERROR",
    frames: () => [get(2)],
    expect: { connection: ERROR.PROTOCOL_ERROR, lastStream: 0 },
  },
  {
    name: "5.1.1: an even identifier below the last stream is a PROTOCOL_ERROR too",
    setup: halfClosed,
    frames: () => [get(3), get(2)],
    expect: { connection: ERROR.PROTOCOL_ERROR, lastStream: 3 },
  },
  {
    name: "5.1.1: a new stream numbered below a previous one is a PROTOCOL_ERROR",
    frames: () => [get(5), get(3)],
    expect: { connection: ERROR.PROTOCOL_ERROR, lastStream: 5 },
    then: (p) => assert.deepEqual(p.eventsOf("request").map((e) => e.stream), [5]),
  },
  {
    name: "5.1.1: streams may skip identifiers",
    frames: () => [get(1), get(7), get(101)],
    expect: "fine",
    then: (p) => assert.deepEqual(p.eventsOf("request").map((e) => e.stream), [1, 7, 101]),
  },

  // 5.1.2 stream concurrency
  {
    name:
      "5.1.2: a stream beyond SETTINGS_MAX_CONCURRENT_STREAMS is refused (REFUSED_STREAM stream error)",
    limits: { maxConcurrentStreams: 2 },
    frames: () => [get(1), post(3), get(5)],
    expect: { stream: 5, code: ERROR.REFUSED_STREAM },
    then: (p) => {
      assert.deepEqual(p.eventsOf("request").map((e) => e.stream), [1, 3]);
      assert.equal(p.conn.activeStreams, 2);
      assert.equal(settingsOf(p.frames[0]).get(SETTING.MAX_CONCURRENT_STREAMS), 2);
    },
  },

  // 5.3.1 stream dependencies
  {
    name: "5.3.1: HEADERS depending on its own stream is a PROTOCOL_ERROR stream error",
    frames: () => [
      headers(1, plainBlock(request()), { endStream: true, priority: { dependency: 1 } }),
    ],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
    then: (p) => assert.deepEqual(p.eventsOf("request"), []),
  },
  {
    name: "5.3.1: PRIORITY making an open stream depend on itself is a PROTOCOL_ERROR stream error",
    setup: openPost,
    frames: () => [priority(1, 1)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name:
      "5.3.1: PRIORITY making an idle stream depend on itself is a PROTOCOL_ERROR connection error (no RST_STREAM on idle streams)",
    frames: () => [priority(3, 3)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
    then: (p) => assert.deepEqual(p.rsts(), []),
  },

  // 6.1 DATA
  {
    name: "6.1: DATA on stream 0 is a PROTOCOL_ERROR",
    frames: () => [data(0, 4)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.1: DATA padding as long as the payload is a PROTOCOL_ERROR",
    setup: openPost,
    frames: () => [rawFrame(FRAME.DATA, FLAG.PADDED, 1, [4, 0, 0, 0])],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.1: a PADDED DATA frame too short for its Pad Length is a FRAME_SIZE_ERROR",
    setup: openPost,
    frames: () => [rawFrame(FRAME.DATA, FLAG.PADDED, 1, [])],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "6.1: padded DATA is passed on without its padding",
    setup: openPost,
    frames: () => [data(1, 10, { pad: 20, endStream: true })],
    expect: "fine",
    then: (p) =>
      assert.deepEqual(p.eventsOf("body").map((e) => [e.bytes, e.endStream]), [[10, true]]),
  },

  // 6.2 HEADERS
  {
    name: "6.2: HEADERS on stream 0 is a PROTOCOL_ERROR",
    frames: () => [headers(0, plainBlock(request()), { endStream: true })],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.2: padded HEADERS is decoded without its padding",
    frames: () => [headers(1, plainBlock(request()), { endStream: true, pad: 30 })],
    expect: "fine",
    then: (p) => assert.deepEqual(p.eventsOf("request")[0]?.fields, request()),
  },
  {
    name: "6.2: HEADERS padding longer than the rest of the frame is a PROTOCOL_ERROR",
    frames: () => [rawFrame(FRAME.HEADERS, FLAG.PADDED | FLAG.END_HEADERS, 1, [10, 0x82, 0, 0])],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.2: HEADERS with priority fields is decoded",
    frames: () => [
      headers(1, plainBlock(request()), {
        endStream: true,
        pad: 3,
        priority: { dependency: 0, weight: 200, exclusive: true },
      }),
    ],
    expect: "fine",
    then: (p) => assert.deepEqual(p.eventsOf("request")[0]?.fields, request()),
  },
  {
    name: "6.2: HEADERS with the PRIORITY flag but no room for its fields is a FRAME_SIZE_ERROR",
    frames: () => [rawFrame(FRAME.HEADERS, FLAG.PRIORITY | FLAG.END_HEADERS, 1, [0, 0, 0])],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },

  // 6.3 PRIORITY
  {
    name: "6.3: PRIORITY on stream 0 is a PROTOCOL_ERROR",
    frames: () => [priority(0, 1)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.3: PRIORITY of 4 bytes on an open stream is a FRAME_SIZE_ERROR stream error",
    setup: openPost,
    frames: () => [rawFrame(FRAME.PRIORITY, 0, 1, [0, 0, 0, 0])],
    expect: { stream: 1, code: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name:
      "6.3: PRIORITY of 6 bytes on an idle stream is a FRAME_SIZE_ERROR connection error (no RST_STREAM on idle streams)",
    frames: () => [rawFrame(FRAME.PRIORITY, 0, 9, [0, 0, 0, 0, 0, 0])],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },

  // 6.4 RST_STREAM
  {
    name: "6.4: RST_STREAM on stream 0 is a PROTOCOL_ERROR",
    frames: () => [rstStream(0)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.4: RST_STREAM of 3 bytes is a FRAME_SIZE_ERROR",
    setup: openPost,
    frames: () => [rawFrame(FRAME.RST_STREAM, 0, 1, [0, 0, 8])],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "6.4: RST_STREAM ends the stream and the owner is told its code",
    setup: openPost,
    frames: () => [rstStream(1, ERROR.CANCEL)],
    expect: "fine",
    then: (p) => {
      assert.deepEqual(p.eventsOf("reset").map((e) => [e.stream, e.code]), [[1, ERROR.CANCEL]]);
      assert.equal(p.conn.activeStreams, 0);
    },
  },

  // 6.5 SETTINGS
  {
    name: "6.5: SETTINGS with ACK and a payload is a FRAME_SIZE_ERROR",
    frames: () => [rawFrame(FRAME.SETTINGS, FLAG.ACK, 0, [0, 4, 0, 0, 0, 1])],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "6.5: SETTINGS on a stream is a PROTOCOL_ERROR",
    frames: () => [rawFrame(FRAME.SETTINGS, 0, 1, [])],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.5: SETTINGS whose length is not a multiple of 6 is a FRAME_SIZE_ERROR",
    frames: () => [rawFrame(FRAME.SETTINGS, 0, 0, [0, 3, 0, 0, 0])],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "6.5.2: SETTINGS_ENABLE_PUSH 2 is a PROTOCOL_ERROR",
    frames: () => [settings([[SETTING.ENABLE_PUSH, 2]])],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.5.2: SETTINGS_ENABLE_PUSH 0 and 1 are accepted",
    frames: () => [settings([[SETTING.ENABLE_PUSH, 0]]), settings([[SETTING.ENABLE_PUSH, 1]])],
    expect: "fine",
  },
  {
    name: "6.5.2: SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1 is a FLOW_CONTROL_ERROR",
    frames: () => [settings([[SETTING.INITIAL_WINDOW_SIZE, 2 ** 31]])],
    expect: { connection: ERROR.FLOW_CONTROL_ERROR },
  },
  {
    name: "6.5.2: SETTINGS_INITIAL_WINDOW_SIZE of exactly 2^31-1 is accepted",
    frames: () => [settings([[SETTING.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]])],
    expect: "fine",
  },
  {
    name: "6.5.2: SETTINGS_MAX_FRAME_SIZE below 16384 is a PROTOCOL_ERROR",
    frames: () => [settings([[SETTING.MAX_FRAME_SIZE, 16383]])],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.5.2: SETTINGS_MAX_FRAME_SIZE above 2^24-1 is a PROTOCOL_ERROR",
    frames: () => [settings([[SETTING.MAX_FRAME_SIZE, 2 ** 24]])],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.5.2: an unknown setting is ignored",
    frames: () => [settings([[0xff, 12345], [0x7777, 0xffffffff]])],
    expect: "fine",
  },
  {
    name: "6.5.3: SETTINGS is answered with an empty SETTINGS ACK",
    frames: () => [settings([[SETTING.MAX_CONCURRENT_STREAMS, 10]])],
    expect: "fine",
    then: (p) => {
      const acks = p.frames.filter((f) => f.type === FRAME.SETTINGS && f.flags === FLAG.ACK);
      // One for the handshake's SETTINGS, one for this.
      assert.equal(acks.length, 2);
      assert.ok(acks.every((f) => f.payload.length === 0 && f.stream === 0));
    },
  },
  {
    name: "6.5.3: a SETTINGS ACK is not answered",
    frames: () => [SETTINGS_ACK],
    expect: "fine",
    then: (p) =>
      assert.equal(
        p.frames.filter((f) => f.type === FRAME.SETTINGS && f.flags === FLAG.ACK).length,
        1,
      ),
  },

  {
    name:
      "6.5.3: INITIAL_WINDOW_SIZE values of one SETTINGS frame apply in order: one that overflows a window midway is a FLOW_CONTROL_ERROR",
    setup: async (p) => {
      await openPost(p);
      p.send(windowUpdate(1, 2 ** 31 - 1 - 65535));
    },
    frames: () => [
      settings([[SETTING.INITIAL_WINDOW_SIZE, 65536], [SETTING.INITIAL_WINDOW_SIZE, 0]]),
    ],
    expect: { connection: ERROR.FLOW_CONTROL_ERROR },
  },

  // 6.6 PUSH_PROMISE
  {
    name: "6.6: PUSH_PROMISE from a client is a PROTOCOL_ERROR",
    setup: halfClosed,
    frames: () => [rawFrame(FRAME.PUSH_PROMISE, FLAG.END_HEADERS, 1, [0, 0, 0, 2, 0x82])],
    expect: { connection: ERROR.PROTOCOL_ERROR, lastStream: 1 },
  },

  // 6.7 PING
  {
    name: "6.7: PING is answered with a PING ACK carrying the same payload",
    frames: () => [ping(OPAQUE)],
    expect: "fine",
    then: (p) => {
      const acks = p.frames.filter((f) => f.type === FRAME.PING);
      assert.equal(acks.length, 1);
      assert.equal(acks[0].flags, FLAG.ACK);
      assert.deepEqual([...acks[0].payload], OPAQUE);
    },
  },
  {
    name: "6.7: a PING ACK is not answered",
    frames: () => [ping(OPAQUE, true)],
    expect: "fine",
    then: (p) => assert.equal(p.frames.filter((f) => f.type === FRAME.PING).length, 0),
  },
  {
    name: "6.7: PING of 6 bytes is a FRAME_SIZE_ERROR",
    frames: () => [rawFrame(FRAME.PING, 0, 0, [1, 2, 3, 4, 5, 6])],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "6.7: PING on a stream is a PROTOCOL_ERROR",
    frames: () => [rawFrame(FRAME.PING, 0, 1, OPAQUE)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },

  // 6.8 GOAWAY
  {
    name: "6.8: GOAWAY on a stream is a PROTOCOL_ERROR",
    frames: () => [rawFrame(FRAME.GOAWAY, 0, 1, [0, 0, 0, 0, 0, 0, 0, 0])],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.8: GOAWAY shorter than 8 bytes is a FRAME_SIZE_ERROR",
    frames: () => [rawFrame(FRAME.GOAWAY, 0, 0, [0, 0, 0, 0])],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },

  // 6.9 WINDOW_UPDATE
  {
    name: "6.9: WINDOW_UPDATE of 0 on the connection is a PROTOCOL_ERROR connection error",
    frames: () => [windowUpdate(0, 0)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.9: WINDOW_UPDATE of 0 on a stream is a PROTOCOL_ERROR stream error",
    setup: openPost,
    frames: () => [windowUpdate(1, 0)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.9: WINDOW_UPDATE of 3 bytes is a FRAME_SIZE_ERROR",
    frames: () => [rawFrame(FRAME.WINDOW_UPDATE, 0, 0, [0, 0, 1])],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "6.9: the reserved bit of a WINDOW_UPDATE increment is ignored",
    frames: () => [windowUpdate(0, 0x80000001)],
    expect: "fine",
  },
  {
    name: "6.9.1: a connection window past 2^31-1 is a FLOW_CONTROL_ERROR connection error",
    frames: () => [windowUpdate(0, 2 ** 31 - 1 - 65535), windowUpdate(0, 1)],
    expect: { connection: ERROR.FLOW_CONTROL_ERROR },
  },
  {
    name: "6.9.1: a stream window past 2^31-1 is a FLOW_CONTROL_ERROR stream error",
    setup: openPost,
    frames: () => [windowUpdate(1, 2 ** 31 - 1 - 65535), windowUpdate(1, 1)],
    expect: { stream: 1, code: ERROR.FLOW_CONTROL_ERROR },
  },
  {
    name: "6.9.1: DATA beyond the stream's window is a FLOW_CONTROL_ERROR stream error",
    limits: { streamWindow: 65535, connectionWindow: 1024 * 1024 },
    setup: openPost,
    frames: () => [data(1, 16384), data(1, 16384), data(1, 16384), data(1, 16383), data(1, 1)],
    expect: { stream: 1, code: ERROR.FLOW_CONTROL_ERROR },
  },
  {
    name: "6.9.1: DATA beyond the connection's window is a FLOW_CONTROL_ERROR connection error",
    limits: { streamWindow: 1024 * 1024, connectionWindow: 65535 },
    setup: async (p) => {
      p.send(post(1), post(3));
      await settle();
    },
    frames: () => [data(1, 16384), data(1, 16384), data(3, 16384), data(3, 16383), data(1, 1)],
    expect: { connection: ERROR.FLOW_CONTROL_ERROR, lastStream: 3 },
  },
  {
    name:
      "6.9.2: SETTINGS_INITIAL_WINDOW_SIZE that takes an open stream's window past 2^31-1 is a FLOW_CONTROL_ERROR",
    setup: async (p) => {
      await openPost(p);
      p.send(windowUpdate(1, 2 ** 31 - 1 - 65535));
    },
    frames: () => [settings([[SETTING.INITIAL_WINDOW_SIZE, 65536]])],
    expect: { connection: ERROR.FLOW_CONTROL_ERROR },
  },

  // 6.10 CONTINUATION
  {
    name: "6.10: CONTINUATION without a HEADERS frame before it is a PROTOCOL_ERROR",
    setup: openPost,
    frames: () => [continuation(1, TRAILERS)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.10: CONTINUATION on another stream than its HEADERS is a PROTOCOL_ERROR",
    frames: () => [
      headers(1, plainBlock(request()), { endHeaders: false, endStream: true }),
      continuation(3, plainBlock([["x-a", "b"]])),
    ],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.10: CONTINUATION on stream 0 is a PROTOCOL_ERROR",
    frames: () => [continuation(0, plainBlock([["x-a", "b"]]))],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.10: CONTINUATION after a block ended with END_HEADERS is a PROTOCOL_ERROR",
    frames: () => [get(1), continuation(1, plainBlock([["x-a", "b"]]))],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.10: DATA inside a header block is a PROTOCOL_ERROR",
    frames: () => [
      headers(1, plainBlock(request()), { endHeaders: false }),
      data(1, 3),
    ],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.10: a header block split over HEADERS and several CONTINUATIONs is decoded whole",
    frames: () => {
      const whole = plainBlock(request([["x-one", "1"], ["x-two", "2"]]));
      return [
        headers(1, whole.subarray(0, 5), { endHeaders: false, endStream: true }),
        continuation(1, whole.subarray(5, 6), false),
        continuation(1, whole.subarray(6, 6), false),
        continuation(1, whole.subarray(6, 30), false),
        continuation(1, whole.subarray(30), true),
      ];
    },
    expect: "fine",
    then: (p) => {
      const r = p.eventsOf("request");
      assert.equal(r.length, 1);
      assert.deepEqual(r[0].fields, request([["x-one", "1"], ["x-two", "2"]]));
      assert.equal(r[0].endStream, true);
    },
  },

  // 8.1 HTTP message framing: what the connection owns
  {
    name: "8.1.1: DATA totalling more than content-length is a PROTOCOL_ERROR stream error",
    frames: () => [post(1, [["content-length", "5"]]), data(1, 3), data(1, 3)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "8.1.1: DATA ending short of content-length is a PROTOCOL_ERROR stream error",
    frames: () => [post(1, [["content-length", "5"]]), data(1, 4, { endStream: true })],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "8.1.1: trailers ending a body short of content-length are a PROTOCOL_ERROR stream error",
    frames: () => [
      post(1, [["content-length", "5"]]),
      data(1, 4),
      headers(1, TRAILERS, { endStream: true }),
    ],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "8.1.1: HEADERS with END_STREAM and content-length 10 is a PROTOCOL_ERROR stream error",
    frames: () => [
      headers(1, plainBlock(request([["content-length", "10"]], "POST")), { endStream: true }),
    ],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
    then: (p) => assert.deepEqual(p.eventsOf("request"), []),
  },
  {
    name: "8.1.1: HEADERS with END_STREAM and content-length 0 is accepted",
    frames: () => [
      headers(1, plainBlock(request([["content-length", "0"]], "POST")), { endStream: true }),
    ],
    expect: "fine",
  },
  {
    name: "8.1.1: a body matching content-length over several DATA frames is accepted",
    frames: () => [
      post(1, [["content-length", "10"]]),
      data(1, 3),
      data(1, 0),
      data(1, 7, { endStream: true }),
    ],
    expect: "fine",
    then: (p) => assert.deepEqual(p.eventsOf("body").map((e) => e.bytes), [3, 0, 7]),
  },
  {
    name: "8.1: a second HEADERS without END_STREAM is a PROTOCOL_ERROR stream error",
    setup: openPost,
    frames: () => [headers(1, TRAILERS, { endStream: false })],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "8.1: trailers end the request",
    setup: openPost,
    frames: () => [data(1, 5), headers(1, TRAILERS, { endStream: true })],
    expect: "fine",
    then: (p) =>
      assert.deepEqual(p.eventsOf("trailers"), [{
        kind: "trailers",
        stream: 1,
        fields: [["x-checksum", "abc"]],
      }]),
  },
];

describe("H2Connection: RFC 9113 rule by rule", () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const p = new H2Peer(limits(c.limits));
      if (!c.raw) await p.handshake();
      await c.setup?.(p);
      const since = p.frames.length;
      const eventsSince = p.events.length;
      p.send(...c.frames(p));
      await settle();
      // The case's own checks first: the liveness check below adds a PING exchange.
      c.then?.(p);
      if (c.expect === "fine") await assertFine(p, since);
      else if ("connection" in c.expect) {
        assertConnectionError(p, c.expect.connection, c.expect.lastStream);
      } else {
        await assertStreamError(p, c.expect, since, eventsSince);
      }
    });
  }
});

// ---- flow control ---------------------------------------------------------------------------------

/** The frames of `type` on `stream` among `frames`. */
function framesOf(p: H2Peer, type: number, stream: number) {
  return p.frames.filter((f) => f.type === type && f.stream === stream);
}

/** The lengths of the DATA frames the server sent on `stream` since frame `since`. */
function dataLengths(p: H2Peer, stream: number, since = 0): number[] {
  return p.frames.slice(since).filter((f) => f.type === FRAME.DATA && f.stream === stream).map((
    f,
  ) => f.payload.length);
}

describe("H2Connection: flow control (6.9)", () => {
  test("6.9.1: consumed() sends WINDOW_UPDATE for the stream and the connection once half is used", async () => {
    const p = new H2Peer(limits({ streamWindow: 65536, connectionWindow: 65536 }));
    await p.handshake();
    p.send(post(1));
    await settle();
    const before = p.frames.length;
    // Nothing is returned before the owner says the bytes were passed on.
    p.send(data(1, 16384), data(1, 16384));
    await settle();
    assert.deepEqual(p.frames.slice(before).filter((f) => f.type === FRAME.WINDOW_UPDATE), []);
    p.conn.consumed(1, 16384);
    await settle();
    assert.deepEqual(p.frames.slice(before).filter((f) => f.type === FRAME.WINDOW_UPDATE), []);
    p.conn.consumed(1, 16384);
    await settle();
    const updates = p.frames.slice(before).filter((f) => f.type === FRAME.WINDOW_UPDATE);
    assert.deepEqual(updates.map((f) => [f.stream, incrementOf(f)]).sort(), [[0, 32768], [
      1,
      32768,
    ]]);
    // The client may now send a whole window's worth again.
    p.send(data(1, 16384), data(1, 16384), data(1, 16384), data(1, 16384, { endStream: true }));
    await assertFine(p);
  });

  test("6.9.1: the padding of DATA is returned to the client without waiting for the owner", async () => {
    const p = new H2Peer(limits({ streamWindow: 65536, connectionWindow: 65536 }));
    await p.handshake();
    p.send(post(1));
    await settle();
    // 200 frames of 1 data byte and 255 bytes of padding (+1 for the Pad Length field): the
    // padding passes half the window.
    p.send(...Array.from({ length: 200 }, () => data(1, 1, { pad: 255 })));
    await settle();
    const updates = framesOf(p, FRAME.WINDOW_UPDATE, 1).map(incrementOf);
    assert.ok(updates.length > 0, "the stream's window came back");
    assert.ok(updates.reduce((a, b) => a + b, 0) <= 200 * 256, "no more than the padding");
    assert.deepEqual(p.eventsOf("body").map((e) => e.bytes), new Array(200).fill(1));
    await assertFine(p);
  });

  test("6.9.1: a stream that ends with body bytes its owner never consumed gives them back to the connection", async () => {
    const p = new H2Peer(limits({ streamWindow: 65536, connectionWindow: 65535 }));
    await p.handshake();
    p.send(post(1), data(1, 16384), data(1, 16384), data(1, 16384));
    await settle();
    p.send(rstStream(1, ERROR.CANCEL));
    await settle();
    assert.deepEqual(framesOf(p, FRAME.WINDOW_UPDATE, 0).map(incrementOf), [49152]);
    // The owner's late acknowledgement of those bytes does not count them twice.
    p.conn.consumed(1, 49152);
    await settle();
    assert.deepEqual(framesOf(p, FRAME.WINDOW_UPDATE, 0).map(incrementOf), [49152]);
    // The whole connection window is usable by the next stream.
    p.send(post(3), data(3, 16384), data(3, 16384), data(3, 16384), data(3, 16383));
    await assertFine(p, 0);
  });

  test("6.9.1: DATA on a stream the server closed still gives its bytes back to the connection", async () => {
    const p = new H2Peer(limits({ streamWindow: 65536, connectionWindow: 65535 }));
    await p.handshake();
    p.send(post(1));
    p.conn.respond(1, [[":status", "413"]], true);
    await settle();
    // 8.1: the response ended first, so the server told the client to stop (NO_ERROR).
    assert.deepEqual(p.rsts(), [[1, ERROR.NO_ERROR]]);
    p.send(data(1, 16384), data(1, 16384), data(1, 16384));
    await settle();
    assert.deepEqual(p.eventsOf("body"), []);
    // Given back in the usual steps (half the window), as if consumed.
    assert.deepEqual(framesOf(p, FRAME.WINDOW_UPDATE, 0).map(incrementOf), [32768]);
    // The client's window is 65535 - 49152 + 32768: all of it is usable on another stream.
    const since = p.frames.length;
    p.send(post(3), data(3, 16384), data(3, 16384), data(3, 16383));
    await assertFine(p, since);
  });

  test("6.9.2: response DATA stops at the client's stream window and resumes on WINDOW_UPDATE", async () => {
    const p = new H2Peer();
    await p.handshake([[SETTING.INITIAL_WINDOW_SIZE, 100]]);
    p.send(get(1));
    p.conn.respond(1, [[":status", "200"]], false);
    p.conn.data(1, new Uint8Array(1000), true);
    await settle();
    assert.deepEqual(dataLengths(p, 1), [100]);
    p.send(windowUpdate(1, 400));
    await settle();
    assert.deepEqual(dataLengths(p, 1), [100, 400]);
    assert.equal(p.dataOf(1).ended, false);
    p.send(windowUpdate(1, 500));
    await settle();
    assert.deepEqual(dataLengths(p, 1), [100, 400, 500]);
    assert.equal(p.dataOf(1).ended, true);
    assert.equal(p.conn.activeStreams, 0);
    await assertFine(p);
  });

  test("6.9.2: response DATA stops at the connection window and resumes on WINDOW_UPDATE 0", async () => {
    const p = new H2Peer();
    await p.handshake([[SETTING.INITIAL_WINDOW_SIZE, 1 << 20]]);
    p.send(get(1));
    p.conn.respond(1, [[":status", "200"]], false);
    p.conn.data(1, new Uint8Array(100_000), true);
    await settle();
    assert.equal(p.dataOf(1).bytes, 65535);
    assert.ok(dataLengths(p, 1).every((n) => n <= 16384), "within SETTINGS_MAX_FRAME_SIZE");
    p.send(windowUpdate(0, 100_000 - 65535));
    await settle();
    assert.deepEqual(p.dataOf(1), { bytes: 100_000, frames: p.dataOf(1).frames, ended: true });
    await assertFine(p);
  });

  test("6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change adjusts the send window of open streams, below zero too", async () => {
    const p = new H2Peer();
    await p.handshake([[SETTING.INITIAL_WINDOW_SIZE, 0]]);
    p.send(get(1));
    p.conn.respond(1, [[":status", "200"]], false);
    p.conn.data(1, new Uint8Array(10), true);
    await settle();
    assert.deepEqual(dataLengths(p, 1), [], "held by a window of 0");
    p.send(settings([[SETTING.INITIAL_WINDOW_SIZE, 4]]));
    await settle();
    assert.deepEqual(dataLengths(p, 1), [4]);
    // 4 - 4 sent + (2 - 4) = -2; a WINDOW_UPDATE of 3 leaves 1.
    p.send(settings([[SETTING.INITIAL_WINDOW_SIZE, 2]]), windowUpdate(1, 3));
    await settle();
    assert.deepEqual(dataLengths(p, 1), [4, 1]);
    p.send(settings([[SETTING.INITIAL_WINDOW_SIZE, 10]]));
    await settle();
    assert.deepEqual(dataLengths(p, 1), [4, 1, 5]);
    assert.equal(p.dataOf(1).ended, true);
    await assertFine(p);
  });

  test("6.5.3: of several INITIAL_WINDOW_SIZE values in one SETTINGS frame the last one holds", async () => {
    const p = new H2Peer();
    await p.handshake([[SETTING.INITIAL_WINDOW_SIZE, 0]]);
    p.send(get(1));
    p.conn.respond(1, [[":status", "200"]], false);
    p.conn.data(1, new Uint8Array(1000), true);
    p.send(settings([
      [SETTING.INITIAL_WINDOW_SIZE, 900],
      [SETTING.INITIAL_WINDOW_SIZE, 7],
      [SETTING.INITIAL_WINDOW_SIZE, 50],
    ]));
    await settle();
    assert.deepEqual(dataLengths(p, 1), [50]);
    await assertFine(p);
  });

  test("6.5.3: a stream window of ours below 65535 holds only once the client acknowledged it", async () => {
    const p = new H2Peer(limits({ streamWindow: 16384 }));
    // Until its ACK the client may use the default window of 65535 on each stream.
    p.send(
      PREFACE,
      settings(),
      post(1),
      data(1, 16384),
      data(1, 16384),
      data(1, 16384),
      data(1, 16383),
    );
    await settle();
    assert.equal(settingsOf(p.frames[0]).get(SETTING.INITIAL_WINDOW_SIZE), 16384);
    assert.deepEqual(p.goaways(), []);
    assert.deepEqual(p.rsts(), []);
    p.send(SETTINGS_ACK, post(3), data(3, 16384));
    await settle();
    assert.deepEqual(p.rsts(), []);
    p.send(data(3, 1));
    await settle();
    assert.deepEqual(p.rsts(), [[3, ERROR.FLOW_CONTROL_ERROR]]);
    // Stream 1 was sent under the old window: the new one leaves it 65535 - 65535 - 49151.
    p.send(data(1, 1));
    await settle();
    assert.deepEqual(p.rsts(), [[3, ERROR.FLOW_CONTROL_ERROR], [1, ERROR.FLOW_CONTROL_ERROR]]);
    await assertFine(p, p.frames.length);
  });

  test("6.5.2: response frames stay within the client's SETTINGS_MAX_FRAME_SIZE, and use it", async () => {
    const p = new H2Peer();
    await p.handshake([[SETTING.MAX_FRAME_SIZE, 20000], [SETTING.INITIAL_WINDOW_SIZE, 1 << 20]]);
    p.send(windowUpdate(0, 1 << 20), get(1));
    p.conn.respond(1, [[":status", "200"], ["x-big", "b".repeat(50_000)]], false);
    p.conn.data(1, new Uint8Array(50_000), true);
    await settle();
    assert.deepEqual(dataLengths(p, 1), [20000, 20000, 10000]);
    assert.ok(p.frames.every((f) => f.payload.length <= 20000));
    assert.ok(framesOf(p, FRAME.CONTINUATION, 1).length > 0, "the head went out in pieces");
    const blocks = p.blocks();
    assert.equal(blocks.length, 1);
    assert.equal(blocks[0].fields[1][1].length, 50_000);
    await assertFine(p);
  });

  test("6.5.2: SETTINGS_HEADER_TABLE_SIZE 0 is signalled at the start of the next response head", async () => {
    const p = new H2Peer();
    await p.handshake([[SETTING.HEADER_TABLE_SIZE, 0]]);
    p.send(get(1), get(3));
    p.conn.respond(1, [[":status", "200"], ["x-custom", "value"]], true);
    p.conn.respond(3, [[":status", "200"], ["x-custom", "value"]], true);
    await settle();
    const first = framesOf(p, FRAME.HEADERS, 1)[0];
    assert.equal(first.payload[0], 0x20, "a dynamic table size update to 0");
    assert.deepEqual(p.blocks().map((b) => b.fields[1]), [["x-custom", "value"], [
      "x-custom",
      "value",
    ]]);
    await assertFine(p);
  });

  test("4.3: the HPACK dynamic table carries over from request to request", async () => {
    const p = new H2Peer();
    await p.handshake();
    const fields = request([["x-session", "abcdef"], ["user-agent", "test/1"]]);
    const first = p.block(fields);
    const second = p.block(fields);
    assert.ok(second.length < first.length, "the second block refers to the table");
    p.send(headers(1, first, { endStream: true }), headers(3, second, { endStream: true }));
    await settle();
    assert.deepEqual(p.eventsOf("request").map((e) => e.fields), [fields, fields]);
    await assertFine(p);
  });

  test("data() returns false when some of the chunk must wait, and writable fires once all of it went", async () => {
    const p = new H2Peer();
    await p.handshake([[SETTING.INITIAL_WINDOW_SIZE, 0]]);
    p.send(windowUpdate(0, 1 << 20), get(1));
    p.conn.respond(1, [[":status", "200"]], false);
    assert.equal(p.conn.data(1, new Uint8Array(40_000), false), false);
    await settle();
    p.send(windowUpdate(1, 30_000));
    await settle();
    assert.equal(p.dataOf(1).bytes, 30_000);
    assert.deepEqual(p.eventsOf("writable"), [], "10 000 bytes still wait");
    p.send(windowUpdate(1, 10_000));
    await settle();
    assert.equal(p.dataOf(1).bytes, 40_000);
    assert.deepEqual(p.eventsOf("writable"), [{ kind: "writable", stream: 1 }]);
    // A chunk the window takes whole goes at once.
    p.send(windowUpdate(1, 1000));
    assert.equal(p.conn.data(1, new Uint8Array(500), false), true);
    assert.equal(p.conn.data(1, new Uint8Array(0), true), true);
    await settle();
    assert.deepEqual(p.dataOf(1), { bytes: 40_500, frames: p.dataOf(1).frames, ended: true });
    assert.equal(p.eventsOf("writable").length, 1);
    await assertFine(p);
  });

  test("no writable for a chunk that ended the response: the owner has no source left to resume", async () => {
    const p = new H2Peer();
    await p.handshake([[SETTING.INITIAL_WINDOW_SIZE, 10]]);
    p.send(get(1));
    p.conn.respond(1, [[":status", "200"]], false);
    assert.equal(p.conn.data(1, new Uint8Array(20), true), false);
    await settle();
    p.send(windowUpdate(1, 10));
    await settle();
    assert.deepEqual(p.dataOf(1), { bytes: 20, frames: 2, ended: true });
    assert.deepEqual(p.eventsOf("writable"), []);
    await assertFine(p);
  });

  test("outputDrained: after a write that returned false, response DATA waits until it is called", async () => {
    const p = new H2Peer();
    await p.handshake();
    p.send(get(1));
    await settle();
    p.writeResult = false;
    p.send(ping(OPAQUE));
    await settle();
    const writes = p.writes;
    p.writeResult = true;
    p.conn.respond(1, [[":status", "200"]], false);
    assert.equal(p.conn.data(1, new Uint8Array(500), true), false, "the chunk waits");
    await settle();
    assert.equal(p.writes, writes + 1, "the head went out");
    assert.equal(p.dataOf(1).bytes, 0, "the body waits for the socket");
    p.conn.outputDrained();
    await settle();
    assert.deepEqual(p.dataOf(1), { bytes: 500, frames: 1, ended: true });
    await assertFine(p);
  });

  test("8.1: a response that ends before its request closes the stream with RST_STREAM NO_ERROR", async () => {
    const p = new H2Peer();
    await p.handshake();
    p.send(post(1));
    p.conn.respond(1, [[":status", "200"]], false);
    p.conn.data(1, new Uint8Array(5), true);
    await settle();
    assert.deepEqual(p.dataOf(1), { bytes: 5, frames: 1, ended: true });
    assert.deepEqual(p.rsts(), [[1, ERROR.NO_ERROR]]);
    assert.equal(p.conn.activeStreams, 0);
    // The rest of the request body, already in flight, is dropped quietly.
    p.send(data(1, 10, { endStream: true }));
    await assertFine(p, p.frames.length);
  });

  test("5.1: closed streams are remembered within a bound: one the server reset 1,024 streams ago is forgotten", async () => {
    const p = new H2Peer();
    await p.handshake();
    await openPost(p);
    p.conn.reset(1, ERROR.INTERNAL_ERROR);
    await settle();
    // 1,024 more streams, opened and answered 64 at a time (below the concurrency limit).
    for (let first = 3; first <= 2049; first += 128) {
      const ids = Array.from({ length: 64 }, (_, i) => first + 2 * i).filter((id) => id <= 2049);
      p.send(...ids.map((id) => get(id)));
      await settle();
      for (const id of ids) p.conn.respond(id, [[":status", "204"]], true);
      await settle();
    }
    const since = p.frames.length;
    // Stream 2047 was reset by nobody and closed normally: its late DATA is refused...
    p.send(data(2047, 4));
    // ...and stream 1, which the server reset, has left the memory: no longer ignored.
    p.send(data(1, 4));
    await settle();
    assert.deepEqual(p.rsts(since), [[2047, ERROR.STREAM_CLOSED], [1, ERROR.STREAM_CLOSED]]);
  });

  test("trailers go out after the queued data and end the stream", async () => {
    const p = new H2Peer();
    await p.handshake([[SETTING.INITIAL_WINDOW_SIZE, 10]]);
    p.send(get(1));
    p.conn.respond(1, [[":status", "200"]], false);
    p.conn.data(1, new Uint8Array(20), false);
    p.conn.trailers(1, [["grpc-status", "0"]]);
    await settle();
    assert.deepEqual(dataLengths(p, 1), [10]);
    assert.equal(p.blocks().length, 1, "the trailers wait for the data");
    p.send(windowUpdate(1, 10));
    await settle();
    const blocks = p.blocks();
    assert.deepEqual(blocks.at(-1), { stream: 1, fields: [["grpc-status", "0"]], endStream: true });
    assert.equal(p.dataOf(1).ended, false);
    assert.equal(p.conn.activeStreams, 0);
    await assertFine(p);
  });
});

describe("H2Connection: output", () => {
  test("everything emitted in one turn goes to the socket in one write", async () => {
    const p = new H2Peer();
    await p.handshake();
    const writes = p.writes;
    p.send(ping(OPAQUE), settings(), get(1), ping(OPAQUE));
    p.conn.respond(1, [[":status", "200"]], false);
    p.conn.data(1, new Uint8Array(10), true);
    assert.equal(p.writes, writes, "nothing is written synchronously");
    await settle();
    assert.equal(p.writes, writes + 1);
    assert.deepEqual(p.take().map((f) => f.type), [
      FRAME.PING,
      FRAME.SETTINGS,
      FRAME.PING,
      FRAME.HEADERS,
      FRAME.DATA,
    ]);
    p.check();
  });

  test("the server's preface: SETTINGS with its limits and push off, then its connection window", async () => {
    const p = new H2Peer(limits({ maxConcurrentStreams: 7, streamWindow: 100_000 }));
    await settle();
    const [first, second] = p.take();
    assert.deepEqual([...settingsOf(first)], [
      [SETTING.MAX_CONCURRENT_STREAMS, 7],
      [SETTING.INITIAL_WINDOW_SIZE, 100_000],
      [SETTING.MAX_HEADER_LIST_SIZE, DEFAULT_H2_LIMITS.maxHeaderListSize],
      [SETTING.ENABLE_PUSH, 0],
    ]);
    assert.deepEqual([second.stream, incrementOf(second)], [
      0,
      DEFAULT_H2_LIMITS.connectionWindow - 65535,
    ]);
  });
});

// ---- limits and floods ----------------------------------------------------------------------------

/** `n` frames made by `make(i)`. */
function many(n: number, make: (i: number) => Uint8Array): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => make(i));
}

describe("H2Connection: limits and floods", () => {
  const small = limits({ maxControlFrames: 100, maxResets: 10, floodWindowMs: 60_000 });

  test("rapid reset (CVE-2023-44487): opening and resetting many streams ends in ENHANCE_YOUR_CALM", async () => {
    const p = new H2Peer(small);
    await p.handshake();
    p.send(...many(50, (i) => join(post(2 * i + 1), rstStream(2 * i + 1, ERROR.CANCEL))));
    await settle();
    assertConnectionError(p, ERROR.ENHANCE_YOUR_CALM);
    assert.ok(p.eventsOf("request").length <= 11, "stopped at the budget");
  });

  test("rapid reset through the server (MadeYouReset): stream errors the client provokes count too", async () => {
    const p = new H2Peer(small);
    await p.handshake();
    p.send(...many(50, (i) => join(post(2 * i + 1), windowUpdate(2 * i + 1, 0))));
    await settle();
    assertConnectionError(p, ERROR.ENHANCE_YOUR_CALM);
    assert.ok(p.eventsOf("request").length <= 11, "stopped at the budget");
  });

  test("resets within the budget are fine", async () => {
    const p = new H2Peer(small);
    await p.handshake();
    p.send(...many(10, (i) => join(post(2 * i + 1), rstStream(2 * i + 1, ERROR.CANCEL))));
    await settle();
    await assertFine(p);
  });

  test("CONTINUATION flood (CVE-2024-27316): a header block without END_HEADERS is cut off at twice the header list limit", async () => {
    const p = new H2Peer(limits({ maxHeaderListSize: 4096 }));
    await p.handshake();
    const filler = new Uint8Array(1000).fill(0x40);
    p.send(
      headers(1, plainBlock(request()), { endHeaders: false }),
      ...many(20, () => continuation(1, filler, false)),
    );
    await settle();
    assertConnectionError(p, ERROR.ENHANCE_YOUR_CALM);
    assert.deepEqual(p.eventsOf("request"), []);
  });

  test("CONTINUATION flood of empty frames ends in ENHANCE_YOUR_CALM", async () => {
    const p = new H2Peer(small);
    await p.handshake();
    p.send(
      headers(1, plainBlock(request()), { endHeaders: false }),
      ...many(200, () => continuation(1, new Uint8Array(0), false)),
    );
    await settle();
    assertConnectionError(p, ERROR.ENHANCE_YOUR_CALM);
  });

  const controlFloods: [string, (i: number) => Uint8Array][] = [
    ["SETTINGS", () => settings()],
    ["PING", (i) => ping([0, 0, 0, 0, 0, 0, i >> 8, i & 0xff])],
    ["PRIORITY", (i) => priority(2 * i + 1, 0)],
    ["an unknown frame type", () => rawFrame(0xfa, 0, 0, [1, 2, 3])],
    ["WINDOW_UPDATE on a closed stream", () => windowUpdate(1, 1)],
    ["RST_STREAM on a closed stream", () => rstStream(1, ERROR.CANCEL)],
  ];
  for (const [name, make] of controlFloods) {
    test(`${name} flood ends in ENHANCE_YOUR_CALM, with at most the budget answered`, async () => {
      const p = new H2Peer(small);
      await p.handshake();
      await closedNormally(p);
      p.send(...many(150, make));
      await settle();
      assertConnectionError(p, ERROR.ENHANCE_YOUR_CALM);
      assert.ok(p.frames.filter((f) => f.type === FRAME.PING).length <= 100);
      assert.ok(p.frames.filter((f) => f.type === FRAME.SETTINGS).length <= 102);
    });
  }

  test("empty DATA flood ends in ENHANCE_YOUR_CALM", async () => {
    const p = new H2Peer(small);
    await p.handshake();
    p.send(post(1), ...many(150, () => data(1, 0)));
    await settle();
    assertConnectionError(p, ERROR.ENHANCE_YOUR_CALM);
    assert.ok(p.eventsOf("body").length <= 100);
  });

  test("empty DATA flood on a stream the server closed ends in ENHANCE_YOUR_CALM", async () => {
    const p = new H2Peer(small);
    await p.handshake();
    p.send(post(1));
    p.conn.respond(1, [[":status", "200"]], true);
    p.send(...many(150, () => data(1, 0)));
    await settle();
    assertConnectionError(p, ERROR.ENHANCE_YOUR_CALM);
  });

  test("DATA on many closed streams ends in ENHANCE_YOUR_CALM (each is a reset the client caused)", async () => {
    const p = new H2Peer(small);
    await p.handshake();
    // Stream 201 leaves 1..199 closed without ever being opened.
    p.send(get(201), ...many(100, (i) => data(2 * i + 1, 1)));
    await settle();
    assertConnectionError(p, ERROR.ENHANCE_YOUR_CALM, 201);
    assert.ok(p.rsts().length <= 11, "stopped at the budget");
  });

  test("control frames are fine while under the budget", async () => {
    const p = new H2Peer(small);
    await p.handshake();
    // The handshake's SETTINGS and ACK count, and `alive` sends a PING.
    p.send(...many(90, () => ping(OPAQUE)));
    await settle();
    assert.equal(p.frames.filter((f) => f.type === FRAME.PING).length, 90);
    await assertFine(p);
  });

  test("HPACK bomb: one large table entry referred to many times is a COMPRESSION_ERROR", async () => {
    const p = new H2Peer();
    await p.handshake();
    const bomb = hpackBlock(
      literal("indexing", "x-bomb", "a".repeat(4000)),
      ...many(3000, () => new Uint8Array()).map(() => indexed(62)),
    );
    assert.ok(bomb.length < 8000, "a small block");
    p.send(
      headers(1, join(plainBlock(request()), bomb.subarray(0, 6000)), {
        endHeaders: false,
        endStream: true,
      }),
      continuation(1, bomb.subarray(6000)),
    );
    await settle();
    assertConnectionError(p, ERROR.COMPRESSION_ERROR);
    assert.deepEqual(p.eventsOf("request"), []);
  });

  test("10.5.1: a header list over SETTINGS_MAX_HEADER_LIST_SIZE reaches the owner (which answers 431), and HPACK stays in step", async () => {
    const p = new H2Peer(limits({ maxHeaderListSize: 8192 }));
    await p.handshake();
    assert.equal(settingsOf(p.frames[0]).get(SETTING.MAX_HEADER_LIST_SIZE), 8192);
    const big = p.block(request([
      ["x-indexed", "kept in the table"],
      ...many(5, (i) => new Uint8Array(i)).map((_, i): [string, string] => [
        `x-big-${i}`,
        "v".repeat(2000),
      ]),
    ]));
    const next = p.block(request([["x-indexed", "kept in the table"]]));
    p.send(
      headers(1, big.subarray(0, 6000), { endHeaders: false, endStream: false }),
      continuation(1, big.subarray(6000)),
      headers(3, next, { endStream: true }),
    );
    await settle();
    assert.deepEqual(p.eventsOf("request").map((e) => [e.stream, e.fields.at(-1)]), [
      [1, ["x-big-4", "v".repeat(2000)]],
      [3, ["x-indexed", "kept in the table"]],
    ]);
    await assertFine(p, p.frames.length);
  });
});

// ---- ending the connection ------------------------------------------------------------------------

describe("H2Connection: GOAWAY, shutdown and abort (5.4, 6.8)", () => {
  test("5.4.1: a connection error names the last stream the owner got, not refused ones", async () => {
    const p = new H2Peer(limits({ maxConcurrentStreams: 1 }));
    await p.handshake();
    p.send(get(1), get(3), rawFrame(FRAME.PING, 0, 1, OPAQUE));
    await settle();
    assert.deepEqual(p.rsts(), [[3, ERROR.REFUSED_STREAM]]);
    assertConnectionError(p, ERROR.PROTOCOL_ERROR, 1);
  });

  test("5.4.1: open streams are reset (CANCEL) for the owner when the connection ends in error", async () => {
    const p = new H2Peer();
    await p.handshake();
    p.send(get(1), post(3), rawFrame(FRAME.PING, 0, 0, [1]));
    await settle();
    assertConnectionError(p, ERROR.FRAME_SIZE_ERROR, 3);
    assert.deepEqual(p.eventsOf("reset").map((e) => [e.stream, e.code]), [
      [1, ERROR.CANCEL],
      [3, ERROR.CANCEL],
    ]);
    assert.equal(p.events.at(-1)?.kind, "closed");
  });

  test("5.4.1: nothing is written, and nothing reported, once the connection is over", async () => {
    const p = new H2Peer();
    await p.handshake();
    p.send(post(1), data(1, 100), rawFrame(FRAME.PING, 0, 0, [1]));
    await settle();
    const frames = p.frames.length;
    p.conn.respond(1, [[":status", "200"]], false);
    p.conn.data(1, new Uint8Array(10), true);
    p.conn.trailers(1, []);
    p.conn.consumed(1, 100);
    p.conn.reset(1, ERROR.CANCEL);
    p.conn.outputDrained();
    p.conn.shutdown("late");
    p.conn.abort(ERROR.INTERNAL_ERROR, "late");
    p.send(ping(OPAQUE), get(3));
    await settle();
    assert.equal(p.frames.length, frames);
    assertConnectionError(p, ERROR.FRAME_SIZE_ERROR);
  });

  test("shutdown() with no streams: GOAWAY NO_ERROR and closed at once", async () => {
    const p = new H2Peer();
    await p.handshake();
    p.conn.shutdown("draining");
    await settle();
    assert.deepEqual(p.goaways(), [{ lastStream: 0, code: ERROR.NO_ERROR, debug: "draining" }]);
    assert.deepEqual(p.closedEvent(), { kind: "closed", code: ERROR.NO_ERROR, reason: "draining" });
    p.check();
  });

  test("shutdown() lets open streams finish, refuses new ones, then closes", async () => {
    const p = new H2Peer();
    await p.handshake();
    p.send(get(1));
    await settle();
    p.conn.shutdown("draining");
    p.conn.shutdown("draining again");
    await settle();
    assert.deepEqual(p.goaways(), [{ lastStream: 1, code: ERROR.NO_ERROR, debug: "draining" }]);
    assert.equal(p.closedEvent(), undefined);
    p.send(get(3));
    await settle();
    assert.deepEqual(p.rsts(), [[3, ERROR.REFUSED_STREAM]]);
    assert.deepEqual(p.eventsOf("request").map((e) => e.stream), [1]);
    p.conn.respond(1, [[":status", "200"]], false);
    p.conn.data(1, new Uint8Array(10), true);
    await settle();
    assert.deepEqual(p.dataOf(1), { bytes: 10, frames: 1, ended: true });
    assert.deepEqual(p.closedEvent(), { kind: "closed", code: ERROR.NO_ERROR, reason: "draining" });
    assert.equal(p.goaways().length, 1);
    p.check();
  });

  test("abort(): GOAWAY with the code, open streams reset, closed", async () => {
    const p = new H2Peer();
    await p.handshake();
    p.send(get(1));
    await settle();
    p.conn.abort(ERROR.INTERNAL_ERROR, "backend pool gone");
    await settle();
    assertConnectionError(p, ERROR.INTERNAL_ERROR, 1);
    assert.equal(p.goaways()[0].debug, "backend pool gone");
    assert.deepEqual(p.eventsOf("reset").map((e) => [e.stream, e.code]), [[1, ERROR.CANCEL]]);
  });

  test("6.8: the client's GOAWAY with no streams ends the connection", async () => {
    const p = new H2Peer();
    await p.handshake();
    p.send(goaway(0, ERROR.NO_ERROR));
    await settle();
    assert.equal(p.closedEvent()?.code, ERROR.NO_ERROR);
    assert.ok(p.conn.over);
    p.check();
  });

  test("6.8: after the client's GOAWAY, its open streams finish and new ones are refused", async () => {
    const p = new H2Peer();
    await p.handshake();
    p.send(get(1), goaway(0, ERROR.NO_ERROR));
    await settle();
    assert.equal(p.closedEvent(), undefined);
    p.send(get(3));
    await settle();
    assert.deepEqual(p.rsts(), [[3, ERROR.REFUSED_STREAM]]);
    p.conn.respond(1, [[":status", "204"]], true);
    await settle();
    assert.deepEqual(p.blocks().map((b) => b.stream), [1]);
    assert.equal(p.closedEvent()?.code, ERROR.NO_ERROR);
    p.check();
  });
});

// ---- randomized -----------------------------------------------------------------------------------

/** A valid client transcript: preface, SETTINGS, then frames that keep to every rule. */
function validSession(rand: ReturnType<typeof mulberry32>, p: H2Peer): Uint8Array[] {
  const out: Uint8Array[] = [
    PREFACE,
    settings([[SETTING.INITIAL_WINDOW_SIZE, rand.pick([0, 10, 65535, 1 << 20])]]),
  ];
  /** The client's view of its streams: can it still send DATA, anything at all? */
  const streams = new Map<number, "open" | "half" | "closed">();
  let next = 1;
  let sent = 0;
  const count = rand.range(1, 30);
  for (let i = 0; i < count; i++) {
    const live = [...streams].filter(([, s]) => s === "open").map(([id]) => id);
    const any = [...streams].filter(([, s]) => s !== "closed").map(([id]) => id);
    switch (rand.int(10)) {
      case 0:
      case 1: {
        const end = rand.int(2) === 0;
        const fields = request([["x-n", String(i)]], end ? "GET" : "POST");
        const block = rand.int(2) === 0 ? p.block(fields) : plainBlock(fields);
        if (rand.int(3) === 0 && block.length > 4) {
          out.push(
            headers(next, block.subarray(0, 3), { endStream: end, endHeaders: false }),
            continuation(next, block.subarray(3)),
          );
        } else {
          out.push(headers(next, block, { endStream: end, pad: rand.int(2) ? 5 : undefined }));
        }
        streams.set(next, end ? "half" : "open");
        next += 2 * rand.range(1, 2);
        break;
      }
      case 2:
      case 3:
        if (live.length > 0) {
          const id = rand.pick(live);
          const n = rand.range(0, 2000);
          if (sent + n > 60_000) break;
          sent += n;
          const end = rand.int(3) === 0;
          out.push(data(id, n, { endStream: end, pad: rand.int(4) === 0 ? 7 : undefined }));
          if (end) streams.set(id, "half");
        }
        break;
      case 4:
        if (live.length > 0) {
          const id = rand.pick(live);
          out.push(headers(id, plainBlock([["x-trailer", "1"]]), { endStream: true }));
          streams.set(id, "half");
        }
        break;
      case 5:
        if (any.length > 0) {
          const id = rand.pick(any);
          out.push(rstStream(id, ERROR.CANCEL));
          streams.set(id, "closed");
        }
        break;
      case 6:
        out.push(
          windowUpdate(any.length > 0 && rand.int(2) ? rand.pick(any) : 0, rand.range(1, 5000)),
        );
        break;
      case 7:
        out.push(ping([i, 0, 0, 0, 0, 0, 0, 0], rand.int(4) === 0));
        break;
      case 8:
        out.push(priority(rand.range(0, 20) * 2 + 1, 0));
        break;
      default:
        out.push(
          settings([[SETTING.INITIAL_WINDOW_SIZE, rand.range(0, 100_000)], [
            SETTING.MAX_FRAME_SIZE,
            rand.pick([16384, 20000]),
          ]]),
        );
    }
  }
  return out;
}

/** An owner that answers as a session might: at once, later, partly, or by resetting. */
function randomOwner(rand: ReturnType<typeof mulberry32>, p: H2Peer): void {
  p.onRequest = (id) => {
    switch (rand.int(4)) {
      case 0:
        p.conn.respond(id, [[":status", "204"]], true);
        break;
      case 1:
        p.conn.respond(id, [[":status", "200"]], false);
        p.conn.data(id, new Uint8Array(rand.range(0, 3000)), rand.int(2) === 0);
        break;
      case 2:
        queueMicrotask(() => {
          p.conn.respond(id, [[":status", "200"], ["x-later", "1"]], false);
          p.conn.trailers(id, [["x-done", "1"]]);
        });
        break;
      default:
        if (rand.int(2) === 0) p.conn.reset(id, ERROR.INTERNAL_ERROR);
    }
  };
  p.onBody = (id, chunk) => {
    if (rand.int(3) > 0) p.conn.consumed(id, chunk.length);
  };
}

/** The run ended normally (no error, or only the client's own GOAWAY) or with one GOAWAY, last. */
function assertEndedWell(p: H2Peer, label: string): void {
  p.check();
  const goaways = p.goaways();
  assert.ok(goaways.length <= 1, `${label}: at most one GOAWAY`);
  const closed = p.closedEvent();
  if (goaways.length === 1) {
    assert.equal(p.frames.at(-1)?.type, FRAME.GOAWAY, `${label}: GOAWAY is the last frame`);
    assert.equal(closed?.code, goaways[0].code, `${label}: closed with the GOAWAY's code`);
  } else if (closed !== undefined) {
    assert.equal(
      closed.code,
      ERROR.NO_ERROR,
      `${label}: closed without GOAWAY only on the client's`,
    );
  }
}

describe("H2Connection: randomized client sessions", () => {
  test("valid sessions never end in an error; mutated ones never throw and end with one GOAWAY or none", async () => {
    // What the runs went through, so that a generator gone dull shows.
    let requests = 0;
    let responses = 0;
    const codes = new Set<string>();
    for (let seed = 1; seed <= 150; seed++) {
      for (const mutate of [false, true]) {
        const rand = mulberry32(seed * 2 + (mutate ? 1 : 0));
        const p = new H2Peer();
        randomOwner(rand, p);
        let bytes = join(...validSession(rand, p));
        if (mutate) {
          bytes = editBytes(rand, bytes.slice(), [0, 1, 4, 5, 8, 9, 0x20, 0x40, 0x7f, 0x80, 0xff]);
        }
        const label = `seed ${seed}${mutate ? " mutated" : ""}`;
        try {
          for (let at = 0; at < bytes.length;) {
            const n = rand.range(1, 400);
            p.conn.receive(bytes.subarray(at, at + n));
            at += n;
            if (rand.int(8) === 0) await settle();
          }
          await settle();
        } catch (e) {
          assert.fail(`${label}: threw ${(e as Error).stack}`);
        }
        assertEndedWell(p, label);
        if (!mutate) assert.deepEqual(p.goaways(), [], `${label}: ${transcript(p)}`);
        requests += p.eventsOf("request").length;
        responses += p.blocks().length;
        for (const g of p.goaways()) codes.add(errorName(g.code));
        p.conn.abort(ERROR.NO_ERROR, "done");
        await settle();
        assertEndedWell(p, `${label} after abort`);
      }
    }
    assert.ok(requests > 300, `${requests} requests`);
    assert.ok(responses > 200, `${responses} response heads`);
    assert.ok(codes.size >= 3, `GOAWAY codes seen: ${[...codes]}`);
  });
});
