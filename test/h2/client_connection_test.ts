/**
 * H2ClientConnection against RFC 9113 over bytes: a server made of frames (frame.ts encoders and
 * an HpackEncoder) talks to the client state machine, and each case checks the frames the client
 * writes (parsed with sniffFrame and an HpackDecoder) and the events its owner sees. Where the
 * RFC leaves a choice (stream or connection error), the case name says which one it makes.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  DEFAULT_H2_CLIENT_LIMITS,
  H2ClientConnection,
  type H2ClientLimits,
} from "../../src/h2/client_connection.ts";
import type { FieldList } from "../../src/h2/connection.ts";
import {
  ERROR,
  errorName,
  FLAG,
  FRAME,
  frame,
  frameName,
  goawayFrame,
  headersFrames,
  rstStreamFrame,
  SETTING,
  SETTINGS_ACK,
  settingsFrame,
  sniffFrame,
  u32,
  windowUpdateFrame,
} from "../../src/h2/frame.ts";
import { HpackDecoder } from "../../src/h2/hpack.ts";
import { HpackEncoder } from "../../src/h2/hpack_encode.ts";
import { H2_PREFACE } from "../../src/h2/preface.ts";
import { concat } from "../../src/wire/bytes.ts";
import { editBytes, mulberry32 } from "../helpers/prng.ts";

// ---- the server side, as bytes --------------------------------------------------------------------

/** A frame the client wrote; HEADERS carry their decoded block (CONTINUATIONs folded in). */
interface ClientFrame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Uint8Array;
  fields?: FieldList;
}

type Event =
  | { kind: "response"; stream: number; fields: FieldList; endStream: boolean }
  | { kind: "body"; stream: number; bytes: Uint8Array; endStream: boolean }
  | { kind: "trailers"; stream: number; fields: FieldList }
  | { kind: "reset"; stream: number; code: number; reason: string }
  | { kind: "writable"; stream: number }
  | { kind: "closed"; code: number; reason: string };

type EventOf<K extends Event["kind"]> = Extract<Event, { kind: K }>;

const OPAQUE = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);

/** Lets the connection flush its batch (queued as a microtask). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * A server made of bytes around one H2ClientConnection: it records every event, parses what
 * the client writes, and builds the frames a server sends with its own HPACK encoder.
 */
class Server {
  readonly conn: H2ClientConnection;
  readonly events: Event[] = [];
  readonly frames: ClientFrame[] = [];
  /** Whether `write` reports the bytes as sent (false: the socket queued them). */
  writeResult = true;
  /** Owner behaviour: pass body bytes on at once (consumed). */
  autoConsume = false;
  /** Owner behaviour on `writable`, called from inside the event. */
  onWritable: ((stream: number) => void) | null = null;
  readonly encoder = new HpackEncoder();
  readonly #decoder = new HpackDecoder(4096, 1 << 20);
  #raw: Uint8Array = new Uint8Array(0);
  #prefaceChecked = false;
  #block: { frame: ClientFrame; parts: Uint8Array[] } | null = null;

  constructor(limits: Partial<H2ClientLimits> = {}) {
    this.conn = new H2ClientConnection({
      write: (bytes) => {
        this.#raw = concat([this.#raw, bytes.slice()]);
        this.#parse();
        return this.writeResult;
      },
      response: (stream, fields, endStream) =>
        this.events.push({ kind: "response", stream, fields, endStream }),
      body: (stream, chunk, endStream) => {
        this.events.push({ kind: "body", stream, bytes: chunk.slice(), endStream });
        if (this.autoConsume) this.conn.consumed(stream, chunk.length);
      },
      trailers: (stream, fields) => this.events.push({ kind: "trailers", stream, fields }),
      reset: (stream, code, reason) => this.events.push({ kind: "reset", stream, code, reason }),
      writable: (stream) => {
        this.events.push({ kind: "writable", stream });
        this.onWritable?.(stream);
      },
      closed: (code, reason) => this.events.push({ kind: "closed", code, reason }),
    }, limits);
  }

  #parse(): void {
    let buf = this.#raw;
    if (!this.#prefaceChecked) {
      if (buf.length < H2_PREFACE.length) return;
      assert.deepEqual(buf.subarray(0, H2_PREFACE.length), H2_PREFACE, "the client preface");
      this.#prefaceChecked = true;
      buf = buf.subarray(H2_PREFACE.length);
    }
    let at = 0;
    for (;;) {
      const r = sniffFrame(buf.subarray(at), 1 << 24);
      if (r.kind !== "match") {
        assert.equal(r.kind, "more", `the client wrote a malformed frame: ${JSON.stringify(r)}`);
        break;
      }
      at += r.length;
      const f: ClientFrame = { ...r.value, payload: r.value.payload.slice() };
      if (f.type === FRAME.CONTINUATION) {
        assert.ok(this.#block !== null, "CONTINUATION without HEADERS");
        assert.equal(f.stream, this.#block.frame.stream);
        this.#block.parts.push(f.payload);
      } else {
        assert.equal(this.#block, null, `${frameName(f.type)} inside a header block`);
        this.frames.push(f);
        if (f.type === FRAME.HEADERS) this.#block = { frame: f, parts: [f.payload] };
      }
      if (this.#block !== null && (f.flags & FLAG.END_HEADERS) !== 0) {
        const decoded = this.#decoder.decode(concat(this.#block.parts));
        assert.ok("headers" in decoded, `the client's header block decodes`);
        this.#block.frame.fields = decoded.headers;
        this.#block = null;
      }
    }
    this.#raw = buf.slice(at);
  }

  /** Server bytes, in one `receive` call. */
  send(...parts: Uint8Array[]): void {
    this.conn.receive(concat(parts));
  }

  /** The server's preface (SETTINGS with `entries`), then a settle. */
  async handshake(entries: [number, number][] = []): Promise<void> {
    this.send(settingsFrame(entries));
    await settle();
  }

  /** A header block from the server on `stream`. */
  headers(stream: number, fields: FieldList, endStream: boolean): Uint8Array {
    return headersFrames(stream, this.encoder.encode(fields), endStream, 16384);
  }

  eventsOf<K extends Event["kind"]>(kind: K): EventOf<K>[] {
    return this.events.filter((e): e is EventOf<K> => e.kind === kind);
  }

  framesOf(type: number): ClientFrame[] {
    return this.frames.filter((f) => f.type === type);
  }

  goaways(): { lastStream: number; code: number; debug: string }[] {
    return this.framesOf(FRAME.GOAWAY).map((f) => ({
      lastStream: u32(f.payload, 0),
      code: u32(f.payload, 4),
      debug: new TextDecoder().decode(f.payload.subarray(8)),
    }));
  }

  rsts(): [stream: number, code: number][] {
    return this.framesOf(FRAME.RST_STREAM).map((f) => [f.stream, u32(f.payload, 0)]);
  }

  /** The request body bytes the client sent on `stream`, and whether END_STREAM came. */
  sent(stream: number): { bytes: Uint8Array; ended: boolean } {
    const frames = this.frames.filter((f) => f.stream === stream);
    return {
      bytes: concat(
        frames.filter((f) => f.type === FRAME.DATA).map((f) => f.payload),
      ),
      ended: frames.some((f) =>
        (f.type === FRAME.DATA || f.type === FRAME.HEADERS) && (f.flags & FLAG.END_STREAM) !== 0
      ),
    };
  }

  /** The response body the owner received on `stream`. */
  body(stream: number): Uint8Array {
    return concat(this.eventsOf("body").filter((e) => e.stream === stream).map((e) => e.bytes));
  }

  /** The connection still answers PING. */
  async alive(): Promise<boolean> {
    const before = this.framesOf(FRAME.PING).length;
    this.send(frame(FRAME.PING, 0, 0, OPAQUE));
    await settle();
    return this.framesOf(FRAME.PING).length === before + 1 && !this.conn.over;
  }

  transcript(): string {
    return this.frames.map((f) => `${frameName(f.type)}(${f.stream})`).join(" ") + " | " +
      this.events.map((e) => `${e.kind}${"stream" in e ? `(${e.stream})` : ""}`).join(" ");
  }
}

/** An HTTP/2 request head for the test server. */
function get(path = "/", method = "GET"): FieldList {
  return [[":method", method], [":scheme", "http"], [":authority", "b.test"], [":path", path]];
}

function dataFrame(stream: number, bytes: Uint8Array | number, endStream = false): Uint8Array {
  const payload = typeof bytes === "number" ? new Uint8Array(bytes).fill(0x61) : bytes;
  return frame(FRAME.DATA, endStream ? FLAG.END_STREAM : 0, stream, payload);
}

function pattern(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

// ---- expectations ---------------------------------------------------------------------------------

/** The connection ended with GOAWAY `code` (the last frame written) and then `closed`. */
function assertConnectionError(p: Server, code: number): void {
  const goaways = p.goaways();
  assert.equal(goaways.length, 1, `one GOAWAY: ${p.transcript()}`);
  assert.equal(errorName(goaways[0].code), errorName(code), p.transcript());
  assert.equal(goaways[0].lastStream, 0, "a client processed no pushed stream");
  assert.equal(p.frames.at(-1)?.type, FRAME.GOAWAY, "GOAWAY is the last frame");
  assert.ok(goaways[0].debug.length > 0, "the reason goes out as debug data");
  const closed = p.eventsOf("closed");
  assert.equal(closed.length, 1, "closed fired once");
  assert.equal(errorName(closed[0].code), errorName(code));
  assert.equal(p.events.at(-1)?.kind, "closed", "closed is the last event");
  assert.ok(p.conn.over);
  assert.equal(p.conn.available, 0);
  assert.ok(p.conn.idle);
}

/** RST_STREAM `code` on `stream`, the owner told, and the connection lives. */
async function assertStreamError(p: Server, stream: number, code: number): Promise<void> {
  assert.deepEqual(p.goaways(), [], `no GOAWAY: ${p.transcript()}`);
  assert.deepEqual(
    p.rsts().filter(([s]) => s === stream).map(([s, c]) => [s, errorName(c)]),
    [[stream, errorName(code)]],
    `one RST_STREAM on ${stream}: ${p.transcript()}`,
  );
  const resets = p.eventsOf("reset").filter((e) => e.stream === stream);
  assert.equal(resets.length, 1, "the owner is told once");
  assert.equal(errorName(resets[0].code), errorName(code));
  assert.ok(resets[0].reason.length > 0);
  assert.ok(await p.alive(), "the connection still answers PING");
  assert.deepEqual(p.eventsOf("closed"), []);
}

// ---- the table ------------------------------------------------------------------------------------

type Expect =
  | { connection: number }
  | { stream: number; code: number }
  | "fine";

interface Case {
  readonly name: string;
  readonly limits?: Partial<H2ClientLimits>;
  /** Skip the server's SETTINGS (the case sends its own first frame). */
  readonly raw?: boolean;
  /** Runs after the handshake, before `frames` (open streams...). */
  readonly setup?: (p: Server) => Promise<void> | void;
  /** Sent in one `receive` call. */
  readonly frames: (p: Server) => Uint8Array[];
  readonly expect: Expect;
  /** More checks after the expectation held. */
  readonly then?: (p: Server) => void;
}

/** Stream 1: a GET whose request is complete, waiting for its response. */
async function getOne(p: Server, fields = get()): Promise<void> {
  assert.equal(p.conn.request(fields, true), 1);
  await settle();
}

/** Stream 1 answered with a 200 head, body to come. */
async function answered(p: Server): Promise<void> {
  await getOne(p);
  p.send(p.headers(1, [[":status", "200"]], false));
  await settle();
}

const CASES: Case[] = [
  // 3.4 connection preface
  {
    name: "3.4: a first frame other than SETTINGS is a PROTOCOL_ERROR",
    raw: true,
    frames: () => [frame(FRAME.PING, 0, 0, OPAQUE)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "3.4: a SETTINGS ACK as the first frame is a PROTOCOL_ERROR",
    raw: true,
    frames: () => [SETTINGS_ACK],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "3.4: an HTTP/1.1 answer instead of SETTINGS is a connection error",
    raw: true,
    frames: () => [new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n")],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },

  // 4 frames
  {
    name: "4.1: a frame of an unknown type is ignored",
    frames: () => [frame(0xfa, 0xff, 1, Uint8Array.of(1, 2, 3))],
    expect: "fine",
  },
  {
    name: "4.2: a frame over SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR",
    setup: answered,
    frames: () => [dataFrame(1, 16385)],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "4.3: an undecodable header block is a COMPRESSION_ERROR",
    setup: getOne,
    frames: () => [frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, Uint8Array.of(0xff, 0xff))],
    expect: { connection: ERROR.COMPRESSION_ERROR },
  },
  {
    name:
      "4.3: a header list over 4x SETTINGS_MAX_HEADER_LIST_SIZE (an HPACK bomb) is a COMPRESSION_ERROR",
    limits: { maxHeaderListSize: 1000 },
    setup: getOne,
    // One small indexed entry referred to over and over.
    frames: (p) => {
      const first = p.encoder.encode([[":status", "200"], ["x-a", "a".repeat(200)]]);
      const again = p.encoder.encode([["x-a", "a".repeat(200)]]);
      const block = concat([first, ...Array(30).fill(again)]);
      return [headersFrames(1, block, true, 16384)];
    },
    expect: { connection: ERROR.COMPRESSION_ERROR },
  },
  {
    name: "10.5.1: a response head over SETTINGS_MAX_HEADER_LIST_SIZE is a stream error",
    limits: { maxHeaderListSize: 1000 },
    setup: getOne,
    frames: (p) => [p.headers(1, [[":status", "200"], ["x-a", "a".repeat(1200)]], true)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
    then: (p) => assert.match(p.eventsOf("reset")[0].reason, /1277 bytes exceeds .* 1000/),
  },

  // 5.1 stream states
  {
    name: "5.1: HEADERS on a stream the client never opened is a PROTOCOL_ERROR",
    frames: (p) => [p.headers(1, [[":status", "200"]], true)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "5.1: HEADERS on an even (server) stream is a PROTOCOL_ERROR",
    setup: getOne,
    frames: (p) => [p.headers(2, [[":status", "200"]], true)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "5.1: DATA on an idle stream is a PROTOCOL_ERROR",
    frames: () => [dataFrame(3, 4)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "5.1: RST_STREAM on an idle stream is a PROTOCOL_ERROR",
    frames: () => [rstStreamFrame(1, ERROR.CANCEL)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "5.1: WINDOW_UPDATE on an idle stream is a PROTOCOL_ERROR",
    frames: () => [windowUpdateFrame(5, 100)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "5.1: DATA after END_STREAM is STREAM_CLOSED (stream error)",
    setup: async (p) => {
      // The request stays open, so the stream does too once the response ended.
      assert.equal(p.conn.request(get("/", "POST"), false), 1);
      p.send(p.headers(1, [[":status", "200"]], true));
      await settle();
    },
    frames: () => [dataFrame(1, 3)],
    expect: { stream: 1, code: ERROR.STREAM_CLOSED },
  },
  {
    name: "5.1: DATA on a stream that closed normally is STREAM_CLOSED (stream error)",
    setup: async (p) => {
      await getOne(p);
      p.send(p.headers(1, [[":status", "204"]], true));
      await settle();
    },
    frames: () => [dataFrame(1, 3)],
    expect: "fine",
    then: (p) => assert.deepEqual(p.rsts(), [[1, ERROR.STREAM_CLOSED]]),
  },
  {
    name: "5.1: HEADERS on a stream that closed normally is a STREAM_CLOSED connection error",
    setup: async (p) => {
      await getOne(p);
      p.send(p.headers(1, [[":status", "204"]], true));
      await settle();
    },
    frames: (p) => [p.headers(1, [[":status", "200"]], true)],
    expect: { connection: ERROR.STREAM_CLOSED },
  },
  {
    name: "5.1: frames in flight on a stream the client reset are dropped",
    setup: async (p) => {
      await getOne(p);
      p.conn.reset(1, ERROR.CANCEL);
      await settle();
    },
    frames: (p) => [p.headers(1, [[":status", "200"]], false), dataFrame(1, 5, true)],
    expect: "fine",
    then: (p) => {
      assert.deepEqual(p.rsts(), [[1, ERROR.CANCEL]], "only the owner's reset");
      assert.deepEqual(p.eventsOf("response"), []);
      assert.deepEqual(p.eventsOf("reset"), [], "no event for the owner's own reset");
    },
  },

  // 6.1 DATA
  {
    name: "6.1: DATA on stream 0 is a PROTOCOL_ERROR",
    frames: () => [dataFrame(0, 1)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.1: padding that covers the payload is a PROTOCOL_ERROR",
    setup: answered,
    frames: () => [frame(FRAME.DATA, FLAG.PADDED, 1, Uint8Array.of(5, 1, 2))],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.1: padded DATA passes on the data only",
    setup: answered,
    frames:
      () => [frame(FRAME.DATA, FLAG.PADDED | FLAG.END_STREAM, 1, Uint8Array.of(2, 7, 8, 0, 0))],
    expect: "fine",
    then: (p) => assert.deepEqual([...p.body(1)], [7, 8]),
  },
  {
    name: "8.1: DATA before the response head is a PROTOCOL_ERROR (stream error)",
    setup: getOne,
    frames: () => [dataFrame(1, 3)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },

  // 6.2 HEADERS and 6.10 CONTINUATION
  {
    name: "6.10: a response head over HEADERS and two CONTINUATIONs is assembled",
    setup: getOne,
    frames: (p) => {
      const block = p.encoder.encode([[":status", "200"], ["x-a", "b".repeat(300)]]);
      return [
        frame(FRAME.HEADERS, FLAG.END_STREAM, 1, block.subarray(0, 100)),
        frame(FRAME.CONTINUATION, 0, 1, block.subarray(100, 200)),
        frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, block.subarray(200)),
      ];
    },
    expect: "fine",
    then: (p) =>
      assert.deepEqual(p.eventsOf("response"), [{
        kind: "response",
        stream: 1,
        fields: [[":status", "200"], ["x-a", "b".repeat(300)]],
        endStream: true,
      }]),
  },
  {
    name: "6.10: a frame of another type inside a header block is a PROTOCOL_ERROR",
    setup: getOne,
    frames: (p) => [
      frame(FRAME.HEADERS, 0, 1, p.encoder.encode([[":status", "200"]])),
      frame(FRAME.PING, 0, 0, OPAQUE),
    ],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.10: CONTINUATION without HEADERS is a PROTOCOL_ERROR",
    setup: getOne,
    frames: () => [frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, Uint8Array.of(0x88))],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.10: a header block over twice SETTINGS_MAX_HEADER_LIST_SIZE is ENHANCE_YOUR_CALM",
    limits: { maxHeaderListSize: 1000 },
    setup: getOne,
    frames: () => [
      frame(FRAME.HEADERS, 0, 1, new Uint8Array(1500)),
      frame(FRAME.CONTINUATION, 0, 1, new Uint8Array(600)),
    ],
    expect: { connection: ERROR.ENHANCE_YOUR_CALM },
  },

  // 6.3 PRIORITY, 6.4 RST_STREAM
  {
    name: "6.3: PRIORITY is ignored",
    setup: getOne,
    frames: () => [frame(FRAME.PRIORITY, 0, 1, Uint8Array.of(0, 0, 0, 0, 15))],
    expect: "fine",
  },
  {
    name: "6.3: PRIORITY of 4 bytes is a FRAME_SIZE_ERROR (stream error)",
    setup: getOne,
    frames: () => [frame(FRAME.PRIORITY, 0, 1, Uint8Array.of(0, 0, 0, 0))],
    expect: { stream: 1, code: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "6.4: RST_STREAM from the server resets the stream with its code",
    setup: answered,
    frames: () => [rstStreamFrame(1, ERROR.INTERNAL_ERROR)],
    expect: "fine",
    then: (p) => {
      assert.deepEqual(p.eventsOf("reset").map((e) => [e.stream, e.code]), [[
        1,
        ERROR.INTERNAL_ERROR,
      ]]);
      assert.match(p.eventsOf("reset")[0].reason, /INTERNAL_ERROR/);
      assert.deepEqual(p.rsts(), [], "a reset stream is not reset back");
      assert.ok(p.conn.idle);
    },
  },
  {
    name: "6.4: RST_STREAM of 3 bytes is a FRAME_SIZE_ERROR",
    setup: getOne,
    frames: () => [frame(FRAME.RST_STREAM, 0, 1, Uint8Array.of(0, 0, 0))],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "6.4: RST_STREAM on stream 0 is a PROTOCOL_ERROR",
    frames: () => [rstStreamFrame(0, ERROR.CANCEL)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "8.1: RST_STREAM NO_ERROR after a complete response stops the request body",
    setup: async (p) => {
      assert.equal(p.conn.request(get("/", "POST"), false), 1);
      p.send(p.headers(1, [[":status", "413"]], true));
      await settle();
    },
    frames: () => [rstStreamFrame(1, ERROR.NO_ERROR)],
    expect: "fine",
    then: (p) => {
      const [reset] = p.eventsOf("reset");
      assert.equal(reset.code, ERROR.NO_ERROR);
      assert.match(reset.reason, /no more of the request/);
      assert.ok(p.conn.idle);
      assert.equal(p.conn.data(1, pattern(10), true), true, "later data is dropped");
    },
  },

  // 6.5 SETTINGS
  {
    name: "6.5: SETTINGS on a stream is a PROTOCOL_ERROR",
    frames: () => [frame(FRAME.SETTINGS, 0, 1, new Uint8Array(0))],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.5: SETTINGS of 5 bytes is a FRAME_SIZE_ERROR",
    frames: () => [frame(FRAME.SETTINGS, 0, 0, new Uint8Array(5))],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "6.5: SETTINGS ACK with a payload is a FRAME_SIZE_ERROR",
    frames: () => [frame(FRAME.SETTINGS, FLAG.ACK, 0, new Uint8Array(6))],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "6.5.2: SETTINGS_ENABLE_PUSH 1 from a server is a PROTOCOL_ERROR",
    frames: () => [settingsFrame([[SETTING.ENABLE_PUSH, 1]])],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.5.2: SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1 is a FLOW_CONTROL_ERROR",
    frames: () => [settingsFrame([[SETTING.INITIAL_WINDOW_SIZE, 2 ** 31]])],
    expect: { connection: ERROR.FLOW_CONTROL_ERROR },
  },
  {
    name: "6.5.2: SETTINGS_MAX_FRAME_SIZE below 16384 is a PROTOCOL_ERROR",
    frames: () => [settingsFrame([[SETTING.MAX_FRAME_SIZE, 16383]])],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.5.2: an unknown setting is ignored (and acknowledged)",
    frames: () => [settingsFrame([[0x99, 7]])],
    expect: "fine",
    then: (p) =>
      assert.equal(
        p.framesOf(FRAME.SETTINGS).filter((f) => (f.flags & FLAG.ACK) !== 0).length,
        2,
      ),
  },

  // 6.6 PUSH_PROMISE, 6.7 PING
  {
    name: "6.6: PUSH_PROMISE is a PROTOCOL_ERROR (ENABLE_PUSH was 0)",
    setup: getOne,
    frames: (p) => [
      frame(
        FRAME.PUSH_PROMISE,
        FLAG.END_HEADERS,
        1,
        concat([Uint8Array.of(0, 0, 0, 2), p.encoder.encode(get("/pushed"))]),
      ),
    ],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.7: PING is answered with the same payload, PING ACK is not",
    frames: () => [frame(FRAME.PING, 0, 0, OPAQUE), frame(FRAME.PING, FLAG.ACK, 0, OPAQUE)],
    expect: "fine",
    then: (p) => {
      const pings = p.framesOf(FRAME.PING);
      // The first is the answer to this PING, the second to the liveness check.
      assert.equal(pings.length, 2);
      assert.equal(pings[0].flags, FLAG.ACK);
      assert.deepEqual(pings[0].payload, OPAQUE);
    },
  },
  {
    name: "6.7: PING of 7 bytes is a FRAME_SIZE_ERROR",
    frames: () => [frame(FRAME.PING, 0, 0, new Uint8Array(7))],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "6.7: PING on a stream is a PROTOCOL_ERROR",
    frames: () => [frame(FRAME.PING, 0, 1, OPAQUE)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "10.5: a PING flood is ENHANCE_YOUR_CALM",
    limits: { maxControlFrames: 20 },
    frames: () => Array.from({ length: 25 }, () => frame(FRAME.PING, 0, 0, OPAQUE)),
    expect: { connection: ERROR.ENHANCE_YOUR_CALM },
    // The server's SETTINGS counted one of the 20.
    then: (p) => assert.equal(p.framesOf(FRAME.PING).length, 19, "answers stop at the limit"),
  },

  // 6.8 GOAWAY
  {
    name: "6.8: GOAWAY of 7 bytes is a FRAME_SIZE_ERROR",
    frames: () => [frame(FRAME.GOAWAY, 0, 0, new Uint8Array(7))],
    expect: { connection: ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "6.8: GOAWAY on a stream is a PROTOCOL_ERROR",
    frames: () => [frame(FRAME.GOAWAY, 0, 1, new Uint8Array(8))],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },

  // 6.9 WINDOW_UPDATE
  {
    name: "6.9: WINDOW_UPDATE of 0 on the connection is a PROTOCOL_ERROR",
    frames: () => [windowUpdateFrame(0, 0)],
    expect: { connection: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.9: WINDOW_UPDATE of 0 on a stream is a PROTOCOL_ERROR (stream error)",
    setup: getOne,
    frames: () => [windowUpdateFrame(1, 0)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "6.9.1: a connection window over 2^31-1 is a FLOW_CONTROL_ERROR",
    frames: () => [windowUpdateFrame(0, 2 ** 31 - 1)],
    expect: { connection: ERROR.FLOW_CONTROL_ERROR },
  },
  {
    name: "6.9.1: a stream window over 2^31-1 is a FLOW_CONTROL_ERROR (stream error)",
    setup: getOne,
    frames: () => [windowUpdateFrame(1, 2 ** 31 - 1)],
    expect: { stream: 1, code: ERROR.FLOW_CONTROL_ERROR },
  },
  {
    name: "6.9.1: DATA over the stream window is a FLOW_CONTROL_ERROR (stream error)",
    limits: { streamWindow: 20000 },
    setup: answered,
    frames: () => [dataFrame(1, 16384), dataFrame(1, 4000)],
    expect: { stream: 1, code: ERROR.FLOW_CONTROL_ERROR },
  },
  {
    name: "6.9.1: DATA over the connection window is a FLOW_CONTROL_ERROR",
    limits: { connectionWindow: 65535 },
    setup: answered,
    frames: () => [16384, 16384, 16384, 16384].map((n) => dataFrame(1, n)),
    expect: { connection: ERROR.FLOW_CONTROL_ERROR },
  },

  // 8.1 responses
  {
    name: "8.1: an interim 103 is skipped, the 200 after it is the response",
    setup: getOne,
    frames: (p) => [
      p.headers(1, [[":status", "103"], ["link", "</a.css>; rel=preload"]], false),
      p.headers(1, [[":status", "200"], ["content-length", "2"]], false),
      dataFrame(1, 2, true),
    ],
    expect: "fine",
    then: (p) => {
      assert.deepEqual(p.eventsOf("response").map((e) => e.fields[0]), [[":status", "200"]]);
      assert.equal(p.body(1).length, 2);
      assert.ok(p.conn.idle);
    },
  },
  {
    name: "8.1: an interim response with END_STREAM is a PROTOCOL_ERROR (stream error)",
    setup: getOne,
    frames: (p) => [p.headers(1, [[":status", "100"]], true)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "8.1: trailers without END_STREAM are a PROTOCOL_ERROR (stream error)",
    setup: answered,
    frames: (p) => [p.headers(1, [["grpc-status", "0"]], false)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "8.1: a pseudo-header in trailers is a PROTOCOL_ERROR (stream error)",
    setup: answered,
    frames: (p) => [p.headers(1, [[":status", "200"]], true)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
    then: (p) => assert.match(p.eventsOf("reset")[0].reason, /pseudo-header ":status" in trailers/),
  },
  {
    name: "8.1: a connection-specific field in trailers is a PROTOCOL_ERROR (stream error)",
    setup: answered,
    frames: (p) => [p.headers(1, [["connection", "close"]], true)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "8.1: gRPC trailers-only (HEADERS with END_STREAM) is a response",
    setup: getOne,
    frames: (p) => [p.headers(1, [[":status", "200"], ["grpc-status", "12"]], true)],
    expect: "fine",
    then: (p) => {
      assert.deepEqual(p.eventsOf("response")[0].endStream, true);
      assert.ok(p.conn.idle);
    },
  },
  {
    name: "8.1.1: more DATA than content-length is a PROTOCOL_ERROR (stream error)",
    setup: async (p) => {
      await getOne(p);
      p.send(p.headers(1, [[":status", "200"], ["content-length", "3"]], false));
      await settle();
    },
    frames: () => [dataFrame(1, 4)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
    then: (p) => assert.match(p.eventsOf("reset")[0].reason, /body of 4\+ bytes, content-length 3/),
  },
  {
    name: "8.1.1: less DATA than content-length at END_STREAM is a PROTOCOL_ERROR (stream error)",
    setup: async (p) => {
      await getOne(p);
      p.send(p.headers(1, [[":status", "200"], ["content-length", "3"]], false));
      await settle();
    },
    frames: () => [dataFrame(1, 2, true)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "8.1.1: less DATA than content-length before trailers is a PROTOCOL_ERROR",
    setup: async (p) => {
      await getOne(p);
      p.send(p.headers(1, [[":status", "200"], ["content-length", "3"]], false));
      await settle();
    },
    frames: (p) => [dataFrame(1, 2), p.headers(1, [["x-t", "1"]], true)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "8.1.1: a head with END_STREAM and content-length 5 is a PROTOCOL_ERROR",
    setup: getOne,
    frames: (p) => [p.headers(1, [[":status", "200"], ["content-length", "5"]], true)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
  },
  {
    name: "8.1.1: a response to HEAD has no content whatever its content-length",
    setup: (p) => getOne(p, get("/", "HEAD")),
    frames: (p) => [p.headers(1, [[":status", "200"], ["content-length", "5"]], true)],
    expect: "fine",
    then: (p) => assert.equal(p.eventsOf("response").length, 1),
  },
  {
    name: "8.1.1: DATA in a response to HEAD is a PROTOCOL_ERROR (stream error)",
    setup: (p) => getOne(p, get("/", "HEAD")),
    frames: (
      p,
    ) => [p.headers(1, [[":status", "200"], ["content-length", "5"]], false), dataFrame(1, 5)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
    then: (p) => assert.match(p.eventsOf("reset")[0].reason, /no content \(response to HEAD\)/),
  },
  {
    name: "8.1.1: a 304 with content-length and END_STREAM is fine",
    setup: getOne,
    frames: (p) => [p.headers(1, [[":status", "304"], ["content-length", "5"]], true)],
    expect: "fine",
  },
  ...([
    ["no :status", [["content-type", "text/plain"]], /missing :status/],
    ["a :status of letters", [[":status", "2xx"]], /invalid :status "2xx"/],
    ["two :status", [[":status", "200"], [":status", "204"]], /several :status/],
    ["a request pseudo-header", [[":status", "200"], [":path", "/"]], /":path" in a response/],
    ["a pseudo-header after a field", [["x-a", "1"], [":status", "200"]], /after a regular field/],
    ["an upper-case name", [[":status", "200"], ["X-A", "1"]], /uppercase letter/],
    ["a connection-specific field", [[":status", "200"], ["keep-alive", "5"]], /keep-alive/],
    ["a 101", [[":status", "101"]], /101/],
    ["differing content-lengths", [[":status", "200"], ["content-length", "1"], [
      "content-length",
      "2",
    ]], /differing content-length/],
    ["a value with a newline", [[":status", "200"], ["x-a", "a\nb"]], /x-a/],
  ] as [string, [string, string][], RegExp][]).map(([what, fields, reason]): Case => ({
    name: `8.3: a response with ${what} is malformed: PROTOCOL_ERROR (stream error)`,
    setup: getOne,
    frames: (p) => [p.headers(1, fields, true)],
    expect: { stream: 1, code: ERROR.PROTOCOL_ERROR },
    then: (p) => {
      assert.match(p.eventsOf("reset")[0].reason, reason);
      assert.deepEqual(p.eventsOf("response"), []);
    },
  })),
];

async function runCase(c: Case): Promise<Server> {
  const p = new Server(c.limits);
  await settle();
  if (!c.raw) await p.handshake();
  await c.setup?.(p);
  p.send(...c.frames(p));
  await settle();
  const e = c.expect;
  if (e === "fine") {
    assert.deepEqual(p.goaways(), [], `no GOAWAY: ${p.transcript()}`);
    assert.ok(await p.alive(), "the connection still answers PING");
  } else if ("connection" in e) {
    assertConnectionError(p, e.connection);
  } else {
    await assertStreamError(p, e.stream, e.code);
  }
  c.then?.(p);
  return p;
}

describe("H2ClientConnection, frame by frame", () => {
  for (const c of CASES) test(c.name, () => runCase(c).then(() => {}));
});

// ---- the connection's life ------------------------------------------------------------------------

describe("H2ClientConnection", () => {
  test("sends the preface, its SETTINGS and the connection window first, nothing else", async () => {
    const p = new Server({ streamWindow: 100_000, connectionWindow: 1_000_000 });
    assert.equal(p.frames.length, 0, "nothing before the first flush");
    await settle();
    assert.deepEqual(p.frames.map((f) => frameName(f.type)), ["SETTINGS", "WINDOW_UPDATE"]);
    const settings = p.frames[0].payload;
    const entries = [];
    for (let i = 0; i < settings.length; i += 6) {
      entries.push([(settings[i] << 8) | settings[i + 1], u32(settings, i + 2)]);
    }
    assert.deepEqual(entries, [
      [SETTING.ENABLE_PUSH, 0],
      [SETTING.INITIAL_WINDOW_SIZE, 100_000],
      [SETTING.MAX_HEADER_LIST_SIZE, DEFAULT_H2_CLIENT_LIMITS.maxHeaderListSize],
    ]);
    assert.equal(p.frames[1].stream, 0);
    assert.equal(u32(p.frames[1].payload, 0), 1_000_000 - 65535);
  });

  test("acknowledges the server's SETTINGS, and not its ACK", async () => {
    const p = new Server();
    await settle();
    p.send(settingsFrame([[SETTING.MAX_CONCURRENT_STREAMS, 10]]), SETTINGS_ACK);
    await settle();
    const acks = p.framesOf(FRAME.SETTINGS).filter((f) => (f.flags & FLAG.ACK) !== 0);
    assert.equal(acks.length, 1);
    assert.equal(acks[0].payload.length, 0);
  });

  test("streams are odd and increasing, heads encoded with END_STREAM as asked", async () => {
    const p = new Server();
    await p.handshake();
    assert.equal(p.conn.request(get("/a"), true), 1);
    assert.equal(p.conn.request(get("/b", "POST"), false), 3);
    assert.equal(p.conn.request([...get("/c"), ["authorization", "secret"]], true), 5);
    await settle();
    const heads = p.framesOf(FRAME.HEADERS);
    assert.deepEqual(heads.map((f) => [f.stream, (f.flags & FLAG.END_STREAM) !== 0]), [
      [1, true],
      [3, false],
      [5, true],
    ]);
    assert.deepEqual(heads[0].fields, get("/a"));
    assert.deepEqual(heads[2].fields, [...get("/c"), ["authorization", "secret"]]);
    assert.equal(p.conn.idle, false);
  });

  test("a request head larger than SETTINGS_MAX_FRAME_SIZE goes out as HEADERS + CONTINUATION", async () => {
    const p = new Server();
    await p.handshake();
    const fields: FieldList = [...get(), ["x-big", "z".repeat(40_000)]];
    assert.equal(p.conn.request(fields, true), 1);
    await settle();
    assert.deepEqual(p.framesOf(FRAME.HEADERS)[0].fields, fields);
  });

  test("MAX_CONCURRENT_STREAMS: request() returns null at the limit, until a stream ends", async () => {
    const p = new Server();
    await settle();
    assert.equal(p.conn.available, 100, "100 assumed before the server's SETTINGS");
    p.send(settingsFrame([[SETTING.MAX_CONCURRENT_STREAMS, 2]]));
    assert.equal(p.conn.available, 2);
    assert.equal(p.conn.request(get(), true), 1);
    assert.equal(p.conn.request(get(), true), 3);
    assert.equal(p.conn.available, 0);
    assert.equal(p.conn.request(get(), true), null);
    p.send(p.headers(1, [[":status", "204"]], true));
    assert.equal(p.conn.available, 1);
    assert.equal(p.conn.request(get(), true), 5);
    // A later SETTINGS without the entry keeps the limit; one that lowers it holds new streams.
    p.send(settingsFrame([[SETTING.HEADER_TABLE_SIZE, 4096]]));
    assert.equal(p.conn.available, 0);
    p.send(settingsFrame([[SETTING.MAX_CONCURRENT_STREAMS, 1]]));
    p.send(p.headers(3, [[":status", "204"]], true));
    assert.equal(p.conn.available, 0, "stream 5 fills the one allowed");
    p.send(p.headers(5, [[":status", "204"]], true));
    assert.equal(p.conn.available, 1);
    await settle();
    assert.deepEqual(p.goaways(), []);
  });

  test("a first SETTINGS without MAX_CONCURRENT_STREAMS lifts the assumed 100", async () => {
    const p = new Server();
    await p.handshake();
    for (let i = 0; i < 150; i++) assert.notEqual(p.conn.request(get(), true), null);
    assert.ok(p.conn.available > 1_000_000);
  });

  test("HEADER_TABLE_SIZE: the next request block starts with a table size update", async () => {
    const p = new Server();
    await p.handshake([[SETTING.HEADER_TABLE_SIZE, 0]]);
    p.conn.request(get(), true);
    await settle();
    const head = p.framesOf(FRAME.HEADERS)[0];
    assert.equal(head.payload[0], 0x20, "a size update to 0 first");
    assert.deepEqual(head.fields, get());
  });

  test("flow control: request data waits for the stream's WINDOW_UPDATE, then writable", async () => {
    const p = new Server();
    await p.handshake([[SETTING.INITIAL_WINDOW_SIZE, 10]]);
    const id = p.conn.request(get("/", "POST"), false)!;
    const body = pattern(25);
    assert.equal(p.conn.data(id, body, true), false, "some waits");
    await settle();
    assert.deepEqual(p.sent(id).bytes, body.subarray(0, 10));
    assert.deepEqual(p.eventsOf("writable"), []);
    p.send(windowUpdateFrame(id, 5));
    await settle();
    assert.deepEqual(p.sent(id).bytes, body.subarray(0, 15));
    assert.equal(p.sent(id).ended, false);
    p.send(windowUpdateFrame(id, 100));
    await settle();
    assert.deepEqual(p.sent(id), { bytes: body, ended: true });
    assert.deepEqual(p.eventsOf("writable"), [{ kind: "writable", stream: id }]);
  });

  test("an owner that sends its next chunk from inside writable gets its body out in order", async () => {
    const p = new Server();
    await p.handshake([[SETTING.INITIAL_WINDOW_SIZE, 1000]]);
    const id = p.conn.request(get("/", "POST"), false)!;
    const body = pattern(10_000);
    let at = 0;
    const pump = () => {
      while (at < body.length) {
        const chunk = body.subarray(at, at + 700);
        at += chunk.length;
        if (!p.conn.data(id, chunk, at === body.length)) return;
      }
    };
    p.onWritable = pump;
    pump();
    for (let i = 0; i < 12; i++) p.send(windowUpdateFrame(id, 1000));
    await settle();
    assert.deepEqual(p.sent(id), { bytes: body, ended: true });
    assert.ok(p.eventsOf("writable").length >= 9);
  });

  test("flow control: the connection window holds all streams until its WINDOW_UPDATE", async () => {
    const p = new Server();
    await p.handshake([[SETTING.INITIAL_WINDOW_SIZE, 1 << 20]]);
    const a = p.conn.request(get("/", "POST"), false)!;
    const b = p.conn.request(get("/", "POST"), false)!;
    assert.equal(p.conn.data(a, pattern(50_000, 1), true), true, "fits the connection window");
    assert.equal(p.conn.data(b, pattern(50_000, 2), true), false);
    await settle();
    assert.equal(p.sent(a).bytes.length + p.sent(b).bytes.length, 65535);
    p.send(windowUpdateFrame(0, 40_000));
    await settle();
    assert.deepEqual(p.sent(a), { bytes: pattern(50_000, 1), ended: true });
    assert.deepEqual(p.sent(b), { bytes: pattern(50_000, 2), ended: true });
    assert.deepEqual(p.eventsOf("writable").map((e) => e.stream), [b]);
    // DATA frames stay within the server's SETTINGS_MAX_FRAME_SIZE.
    assert.ok(p.framesOf(FRAME.DATA).every((f) => f.payload.length <= 16384));
  });

  test("flow control: a smaller INITIAL_WINDOW_SIZE can make a stream's window negative", async () => {
    const p = new Server();
    await p.handshake([[SETTING.INITIAL_WINDOW_SIZE, 1000]]);
    const id = p.conn.request(get("/", "POST"), false)!;
    assert.equal(p.conn.data(id, pattern(800), false), true);
    p.send(settingsFrame([[SETTING.INITIAL_WINDOW_SIZE, 500]]));
    // 800 sent of a window now 500: -300, so 300 must come back before anything moves.
    assert.equal(p.conn.data(id, pattern(100), true), false);
    p.send(windowUpdateFrame(id, 300));
    await settle();
    assert.equal(p.sent(id).bytes.length, 800);
    p.send(settingsFrame([[SETTING.INITIAL_WINDOW_SIZE, 600]]));
    await settle();
    assert.deepEqual(p.sent(id).bytes.length, 900);
    assert.equal(p.sent(id).ended, true);
  });

  test("SETTINGS_MAX_FRAME_SIZE: larger DATA frames once the server allows them", async () => {
    const p = new Server();
    await p.handshake([[SETTING.MAX_FRAME_SIZE, 40_000], [SETTING.INITIAL_WINDOW_SIZE, 1 << 20]]);
    p.send(windowUpdateFrame(0, 1 << 20));
    const id = p.conn.request(get("/", "POST"), false)!;
    p.conn.data(id, pattern(100_000), true);
    await settle();
    assert.deepEqual(p.framesOf(FRAME.DATA).map((f) => f.payload.length), [
      40_000,
      40_000,
      20_000,
    ]);
  });

  test("a full socket holds DATA until outputDrained; the chunk is copied only as it goes", async () => {
    const p = new Server();
    await p.handshake();
    const id = p.conn.request(get("/", "POST"), false)!;
    await settle();
    p.writeResult = false;
    const chunk = pattern(1000);
    assert.equal(p.conn.data(id, chunk, false), true);
    await settle(); // the write that says the socket is full
    const before = p.sent(id).bytes.length;
    assert.equal(p.conn.data(id, pattern(500, 9), true), false, "waits for the socket");
    await settle();
    assert.equal(p.sent(id).bytes.length, before);
    chunk.fill(0); // the first chunk went out: the owner may reuse it
    p.writeResult = true;
    p.conn.outputDrained();
    await settle();
    assert.deepEqual(p.sent(id), { bytes: concat([pattern(1000), pattern(500, 9)]), ended: true });
    assert.deepEqual(p.eventsOf("writable"), [{ kind: "writable", stream: id }]);
  });

  test("receive flow control: WINDOW_UPDATEs as the owner consumes", async () => {
    const p = new Server({ streamWindow: 40_000, connectionWindow: 100_000 });
    await settle();
    await p.handshake();
    await answered(p);
    p.send(dataFrame(1, 16384), dataFrame(1, 16384));
    await settle();
    assert.deepEqual(p.framesOf(FRAME.WINDOW_UPDATE).length, 1, "only the preface's");
    p.conn.consumed(1, 16384);
    await settle();
    assert.deepEqual(p.framesOf(FRAME.WINDOW_UPDATE).length, 1, "not yet half a window");
    p.conn.consumed(1, 16384);
    await settle();
    const updates = p.framesOf(FRAME.WINDOW_UPDATE).slice(1);
    assert.deepEqual(updates.map((f) => [f.stream, u32(f.payload, 0)]), [[1, 32768]]);
    // The stream window is back: 40000 more may come (more than the original 40000 - 32768).
    p.send(dataFrame(1, 16384), dataFrame(1, 16384));
    await settle();
    assert.deepEqual(p.rsts(), []);
    p.conn.consumed(1, 32768);
    await settle();
    assert.deepEqual(
      p.framesOf(FRAME.WINDOW_UPDATE).slice(1).map((f) => [f.stream, u32(f.payload, 0)]),
      [[1, 32768], [0, 65536], [1, 32768]],
    );
  });

  test("body bytes the owner never consumed go back to the connection window when the stream ends", async () => {
    const p = new Server({ streamWindow: 65535, connectionWindow: 65535 });
    await p.handshake();
    await answered(p);
    p.send(dataFrame(1, 16384), dataFrame(1, 16384), dataFrame(1, 16384));
    p.send(rstStreamFrame(1, ERROR.CANCEL));
    await settle();
    assert.deepEqual(
      p.framesOf(FRAME.WINDOW_UPDATE).map((f) => [f.stream, u32(f.payload, 0)]),
      [[0, 49152]],
    );
    p.conn.consumed(1, 49152); // late: ignored, not counted twice
    await settle();
    assert.equal(p.framesOf(FRAME.WINDOW_UPDATE).length, 1);
  });

  test("trailers both ways: request trailers after the data, response trailers end it", async () => {
    const p = new Server();
    await p.handshake([[SETTING.INITIAL_WINDOW_SIZE, 4]]);
    const id = p.conn.request([...get("/svc/Method", "POST"), ["te", "trailers"]], false)!;
    assert.equal(p.conn.data(id, pattern(10), false), false);
    p.conn.trailers(id, [["x-checksum", "abc"]]);
    await settle();
    assert.equal(p.sent(id).ended, false, "trailers wait behind the data");
    p.send(windowUpdateFrame(id, 6));
    await settle();
    const heads = p.framesOf(FRAME.HEADERS);
    assert.equal(heads.length, 2);
    assert.deepEqual(heads[1].fields, [["x-checksum", "abc"]]);
    assert.equal(heads[1].flags & FLAG.END_STREAM, FLAG.END_STREAM);
    assert.ok(p.frames.indexOf(heads[1]) > p.frames.indexOf(p.framesOf(FRAME.DATA).at(-1)!));
    assert.deepEqual(p.sent(id).bytes, pattern(10));
    // A trailer-ended request takes no more data.
    assert.equal(p.conn.data(id, pattern(3), true), true);

    p.send(
      p.headers(id, [[":status", "200"], ["content-type", "application/grpc"]], false),
      dataFrame(id, 5),
      p.headers(id, [["grpc-status", "0"], ["grpc-message", "ok"]], true),
    );
    await settle();
    assert.deepEqual(p.eventsOf("trailers"), [{
      kind: "trailers",
      stream: id,
      fields: [["grpc-status", "0"], ["grpc-message", "ok"]],
    }]);
    assert.ok(p.conn.idle);
  });

  test("a response that ends before the request keeps the stream open until the request ends", async () => {
    const p = new Server();
    await p.handshake();
    const id = p.conn.request(get("/", "POST"), false)!;
    p.send(p.headers(id, [[":status", "200"]], false), dataFrame(id, 3, true));
    await settle();
    assert.equal(p.conn.idle, false);
    assert.equal(p.conn.data(id, pattern(4), true), true);
    await settle();
    assert.ok(p.conn.idle);
    assert.deepEqual(p.sent(id), { bytes: pattern(4), ended: true });
  });

  test("GOAWAY: streams above the last id are refused, the others finish, then closed", async () => {
    const p = new Server();
    await p.handshake();
    const ids = [1, 3, 5].map(() => p.conn.request(get("/", "POST"), false));
    assert.deepEqual(ids, [1, 3, 5]);
    p.send(goawayFrame(1, ERROR.NO_ERROR, "restarting"));
    await settle();
    assert.deepEqual(
      p.eventsOf("reset").map((e) => [e.stream, errorName(e.code)]),
      [[3, "REFUSED_STREAM"], [5, "REFUSED_STREAM"]],
    );
    for (const e of p.eventsOf("reset")) {
      assert.match(e.reason, /refused/);
      assert.match(e.reason, /restarting/);
    }
    assert.equal(p.conn.available, 0);
    assert.equal(p.conn.request(get(), true), null, "no new stream after GOAWAY");
    assert.equal(p.conn.data(3, pattern(3), true), true, "a refused stream takes no data");
    assert.deepEqual(p.eventsOf("closed"), []);
    // Stream 1 carries on.
    assert.equal(p.conn.data(1, pattern(3), true), true);
    p.send(p.headers(1, [[":status", "200"]], false), dataFrame(1, 2, true));
    await settle();
    assert.deepEqual(p.sent(1), { bytes: pattern(3), ended: true });
    assert.equal(p.body(1).length, 2);
    const closed = p.eventsOf("closed");
    assert.equal(closed.length, 1);
    assert.equal(closed[0].code, ERROR.NO_ERROR);
    assert.match(closed[0].reason, /GOAWAY.*restarting/);
    assert.equal(p.events.at(-1)?.kind, "closed", "after the last stream's events");
    assert.deepEqual(p.rsts(), []);
    assert.deepEqual(p.goaways(), [], "a GOAWAY is not answered with one");
  });

  test("GOAWAY with no stream open closes at once; a second one may lower the last id", async () => {
    const p = new Server();
    await p.handshake();
    p.send(goawayFrame(0, ERROR.ENHANCE_YOUR_CALM, "calm"));
    assert.deepEqual(p.eventsOf("closed").map((e) => e.code), [ERROR.ENHANCE_YOUR_CALM]);

    const q = new Server();
    await q.handshake();
    q.conn.request(get(), true);
    q.conn.request(get(), true);
    q.send(goawayFrame(0x7fffffff, ERROR.NO_ERROR));
    assert.deepEqual(q.eventsOf("reset"), []);
    q.send(goawayFrame(1, ERROR.NO_ERROR));
    assert.deepEqual(q.eventsOf("reset").map((e) => [e.stream, e.code]), [[
      3,
      ERROR.REFUSED_STREAM,
    ]]);
    q.send(q.headers(1, [[":status", "204"]], true));
    assert.equal(q.eventsOf("closed").length, 1);
  });

  test("GOAWAY: a stream above the last id that the server already answered finishes", async () => {
    const p = new Server();
    await p.handshake();
    p.conn.request(get(), true);
    p.conn.request(get(), true);
    p.send(p.headers(3, [[":status", "200"]], false), goawayFrame(1, ERROR.NO_ERROR));
    assert.deepEqual(p.eventsOf("reset"), [], "its response may be on its way: not refused");
    p.send(dataFrame(3, 2, true), p.headers(1, [[":status", "204"]], true));
    assert.equal(p.body(3).length, 2);
    assert.equal(p.eventsOf("closed").length, 1);
  });

  test("shutdown: GOAWAY NO_ERROR, open streams finish, then closed with the reason", async () => {
    const p = new Server();
    await p.handshake();
    const id = p.conn.request(get(), true)!;
    p.conn.shutdown("pool shrinking");
    await settle();
    assert.deepEqual(p.goaways(), [{
      lastStream: 0,
      code: ERROR.NO_ERROR,
      debug: "pool shrinking",
    }]);
    assert.equal(p.conn.request(get(), true), null);
    assert.deepEqual(p.eventsOf("closed"), []);
    p.send(p.headers(id, [[":status", "200"]], true));
    assert.deepEqual(p.eventsOf("closed"), [{
      kind: "closed",
      code: ERROR.NO_ERROR,
      reason: "pool shrinking",
    }]);
  });

  test("abort: GOAWAY with the code, open streams reset, closed, then silence", async () => {
    const p = new Server();
    await p.handshake();
    p.conn.request(get(), true);
    p.conn.request(get("/", "POST"), false);
    p.conn.abort(ERROR.INTERNAL_ERROR, "socket closed");
    await settle();
    assertConnectionError(p, ERROR.INTERNAL_ERROR);
    assert.deepEqual(p.eventsOf("reset").map((e) => [e.stream, e.code]), [
      [1, ERROR.CANCEL],
      [3, ERROR.CANCEL],
    ]);
    const frames = p.frames.length;
    p.send(settingsFrame([]), frame(FRAME.PING, 0, 0, OPAQUE));
    assert.equal(p.conn.data(3, pattern(5), true), true);
    p.conn.reset(1, ERROR.CANCEL);
    p.conn.consumed(1, 10);
    await settle();
    assert.equal(p.frames.length, frames, "nothing after the GOAWAY");
  });

  test("abort with NO_ERROR (the socket ended): closed with the reason as given", async () => {
    const p = new Server();
    await p.handshake();
    p.conn.abort(ERROR.NO_ERROR, "the backend closed the connection");
    assert.deepEqual(p.eventsOf("closed"), [{
      kind: "closed",
      code: ERROR.NO_ERROR,
      reason: "the backend closed the connection",
    }]);
  });

  test("the owner's reset: RST_STREAM with its code, no event, the stream's slot is free", async () => {
    const p = new Server();
    await p.handshake([[SETTING.MAX_CONCURRENT_STREAMS, 1]]);
    const id = p.conn.request(get("/", "POST"), false)!;
    assert.equal(p.conn.available, 0);
    p.conn.reset(id, ERROR.CANCEL);
    await settle();
    assert.deepEqual(p.rsts(), [[id, ERROR.CANCEL]]);
    assert.deepEqual(p.eventsOf("reset"), []);
    assert.equal(p.conn.available, 1);
    assert.ok(p.conn.idle);
  });

  test("a server's frames split at every byte give the same events", async () => {
    const whole = new Server();
    const split = new Server();
    for (const p of [whole, split]) {
      await settle();
      p.conn.request(get(), true);
    }
    const bytes = (p: Server) =>
      concat([
        settingsFrame([[SETTING.MAX_CONCURRENT_STREAMS, 5]]),
        p.headers(1, [[":status", "200"], ["content-length", "6"]], false),
        dataFrame(1, pattern(4)),
        frame(FRAME.DATA, FLAG.PADDED, 1, Uint8Array.of(3, 9, 9, 0, 0, 0)),
        p.headers(1, [["x-done", "yes"]], true),
      ]);
    whole.send(bytes(whole));
    const input = bytes(split);
    for (let i = 0; i < input.length; i++) split.conn.receive(input.subarray(i, i + 1));
    await settle();
    assert.deepEqual(
      split.events.filter((e) => e.kind !== "body"),
      whole.events.filter((e) => e.kind !== "body"),
    );
    assert.deepEqual(split.body(1), whole.body(1));
    assert.deepEqual([...whole.body(1)], [...pattern(4), 9, 9]);
  });
});

// ---- fuzz -------------------------------------------------------------------------------------------

/**
 * The events of `stream` follow its life: a response head, body, at most one end (END_STREAM or
 * trailers), nothing after a reset; after a complete response, only a reset, and only while the
 * request is still open (`requestOpen`).
 */
function checkStreamEvents(p: Server, stream: number, requestOpen: boolean): void {
  let state: "head" | "body" | "done" | "reset" = "head";
  for (const e of p.events) {
    if (!("stream" in e) || e.stream !== stream || e.kind === "writable") continue;
    const where: string = `${e.kind} on stream ${stream} in state ${state}: ${p.transcript()}`;
    assert.notEqual(state, "reset", where);
    if (e.kind === "reset") {
      assert.ok(state !== "done" || requestOpen, where);
      state = "reset";
    } else if (e.kind === "response") {
      assert.equal(state, "head", where);
      state = e.endStream ? "done" : "body";
    } else {
      assert.equal(state, "body", where);
      if (e.kind === "trailers" || e.endStream) state = "done";
    }
  }
}

describe("H2ClientConnection fuzz", () => {
  test("mutated server input never throws, and the owner's events stay consistent", async () => {
    const rand = mulberry32(0x5eed);
    const interesting = [0, 1, 4, 5, 8, 9, 0x20, 0x7f, 0x80, 0xff];
    for (let round = 0; round < 400; round++) {
      const p = new Server({ maxHeaderListSize: 4096, streamWindow: 70_000 });
      p.autoConsume = rand.int(2) === 0;
      await settle();
      const a = p.conn.request(get("/a"), true)!;
      const b = p.conn.request(get("/b", "POST"), false)!;
      const c = p.conn.request(get("/c", "HEAD"), true)!;
      const valid = concat([
        settingsFrame([[SETTING.MAX_CONCURRENT_STREAMS, 3], [SETTING.INITIAL_WINDOW_SIZE, 100]]),
        p.headers(a, [[":status", "103"]], false),
        p.headers(a, [[":status", "200"], ["content-length", "20"]], false),
        dataFrame(a, 20, true),
        p.headers(b, [[":status", "200"], ["content-type", "application/grpc"]], false),
        frame(FRAME.PING, 0, 0, OPAQUE),
        windowUpdateFrame(b, 1000),
        windowUpdateFrame(0, 1000),
        dataFrame(b, 300),
        p.headers(b, [["grpc-status", "0"]], true),
        p.headers(c, [[":status", "200"], ["content-length", "9"]], true),
        rstStreamFrame(b, ERROR.NO_ERROR),
        goawayFrame(3, ERROR.NO_ERROR, "bye"),
      ]);
      const input = editBytes(rand, valid.slice(), interesting);
      let at = 0;
      while (at < input.length) {
        const n = rand.range(1, 200);
        p.conn.receive(input.subarray(at, at + n));
        at += n;
        if (rand.int(4) === 0) p.conn.data(b, pattern(rand.range(0, 300)), rand.int(3) === 0);
      }
      await settle();
      for (const id of [a, b, c]) checkStreamEvents(p, id, id === b);
      const closed = p.events.findIndex((e) => e.kind === "closed");
      if (closed >= 0) {
        assert.equal(closed, p.events.length - 1, `nothing after closed: ${p.transcript()}`);
        assert.ok(p.conn.over);
      }
      const goaways = p.framesOf(FRAME.GOAWAY);
      if (goaways.length > 0) {
        assert.equal(goaways.length, 1);
        assert.equal(p.frames.at(-1), goaways[0], "nothing after our GOAWAY");
      }
    }
  });
});
