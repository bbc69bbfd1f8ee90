/**
 * The peer's SETTINGS (RFC 9113 section 6.5), as both ends of a connection apply them: the first
 * frame must be SETTINGS (section 3.4), each SETTINGS frame is checked whole, applied in order
 * and acknowledged, and an acknowledgement of ours is passed on. What the values change lives
 * in the send scheduler and is changed here: its HPACK encoder's table size, its frame size and
 * the send windows of open streams (section 6.9.2).
 *
 * @module
 */

import type { FloodBudget } from "./flood_budget.ts";
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ERROR,
  FLAG,
  FRAME,
  type Frame,
  frameName,
  MAX_WINDOW,
  readSettings,
  SETTING,
  SETTINGS_ACK,
} from "./frame.ts";
import type { Sender, SendScheduler } from "./send_queue.ts";

/** What applying the peer's SETTINGS needs from the connection. */
export interface SettingsHooks<S extends Sender> {
  /**
   * The scheduler of what we send: its HPACK encoder (SETTINGS_HEADER_TABLE_SIZE), its frame
   * size (SETTINGS_MAX_FRAME_SIZE), and the windows of its streams.
   */
  readonly send: SendScheduler<S>;
  /** Counts SETTINGS frames, which make no progress. */
  readonly floods: FloodBudget;
  /** The open streams, whose send windows follow SETTINGS_INITIAL_WINDOW_SIZE. */
  streams(): Iterable<S>;
  /** Frame bytes for the output batch. */
  emit(bytes: Uint8Array): void;
  /** A connection error (GOAWAY `code`): the connection is over. */
  fail(code: number, reason: string): void;
  /** The peer acknowledged our SETTINGS (first time only): they hold from now on. */
  acknowledged?(): void;
}

/** The peer's settings on one connection. */
export class PeerSettings<S extends Sender> {
  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE: the send window a new stream starts with. */
  initialWindow = DEFAULT_WINDOW;
  /** The last SETTINGS_MAX_CONCURRENT_STREAMS the peer sent, or null when it sent none. */
  maxConcurrentStreams: number | null = null;
  readonly #peer: "client" | "server";
  readonly #hooks: SettingsHooks<S>;
  #seen = false;
  #acked = false;

  /** `peer` is the other end: a server may not enable push, and the reasons name it. */
  constructor(peer: "client" | "server", hooks: SettingsHooks<S>) {
    this.#peer = peer;
    this.#hooks = hooks;
  }

  /** The peer's first SETTINGS frame arrived. */
  get seen(): boolean {
    return this.#seen;
  }

  /**
   * Section 3.4: the peer's preface ends with a SETTINGS frame (not an ACK). False when `f`,
   * its first frame, is another, which ended the connection.
   */
  inOrder(f: Frame): boolean {
    if (this.#seen) return true;
    if (f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0) {
      this.#seen = true;
      return true;
    }
    const ack = f.type === FRAME.SETTINGS ? " ACK" : "";
    this.#hooks.fail(
      ERROR.PROTOCOL_ERROR,
      `${frameName(f.type)}${ack} before the ${this.#peer}'s SETTINGS`,
    );
    return false;
  }

  /** A SETTINGS frame on stream 0: applied and acknowledged, or an ACK of ours. */
  receive(f: Frame): void {
    const hooks = this.#hooks;
    if (hooks.floods.control()) return;
    if ((f.flags & FLAG.ACK) !== 0) {
      if (f.payload.length !== 0) {
        return hooks.fail(ERROR.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      }
      if (this.#acked) return;
      this.#acked = true;
      hooks.acknowledged?.();
      return;
    }
    const entries = readSettings(f.payload);
    if ("kind" in entries) return hooks.fail(entries.code, entries.reason);
    // INITIAL_WINDOW_SIZE values take effect in order (section 6.5.3), but only the last stays:
    // the open streams are adjusted once, by it, and checked against the largest one, which is
    // the same as adjusting them value by value (a frame full of them costs one pass, not one
    // per entry per stream).
    let initialWindow = -1;
    let largestWindow = -1;
    for (const [id, value] of entries) {
      switch (id) {
        case SETTING.HEADER_TABLE_SIZE:
          hooks.send.encoder.setMaxTableSize(value);
          break;
        case SETTING.ENABLE_PUSH:
          // Section 6.5.2: 0 or 1, and a server may only say 0 (it never receives a push).
          if (value > (this.#peer === "server" ? 0 : 1)) {
            const from = this.#peer === "server" ? " from a server" : "";
            return hooks.fail(ERROR.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value}${from}`);
          }
          break;
        case SETTING.MAX_CONCURRENT_STREAMS:
          this.maxConcurrentStreams = value;
          break;
        case SETTING.INITIAL_WINDOW_SIZE:
          if (value > MAX_WINDOW) {
            return hooks.fail(
              ERROR.FLOW_CONTROL_ERROR,
              `SETTINGS_INITIAL_WINDOW_SIZE ${value} exceeds 2^31-1`,
            );
          }
          initialWindow = value;
          largestWindow = Math.max(largestWindow, value);
          break;
        case SETTING.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xffffff) {
            return hooks.fail(ERROR.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value}`);
          }
          hooks.send.maxFrame = value;
          break;
      }
    }
    if (initialWindow >= 0 && !this.#moveWindows(initialWindow, largestWindow)) return;
    hooks.emit(SETTINGS_ACK);
    // A larger window or frame size may let queued DATA go.
    hooks.send.flush();
  }

  /**
   * Section 6.9.2: open streams' send windows move by the change (below zero too); a change
   * that takes any of them past 2^31-1 is a connection error (false).
   */
  #moveWindows(initialWindow: number, largestWindow: number): boolean {
    const most = largestWindow - this.initialWindow;
    for (const s of this.#hooks.streams()) {
      if (s.sendWindow + most > MAX_WINDOW) {
        this.#hooks.fail(
          ERROR.FLOW_CONTROL_ERROR,
          `SETTINGS_INITIAL_WINDOW_SIZE ${largestWindow} takes stream ${s.id}'s window past 2^31-1`,
        );
        return false;
      }
    }
    const delta = initialWindow - this.initialWindow;
    this.initialWindow = initialWindow;
    for (const s of this.#hooks.streams()) s.sendWindow += delta;
    return true;
  }
}
