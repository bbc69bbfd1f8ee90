/**
 * The receiving half of HTTP/2 flow control (RFC 9113 section 6.9), shared by both ends of a
 * connection: DATA is taken from the connection's window and the stream's, and its bytes are
 * given back by WINDOW_UPDATE only once the owner passed them on (`consumed`), in steps of half
 * a window. So a peer can have no more in flight than the windows we advertised, and an owner
 * whose destination is slow holds the peer back rather than growing a buffer.
 *
 * Bytes the owner will never pass on are given back all the same: padding at once, and what a
 * stream still held when it ended, so that streams that end early do not shrink the
 * connection's window for good. A body is also checked against the length its head announced.
 *
 * @module
 */

import {
  DEFAULT_WINDOW,
  ERROR,
  FLAG,
  type Frame,
  framePayload,
  windowUpdateFrame,
} from "./frame.ts";
import type { FloodBudget } from "./flood_budget.ts";

/** One stream's receiving side, as the accounting sees it; the connection's stream extends it. */
export interface Receiver {
  readonly id: number;
  /** How much more the peer may send on it (our window for it). */
  recvWindow: number;
  /** Bytes passed on but not yet returned to the peer by WINDOW_UPDATE. */
  unacked: number;
  /**
   * Body bytes passed to the owner and not yet `consumed`: given back to the connection window
   * when the stream ends, whatever the owner then does with them.
   */
  held: number;
  /** The body length its head announced (0 for no content), or null. */
  expected: number | null;
  /** What `expected` comes from, for the reason of a mismatch ("content-length 12"). */
  expectedFrom: string;
  /** Body bytes seen. */
  received: number;
}

/** The receiving fields of a new stream: our window for it, and its declared content-length. */
export function newReceiver(
  recvWindow: number,
  contentLength: number | null = null,
): Omit<Receiver, "id"> {
  return {
    recvWindow,
    unacked: 0,
    held: 0,
    expected: contentLength,
    expectedFrom: contentLength === null ? "" : `content-length ${contentLength}`,
    received: 0,
  };
}

/** How the accounting reaches the connection. */
export interface ReceiveHooks {
  /** Frame bytes for the output batch. */
  emit(bytes: Uint8Array): void;
  /** A connection error (GOAWAY `code`): the connection is over. */
  fail(code: number, reason: string): void;
  /** A stream error (RST_STREAM `code`) on `stream`. */
  streamError(stream: number, code: number, reason: string): void;
}

/** Our windows: the connection's, and each stream's through its `Receiver` fields. */
export class ReceiveWindows {
  readonly #streamWindow: number;
  readonly #connectionWindow: number;
  readonly #floods: FloodBudget;
  readonly #hooks: ReceiveHooks;
  /** How much more the peer may send on the connection. */
  #window = DEFAULT_WINDOW;
  /** Bytes given back on the connection and not yet announced. */
  #unacked = 0;

  /**
   * `streamWindow` and `connectionWindow` are the windows we advertise; `floods` counts empty
   * DATA frames, which make no progress.
   */
  constructor(
    limits: { readonly streamWindow: number; readonly connectionWindow: number },
    floods: FloodBudget,
    hooks: ReceiveHooks,
  ) {
    this.#streamWindow = limits.streamWindow;
    this.#connectionWindow = limits.connectionWindow;
    this.#floods = floods;
    this.#hooks = hooks;
  }

  /**
   * Raises the connection's window from the default to ours: the WINDOW_UPDATE that follows our
   * SETTINGS in the preface (SETTINGS cannot change the connection's window).
   */
  raise(): void {
    if (this.#connectionWindow <= DEFAULT_WINDOW) return;
    this.#hooks.emit(windowUpdateFrame(0, this.#connectionWindow - DEFAULT_WINDOW));
    this.#window = this.#connectionWindow;
  }

  /**
   * A DATA frame arrived: its size (padding included, section 6.9.1) is taken from the
   * connection's window. Its payload without the padding, or null when the frame broke the
   * connection (bad padding, over the window).
   */
  frame(f: Frame): Uint8Array | null {
    const payload = framePayload(f);
    if ("kind" in payload) {
      this.#hooks.fail(payload.code, payload.reason);
      return null;
    }
    const size = f.payload.length;
    if (size > this.#window) {
      this.#hooks.fail(
        ERROR.FLOW_CONTROL_ERROR,
        `DATA of ${size} bytes exceeds the connection window ${this.#window}`,
      );
      return null;
    }
    this.#window -= size;
    return payload;
  }

  /**
   * The body bytes of `f` (`payload`, as `frame` returned it) on `s`: taken from its window and
   * checked against its announced length, which are stream errors (false); else the padding is
   * given back at once and the payload is held until `consumed`.
   */
  body(s: Receiver, f: Frame, payload: Uint8Array): boolean {
    const size = f.payload.length;
    if (size > s.recvWindow) {
      this.release(size);
      this.#hooks.streamError(
        s.id,
        ERROR.FLOW_CONTROL_ERROR,
        `DATA of ${size} bytes exceeds stream ${s.id}'s window ${s.recvWindow}`,
      );
      return false;
    }
    s.recvWindow -= size;
    const end = (f.flags & FLAG.END_STREAM) !== 0;
    if (payload.length === 0 && !end && this.#floods.control()) return false;
    s.received += payload.length;
    if (s.expected !== null && (s.received > s.expected || (end && s.received !== s.expected))) {
      this.release(size);
      this.#hooks.streamError(
        s.id,
        ERROR.PROTOCOL_ERROR,
        `stream ${s.id}: body of ${s.received}${end ? "" : "+"} bytes, ${s.expectedFrom}`,
      );
      return false;
    }
    // Padding is never passed on: its window goes back at once.
    const padding = size - payload.length;
    if (padding > 0) this.#acknowledge(s, padding, false);
    s.held += payload.length;
    return true;
  }

  /**
   * A header block after the head of `s`: trailers, which must end the stream (section 8.1) and
   * the body as long as announced. `ended`: the peer ended the stream before them. False when
   * they break a rule, which is a stream error.
   */
  trailers(s: Receiver, endStream: boolean, ended: boolean): boolean {
    const hooks = this.#hooks;
    if (ended) {
      hooks.streamError(s.id, ERROR.STREAM_CLOSED, `HEADERS after the end of stream ${s.id}`);
    } else if (!endStream) {
      hooks.streamError(s.id, ERROR.PROTOCOL_ERROR, `stream ${s.id}: trailers without END_STREAM`);
    } else if (s.expected !== null && s.received !== s.expected) {
      hooks.streamError(
        s.id,
        ERROR.PROTOCOL_ERROR,
        `stream ${s.id}: body of ${s.received} bytes, ${s.expectedFrom}`,
      );
    } else return true;
    return false;
  }

  /**
   * `n` body bytes of `s` were passed on: the peer may send that much more. No more than `s`
   * holds: the rest went back when it ended. `ended`: the peer ended the stream, so only the
   * connection's window needs them.
   */
  consumed(s: Receiver, n: number, ended: boolean): void {
    const taken = Math.min(n, s.held);
    if (taken <= 0) return;
    s.held -= taken;
    this.#acknowledge(s, taken, ended);
  }

  /** `s` is gone: what its owner held goes back to the connection's window. */
  forget(s: Receiver): void {
    this.release(s.held);
    s.held = 0;
  }

  /** Gives `n` bytes back to the connection's window only (DATA that no stream takes). */
  release(n: number): void {
    if (n <= 0) return;
    this.#unacked += n;
    if (this.#unacked >= this.#connectionWindow / 2) {
      this.#hooks.emit(windowUpdateFrame(0, this.#unacked));
      this.#window += this.#unacked;
      this.#unacked = 0;
    }
  }

  #acknowledge(s: Receiver, n: number, ended: boolean): void {
    this.release(n);
    if (ended) return;
    s.unacked += n;
    if (s.unacked >= this.#streamWindow / 2) {
      this.#hooks.emit(windowUpdateFrame(s.id, s.unacked));
      s.recvWindow += s.unacked;
      s.unacked = 0;
    }
  }
}
