/**
 * The server side of one HTTP/2 connection (RFC 9113) as a state machine over bytes: the client's
 * bytes go in through `receive`, requests and their bodies come out as calls on an `H2Events`
 * owner, and the owner's responses go back in through `respond`/`data`/`trailers`. It keeps the
 * stream states, both directions' flow control, SETTINGS, PING and GOAWAY, and the limits that
 * keep a hostile client from costing more than a polite one (rapid reset, CONTINUATION and
 * control-frame floods, HPACK bombs). It does no I/O: output is handed to `H2Events.write` in
 * batches, once per turn of the event loop.
 *
 * Errors follow RFC 9113 section 5.4: a connection error sends GOAWAY with its code and the
 * reason as debug data and ends the connection (`H2Events.closed`); a stream error sends
 * RST_STREAM and tells the owner (`H2Events.reset`) so that backend work is dropped.
 *
 * What both sides of a connection do alike is in modules it holds, shared with the client side
 * (client_connection.ts): frames read (frame_reader.ts) and checked (frame_rules.ts), header
 * blocks (header_block.ts), the client's SETTINGS (peer_settings.ts), flow control both ways
 * (receive_windows.ts, send_queue.ts), the flood budgets (flood_budget.ts) and the batched
 * output (output_batch.ts). What is left here is the server's part: the preface it expects, the
 * streams a client may open and how they end, requests and their limits, and GOAWAY.
 *
 * @module
 */

import { FloodBudget } from "./flood_budget.ts";
import { FrameReader } from "./frame_reader.ts";
import { answerPing, checkFrame, type FrameRuleHooks } from "./frame_rules.ts";
import { type HeaderBlock, HeaderBlockReader } from "./header_block.ts";
import { OutputBatch } from "./output_batch.ts";
import { PeerSettings } from "./peer_settings.ts";
import { type Receiver, ReceiveWindows } from "./receive_windows.ts";
import { type Sender, SendScheduler } from "./send_queue.ts";
import {
  DEFAULT_WINDOW,
  ERROR,
  errorName,
  FLAG,
  FRAME,
  type Frame,
  goawayFrame,
  priorityDependency,
  rstStreamFrame,
  SETTING,
  settingsFrame,
  u32,
} from "./frame.ts";

/** A header list as decoded or to be encoded: lower-case names, latin1 values. */
export type FieldList = readonly (readonly [string, string])[];

/** What the connection reports to its owner (the session). */
export interface H2Events {
  /** Bytes for the client; false when the socket queued them (call `outputDrained` later). */
  write(bytes: Uint8Array): boolean;
  /** A request head on a new stream; `endStream`: it has no body. */
  request(stream: number, fields: FieldList, endStream: boolean): void;
  /** Request body bytes (valid until the call returns); call `consumed` once they are passed on. */
  body(stream: number, chunk: Uint8Array, endStream: boolean): void;
  /** Request trailers, which end the request. */
  trailers(stream: number, fields: FieldList): void;
  /**
   * A stream `request` announced ended abnormally (client RST_STREAM, stream error, connection
   * end): drop it. Not called for streams the owner never saw or that had already ended.
   */
  reset(stream: number, code: number, reason: string): void;
  /** A stream's queued response data went out: its source may resume. */
  writable(stream: number): void;
  /**
   * The connection is over: after a GOAWAY (`code`/`reason`), the client's GOAWAY with no streams
   * left, or a graceful end. The owner closes the socket once its writes drained.
   */
  closed(code: number, reason: string): void;
}

/** The limits a connection enforces (RFC 9113 SETTINGS and flood budgets). */
export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised and enforced (REFUSED_STREAM beyond). */
  readonly maxConcurrentStreams: number;
  /**
   * SETTINGS_MAX_HEADER_LIST_SIZE, advertised; the owner answers a bigger head (431). Four times
   * it ends the connection (an HPACK bomb).
   */
  readonly maxHeaderListSize: number;
  /** Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE). */
  readonly streamWindow: number;
  /** The connection's receive window. */
  readonly connectionWindow: number;
  /** Streams the client may reset within `floodWindowMs` before GOAWAY ENHANCE_YOUR_CALM. */
  readonly maxResets: number;
  /** Frames that carry no request progress (SETTINGS, PING, PRIORITY, empty DATA...) allowed per window. */
  readonly maxControlFrames: number;
  readonly floodWindowMs: number;
}

export const DEFAULT_H2_LIMITS: H2Limits = Object.freeze({
  maxConcurrentStreams: 100,
  maxHeaderListSize: 65536,
  streamWindow: 256 * 1024,
  connectionWindow: 1024 * 1024,
  maxResets: 200,
  maxControlFrames: 1000,
  floodWindowMs: 10_000,
});

/**
 * Closed streams remembered, to tell their late frames from a client's mistakes: a slot per
 * stream id modulo this (a power of two), so the last 1,024 ids the client opened, less those
 * still open when they came round again.
 */
const CLOSED_SLOTS = 1024;

/** Streams end as soon as the response does (section 8.1), so only these two states remain. */
type StreamState = "open" | "half_closed_remote";

interface Stream extends Sender, Receiver {
  state: StreamState;
}

/** The server side of one HTTP/2 connection. */
export class H2Connection {
  readonly #ev: H2Events;
  readonly #limits: H2Limits;
  readonly #streams = new Map<number, Stream>();
  /** The connection error that ends the connection, for the helpers that find one. */
  readonly #fail = (code: number, reason: string) => this.#connectionError(code, reason);
  readonly #reader = new FrameReader(true, this.#fail);
  readonly #rules: FrameRuleHooks = {
    neverOpened: (id) => id > this.#lastStream,
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
  /**
   * The receive window a new stream starts with: ours, or until the client acknowledged it the
   * default when ours is smaller (a bigger one the client may use as soon as it reads it).
   */
  #initialRecvWindow: number;
  /** The highest stream the client opened (ids at or below it are no longer idle). */
  #lastStream = 0;
  /**
   * The highest stream handed to the owner (or answered here): GOAWAY names it, so that the
   * client knows that streams above it, refused ones included, can be retried (section 6.8).
   */
  #lastProcessed = 0;
  /**
   * Streams closed recently, oldest first: true for those we reset (their frames in flight are
   * dropped, section 5.1 "closed"), false for those that ended or that the client reset (frames
   * on them are STREAM_CLOSED). A stream id below `#lastStream` not in here was never opened.
   */
  /** Closed stream ids by slot ((id >> 1) % CLOSED_SLOTS); 0: none (no stream is 0). */
  readonly #closedIds = new Int32Array(CLOSED_SLOTS);
  /** Per slot: 1 when we reset the stream (its late frames are dropped, not refused). */
  readonly #closedOurs = new Uint8Array(CLOSED_SLOTS);
  /** GOAWAY sent (no new streams): the code, or null; and the reason `closed` will give. */
  #goaway: number | null = null;
  #goawayReason = "";
  #clientGoaway = false;
  #over = false;

  constructor(events: H2Events, limits: H2Limits = DEFAULT_H2_LIMITS) {
    this.#ev = events;
    this.#limits = limits;
    this.#floods = new FloodBudget(limits, "client", this.#fail);
    this.#recv = new ReceiveWindows(limits, this.#floods, {
      emit: (bytes) => this.#out.emit(bytes),
      fail: this.#fail,
      streamError: this.#rules.streamError,
    });
    this.#blocks = new HeaderBlockReader(limits.maxHeaderListSize, this.#floods, this.#fail);
    this.#send = new SendScheduler<Stream>({
      stream: (id) => this.#streams.get(id),
      emit: (bytes) => this.#out.emit(bytes),
      ended: (s) => this.#localEnded(s),
      // The owner ended the stream with that chunk: it has no source left to resume.
      writable: (s, last) => {
        if (!last) this.#ev.writable(s.id);
      },
      fail: this.#fail,
      streamError: this.#rules.streamError,
    });
    this.#peer = new PeerSettings("client", {
      send: this.#send,
      floods: this.#floods,
      streams: () => this.#streams.values(),
      emit: (bytes) => this.#out.emit(bytes),
      fail: this.#fail,
      acknowledged: () => this.#ourSettingsApply(),
    });
    this.#initialRecvWindow = Math.max(limits.streamWindow, DEFAULT_WINDOW);
    // The server's preface: its SETTINGS, and the connection window raised to ours.
    this.#out.emit(settingsFrame([
      [SETTING.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
      [SETTING.INITIAL_WINDOW_SIZE, limits.streamWindow],
      [SETTING.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize],
      [SETTING.ENABLE_PUSH, 0],
    ]));
    this.#recv.raise();
  }

  /** Streams open now. */
  get activeStreams(): number {
    return this.#streams.size;
  }

  /** The connection has ended (GOAWAY sent or received with nothing left). */
  get over(): boolean {
    return this.#over;
  }

  // ---- input ------------------------------------------------------------------------------

  /** Bytes from the client (valid until the call returns). */
  receive(chunk: Uint8Array): void {
    if (this.#over) return;
    this.#reader.read(chunk, (f) => {
      this.#frame(f);
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
        return this.#priority(f);
      case FRAME.RST_STREAM:
        return this.#rstStream(f);
      case FRAME.SETTINGS:
        return this.#peer.receive(f);
      case FRAME.PUSH_PROMISE:
        return this.#connectionError(ERROR.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case FRAME.PING:
        return answerPing(f, this.#floods, this.#out);
      case FRAME.GOAWAY:
        this.#clientGoaway = true;
        return this.#endIfDone();
      case FRAME.WINDOW_UPDATE:
        // On a closed stream: allowed for a while (section 5.1), but a stream of these is a flood.
        if (!this.#send.windowUpdate(f)) this.#floods.control();
        return;
      default:
        // Section 5.5: unknown frame types are ignored (but count as no progress).
        this.#floods.control();
    }
  }

  #data(f: Frame): void {
    const payload = this.#recv.frame(f);
    if (payload === null) return;
    const size = f.payload.length;
    const s = this.#streams.get(f.stream);
    if (s === undefined) {
      // Closed: give the window back, and refuse unless it was us who reset it. Empty frames on
      // a closed stream are a flood like any other (they make no progress).
      this.#recv.release(size);
      if (size === 0 && this.#floods.control()) return;
      if (this.#closedBy(f.stream) !== true) {
        this.#streamError(f.stream, ERROR.STREAM_CLOSED, `DATA on closed stream ${f.stream}`);
      }
      return;
    }
    if (s.state === "half_closed_remote") {
      this.#recv.release(size);
      return this.#streamError(s.id, ERROR.STREAM_CLOSED, `DATA after the end of stream ${s.id}`);
    }
    if (!this.#recv.body(s, f, payload)) return;
    const end = (f.flags & FLAG.END_STREAM) !== 0;
    if (end) this.#remoteEnded(s);
    this.#ev.body(s.id, payload, end);
  }

  /** A header block, when one is complete: a request's head or its trailers. */
  #headerBlock(block: HeaderBlock | null): void {
    if (block === null) return;
    const id = block.stream;
    const existing = this.#streams.get(id);
    if (existing !== undefined) {
      if (block.selfDependent) {
        return this.#streamError(id, ERROR.PROTOCOL_ERROR, `stream ${id} depends on itself`);
      }
      return this.#trailerBlock(existing, block.endStream, block.fields);
    }
    // Section 5.1.1: client streams are odd; checked before the closed/lower-id cases so that an
    // even id gets its own reason whatever its number.
    if ((id & 1) === 0) {
      return this.#connectionError(ERROR.PROTOCOL_ERROR, `HEADERS on even stream ${id}`);
    }
    if (id <= this.#lastStream) {
      const ours = this.#closedBy(id);
      // We reset it: trailers in flight are dropped (decoded all the same, so HPACK stays in step).
      if (ours === true) return;
      if (ours === false) {
        return this.#connectionError(ERROR.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
      }
      // Section 5.1.1: a new stream id must exceed every one the client used before.
      return this.#connectionError(
        ERROR.PROTOCOL_ERROR,
        `HEADERS opening stream ${id}, below stream ${this.#lastStream} opened before`,
      );
    }
    this.#lastStream = id;
    if (block.selfDependent) {
      return this.#streamError(id, ERROR.PROTOCOL_ERROR, `stream ${id} depends on itself`);
    }
    if (this.#goaway !== null || this.#clientGoaway) {
      return this.#streamError(id, ERROR.REFUSED_STREAM, "the connection is closing");
    }
    if (this.#streams.size >= this.#limits.maxConcurrentStreams) {
      return this.#streamError(
        id,
        ERROR.REFUSED_STREAM,
        `more than ${this.#limits.maxConcurrentStreams} concurrent streams`,
      );
    }
    const length = contentLength(block.fields);
    if (block.endStream && length !== null && length > 0) {
      return this.#streamError(
        id,
        ERROR.PROTOCOL_ERROR,
        `stream ${id}: no body, content-length ${length}`,
      );
    }
    // newReceiver() and newSender() written out: spreading them into one object was 1.4 % of a
    // busy h2 connection on Bun.
    const s: Stream = {
      id,
      state: block.endStream ? "half_closed_remote" : "open",
      recvWindow: this.#initialRecvWindow,
      unacked: 0,
      held: 0,
      expected: length,
      expectedFrom: length === null ? "" : `content-length ${length}`,
      received: 0,
      sendWindow: this.#peer.initialWindow,
      queue: [],
      queued: 0,
      endQueued: false,
      trailers: null,
      full: false,
    };
    this.#streams.set(id, s);
    this.#lastProcessed = id;
    // Section 10.5.1: a header list over the SETTINGS_MAX_HEADER_LIST_SIZE we advertised still
    // reaches the owner, which answers 431 and logs it (the HPACK bomb limit above it is a
    // connection error).
    this.#ev.request(id, block.fields, block.endStream);
  }

  #trailerBlock(s: Stream, endStream: boolean, fields: FieldList): void {
    if (!this.#recv.trailers(s, endStream, s.state === "half_closed_remote")) return;
    this.#remoteEnded(s);
    this.#ev.trailers(s.id, fields);
  }

  #priority(f: Frame): void {
    if (this.#floods.control()) return;
    if (priorityDependency(f) === f.stream) {
      this.#streamError(f.stream, ERROR.PROTOCOL_ERROR, `stream ${f.stream} depends on itself`);
    }
  }

  #rstStream(f: Frame): void {
    const s = this.#streams.get(f.stream);
    // Already closed: nothing to do, but a stream of these is a flood.
    if (s === undefined) {
      this.#floods.control();
      return;
    }
    const code = u32(f.payload, 0);
    this.#remove(s, false);
    this.#ev.reset(s.id, code, `client reset the stream (${errorName(code)})`);
    // Rapid reset (CVE-2023-44487): streams the client opens and cancels cost us backend work.
    if (this.#floods.reset()) return;
    this.#endIfDone();
  }

  /**
   * The client acknowledged our SETTINGS: from now on it keeps to our stream window. Before, it
   * may use the default 65535 (section 6.5.3), so a smaller window of ours applies from here.
   */
  #ourSettingsApply(): void {
    const delta = this.#limits.streamWindow - this.#initialRecvWindow;
    this.#initialRecvWindow = this.#limits.streamWindow;
    if (delta === 0) return;
    for (const s of this.#streams.values()) s.recvWindow += delta;
  }

  // ---- output from the owner ----------------------------------------------------------------

  /** The response head for `stream`; `endStream`: no body follows. */
  respond(stream: number, fields: FieldList, endStream: boolean): void {
    const s = this.#streams.get(stream);
    if (s === undefined || this.#over) return;
    this.#send.head(stream, fields, endStream);
    if (endStream) this.#localEnded(s);
  }

  /**
   * Response body bytes for `stream`, sent as flow control allows (copied into the output as
   * they go). Returns false when some of `chunk` must wait (the client's window is shut, or its
   * socket is full): the connection keeps a reference, so the source must pause and keep
   * `chunk` intact until `writable(stream)`, which comes once the queue is empty.
   */
  data(stream: number, chunk: Uint8Array, endStream: boolean): boolean {
    const s = this.#streams.get(stream);
    if (s === undefined || this.#over) return true;
    return this.#send.data(s, chunk, endStream);
  }

  /** Response trailers for `stream`, after its queued data; they end it. */
  trailers(stream: number, fields: FieldList): void {
    const s = this.#streams.get(stream);
    if (s === undefined || this.#over) return;
    this.#send.trailers(s, fields);
  }

  /** Ends `stream` with RST_STREAM (the backend failed mid-response, or the owner gave up). */
  reset(stream: number, code: number): void {
    const s = this.#streams.get(stream);
    if (s === undefined) return;
    this.#out.emit(rstStreamFrame(stream, code));
    this.#remove(s, true);
    this.#endIfDone();
  }

  /**
   * `n` body bytes of `stream` were passed on: the client may send that much more. Bytes of a
   * stream that has ended went back to the connection window then, so they are not counted again.
   */
  consumed(stream: number, n: number): void {
    const s = this.#streams.get(stream);
    if (s !== undefined) this.#recv.consumed(s, n, s.state === "half_closed_remote");
  }

  /** The socket drained what `write` queued: frames may flow again. */
  outputDrained(): void {
    this.#send.drained();
  }

  /**
   * Graceful end (drain, reload): GOAWAY NO_ERROR naming the last stream, so the client opens no
   * more; open streams finish, then `closed`.
   */
  shutdown(reason: string): void {
    if (this.#goaway !== null || this.#over) return;
    this.#goaway = ERROR.NO_ERROR;
    this.#goawayReason = reason;
    this.#out.emit(goawayFrame(this.#lastProcessed, ERROR.NO_ERROR, reason));
    this.#endIfDone();
  }

  /** Ends the connection with GOAWAY `code` (idle timeout, a failure of the owner's). */
  abort(code: number, reason: string): void {
    this.#connectionError(code, reason);
  }

  // ---- internals ------------------------------------------------------------------------------

  #remoteEnded(s: Stream): void {
    s.state = "half_closed_remote";
  }

  /** The response ended: the stream is closed. */
  #localEnded(s: Stream): void {
    const open = s.state === "open";
    // Section 8.1: the response is complete before the request; tell the client to stop
    // sending (the owner passes no more of this body on).
    if (open) this.#out.emit(rstStreamFrame(s.id, ERROR.NO_ERROR));
    this.#remove(s, open);
    this.#endIfDone();
  }

  /**
   * Forgets a stream that has closed; `ours`: we reset it, so its frames in flight are dropped
   * rather than refused. What its owner held of the body goes back to the connection window: the
   * owner passes no more of it on, and a stream that ends must not shrink the window for good.
   * Callers report the end (`reset` event) before `#endIfDone`, which may end the connection.
   */
  #remove(s: Stream, ours: boolean): void {
    if (!this.#streams.delete(s.id)) return;
    this.#send.forget(s.id);
    this.#recv.forget(s);
    this.#rememberClosed(s.id, ours);
  }

  /**
   * A bounded memory of closed streams is enough: frames in flight arrive within an RTT. A
   * slot per id (no Map: its inserts and deletes were 2 % of a busy h2 connection).
   */
  #rememberClosed(id: number, ours: boolean): void {
    const slot = (id >>> 1) & (CLOSED_SLOTS - 1);
    this.#closedIds[slot] = id;
    this.#closedOurs[slot] = ours ? 1 : 0;
  }

  /** Whether we reset closed stream `id`; undefined when it is not (or no longer) known. */
  #closedBy(id: number): boolean | undefined {
    const slot = (id >>> 1) & (CLOSED_SLOTS - 1);
    return this.#closedIds[slot] === id ? this.#closedOurs[slot] === 1 : undefined;
  }

  /** After GOAWAY (either side's), the connection ends with its last stream. */
  #endIfDone(): void {
    if (this.#streams.size > 0 || this.#over) return;
    if (this.#clientGoaway) this.#end(ERROR.NO_ERROR, "the client sent GOAWAY");
    else if (this.#goaway !== null) this.#end(ERROR.NO_ERROR, this.#goawayReason);
  }

  /** A stream error caused by the client's frames (section 5.4.2). */
  #streamError(stream: number, code: number, reason: string): void {
    // Section 6.4: RST_STREAM is never sent on an idle stream, so the connection goes instead.
    if (stream > this.#lastStream) return this.#connectionError(code, reason);
    this.#out.emit(rstStreamFrame(stream, code));
    const s = this.#streams.get(stream);
    if (s !== undefined) {
      this.#remove(s, true);
      this.#ev.reset(stream, code, reason);
    } else {
      this.#rememberClosed(stream, true);
    }
    // MadeYouReset (CVE-2025-8671): streams the client gets us to reset, by a bad frame or
    // beyond the concurrency limit, cost as much as the ones it resets itself.
    if (this.#floods.reset()) return;
    this.#endIfDone();
  }

  #connectionError(code: number, reason: string): void {
    if (this.#over) return;
    this.#out.emit(goawayFrame(this.#lastProcessed, code, reason));
    this.#end(code, reason);
  }

  /** The connection is over: every stream is told, then the owner. */
  #end(code: number, reason: string): void {
    if (this.#over) return;
    this.#over = true;
    this.#out.close();
    this.#goaway ??= code;
    for (const s of [...this.#streams.values()]) {
      this.#streams.delete(s.id);
      this.#ev.reset(s.id, ERROR.CANCEL, `connection ended: ${reason}`);
    }
    this.#out.flush();
    this.#ev.closed(code, code === ERROR.NO_ERROR ? reason : `${errorName(code)}: ${reason}`);
  }
}

/** The request's content-length when it has exactly one valid value, else null. */
function contentLength(fields: FieldList): number | null {
  for (const [name, value] of fields) {
    if (name === "content-length" && /^\d{1,15}$/.test(value)) return Number(value);
  }
  return null;
}
