/**
 * The sending half of HTTP/2 flow control (RFC 9113 section 6.9), shared by both ends of a
 * connection: each stream queues its outgoing body as the owner's own chunks (no copy), and a
 * scheduler sends what the stream's window, the connection's window, the peer's
 * SETTINGS_MAX_FRAME_SIZE and the socket allow, one DATA frame per stream per round so that no
 * stream starves the others. Bytes are copied into the output only as their frames go, so a
 * source that was told to wait keeps its buffer intact until `writable`.
 *
 * The windows grow by the peer's WINDOW_UPDATE frames, which the scheduler applies itself. It
 * also sends the header blocks of its streams, heads at once and trailers after the data, with
 * the one HPACK encoder of the connection's output. It knows no stream states: the connection
 * owns them, and is called back (`SendHooks`) for the frames, events and errors that need them.
 *
 * @module
 */

import type { FieldList } from "./connection.ts";
import {
  dataFrame,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ERROR,
  type Frame,
  FRAME_HEADER_SIZE,
  headersFrames,
  MAX_WINDOW,
  u32,
} from "./frame.ts";
import { HpackEncoder } from "./hpack_encode.ts";

/** One stream's outgoing side, as the scheduler sees it; the connection's stream extends it. */
export interface Sender {
  readonly id: number;
  /** How much more may be sent on the stream (the peer's window for it); may go negative. */
  sendWindow: number;
  /** Body chunks waiting, in order: the owner's buffers, or views of what is left of them. */
  queue: Uint8Array[];
  /** Bytes in `queue`. */
  queued: number;
  /** The end of the stream is queued: END_STREAM after the data, or `trailers`. */
  endQueued: boolean;
  /** Trailers that end the stream after the queued data. */
  trailers: FieldList | null;
  /** `data` returned false: the owner waits for `writable`. */
  full: boolean;
}

/** The outgoing fields of a new stream whose peer window is `sendWindow`. */
export function newSender(sendWindow: number): Omit<Sender, "id"> {
  return { sendWindow, queue: [], queued: 0, endQueued: false, trailers: null, full: false };
}

/** What the scheduler needs from the connection. */
export interface SendHooks<S extends Sender> {
  /** The stream with this id, or undefined once it is gone. */
  stream(id: number): S | undefined;
  /** Frame bytes for the output batch, in order. */
  emit(bytes: Uint8Array): void;
  /** The last frame of `s` went out (END_STREAM): its sending side is closed. */
  ended(s: S): void;
  /**
   * The queue of `s` emptied after `data` returned false (the chunk that ended it included): its
   * source may resume, or reuse the buffers it kept. `last`: the frame that emptied it ended the
   * stream (`ended` follows).
   */
  writable(s: S, last: boolean): void;
  /** A connection error (GOAWAY `code`): the connection is over. */
  fail(code: number, reason: string): void;
  /** A stream error (RST_STREAM `code`) on `stream`. */
  streamError(stream: number, code: number, reason: string): void;
}

/** Round-robin DATA scheduling over the connection's send window. */
export class SendScheduler<S extends Sender> {
  readonly #hooks: SendHooks<S>;
  /**
   * The encoder of every header block the connection sends, in the order they go out: the
   * peer's decoder keeps its table in step with it (the peer's SETTINGS_HEADER_TABLE_SIZE
   * applies to it).
   */
  readonly encoder = new HpackEncoder();
  /** How much more may be sent on the connection (the peer's connection window). */
  window = DEFAULT_WINDOW;
  /** The peer's SETTINGS_MAX_FRAME_SIZE. */
  maxFrame = DEFAULT_MAX_FRAME_SIZE;
  /** The socket queued the last write: no DATA until `drained`. */
  #blocked = false;
  /** Streams with something queued, in the order they queued it. */
  readonly #sendable = new Set<number>();
  /** A flush is running: a nested one (from a hook) only asks it to go round again. */
  #flushing = false;
  #again = false;

  constructor(hooks: SendHooks<S>) {
    this.#hooks = hooks;
  }

  /**
   * Queues `chunk` (kept by reference, not copied) and, with `endStream`, the end of `s`, then
   * sends what the windows allow. False when some of it waits: the caller keeps `chunk` intact
   * and sends no more until `writable(s)`.
   */
  data(s: S, chunk: Uint8Array, endStream: boolean): boolean {
    if (chunk.length > 0) {
      s.queue.push(chunk);
      s.queued += chunk.length;
    }
    if (endStream) s.endQueued = true;
    this.#sendable.add(s.id);
    this.flush();
    if (s.queued > 0) {
      s.full = true;
      return false;
    }
    return true;
  }

  /**
   * Sends `fields` as a header block on stream `id` at once (flow control is for DATA only),
   * split at the peer's SETTINGS_MAX_FRAME_SIZE.
   */
  head(id: number, fields: FieldList, endStream: boolean): void {
    // headersFrames copies the block at once: the encoder's view is enough.
    this.#hooks.emit(headersFrames(id, this.encoder.encodeView(fields), endStream, this.maxFrame));
  }

  /** Queues `fields` as the trailers that end `s`, after its queued data. */
  trailers(s: S, fields: FieldList): void {
    s.trailers = fields;
    s.endQueued = true;
    this.#sendable.add(s.id);
    this.flush();
  }

  /** `s` is gone (reset or closed): nothing more of it is sent. */
  forget(id: number): void {
    this.#sendable.delete(id);
  }

  /** The socket queued a write: DATA waits until `drained`. */
  block(): void {
    this.#blocked = true;
  }

  /** The socket drained: DATA flows again. */
  drained(): void {
    this.#blocked = false;
    this.flush();
  }

  /**
   * A WINDOW_UPDATE, its size and stream checked (frame_rules.ts): the connection's window or
   * its stream's grows by the increment (section 6.9.1), and what that allows goes out. An
   * increment of 0, or one that takes the window past 2^31-1, is an error of the window's
   * owner. False when the stream is gone (closed: its WINDOW_UPDATEs may come for a while).
   */
  windowUpdate(f: Frame): boolean {
    const increment = u32(f.payload, 0) & 0x7fffffff;
    const hooks = this.#hooks;
    if (f.stream === 0) {
      if (increment === 0) {
        hooks.fail(ERROR.PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection");
      } else if (this.window + increment > MAX_WINDOW) {
        hooks.fail(ERROR.FLOW_CONTROL_ERROR, "the connection window exceeds 2^31-1");
      } else {
        this.window += increment;
        this.flush();
      }
      return true;
    }
    const s = hooks.stream(f.stream);
    if (s === undefined) return false;
    if (increment === 0) {
      hooks.streamError(s.id, ERROR.PROTOCOL_ERROR, `WINDOW_UPDATE of 0 on stream ${s.id}`);
    } else if (s.sendWindow + increment > MAX_WINDOW) {
      hooks.streamError(s.id, ERROR.FLOW_CONTROL_ERROR, `stream ${s.id}'s window exceeds 2^31-1`);
    } else {
      s.sendWindow += increment;
      this.flush();
    }
    return true;
  }

  /** Sends what the windows allow of each stream's queue, one frame per stream per round. */
  flush(): void {
    if (this.#flushing) {
      this.#again = true;
      return;
    }
    this.#flushing = true;
    try {
      let progress = true;
      while ((progress || this.#again) && !this.#blocked && this.#sendable.size > 0) {
        progress = false;
        this.#again = false;
        for (const id of this.#sendable) {
          if (this.#blocked) break;
          const s = this.#hooks.stream(id);
          if (s === undefined) {
            this.#sendable.delete(id);
            continue;
          }
          if (this.#sendOne(s)) progress = true;
        }
      }
    } finally {
      this.#flushing = false;
      this.#again = false;
    }
  }

  /** One DATA frame (or the end) of `s`'s queue; whether anything went out. */
  #sendOne(s: S): boolean {
    if (s.queued > 0) {
      const allowed = Math.min(s.sendWindow, this.window, this.maxFrame, s.queued);
      if (allowed <= 0) return false;
      const last = allowed === s.queued && s.endQueued && s.trailers === null;
      // The payload is copied into the frame: the source may then reuse its buffer.
      const frame = dataFrame(s.id, allowed, last);
      let at = FRAME_HEADER_SIZE;
      while (at < frame.length) {
        const head = s.queue[0];
        const left = frame.length - at;
        if (head.length <= left) {
          frame.set(head, at);
          s.queue.shift();
          at += head.length;
        } else {
          frame.set(head.subarray(0, left), at);
          s.queue[0] = head.subarray(left);
          at = frame.length;
        }
      }
      s.queued -= allowed;
      s.sendWindow -= allowed;
      this.window -= allowed;
      this.#hooks.emit(frame);
      // The owner keeps a chunk intact until told: the last one too.
      if (s.full && s.queued === 0) {
        s.full = false;
        this.#hooks.writable(s, last);
      }
      if (last) {
        this.#sendable.delete(s.id);
        this.#hooks.ended(s);
      }
      return true;
    }
    this.#sendable.delete(s.id);
    if (!s.endQueued) {
      if (s.full) {
        s.full = false;
        this.#hooks.writable(s, false);
      }
      return false;
    }
    if (s.trailers !== null) this.head(s.id, s.trailers, true);
    else this.#hooks.emit(dataFrame(s.id, 0, true));
    this.#hooks.ended(s);
    return true;
  }
}
