/**
 * The client side of an HTTP/2 connection as bytes, for tests of the server's state machine
 * (src/h2/connection.ts) without sockets: builders for every frame a client can send (valid or
 * not), and `H2Peer`, which owns an `H2Connection`, records every `H2Events` call, and parses
 * what the server wrote back into frames (GOAWAY and RST_STREAM codes read out, HEADERS blocks
 * decoded with the client's own HPACK decoder).
 *
 * The connection flushes its output once per microtask turn: call `settle()` before reading it.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type FieldList,
  H2Connection,
  type H2Events,
  type H2Limits,
} from "../../src/h2/connection.ts";
import { ERROR, errorName, FLAG, FRAME, frameName, sniffFrame } from "../../src/h2/frame.ts";
import { HpackDecoder } from "../../src/h2/hpack.ts";
import { HpackEncoder } from "../../src/h2/hpack_encode.ts";
import { H2_PREFACE } from "../../src/h2/preface.ts";
import { block as hpackBlock, literal } from "./hpack_block.ts";

export { H2_PREFACE as PREFACE };

// ---- client frames ------------------------------------------------------------------------------

function u32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

/**
 * Any frame, exactly as given: `stream` is written as 32 bits (so the reserved bit can be set),
 * `length` overrides the header's length field (to lie about it).
 */
export function rawFrame(
  type: number,
  flags: number,
  stream: number,
  payload: Uint8Array | readonly number[] = [],
  length = payload.length,
): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out.set([(length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff, type, flags], 0);
  out.set(u32(stream), 5);
  out.set(payload, 9);
  return out;
}

/** A SETTINGS frame (no entries: the empty one that may end a client preface). */
export function settings(entries: readonly (readonly [number, number])[] = []): Uint8Array {
  return rawFrame(
    FRAME.SETTINGS,
    0,
    0,
    entries.flatMap(([id, v]) => [id >> 8, id & 0xff, ...u32(v)]),
  );
}

export const SETTINGS_ACK: Uint8Array = rawFrame(FRAME.SETTINGS, FLAG.ACK, 0);

/** Options of a HEADERS frame. */
export interface HeadersOptions {
  endStream?: boolean;
  /** Default true; false leaves the block open for CONTINUATION frames. */
  endHeaders?: boolean;
  /** PADDED with this many bytes of padding. */
  pad?: number;
  /** The PRIORITY flag with these fields. */
  priority?: { dependency: number; weight?: number; exclusive?: boolean };
  /** More flag bits (undefined ones, to check they are ignored). */
  extraFlags?: number;
}

/** A HEADERS frame carrying `block` (an HPACK block, see `H2Peer.block`) on `stream`. */
export function headers(stream: number, block: Uint8Array, o: HeadersOptions = {}): Uint8Array {
  let flags = (o.endStream ? FLAG.END_STREAM : 0) | (o.endHeaders === false ? 0 : FLAG.END_HEADERS);
  const payload: number[] = [];
  if (o.pad !== undefined) {
    flags |= FLAG.PADDED;
    payload.push(o.pad);
  }
  if (o.priority !== undefined) {
    flags |= FLAG.PRIORITY;
    const { dependency, weight = 15, exclusive = false } = o.priority;
    payload.push(...u32((dependency | (exclusive ? 0x80000000 : 0)) >>> 0), weight);
  }
  payload.push(...block, ...new Array(o.pad ?? 0).fill(0));
  return rawFrame(FRAME.HEADERS, flags | (o.extraFlags ?? 0), stream, payload);
}

/** A CONTINUATION frame with `fragment`. */
export function continuation(stream: number, fragment: Uint8Array, endHeaders = true): Uint8Array {
  return rawFrame(FRAME.CONTINUATION, endHeaders ? FLAG.END_HEADERS : 0, stream, fragment);
}

/** A DATA frame; `pad`: PADDED with that many bytes of padding. */
export function data(
  stream: number,
  bytes: Uint8Array | readonly number[] | number,
  o: { endStream?: boolean; pad?: number; extraFlags?: number } = {},
): Uint8Array {
  const body = typeof bytes === "number" ? new Uint8Array(bytes).fill(0x61) : bytes;
  let flags = (o.endStream ? FLAG.END_STREAM : 0) | (o.extraFlags ?? 0);
  let payload: number[] | Uint8Array = body instanceof Uint8Array ? body : [...body];
  if (o.pad !== undefined) {
    flags |= FLAG.PADDED;
    payload = [o.pad, ...payload, ...new Array(o.pad).fill(0)];
  }
  return rawFrame(FRAME.DATA, flags, stream, payload);
}

/** A PRIORITY frame. */
export function priority(stream: number, dependency: number, weight = 15, exclusive = false) {
  return rawFrame(FRAME.PRIORITY, 0, stream, [
    ...u32((dependency | (exclusive ? 0x80000000 : 0)) >>> 0),
    weight,
  ]);
}

export function rstStream(stream: number, code: number = ERROR.CANCEL): Uint8Array {
  return rawFrame(FRAME.RST_STREAM, 0, stream, u32(code));
}

/** A PING with 8 bytes of `opaque` (default 0..7). */
export function ping(opaque: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7], ack = false) {
  return rawFrame(FRAME.PING, ack ? FLAG.ACK : 0, 0, opaque);
}

export function goaway(lastStream: number, code: number = ERROR.NO_ERROR): Uint8Array {
  return rawFrame(FRAME.GOAWAY, 0, 0, [...u32(lastStream), ...u32(code)]);
}

export function windowUpdate(stream: number, increment: number): Uint8Array {
  return rawFrame(FRAME.WINDOW_UPDATE, 0, stream, u32(increment));
}

/**
 * An HPACK block of literals without indexing and with literal names: it leaves no trace in
 * either dynamic table, so it can be built, sent in any order, or not sent at all.
 */
export function plainBlock(fields: readonly (readonly [string, string])[]): Uint8Array {
  return hpackBlock(...fields.map(([name, value]) => literal("without", name, value)));
}

/** A request's header list: GET https://a.test/ plus `extra` fields. */
export function request(
  extra: readonly (readonly [string, string])[] = [],
  method = "GET",
): [string, string][] {
  return [
    [":method", method],
    [":scheme", "https"],
    [":authority", "a.test"],
    [":path", "/"],
    ...extra.map(([n, v]): [string, string] => [n, v]),
  ];
}

/** `parts` one after another. */
export function join(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---- server output ------------------------------------------------------------------------------

/** One frame the server sent, with the parts a test looks at read out. */
export interface ServerFrame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Uint8Array;
}

/** Splits server output into frames; it must consist of whole frames. */
export function parseFrames(bytes: Uint8Array): ServerFrame[] {
  const out: ServerFrame[] = [];
  let at = 0;
  while (at < bytes.length) {
    const r = sniffFrame(bytes.subarray(at), 0xffffff);
    assert.equal(r.kind, "match", `a whole frame at offset ${at} of the server's output`);
    if (r.kind !== "match") break;
    const f = r.value;
    out.push({ type: f.type, flags: f.flags, stream: f.stream, payload: f.payload.slice() });
    at += r.length;
  }
  return out;
}

function readU32(p: Uint8Array, at: number): number {
  return ((p[at] << 24) | (p[at + 1] << 16) | (p[at + 2] << 8) | p[at + 3]) >>> 0;
}

/** The fields of a GOAWAY frame. */
export function goawayOf(f: ServerFrame): { lastStream: number; code: number; debug: string } {
  assert.equal(f.type, FRAME.GOAWAY);
  return {
    lastStream: readU32(f.payload, 0) & 0x7fffffff,
    code: readU32(f.payload, 4),
    debug: new TextDecoder().decode(f.payload.subarray(8)),
  };
}

/** The error code of an RST_STREAM frame. */
export function rstCodeOf(f: ServerFrame): number {
  assert.equal(f.type, FRAME.RST_STREAM);
  return readU32(f.payload, 0);
}

/** SETTINGS entries as a map. */
export function settingsOf(f: ServerFrame): Map<number, number> {
  assert.equal(f.type, FRAME.SETTINGS);
  const out = new Map<number, number>();
  for (let i = 0; i + 6 <= f.payload.length; i += 6) {
    out.set((f.payload[i] << 8) | f.payload[i + 1], readU32(f.payload, i + 2));
  }
  return out;
}

/** The increment of a WINDOW_UPDATE frame. */
export function incrementOf(f: ServerFrame): number {
  assert.equal(f.type, FRAME.WINDOW_UPDATE);
  return readU32(f.payload, 0) & 0x7fffffff;
}

/** A frame as text for assertion messages: "RST_STREAM 1 PROTOCOL_ERROR". */
export function describeFrame(f: ServerFrame): string {
  const name = frameName(f.type);
  if (f.type === FRAME.GOAWAY) {
    const g = goawayOf(f);
    return `GOAWAY last=${g.lastStream} ${errorName(g.code)} "${g.debug}"`;
  }
  if (f.type === FRAME.RST_STREAM) return `RST_STREAM ${f.stream} ${errorName(rstCodeOf(f))}`;
  if (f.type === FRAME.WINDOW_UPDATE) return `WINDOW_UPDATE ${f.stream} +${incrementOf(f)}`;
  return `${name} ${f.stream} flags=0x${f.flags.toString(16)} len=${f.payload.length}`;
}

/** Waits until the connection's microtask flush (and anything it set off) has run. */
export function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

// ---- the peer -----------------------------------------------------------------------------------

/** One `H2Events` call, in the order they came. */
export type H2Event =
  | { kind: "request"; stream: number; fields: FieldList; endStream: boolean }
  | { kind: "body"; stream: number; bytes: number; endStream: boolean }
  | { kind: "trailers"; stream: number; fields: FieldList }
  | { kind: "reset"; stream: number; code: number; reason: string }
  | { kind: "writable"; stream: number }
  | { kind: "closed"; code: number; reason: string };

/** A decoded response or trailer block the server sent. */
export interface ServerBlock {
  readonly stream: number;
  readonly fields: [string, string][];
  readonly endStream: boolean;
}

/**
 * An `H2Connection` with a recording owner and a client's view of its output. The owner's
 * answers are up to the test (`conn.respond`, `conn.data`...), or hooks (`onRequest`, `onBody`)
 * that run inside the event, as the session's would.
 */
export class H2Peer implements H2Events {
  readonly conn: H2Connection;
  readonly events: H2Event[] = [];
  /** Every frame the server wrote, in order. */
  readonly frames: ServerFrame[] = [];
  /** Server frames since the last `take()`. */
  #fresh: ServerFrame[] = [];
  /** What `write` answers: false simulates a socket that queued the bytes. */
  writeResult = true;
  writes = 0;
  /** Problems found while recording (a write or event after `closed`), asserted by `check`. */
  readonly violations: string[] = [];
  readonly encoder: HpackEncoder = new HpackEncoder();
  readonly decoder: HpackDecoder = new HpackDecoder();
  /** Set to act inside the owner's events. */
  onRequest: ((stream: number, fields: FieldList, endStream: boolean) => void) | null = null;
  onBody: ((stream: number, chunk: Uint8Array, endStream: boolean) => void) | null = null;
  #closed = false;
  /** What the owner has seen of each stream, to check the order of its events. */
  readonly #lives = new Map<number, { requested: boolean; reset: boolean; ended: boolean }>();

  constructor(limits?: H2Limits) {
    this.conn = new H2Connection(this, limits);
  }

  // H2Events
  write(bytes: Uint8Array): boolean {
    if (this.#closed) this.violations.push(`write of ${bytes.length} bytes after closed`);
    this.writes++;
    for (const f of parseFrames(bytes)) {
      this.frames.push(f);
      this.#fresh.push(f);
    }
    return this.writeResult;
  }
  request(stream: number, fields: FieldList, endStream: boolean): void {
    this.#event({ kind: "request", stream, fields, endStream });
    this.onRequest?.(stream, fields, endStream);
  }
  body(stream: number, chunk: Uint8Array, endStream: boolean): void {
    this.#event({ kind: "body", stream, bytes: chunk.length, endStream });
    this.onBody?.(stream, chunk, endStream);
  }
  trailers(stream: number, fields: FieldList): void {
    this.#event({ kind: "trailers", stream, fields });
  }
  reset(stream: number, code: number, reason: string): void {
    this.#event({ kind: "reset", stream, code, reason });
  }
  writable(stream: number): void {
    this.#event({ kind: "writable", stream });
  }
  closed(code: number, reason: string): void {
    if (this.#closed) this.violations.push("closed twice");
    this.#event({ kind: "closed", code, reason });
    this.#closed = true;
  }

  #event(e: H2Event): void {
    if (this.#closed) this.violations.push(`${e.kind} after closed`);
    // Stream events follow the stream's life: request, then body or trailers, then at most one
    // end (the request's end or a reset); a reset after the request ended is still allowed.
    if (e.kind !== "closed") {
      const life = this.#lives.get(e.stream) ?? { requested: false, reset: false, ended: false };
      this.#lives.set(e.stream, life);
      if (e.kind === "request" && life.requested) this.violations.push(`stream ${e.stream} twice`);
      if (e.kind !== "request" && !life.requested) {
        this.violations.push(`${e.kind} on stream ${e.stream}, which the owner never had`);
      }
      if (life.reset) this.violations.push(`${e.kind} on stream ${e.stream} after its reset`);
      if (life.ended && (e.kind === "body" || e.kind === "trailers")) {
        this.violations.push(`${e.kind} on stream ${e.stream} after the request ended`);
      }
      if (e.kind === "request") life.requested = true;
      if (e.kind === "reset") life.reset = true;
      if (((e.kind === "request" || e.kind === "body") && e.endStream) || e.kind === "trailers") {
        life.ended = true;
      }
    }
    this.events.push(e);
  }

  /** An HPACK block of `fields` from this client's encoder (blocks must be sent in order). */
  block(fields: readonly (readonly [string, string])[]): Uint8Array {
    return this.encoder.encode(fields);
  }

  /** Feeds bytes to the connection, in one call. */
  send(...parts: Uint8Array[]): void {
    this.conn.receive(join(...parts));
  }

  /** Preface and an empty SETTINGS; settles, checks the server's preface and ACKs it. */
  async handshake(clientSettings: readonly (readonly [number, number])[] = []): Promise<void> {
    this.send(H2_PREFACE, settings(clientSettings));
    await settle();
    const first = this.take();
    assert.equal(first[0]?.type, FRAME.SETTINGS, "the server's preface starts with SETTINGS");
    assert.ok(
      first.some((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) !== 0),
      "the client's SETTINGS acknowledged",
    );
    this.send(SETTINGS_ACK);
  }

  /** The server frames since the last call. */
  take(): ServerFrame[] {
    const out = this.#fresh;
    this.#fresh = [];
    return out;
  }

  /** Handshake, then a GET (or `fields`) on `stream`; settles. */
  async open(
    stream = 1,
    o: { endStream?: boolean; fields?: readonly (readonly [string, string])[] } = {},
  ): Promise<void> {
    this.send(
      headers(stream, plainBlock(o.fields ?? request()), { endStream: o.endStream ?? true }),
    );
    await settle();
  }

  /** Sends a PING and says whether the server answered it (it still reads and writes). */
  async alive(): Promise<boolean> {
    const opaque = [0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8];
    this.send(ping(opaque));
    await settle();
    return this.take().some((f) =>
      f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0 &&
      f.payload.every((b, i) => b === opaque[i])
    );
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** The `closed` event, if any. */
  closedEvent(): { code: number; reason: string } | undefined {
    const e = this.events.find((e) => e.kind === "closed");
    return e?.kind === "closed" ? e : undefined;
  }

  /** Stream events of one kind. */
  eventsOf<K extends H2Event["kind"]>(kind: K): Extract<H2Event, { kind: K }>[] {
    return this.events.filter((e): e is Extract<H2Event, { kind: K }> => e.kind === kind);
  }

  /** The server's GOAWAY frames, read out. */
  goaways(): { lastStream: number; code: number; debug: string }[] {
    return this.frames.filter((f) => f.type === FRAME.GOAWAY).map(goawayOf);
  }

  /** The server's RST_STREAM frames as [stream, code], from frame `since` on. */
  rsts(since = 0): [number, number][] {
    return this.frames.slice(since).filter((f) => f.type === FRAME.RST_STREAM).map((f) => [
      f.stream,
      rstCodeOf(f),
    ]);
  }

  /** Decodes the server's header blocks (HEADERS + CONTINUATION) in order. */
  blocks(): ServerBlock[] {
    const out: ServerBlock[] = [];
    let parts: Uint8Array[] = [];
    let head: ServerFrame | null = null;
    // Decoded from scratch each call, with a decoder of its own: the table must see every block.
    const decoder = new HpackDecoder();
    for (const f of this.frames) {
      if (f.type === FRAME.HEADERS) {
        assert.equal(head, null, "a HEADERS frame inside another header block");
        head = f;
        parts = [f.payload];
      } else if (f.type === FRAME.CONTINUATION) {
        assert.ok(head !== null && head.stream === f.stream, "CONTINUATION follows its HEADERS");
        parts.push(f.payload);
      } else {
        assert.equal(head, null, `${frameName(f.type)} inside a header block`);
        continue;
      }
      if ((f.flags & FLAG.END_HEADERS) === 0) continue;
      const r = decoder.decode(join(...parts));
      if ("error" in r) assert.fail(`the server's header block: ${r.error}`);
      out.push({
        stream: head!.stream,
        fields: r.headers,
        endStream: (head!.flags & FLAG.END_STREAM) !== 0,
      });
      head = null;
    }
    return out;
  }

  /** DATA payload bytes the server sent on `stream`, and whether END_STREAM came. */
  dataOf(stream: number): { bytes: number; frames: number; ended: boolean } {
    let bytes = 0;
    let frames = 0;
    let ended = false;
    for (const f of this.frames) {
      if (f.type !== FRAME.DATA || f.stream !== stream) continue;
      bytes += f.payload.length;
      frames++;
      if ((f.flags & FLAG.END_STREAM) !== 0) ended = true;
    }
    return { bytes, frames, ended };
  }

  /** Asserts that nothing was written or reported after `closed`, and `closed` came at most once. */
  check(): void {
    assert.deepEqual(this.violations, []);
  }
}

/** The transcript of a peer for assertion messages. */
export function transcript(p: H2Peer): string {
  return p.frames.map(describeFrame).join("; ");
}
