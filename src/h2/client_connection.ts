/**
 * The client side of one HTTP/2 connection (RFC 9113) as a state machine over bytes, for
 * backends that speak HTTP/2 (h2c with prior knowledge, or h2 over TLS): the owner opens
 * streams with `request` and feeds their bodies through `data`/`trailers`, the server's bytes go
 * in through `receive`, and responses come out as calls on an `H2ClientEvents` owner. Many
 * client streams share one backend connection, up to the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS (`available`).
 *
 * It mirrors the server side (connection.ts), and holds the same parts for what both sides do
 * alike (frame reading and rules, header blocks, SETTINGS, flow control both ways, flood
 * budgets, output batching: see connection.ts): the same zero-copy `data` contract, one `write`
 * per turn of the event loop, and no I/O and no throws: a fault of the server's is a connection
 * error (GOAWAY with its RFC 9113 code and a reason quoting the bad value, then `closed`) or a
 * stream error (RST_STREAM, then `reset`). What is left here is the client's part: the streams
 * it opens, its requests and the server's responses, and GOAWAY either way.
 *
 * A GOAWAY from the server refuses the streams above its last stream id (`reset` with
 * REFUSED_STREAM and "refused" in the reason: the server did not process them, so the owner may
 * send them again on another connection); the others finish, then `closed`.
 *
 * @module
 */

import type { FieldList } from "./connection.ts";
import { FloodBudget } from "./flood_budget.ts";
import { FrameReader } from "./frame_reader.ts";
import { answerPing, checkFrame, type FrameRuleHooks } from "./frame_rules.ts";
import { type HeaderBlock, HeaderBlockReader } from "./header_block.ts";
import { fieldFault } from "./request_fields.ts";
import { quote } from "../http1/fields.ts";
import { readResponseFields } from "./response_fields.ts";
import { OutputBatch } from "./output_batch.ts";
import { PeerSettings } from "./peer_settings.ts";
import { H2_PREFACE } from "./preface.ts";
import { newReceiver, type Receiver, ReceiveWindows } from "./receive_windows.ts";
import { newSender, type Sender, SendScheduler } from "./send_queue.ts";
import {
  ERROR,
  errorName,
  FLAG,
  FRAME,
  type Frame,
  goawayFrame,
  rstStreamFrame,
  SETTING,
  settingsFrame,
  u32,
} from "./frame.ts";

/** What the connection reports to its owner. */
export interface H2ClientEvents {
  /** Bytes for the server; false when the socket queued them (call `outputDrained` later). */
  write(bytes: Uint8Array): boolean;
  /** The final response head of `stream` (1xx heads are skipped); `endStream`: no body follows. */
  response(stream: number, fields: FieldList, endStream: boolean): void;
  /**
   * Response body bytes (valid until the call returns); call `consumed` once they are passed
   * on, which gives the server its window back.
   */
  body(stream: number, chunk: Uint8Array, endStream: boolean): void;
  /** Response trailers, which end the response. */
  trailers(stream: number, fields: FieldList): void;
  /**
   * The stream ended abnormally: the server's RST_STREAM, a stream error, the end of the
   * connection, or a GOAWAY that refused it (code REFUSED_STREAM, "refused" in the reason: it
   * was not processed and may be retried elsewhere). After a complete response, a reset with
   * NO_ERROR only means that the server wants no more of the request body.
   */
  reset(stream: number, code: number, reason: string): void;
  /** The stream's queued request data went out: its source may resume. */
  writable(stream: number): void;
  /**
   * The connection is over: the server's GOAWAY with no stream left, our `shutdown` with no
   * stream left, or a connection error (GOAWAY sent). The owner closes the socket once its
   * writes drained.
   */
  closed(code: number, reason: string): void;
}

/** What a client connection advertises and enforces. */
export interface H2ClientLimits {
  /** Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE). */
  readonly streamWindow: number;
  /** The connection's receive window. */
  readonly connectionWindow: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: a bigger response head is a stream error. */
  readonly maxHeaderListSize: number;
  /** Frames that carry no response progress (SETTINGS, PING, empty DATA...) allowed per window. */
  readonly maxControlFrames: number;
  /** The window `maxControlFrames` counts over. */
  readonly floodWindowMs: number;
}

/** The limits of a backend connection unless the owner gives others. */
export const DEFAULT_H2_CLIENT_LIMITS: H2ClientLimits = Object.freeze({
  streamWindow: 256 * 1024,
  // Many streams share a backend connection, and a stream whose client reads slowly holds its
  // window: the connection's is large so that a few such streams do not stall the others.
  // Memory stays bounded by the stream windows.
  connectionWindow: 16 * 1024 * 1024,
  maxHeaderListSize: 65536,
  maxControlFrames: 1000,
  floodWindowMs: 10_000,
});

/**
 * The concurrency assumed until the server's SETTINGS say otherwise: RFC 9113 section 6.5.2
 * recommends that servers allow at least 100.
 */
const INITIAL_MAX_STREAMS = 100;
/** The highest stream id (31 bits). */
const MAX_STREAM_ID = 2 ** 31 - 1;
/** At most this much of a GOAWAY's debug data goes into a reason. */
const MAX_DEBUG = 256;

/** Where the response of a stream is. */
type ResponseState = "head" | "body" | "done";

interface Stream extends Sender, Receiver {
  /** The request is HEAD: its response has no content whatever its content-length says. */
  readonly head: boolean;
  /** END_STREAM went out: the request is complete. */
  localDone: boolean;
  response: ResponseState;
}

/** The client side of one HTTP/2 connection. */
export class H2ClientConnection {
  readonly #ev: H2ClientEvents;
  readonly #limits: H2ClientLimits;
  readonly #streams = new Map<number, Stream>();
  /** The connection error that ends the connection, for the helpers that find one. */
  readonly #fail = (code: number, reason: string) => this.#connectionError(code, reason);
  readonly #reader = new FrameReader(false, this.#fail);
  readonly #rules: FrameRuleHooks = {
    neverOpened: (id) => this.#neverOpened(id),
    fail: this.#fail,
    streamError: (id, code, reason) => this.#streamError(id, code, reason),
  };
  readonly #out = new OutputBatch(
    (bytes) => this.#ev.write(bytes),
    () => this.#send.block(),
  );
  readonly #send: SendScheduler<Stream>;
  readonly #floods: FloodBudget;
  readonly #blocks: HeaderBlockReader;
  readonly #recv: ReceiveWindows;
  readonly #peer: PeerSettings<Stream>;
  /** The id the next stream gets (odd, increasing). */
  #nextStream = 1;
  /**
   * Streams we reset, or that a GOAWAY refused, recently: frames in flight on them are dropped,
   * not errors.
   */
  readonly #dropped = new Set<number>();
  /** We sent GOAWAY (shutdown): no new streams; the reason given, for `closed`. */
  #goawaySent: string | null = null;
  /** The server's GOAWAY: its code and reason, or null. */
  #serverGoaway: { code: number; reason: string } | null = null;
  #over = false;

  constructor(events: H2ClientEvents, limits: Partial<H2ClientLimits> = {}) {
    this.#ev = events;
    this.#limits = { ...DEFAULT_H2_CLIENT_LIMITS, ...limits };
    this.#floods = new FloodBudget(this.#limits, "server", this.#fail);
    this.#recv = new ReceiveWindows(this.#limits, this.#floods, {
      emit: (bytes) => this.#out.emit(bytes),
      fail: this.#fail,
      streamError: this.#rules.streamError,
    });
    this.#blocks = new HeaderBlockReader(this.#limits.maxHeaderListSize, this.#floods, this.#fail);
    this.#send = new SendScheduler<Stream>({
      stream: (id) => this.#streams.get(id),
      emit: (bytes) => this.#out.emit(bytes),
      ended: (s) => this.#localEnded(s),
      writable: (s) => this.#ev.writable(s.id),
      fail: this.#fail,
      streamError: this.#rules.streamError,
    });
    this.#peer = new PeerSettings("server", {
      send: this.#send,
      floods: this.#floods,
      streams: () => this.#streams.values(),
      emit: (bytes) => this.#out.emit(bytes),
      fail: this.#fail,
    });
    // The client's preface: the magic, SETTINGS, and the connection window raised to ours.
    this.#out.emit(H2_PREFACE);
    this.#out.emit(settingsFrame([
      [SETTING.ENABLE_PUSH, 0],
      [SETTING.INITIAL_WINDOW_SIZE, this.#limits.streamWindow],
      [SETTING.MAX_HEADER_LIST_SIZE, this.#limits.maxHeaderListSize],
    ]));
    this.#recv.raise();
  }

  /**
   * How many more streams `request` may open now: the server's SETTINGS_MAX_CONCURRENT_STREAMS
   * (100 until its SETTINGS arrive) less the open ones, and 0 once either side sent GOAWAY,
   * the connection is over or the stream ids are spent.
   */
  get available(): number {
    if (this.#over || this.#goawaySent !== null || this.#serverGoaway !== null) return 0;
    const idsLeft = this.#nextStream > MAX_STREAM_ID
      ? 0
      : Math.floor((MAX_STREAM_ID - this.#nextStream) / 2) + 1;
    // Until its first SETTINGS, the server's concurrency is assumed; without the entry there,
    // it has no limit (section 6.5.2).
    const max = this.#peer.maxConcurrentStreams ??
      (this.#peer.seen ? MAX_STREAM_ID : INITIAL_MAX_STREAMS);
    return Math.max(0, Math.min(max - this.#streams.size, idsLeft));
  }

  /** No stream is open. */
  get idle(): boolean {
    return this.#streams.size === 0;
  }

  /** The connection has ended. */
  get over(): boolean {
    return this.#over;
  }

  // ---- input ------------------------------------------------------------------------------

  /** Bytes from the server (valid until the call returns). */
  receive(chunk: Uint8Array): void {
    if (this.#over) return;
    this.#reader.read(chunk, (f) => {
      this.#frame(f);
      this.#closeIfDone();
      return !this.#over;
    });
  }

  #frame(f: Frame): void {
    if (!this.#peer.inOrder(f) || this.#blocks.interrupts(f) || !checkFrame(f, this.#rules)) {
      return;
    }
    switch (f.type) {
      case FRAME.DATA:
        return this.#data(f);
      case FRAME.HEADERS:
        return this.#headerBlock(this.#blocks.headers(f));
      case FRAME.CONTINUATION:
        return this.#headerBlock(this.#blocks.continuation(f));
      case FRAME.PRIORITY:
        // Priority signals (deprecated by RFC 9113 section 5.3.2) do not change what we send.
        this.#floods.control();
        return;
      case FRAME.RST_STREAM:
        return this.#rstStream(f);
      case FRAME.SETTINGS:
        return this.#peer.receive(f);
      case FRAME.PUSH_PROMISE:
        // Section 8.4: we sent SETTINGS_ENABLE_PUSH 0.
        return this.#connectionError(
          ERROR.PROTOCOL_ERROR,
          `PUSH_PROMISE on stream ${f.stream} with push disabled`,
        );
      case FRAME.PING:
        return answerPing(f, this.#floods, this.#out);
      case FRAME.GOAWAY:
        return this.#goawayFrom(f);
      case FRAME.WINDOW_UPDATE:
        // One on a stream that is gone changes nothing.
        this.#send.windowUpdate(f);
        return;
      default:
        // Section 5.5: unknown frame types are ignored (but count as no progress).
        this.#floods.control();
    }
  }

  /** `id` was never opened: an odd id we have not used yet, or an even (server) one. */
  #neverOpened(id: number): boolean {
    return id >= this.#nextStream || (id & 1) === 0;
  }

  #data(f: Frame): void {
    const payload = this.#recv.frame(f);
    if (payload === null) return;
    const size = f.payload.length;
    const s = this.#streams.get(f.stream);
    if (s === undefined) {
      // Closed: give the window back, and refuse unless we dropped it. Frames on a
      // closed stream make no progress (and each would cost a RST_STREAM).
      this.#recv.release(size);
      if (this.#floods.control()) return;
      if (!this.#dropped.has(f.stream)) {
        this.#streamError(f.stream, ERROR.STREAM_CLOSED, `DATA on closed stream ${f.stream}`);
      }
      return;
    }
    if (s.response === "done") {
      this.#recv.release(size);
      return this.#streamError(s.id, ERROR.STREAM_CLOSED, `DATA after the end of stream ${s.id}`);
    }
    if (s.response === "head") {
      // Section 8.1: a response starts with its HEADERS.
      this.#recv.release(size);
      return this.#streamError(
        s.id,
        ERROR.PROTOCOL_ERROR,
        `DATA before the response head on stream ${s.id}`,
      );
    }
    if (!this.#recv.body(s, f, payload)) return;
    const end = (f.flags & FLAG.END_STREAM) !== 0;
    if (end) this.#remoteEnded(s);
    this.#ev.body(s.id, payload, end);
  }

  /** A header block, when one is complete: a response head (or an interim one) or trailers. */
  #headerBlock(block: HeaderBlock | null): void {
    if (block === null) return;
    const id = block.stream;
    const s = this.#streams.get(id);
    if (s === undefined) {
      if (this.#neverOpened(id)) {
        return this.#connectionError(ERROR.PROTOCOL_ERROR, `HEADERS on idle stream ${id}`);
      }
      if (this.#dropped.has(id)) return;
      return this.#connectionError(ERROR.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
    }
    const fields = block.fields;
    let listSize = 0;
    for (const [name, value] of fields) listSize += name.length + value.length + 32;
    if (listSize > this.#limits.maxHeaderListSize) {
      return this.#streamError(
        id,
        ERROR.PROTOCOL_ERROR,
        `stream ${id}: header list of ${listSize} bytes exceeds SETTINGS_MAX_HEADER_LIST_SIZE ${this.#limits.maxHeaderListSize}`,
      );
    }
    if (s.response === "head") return this.#responseHead(s, block.endStream, fields);
    this.#trailerBlock(s, block.endStream, fields);
  }

  #responseHead(s: Stream, endStream: boolean, fields: FieldList): void {
    const head = readResponseFields(fields);
    if ("kind" in head) return this.#streamError(s.id, ERROR.PROTOCOL_ERROR, head.reason);
    if (head.status < 200) {
      // Section 8.1: an interim response is followed by more HEADERS on the stream.
      if (endStream) {
        return this.#streamError(
          s.id,
          ERROR.PROTOCOL_ERROR,
          `stream ${s.id}: interim response ${head.status} with END_STREAM`,
        );
      }
      this.#floods.control();
      return;
    }
    // RFC 9110 section 6.4.1: these have no content, whatever content-length says.
    if (s.head) {
      s.expected = 0;
      s.expectedFrom = "no content (response to HEAD)";
    } else if (head.status === 204 || head.status === 304) {
      s.expected = 0;
      s.expectedFrom = `no content (status ${head.status})`;
    } else if (head.contentLength !== null) {
      s.expected = head.contentLength;
      s.expectedFrom = `content-length ${head.contentLength}`;
      if (endStream && head.contentLength > 0) {
        return this.#streamError(
          s.id,
          ERROR.PROTOCOL_ERROR,
          `stream ${s.id}: no body, content-length ${head.contentLength}`,
        );
      }
    }
    s.response = "body";
    if (endStream) this.#remoteEnded(s);
    this.#ev.response(s.id, fields, endStream);
  }

  #trailerBlock(s: Stream, endStream: boolean, fields: FieldList): void {
    if (!this.#recv.trailers(s, endStream, s.response === "done")) return;
    for (const [name, value] of fields) {
      const fault = name.charCodeAt(0) === 0x3a
        ? `pseudo-header ${quote(name)} in trailers`
        : fieldFault(name, value);
      if (fault !== null) {
        return this.#streamError(s.id, ERROR.PROTOCOL_ERROR, `stream ${s.id}: ${fault}`);
      }
    }
    this.#remoteEnded(s);
    this.#ev.trailers(s.id, fields);
  }

  #rstStream(f: Frame): void {
    const s = this.#streams.get(f.stream);
    if (s === undefined) return;
    const code = u32(f.payload, 0);
    this.#drop(s);
    this.#ev.reset(
      s.id,
      code,
      code === ERROR.NO_ERROR && s.response === "done"
        ? "the server wants no more of the request (NO_ERROR)"
        : `the server reset the stream (${errorName(code)})`,
    );
  }

  #goawayFrom(f: Frame): void {
    const last = u32(f.payload, 0) & 0x7fffffff;
    const code = u32(f.payload, 4);
    const debug = new TextDecoder().decode(f.payload.subarray(8, 8 + MAX_DEBUG));
    const said = `the server sent GOAWAY (${errorName(code)}${
      debug === "" ? "" : ` ${JSON.stringify(debug)}`
    })`;
    this.#serverGoaway = { code, reason: said };
    // Section 6.8: streams above the last id were not processed; a later GOAWAY may lower it.
    // One the server has answered was processed whatever it says, and its response may already
    // be on its way to the client: it finishes rather than being retried.
    for (const s of [...this.#streams.values()]) {
      if (s.id <= last || s.response !== "head") continue;
      this.#drop(s);
      this.#dropped.add(s.id);
      this.#ev.reset(
        s.id,
        ERROR.REFUSED_STREAM,
        `refused: stream ${s.id} is above the last stream ${last} of ${said}`,
      );
    }
  }

  // ---- output from the owner ----------------------------------------------------------------

  /**
   * Opens a stream with this request head (pseudo-headers first, as the owner built them; they
   * are not checked here) and, with `endStream`, no body. Returns the stream's id, or null when
   * no stream can be opened now (`available` is 0).
   */
  request(fields: FieldList, endStream: boolean): number | null {
    if (this.available === 0) return null;
    const id = this.#nextStream;
    this.#nextStream += 2;
    const s: Stream = {
      id,
      ...newSender(this.#peer.initialWindow),
      endQueued: endStream,
      head: fields.some(([name, value]) => name === ":method" && value === "HEAD"),
      localDone: endStream,
      response: "head",
      ...newReceiver(this.#limits.streamWindow),
    };
    this.#streams.set(id, s);
    this.#send.head(id, fields, endStream);
    return id;
  }

  /**
   * Request body bytes for `stream`, sent as flow control allows (copied into the output as
   * they go). Returns false when some of `chunk` must wait (the server's window is shut, or the
   * socket is full): the connection keeps a reference, so the source must pause and keep
   * `chunk` intact until `writable(stream)`, which comes once the queue is empty. Ignored (true)
   * once the stream is gone or its end was queued.
   */
  data(stream: number, chunk: Uint8Array, endStream: boolean): boolean {
    const s = this.#streams.get(stream);
    if (s === undefined || s.endQueued || this.#over) return true;
    const done = this.#send.data(s, chunk, endStream);
    this.#closeIfDone();
    return done;
  }

  /** Request trailers for `stream` (te: trailers), after its queued data; they end the request. */
  trailers(stream: number, fields: FieldList): void {
    const s = this.#streams.get(stream);
    if (s === undefined || s.endQueued || this.#over) return;
    this.#send.trailers(s, fields);
    this.#closeIfDone();
  }

  /** Ends `stream` with RST_STREAM `code` (CANCEL when the client went away). No `reset` event. */
  reset(stream: number, code: number): void {
    const s = this.#streams.get(stream);
    if (s === undefined || this.#over) return;
    this.#drop(s);
    this.#dropped.add(stream);
    this.#out.emit(rstStreamFrame(stream, code));
    this.#closeIfDone();
  }

  /**
   * `n` body bytes of `stream` were passed on: the server may send that much more. Ignored once
   * the stream is gone: what it still held went back to the connection window then.
   */
  consumed(stream: number, n: number): void {
    const s = this.#streams.get(stream);
    if (s !== undefined) this.#recv.consumed(s, n, s.response === "done");
  }

  /** The socket drained what `write` queued: request data may flow again. */
  outputDrained(): void {
    if (this.#over) return;
    this.#send.drained();
    this.#closeIfDone();
  }

  /**
   * Graceful end: GOAWAY NO_ERROR (last stream 0: we accept no pushed streams), no new streams;
   * the open ones finish, then `closed`.
   */
  shutdown(reason: string): void {
    if (this.#goawaySent !== null || this.#over) return;
    this.#goawaySent = reason;
    this.#out.emit(goawayFrame(0, ERROR.NO_ERROR, reason));
    this.#closeIfDone();
  }

  /**
   * Ends the connection with GOAWAY `code` (a timeout, the socket closing, a failure of the
   * owner's): every open stream is reset (`reset` events), then `closed`.
   */
  abort(code: number, reason: string): void {
    this.#connectionError(code, reason);
  }

  // ---- internals ------------------------------------------------------------------------------

  /** The response is complete: the stream closes if the request is too. */
  #remoteEnded(s: Stream): void {
    s.response = "done";
    if (s.localDone) this.#drop(s);
  }

  /** The request's END_STREAM went out: the stream closes if the response is complete too. */
  #localEnded(s: Stream): void {
    s.localDone = true;
    if (s.response === "done") this.#drop(s);
  }

  #drop(s: Stream): void {
    if (!this.#streams.delete(s.id)) return;
    this.#send.forget(s.id);
    this.#recv.forget(s);
    // A bounded memory of reset streams is enough: frames in flight arrive within an RTT.
    if (this.#dropped.size > 1000) this.#dropped.delete(this.#dropped.values().next().value!);
  }

  /**
   * After a GOAWAY either way, the connection ends once no stream is left. Checked after each
   * frame and call rather than as streams close, so that `closed` follows the events of the
   * last stream.
   */
  #closeIfDone(): void {
    if (this.#over || this.#streams.size > 0) return;
    if (this.#serverGoaway !== null) {
      this.#end(this.#serverGoaway.code, this.#serverGoaway.reason);
    } else if (this.#goawaySent !== null) {
      this.#end(ERROR.NO_ERROR, this.#goawaySent);
    }
  }

  #streamError(stream: number, code: number, reason: string): void {
    const s = this.#streams.get(stream);
    if (s !== undefined) this.#drop(s);
    this.#dropped.add(stream);
    this.#out.emit(rstStreamFrame(stream, code));
    if (s !== undefined) this.#ev.reset(stream, code, reason);
  }

  #connectionError(code: number, reason: string): void {
    if (this.#over) return;
    this.#out.emit(goawayFrame(0, code, reason));
    this.#end(code, code === ERROR.NO_ERROR ? reason : `${errorName(code)}: ${reason}`);
  }

  /** The connection is over: every stream is told, then the owner. */
  #end(code: number, reason: string): void {
    if (this.#over) return;
    this.#over = true;
    this.#out.close();
    for (const s of [...this.#streams.values()]) {
      this.#streams.delete(s.id);
      this.#ev.reset(s.id, ERROR.CANCEL, `connection ended: ${reason}`);
    }
    this.#out.flush();
    this.#ev.closed(code, reason);
  }
}
